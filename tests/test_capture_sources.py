"""Source kinds and decoder choice of VideoSource: URI parsing, pipeline text, real senders.

The RTP, MPEG-TS/UDP and SRT tests run a real GStreamer sender (``gst-launch-1.0``
in a subprocess) on a local port and read it back with VideoSource.
"""

from __future__ import annotations

import json
import logging
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fixtures_capture import free_port

from capture import CaptureError, VideoSource
from capture.decoders import DECODER_PREFERENCE, DecoderSteering, choose_decoder
from capture.gst_registry import element_installed, require_elements
from capture.video_pipeline import describe_pipeline, parse_video_uri, source_elements

pytestmark = pytest.mark.gst

WIDTH, HEIGHT, FPS = 320, 240, 10
RAW = f"videotestsrc is-live=true pattern=smpte ! video/x-raw,width={WIDTH},height={HEIGHT},framerate={FPS}/1"
X264 = f"x264enc tune=zerolatency speed-preset=ultrafast key-int-max={FPS}"
X265 = f"x265enc tune=zerolatency speed-preset=ultrafast key-int-max={FPS}"


@contextmanager
def sender(pipeline: str) -> Iterator[subprocess.Popen[bytes]]:
    """A real gst-launch sender for the duration of the block."""
    proc = subprocess.Popen(["gst-launch-1.0", "-q", *pipeline.split()], stderr=subprocess.PIPE)
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait(timeout=10)


def read_frames(source: VideoSource, n: int) -> list[tuple[int, int]]:
    sizes = []
    for frame in source:
        sizes.append((frame.height, frame.width))
        if len(sizes) == n:
            break
    source.close()
    return sizes


# -- URI parsing and pipeline text (pure) -------------------------------------------------


def test_rtp_h264_and_h265_descriptions() -> None:
    h265 = parse_video_uri("rtp://0.0.0.0:5000?codec=h265")
    assert (h265.kind, h265.location, h265.port, h265.codec, h265.is_live) == (
        "rtp",
        "0.0.0.0",
        5000,
        "h265",
        True,
    )
    text = describe_pipeline(h265, decoder="avdec_h265", latency_ms=50)
    assert text.startswith("udpsrc name=src address=0.0.0.0 port=5000 caps=")
    assert "encoding-name=H265" in text and "payload=96" in text
    assert " ! rtpjitterbuffer latency=50 ! rtph265depay ! h265parse ! avdec_h265 ! " in text
    h264 = parse_video_uri("rtp://239.1.1.1:6000")  # multicast group, default codec H.264
    assert (h264.codec, h264.location) == ("h264", "239.1.1.1")
    assert "rtph264depay ! h264parse" in describe_pipeline(h264, decoder="avdec_h264")
    assert "appsink name=sink sync=false max-buffers=2 drop=true" in describe_pipeline(h264)  # newest only
    assert "rtph265depay" in source_elements(h265)


def test_udp_rtmp_srt_v4l2_descriptions() -> None:
    udp = parse_video_uri("udp://0.0.0.0:5004")
    assert udp.is_live and "video/mpegts" in describe_pipeline(udp)
    rtmp = parse_video_uri("rtmp://example.org/live/key")
    assert rtmp.is_live
    assert describe_pipeline(rtmp).startswith(
        'rtmpsrc name=src location="rtmp://example.org/live/key" ! flvdemux ! decodebin name=dec ! '
    )
    srt = parse_video_uri("srt://10.0.0.2:9000?mode=listener&passphrase=secret123")
    assert srt.is_live
    assert describe_pipeline(srt, latency_ms=200).startswith(
        'srtsrc name=src uri="srt://10.0.0.2:9000?mode=listener&passphrase=secret123" latency=200 ! decodebin'
    )
    cam = parse_video_uri("v4l2:///dev/video2?width=1280&height=720&framerate=30/1")
    assert (cam.kind, cam.location, cam.is_live) == ("v4l2", "/dev/video2", True)
    assert describe_pipeline(cam).startswith(
        'v4l2src name=src device="/dev/video2" ! video/x-raw,width=1280,height=720,framerate=30/1 ! decodebin'
    )
    assert not parse_video_uri(__file__).is_live


def test_output_size_scales_before_colour_conversion() -> None:
    text = describe_pipeline(parse_video_uri("rtsp://cam/live"), output_size=(640, 360))
    assert "! videoscale ! video/x-raw,width=640,height=360 ! videoconvert ! video/x-raw,format=BGR !" in text
    with pytest.raises(CaptureError, match="0x360"):
        describe_pipeline(parse_video_uri("rtsp://cam/live"), output_size=(0, 360))


