"""Which GStreamer elements are installed, which Debian package provides a missing one, what a bin holds.

Example:
    >>> require_elements(["filesrc", "decodebin"], "clip.mp4")  # doctest: +SKIP
    >>> require_elements(["nvh264dec"], "clip.mp4")  # doctest: +SKIP
    Traceback (most recent call last):
    capture.errors.CaptureError: clip.mp4: GStreamer element nvh264dec is not installed (...)
"""

from __future__ import annotations

from collections.abc import Iterable

import gi

from capture.errors import CaptureError

gi.require_version("Gst", "1.0")
from gi.repository import Gst  # noqa: E402

if not Gst.is_initialized():
    Gst.init(None)

_GOOD = "gstreamer1.0-plugins-good"
_BAD = "gstreamer1.0-plugins-bad"
_BASE = "gstreamer1.0-plugins-base"

# Where each element we may put in a pipeline comes from (Debian 12 package names).
ELEMENT_PACKAGES: dict[str, str] = {
    "filesrc": "libgstreamer1.0-0",
    "decodebin": _BASE,
    "parsebin": _BASE,
    "videoconvert": _BASE,
    "videoscale": _BASE,
    "appsink": _BASE,
    "rtspsrc": _GOOD,
    "udpsrc": _GOOD,
    "rtpjitterbuffer": _GOOD,
    "rtph264depay": _GOOD,
    "rtph265depay": _GOOD,
    "flvdemux": _GOOD,
    "v4l2src": _GOOD,
    "h264parse": _BAD,
    "h265parse": _BAD,
    "tsdemux": _BAD,
    "rtmpsrc": _BAD,
    "srtsrc": _BAD,
    "avdec_h264": "gstreamer1.0-libav",
    "avdec_h265": "gstreamer1.0-libav",
    "nvh264dec": f"{_BAD} (and the NVIDIA driver with CUDA; registered only when a GPU is found)",
    "nvh265dec": f"{_BAD} (and the NVIDIA driver with CUDA; registered only when a GPU is found)",
    "vah264dec": f"{_BAD} (and a VA-API driver; registered only when a VA device is found)",
    "vah265dec": f"{_BAD} (and a VA-API driver; registered only when a VA device is found)",
    "vaapih264dec": "gstreamer1.0-vaapi",
    "vaapih265dec": "gstreamer1.0-vaapi",
    "nvv4l2decoder": "NVIDIA JetPack's nvidia-l4t-gstreamer (Jetson only, not in Debian)",
}


def element_installed(name: str) -> bool:
    """True if the GStreamer registry has an element factory called ``name``."""
    return Gst.ElementFactory.find(name) is not None


def missing_element_error(name: str, context: str) -> CaptureError:
    """The error for a missing element: names it and the package to install."""
    package = ELEMENT_PACKAGES.get(name)
    hint = f"install {package}" if package else "no known Debian package provides it"
    return CaptureError(f"{context}: GStreamer element {name} is not installed ({hint})")


def require_elements(names: Iterable[str], context: str) -> None:
    """Raise :class:`CaptureError` naming the first element of ``names`` that is not installed."""
    for name in names:
        if not element_installed(name):
            raise missing_element_error(name, context)


def bin_elements(container: Gst.Bin) -> list[Gst.Element]:
    """Every element inside ``container``, recursively (PyGObject has no iterable Gst.Iterator)."""
    found: list[Gst.Element] = []
    iterator = container.iterate_recurse()
    while True:
        result, element = iterator.next()
        if result == Gst.IteratorResult.OK:
            found.append(element)
        elif result == Gst.IteratorResult.RESYNC:
            found.clear()
            iterator.resync()
        else:
            return found
