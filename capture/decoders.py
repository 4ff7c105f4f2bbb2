"""Choose the H.264/H.265 decoder by probing the GStreamer registry.

Preference (``"auto"``), first installed wins:

1. ``nvv4l2decoder`` (NVIDIA Jetson),
2. ``nvh264dec`` / ``nvh265dec`` (NVIDIA desktop GPUs, NVDEC),
3. ``vah264dec`` / ``vah265dec`` (VA-API, the current plugin),
4. ``vaapih264dec`` / ``vaapih265dec`` (VA-API, the older gstreamer-vaapi),
5. ``avdec_h264`` / ``avdec_h265`` (FFmpeg, software; always there with gstreamer1.0-libav).

Hardware plugins register their elements only when the device is usable (nvcodec
without a GPU registers nothing), so "installed" means "usable here". In auto
mode a candidate whose rank is NONE is passed over: GStreamer gives that rank to
elements not ready for automatic use (the ``va`` decoders in GStreamer 1.22);
naming one explicitly still uses it.

How the choice reaches the pipeline. The codec of a file, an RTSP, RTMP or SRT
stream is only known once the stream is parsed, and probing it beforehand (a
discoverer run) would mean opening every live source twice, which a camera
serving one client, or an SRT listener, does not allow. So those pipelines keep
``decodebin`` and :class:`DecoderSteering` answers its ``autoplug-select``
signal per pipeline: for an H.264/H.265 stream every other video decoder offered
before the chosen one is skipped, so the chosen one is tried first; decoders
offered after it stay available as fallbacks should it fail to start, and when
the chosen one cannot take the stream's caps at all (a profile it lacks)
decodebin chooses as usual. Nothing
global changes (no plugin ranks are touched), so two sources in one process may
prefer different decoders. RTP sources know their codec from the URI, and their
pipeline names the decoder directly. An explicit decoder for other sources is
linked after ``parsebin`` (exactly that element, or a clear error).

Example:
    >>> choose_decoder("h264").element  # doctest: +SKIP
    'avdec_h264'
    >>> choose_decoder("h265", "nvh265dec")  # doctest: +SKIP
    Traceback (most recent call last):
    capture.errors.CaptureError: decoder for h265: GStreamer element nvh265dec is not installed (...)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import gi

from capture.errors import CaptureError
from capture.gst_registry import missing_element_error

gi.require_version("Gst", "1.0")
from gi.repository import Gst  # noqa: E402

if not Gst.is_initialized():
    Gst.init(None)

log = logging.getLogger(__name__)

AUTO = "auto"
DECODER_PREFERENCE: dict[str, tuple[str, ...]] = {
    "h264": ("nvv4l2decoder", "nvh264dec", "vah264dec", "vaapih264dec", "avdec_h264"),
    "h265": ("nvv4l2decoder", "nvh265dec", "vah265dec", "vaapih265dec", "avdec_h265"),
}
SOFTWARE_DECODERS = frozenset({"avdec_h264", "avdec_h265"})
_CAPS_CODEC = {"video/x-h264": "h264", "video/x-h265": "h265"}

# GstAutoplugSelectResult (decodebin's enum; not in the GObject introspection data).
_AUTOPLUG_TRY = 0
_AUTOPLUG_SKIP = 2


@dataclass(frozen=True, slots=True)
class DecoderChoice:
    """The decoder element chosen for one codec and why."""

    codec: str  # "h264" or "h265"
    element: str  # GStreamer factory name, e.g. "avdec_h264"
    explicit: bool  # named by the configuration rather than probed
    passed_over: tuple[str, ...] = field(default=())  # preferred candidates not installed here

    @property
    def hardware(self) -> bool:
        return self.element not in SOFTWARE_DECODERS


def _autopluggable(name: str) -> bool:
    factory = Gst.ElementFactory.find(name)
    return factory is not None and factory.get_rank() > Gst.Rank.NONE


def choose_decoder(codec: str, preference: str | None = None) -> DecoderChoice:
    """The decoder for ``codec`` (``"h264"``/``"h265"``).

    ``preference`` ``None`` or ``"auto"`` probes :data:`DECODER_PREFERENCE`;
    an element name must be installed, else :class:`CaptureError` names it and
    its package.
    """
    codec = codec.lower()
    if codec not in DECODER_PREFERENCE:
        raise CaptureError(f"no decoder preference for codec {codec!r} (known: h264, h265)")
    if preference and preference != AUTO:
        if Gst.ElementFactory.find(preference) is None:
            raise missing_element_error(preference, f"decoder for {codec}")
        return DecoderChoice(codec, preference, explicit=True)
    candidates = DECODER_PREFERENCE[codec]
    for index, name in enumerate(candidates):
        if _autopluggable(name):
            return DecoderChoice(codec, name, explicit=False, passed_over=candidates[:index])
    raise missing_element_error(candidates[-1], f"decoder for {codec}")


def is_video_decoder(factory: Gst.ElementFactory) -> bool:
    klass = factory.get_metadata(Gst.ELEMENT_METADATA_KLASS) or ""
    return "Decoder" in klass and "Video" in klass


class DecoderSteering:
    """Makes one ``decodebin`` try the chosen H.264/H.265 decoder first (see the module docstring).

    Connect with ``decodebin.connect("autoplug-select", steering.on_autoplug_select)``.
    Choices are made once per codec, on the first stream of that codec; ``preference``
    (an element name) applies to the codecs it decodes, the others are probed.
    """

    def __init__(self, preference: str | None = None, context: str = "") -> None:
        self.preference = preference
        self.context = context
        self._choices: dict[str, DecoderChoice] = {}
        self._chosen_offered: set[str] = set()  # pads on which the chosen decoder has been offered

    def choice(self, codec: str) -> DecoderChoice:
        """The decoder for ``codec``: the preferred element where it decodes that codec, else auto."""
        if codec not in self._choices:
            preferred = Gst.ElementFactory.find(self.preference) if self.preference else None
            applies = preferred is not None and preferred.can_sink_any_caps(
                Gst.Caps.from_string(f"video/x-{codec}")
            )
            self._choices[codec] = choose_decoder(codec, self.preference if applies else None)
        return self._choices[codec]

    def on_autoplug_select(
        self, _bin: Gst.Element | None, pad: Gst.Pad, caps: Gst.Caps, factory: Gst.ElementFactory
    ) -> int:
        codec = _CAPS_CODEC.get(caps.get_structure(0).get_name()) if caps.get_size() else None
        if codec is None or not is_video_decoder(factory):
            return _AUTOPLUG_TRY
        try:
            chosen = self.choice(codec).element
        except CaptureError as exc:  # nothing of ours installed: let decodebin pick what it has
            log.warning("%s: %s", self.context, exc)
            return _AUTOPLUG_TRY
        chosen_factory = Gst.ElementFactory.find(chosen)
        if chosen_factory is None or not chosen_factory.can_sink_any_caps(caps):
            return _AUTOPLUG_TRY  # e.g. openh264dec is offered no High profile: the others may take it
        key = f"{pad.get_path_string()}:{codec}"
        if factory.get_name() == chosen:
            self._chosen_offered.add(key)
            return _AUTOPLUG_TRY
        return _AUTOPLUG_TRY if key in self._chosen_offered else _AUTOPLUG_SKIP
