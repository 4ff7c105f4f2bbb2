"""Build the GStreamer pipeline description for a video URI.

``describe_pipeline`` is pure string work so it can be tested and logged
without starting GStreamer.

Example:
    >>> parse_video_uri("rtsp://cam/live?transport=tcp")
    VideoUri(kind='rtsp', location='rtsp://cam/live', transport='tcp')
    >>> describe_pipeline(parse_video_uri("rtsp://cam/live"), latency_ms=100).split(" ! ")[1:4]
    ['decodebin', 'videoconvert', 'video/x-raw,format=BGR']
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from capture.errors import CaptureError

SINK_NAME = "sink"
_RTSP_SCHEMES = ("rtsp", "rtsps", "rtspt", "rtspu")
_TRANSPORTS = {"tcp": "tcp", "udp": "udp", "udp-mcast": "udp-mcast"}


@dataclass(frozen=True, slots=True)
class VideoUri:
    """A parsed video location: a local file or an RTSP URL (transport hint removed)."""

    kind: str  # "file" or "rtsp"
    location: str  # file path or the RTSP URL passed to rtspsrc
    transport: str | None = None  # "tcp", "udp" or None (rtspsrc default: try all)

    @property
    def is_live(self) -> bool:
        return self.kind == "rtsp"


def parse_video_uri(uri: str, transport: str | None = None) -> VideoUri:
    """Parse a file path, ``file://`` URI or ``rtsp://`` URL.

    A ``?transport=tcp|udp`` query item on an RTSP URL is a hint for us, not the
    server, so it is removed from the URL; the ``transport`` argument wins over it.
    Raises :class:`CaptureError` for an unknown scheme or a missing file.
    """
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if scheme in _RTSP_SCHEMES:
        query = parse_qsl(parts.query, keep_blank_values=True)
        hint = next((v for k, v in query if k == "transport"), None)
        rest = urlencode([(k, v) for k, v in query if k != "transport"])
        chosen = (transport or hint or "").lower() or None
        if chosen is not None and chosen not in _TRANSPORTS:
            raise CaptureError(f"{uri}: unknown RTSP transport {chosen!r} (use tcp or udp)")
        return VideoUri("rtsp", urlunsplit(parts._replace(query=rest)), chosen)
    if scheme == "file":
        path = Path(unquote(parts.path))
    elif scheme == "" or (len(scheme) == 1 and uri[1:3] in (":\\", ":/")):  # plain or Windows path
        path = Path(uri)
    else:
        raise CaptureError(
            f"{uri}: unsupported video URI scheme {scheme!r} (use a file path, file:// or rtsp://)"
        )
    if not path.is_file():
        raise CaptureError(f"{uri}: video file not found")
    return VideoUri("file", str(path.resolve()))


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def describe_pipeline(
    source: VideoUri, *, latency_ms: int = 100, decoder: str | None = None, timeout_s: float = 20.0
) -> str:
    """``gst-launch`` style description: source -> decode -> videoconvert -> BGR -> appsink.

    ``decoder`` names a decoder element (``avdec_h264``, ``nvh264dec``,
    ``v4l2h264dec`` ...); it is fed by ``parsebin``. Without it ``decodebin``
    picks the highest-ranked decoder. Files are read as fast as possible with
    back-pressure (no frame lost); live sources keep at most four decoded frames
    and drop the oldest, so a slow consumer sees fresh frames. The jitter buffer
    itself does not drop late packets (``drop-on-latency=false``): dropping there
    loses frames during the start-up burst of a stream, and latency is already
    bounded at the appsink.
    """
    if source.kind == "rtsp":
        head = (
            f"rtspsrc name=src location={_quote(source.location)} latency={int(latency_ms)}"
            + (f" protocols={_TRANSPORTS[source.transport]}" if source.transport else "")
            + " drop-on-latency=false add-reference-timestamp-meta=true"
            + f" tcp-timeout={int(timeout_s * 1e6)}"
        )
        sink = f"appsink name={SINK_NAME} sync=false max-buffers=4 drop=true"
    else:
        head = f"filesrc name=src location={_quote(source.location)}"
        sink = f"appsink name={SINK_NAME} sync=false max-buffers=4 drop=false"
    decode = f"parsebin ! {decoder}" if decoder else "decodebin"
    return f"{head} ! {decode} ! videoconvert ! video/x-raw,format=BGR ! {sink}"