def test_bad_uris_are_clear_errors() -> None:
    with pytest.raises(CaptureError, match=r"gopher://x.*supported: .*rtsp://.*rtp://.*srt://.*v4l2://"):
        parse_video_uri("gopher://x/y")
    with pytest.raises(CaptureError, match="unknown RTP codec 'vp9'"):
        parse_video_uri("rtp://0.0.0.0:5000?codec=vp9")
    with pytest.raises(CaptureError, match="UDP port"):
        parse_video_uri("rtp://0.0.0.0")
    with pytest.raises(CaptureError, match="unknown SRT mode 'server'"):
        parse_video_uri("srt://host:9000?mode=server")


def test_missing_element_names_it_and_its_debian_package() -> None:
    assert not element_installed("nvv4l2decoder")  # no Jetson here
    with pytest.raises(
        CaptureError, match=r"clip\.mp4: GStreamer element nvv4l2decoder is not installed.*JetPack"
    ):
        require_elements(["filesrc", "nvv4l2decoder"], "clip.mp4")
    require_elements(["rtmpsrc", "srtsrc", "v4l2src", "flvdemux"], "all there")  # Debian's plugins-bad/good


# -- decoder choice ------------------------------------------------------------------------


def test_auto_decoder_is_the_first_installed_preference() -> None:
    for codec, candidates in DECODER_PREFERENCE.items():
        choice = choose_decoder(codec)
        assert choice.element in candidates and element_installed(choice.element)
        assert not choice.explicit
        assert all(not element_installed(name) for name in choice.passed_over)
    assert choose_decoder("h264", "avdec_h264").explicit


def test_explicit_missing_decoder_raises_naming_it(tmp_path: Path) -> None:
    missing = next(name for name in ("nvh264dec", "vah264dec", "vaapih264dec") if not element_installed(name))
    with pytest.raises(CaptureError, match=rf"GStreamer element {missing} is not installed \(install "):
        choose_decoder("h264", missing)
    with pytest.raises(CaptureError, match=rf"rtp://127\.0\.0\.1:5000 \(source cam\).*{missing}"):
        VideoSource("rtp://127.0.0.1:5000", "cam", decoder=missing)
    clip = tmp_path / "clip.ts"
    clip.write_bytes(b"\x47" * 188)
    with pytest.raises(CaptureError, match=rf"clip\.ts \(source cam\).*{missing}"):
        VideoSource(str(clip), "cam", decoder=missing)


def test_steering_answers_decodebin_with_the_chosen_decoder_first() -> None:
    """The autoplug-select answers for real caps and factories, in decodebin's (rank) order.

    Only avdec_h264 and openh264dec decode H.264 here (libde265dec, the only other
    H.265 decoder in Debian 12, crashes), so decodebin itself cannot be shown
    choosing a lower-ranked decoder; its answers to decodebin can.
    """
    import gi

    gi.require_version("Gst", "1.0")
    from gi.repository import Gst

    try_, skip = 0, 2
    avdec, openh264 = Gst.ElementFactory.find("avdec_h264"), Gst.ElementFactory.find("openh264dec")
    parser = Gst.ElementFactory.find("h264parse")
    assert avdec is not None and openh264 is not None and parser is not None
    assert avdec.get_rank() > openh264.get_rank()  # decodebin offers avdec_h264 first
    byte_stream = Gst.Caps.from_string("video/x-h264,stream-format=byte-stream,alignment=au,profile=high")
    avc = Gst.Caps.from_string("video/x-h264,stream-format=avc,alignment=au,profile=high")
    pad = Gst.Pad.new("sink", Gst.PadDirection.SINK)

    steering = DecoderSteering("openh264dec", "test")
    assert steering.on_autoplug_select(None, pad, byte_stream, parser) == try_  # not a decoder
    assert steering.on_autoplug_select(None, pad, byte_stream, avdec) == skip  # ranked first, not chosen
    assert steering.on_autoplug_select(None, pad, byte_stream, openh264) == try_
    assert steering.on_autoplug_select(None, pad, byte_stream, avdec) == try_  # fallback after the chosen
    # openh264dec cannot take AVC at all: the stream is not left without a decoder.
    assert DecoderSteering("openh264dec").on_autoplug_select(None, pad, avc, avdec) == try_
    # A preference for another codec's decoder leaves H.264 to the probed choice.
    assert DecoderSteering("avdec_h265").choice("h264") == choose_decoder("h264")
    auto = DecoderSteering(None)
    software = auto.choice("h264").element == "avdec_h264"  # no hardware decoder here
    assert auto.on_autoplug_select(None, pad, byte_stream, avdec) == (try_ if software else skip)
    assert auto.on_autoplug_select(None, pad, byte_stream, openh264) == (try_ if software else skip)


