"""Build the GStreamer pipeline description for a video URI.

``parse_video_uri`` and ``describe_pipeline`` are pure string work, so they can
be tested and logged without starting GStreamer. Supported sources:

==========================================  ==================================================
URI                                         source
==========================================  ==================================================
``path``, ``file:///path``                  MP4, MKV, MPEG-TS ... file (``filesrc``)
``rtsp://host:port/path?transport=tcp``     RTSP camera or server (``rtspsrc``; tcp or udp)
``rtp://0.0.0.0:5000?codec=h265``           RTP/UDP H.264 (default) or H.265 (``udpsrc``)
``udp://0.0.0.0:5000``                      raw MPEG-TS over UDP (``udpsrc``)
``rtmp://host/app/key``                     RTMP (``rtmpsrc`` + ``flvdemux``)
``srt://host:port?mode=caller|listener``    SRT carrying MPEG-TS (``srtsrc``)
``v4l2:///dev/video0``                      V4L2 / USB camera (``v4l2src``)
==========================================  ==================================================

Every kind but files is live. Query items that are ours (``transport``,
``codec``, ``payload``, ``width``/``height``/``framerate``) are removed from the
location handed to GStreamer; the others are kept (``srt://`` keeps
``mode``, ``latency``, ``passphrase`` ... for ``srtsrc``).

Example:
    >>> parse_video_uri("rtsp://cam/live?transport=tcp")
    VideoUri(kind='rtsp', location='rtsp://cam/live', transport='tcp', codec=None, port=None)
    >>> describe_pipeline(parse_video_uri("rtsp://cam/live"), latency_ms=100).split(" ! ")[1:4]
    ['decodebin name=dec', 'videoconvert', 'video/x-raw,format=BGR']
    >>> rtp = parse_video_uri("rtp://0.0.0.0:5000?codec=h265")
    >>> describe_pipeline(rtp, decoder="avdec_h265").split(" ! ")[1:4]
    ['rtpjitterbuffer latency=100', 'rtph265depay', 'h265parse']
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from capture.errors import CaptureError

LIVE_SINK_BUFFERS = 2  # decoded frames a live source holds for the pipeline at most
FILE_SINK_BUFFERS = 4
SINK_NAME = "sink"
DECODEBIN_NAME = "dec"
_RTSP_SCHEMES = ("rtsp", "rtsps", "rtspt", "rtspu")
_TRANSPORTS = {"tcp": "tcp", "udp": "udp", "udp-mcast": "udp-mcast"}
RTP_CODECS = ("h264", "h265")
_SRT_MODES = ("caller", "listener", "rendezvous")
SUPPORTED_SCHEMES = ("file", "rtsp", "rtp", "udp", "rtmp", "srt", "v4l2")
LIVE_KINDS = frozenset({"rtsp", "rtp", "udp", "rtmp", "srt", "v4l2"})


@dataclass(frozen=True, slots=True)
class VideoUri:
    """A parsed video location; ``kind`` is one of :data:`SUPPORTED_SCHEMES`.

    ``location`` is what the source element gets: a file path, an RTSP/RTMP/SRT
    URL (our query items removed), the UDP bind address (``rtp``/``udp``) or the
    V4L2 device. ``codec`` is the RTP payload codec, ``port`` the UDP port.
    ``caps`` are extra ``video/x-raw`` constraints for a V4L2 camera.
    """

    kind: str
    location: str
    transport: str | None = None  # rtsp: "tcp", "udp" or None (rtspsrc default: try all)
    codec: str | None = None  # rtp: "h264" or "h265"
    port: int | None = None  # rtp/udp: local UDP port
    payload: int = 96  # rtp: payload type
    caps: str = ""  # v4l2: e.g. "width=1280,height=720,framerate=30/1"

    @property
    def is_live(self) -> bool:
        return self.kind in LIVE_KINDS

    def __repr__(self) -> str:  # the short form of the docstring example; defaults left out
        return (
            f"VideoUri(kind={self.kind!r}, location={self.location!r}, transport={self.transport!r}, "
            f"codec={self.codec!r}, port={self.port!r})"
        )


def _unsupported(uri: str, scheme: str) -> CaptureError:
    return CaptureError(
        f"{uri}: unsupported video URI scheme {scheme!r}"
        f" (supported: a file path, {', '.join(s + '://' for s in SUPPORTED_SCHEMES)})"
    )


def _udp_endpoint(uri: str, host: str | None, port: int | None) -> tuple[str, int]:
    if port is None or not 0 < port < 65536:
        raise CaptureError(f"{uri}: a UDP port is needed, e.g. rtp://0.0.0.0:5000")
    return host or "0.0.0.0", port


def parse_video_uri(uri: str, transport: str | None = None) -> VideoUri:
    """Parse a file path or one of the URIs of the module docstring.

    A ``?transport=tcp|udp`` query item on an RTSP URL is a hint for us, not the
    server, so it is removed from the URL; the ``transport`` argument wins over it.
    Raises :class:`CaptureError` for an unknown scheme or option, or a missing file.
    """
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    query = parse_qsl(parts.query, keep_blank_values=True)
    options = dict(query)
    try:
        port = parts.port
    except ValueError as exc:
        raise CaptureError(f"{uri}: bad port: {exc}") from None
    if scheme in _RTSP_SCHEMES:
        hint = options.get("transport")
        rest = urlencode([(k, v) for k, v in query if k != "transport"])
        chosen = (transport or hint or "").lower() or None
        if chosen is not None and chosen not in _TRANSPORTS:
            raise CaptureError(f"{uri}: unknown RTSP transport {chosen!r} (use tcp or udp)")
        return VideoUri("rtsp", urlunsplit(parts._replace(query=rest)), chosen)
    if scheme == "rtp":
        codec = options.get("codec", "h264").lower().replace("hevc", "h265").replace("avc", "h264")
        if codec not in RTP_CODECS:
            raise CaptureError(f"{uri}: unknown RTP codec {codec!r} (use {' or '.join(RTP_CODECS)})")
        try:
            payload = int(options.get("payload", "96"))
        except ValueError:
            raise CaptureError(f"{uri}: payload must be a number (96..127)") from None
        host, udp_port = _udp_endpoint(uri, parts.hostname, port)
        return VideoUri("rtp", host, codec=codec, port=udp_port, payload=payload)
    if scheme == "udp":
        host, udp_port = _udp_endpoint(uri, parts.hostname, port)
        return VideoUri("udp", host, port=udp_port)
    if scheme == "rtmp" or scheme == "rtmps":
        return VideoUri("rtmp", uri)
    if scheme == "srt":
        mode = options.get("mode", "caller")
        if mode not in _SRT_MODES:
            raise CaptureError(f"{uri}: unknown SRT mode {mode!r} (use {', '.join(_SRT_MODES)})")
        if port is None:
            raise CaptureError(f"{uri}: an SRT port is needed, e.g. srt://host:9000?mode=caller")
        return VideoUri("srt", uri)
    if scheme == "v4l2":
        device = unquote(parts.path) or "/dev/video0"
        caps = ",".join(f"{k}={options[k]}" for k in ("width", "height", "framerate") if k in options)
        return VideoUri("v4l2", device, caps=caps)
    if scheme == "file":
        path = Path(unquote(parts.path))
    elif scheme == "" or (len(scheme) == 1 and uri[1:3] in (":\\", ":/")):  # plain or Windows path
        path = Path(uri)
    else:
        raise _unsupported(uri, scheme)
    if not path.is_file():
        raise CaptureError(f"{uri}: video file not found")
    return VideoUri("file", str(path.resolve()))


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def source_elements(source: VideoUri) -> list[str]:
    """The GStreamer elements (factory names) a source of this kind needs, source first."""
    common = ["videoconvert", "appsink"]
    by_kind = {
        "file": ["filesrc", "decodebin"],
        "rtsp": ["rtspsrc", "decodebin"],
        "rtp": ["udpsrc", "rtpjitterbuffer", f"rtp{source.codec}depay", f"{source.codec}parse"],
        "udp": ["udpsrc", "tsdemux", "decodebin"],
        "rtmp": ["rtmpsrc", "flvdemux", "decodebin"],
        "srt": ["srtsrc", "tsdemux", "decodebin"],
        "v4l2": ["v4l2src", "decodebin"],
    }
    return by_kind[source.kind] + common


def _head(source: VideoUri, latency_ms: int, timeout_s: float) -> str:
    """Source element(s) up to where the decoder starts."""
    if source.kind == "rtsp":
        return (
            f"rtspsrc name=src location={_quote(source.location)} latency={int(latency_ms)}"
            + (f" protocols={_TRANSPORTS[source.transport]}" if source.transport else "")
            + " drop-on-latency=false add-reference-timestamp-meta=true"
            + f" tcp-timeout={int(timeout_s * 1e6)}"
        )
    if source.kind == "rtp":
        encoding = source.codec.upper() if source.codec else "H264"
        caps = "application/x-rtp,media=video,clock-rate=90000"
        caps += f",encoding-name={encoding},payload={source.payload}"
        return (
            f"udpsrc name=src address={source.location} port={source.port} caps={_quote(caps)}"
            f" ! rtpjitterbuffer latency={int(latency_ms)}"
            f" ! rtp{source.codec}depay ! {source.codec}parse"
        )
    if source.kind == "udp":
        caps = "video/mpegts,systemstream=(boolean)true,packetsize=(int)188"
        return f"udpsrc name=src address={source.location} port={source.port} caps={_quote(caps)}"
    if source.kind == "rtmp":
        return f"rtmpsrc name=src location={_quote(source.location)} ! flvdemux"
    if source.kind == "srt":
        return f"srtsrc name=src uri={_quote(source.location)} latency={int(latency_ms)}"
    if source.kind == "v4l2":
        head = f"v4l2src name=src device={_quote(source.location)}"
        return head + (f" ! video/x-raw,{source.caps}" if source.caps else "")
    return f"filesrc name=src location={_quote(source.location)}"


def describe_pipeline(
    source: VideoUri,
    *,
    latency_ms: int = 100,
    decoder: str | None = None,
    timeout_s: float = 20.0,
    output_size: tuple[int, int] | None = None,
) -> str:
    """``gst-launch`` style description: source -> decode -> [scale] -> BGR -> appsink.

    ``decoder`` names a decoder element (``avdec_h264``, ``nvh264dec``
    ...). RTP sources (codec known from the URI) feed it from the depayloader
    and parser. Other sources feed it from ``parsebin`` when given; without it
    ``decodebin`` (named :data:`DECODEBIN_NAME`, steered by
    :class:`capture.decoders.DecoderSteering`) picks one per stream.

    ``output_size`` ``(width, height)`` scales in GStreamer *before* the colour
    conversion, where the frame is still YUV (half the bytes of BGR).

    Files are read as fast as possible with back-pressure (no frame lost, at most
    four decoded frames queued); live sources keep at most four decoded frames and
    drop the oldest, so a slow consumer sees fresh frames. The RTSP jitter buffer
    itself does not drop late packets (``drop-on-latency=false``): dropping there
    loses frames during the start-up burst of a stream, and latency is already
    bounded at the appsink.
    """
    head = _head(source, latency_ms, timeout_s)
    if source.kind == "rtp":
        decode = decoder or f"avdec_{source.codec}"
    else:
        decode = f"parsebin ! {decoder}" if decoder else f"decodebin name={DECODEBIN_NAME}"
    scale = ""
    if output_size is not None:
        width, height = output_size
        if width <= 0 or height <= 0:
            raise CaptureError(f"output_size must be positive, got {width}x{height}")
        scale = f"videoscale ! video/x-raw,width={int(width)},height={int(height)} ! "
    # A live source keeps only its newest frames (latest-frame policy: when inference lags,
    # the oldest are dropped and counted, so latency stays bounded); a file never drops.
    buffers, drop = (LIVE_SINK_BUFFERS, "true") if source.is_live else (FILE_SINK_BUFFERS, "false")
    sink = f"appsink name={SINK_NAME} sync=false max-buffers={buffers} drop={drop}"
    return f"{head} ! {decode} ! {scale}videoconvert ! video/x-raw,format=BGR ! {sink}"