def test_auto_decoder_is_logged_for_a_file(
    drone_quick_mission: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="capture.video")
    video = VideoSource(
        str(drone_quick_mission / "video.ts"), "cam", start_time_utc=0.0, output_size=(320, 180)
    )
    frames = list(video)
    manifest = json.loads((drone_quick_mission / "scenario.json").read_text())
    assert len(frames) == manifest["video"]["frame_count"]
    assert {(f.height, f.width) for f in frames} == {(180, 320)}
    chosen = choose_decoder("h264").element
    assert video.decoder_in_use == chosen
    assert f"video cam: decoder {chosen}" in caplog.text
    assert "videoscale ! video/x-raw,width=320,height=180" in caplog.text


# -- real senders -----------------------------------------------------------------------------


@pytest.mark.parametrize("codec", ["h264", "h265"])
def test_rtp_over_udp(codec: str, caplog: pytest.LogCaptureFixture) -> None:
    port = free_port(socket.SOCK_DGRAM)
    encoder = X264 if codec == "h264" else X265
    caplog.set_level(logging.INFO, logger="capture.video")
    source = VideoSource(f"rtp://127.0.0.1:{port}?codec={codec}", f"rtp-{codec}", timeout_s=15)
    chosen = choose_decoder(codec).element
    assert f"rtp{codec}depay ! {codec}parse ! {chosen} !" in source.pipeline_description
    with sender(
        f"{RAW} ! {encoder} ! rtp{codec}pay config-interval=1 pt=96 ! udpsink host=127.0.0.1 port={port}"
    ):
        sizes = read_frames(source, 10)
    assert sizes == [(HEIGHT, WIDTH)] * 10
    assert source.is_live and source.decoder_in_use == chosen
    assert chosen in caplog.text  # the logged pipeline names the decoder


def test_mpegts_over_udp() -> None:
    port = free_port(socket.SOCK_DGRAM)
    source = VideoSource(f"udp://127.0.0.1:{port}", "ts-udp", timeout_s=15)
    with sender(f"{RAW} ! {X264} ! mpegtsmux alignment=7 ! udpsink host=127.0.0.1 port={port}"):
        assert read_frames(source, 10) == [(HEIGHT, WIDTH)] * 10


def test_srt_caller_and_listener() -> None:
    port = free_port(socket.SOCK_DGRAM)
    # Our source calls a listening sender (the usual drone/encoder set-up) ...
    caller = VideoSource(f"srt://127.0.0.1:{port}?mode=caller", "srt-caller", timeout_s=15)
    with sender(
        f"{RAW} ! {X264} ! mpegtsmux ! srtsink uri=srt://:{port}?mode=listener wait-for-connection=false"
    ):
        assert read_frames(caller, 10) == [(HEIGHT, WIDTH)] * 10
    # ... or listens for a calling sender.
    port = free_port(socket.SOCK_DGRAM)
    listener = VideoSource(f"srt://127.0.0.1:{port}?mode=listener", "srt-listener", timeout_s=15)
    listener.open()  # listening before the sender calls
    with sender(f"{RAW} ! {X264} ! mpegtsmux ! srtsink uri=srt://127.0.0.1:{port}?mode=caller"):
        assert read_frames(listener, 10) == [(HEIGHT, WIDTH)] * 10


def test_rtmp_without_server_is_a_clear_error() -> None:
    port = free_port()
    uri = f"rtmp://127.0.0.1:{port}/live/stream"
    with pytest.raises(CaptureError, match=rf"{uri} \(source drone\): no video within 3 s"):
        list(VideoSource(uri, "drone", timeout_s=3))


def test_missing_camera_device_is_a_clear_error() -> None:
    with pytest.raises(
        CaptureError, match=r"v4l2:///dev/video97 \(source usb\): no video within 1 s: .*video97"
    ):
        list(VideoSource("v4l2:///dev/video97", "usb", timeout_s=1))
