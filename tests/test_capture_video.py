"""VideoSource on real files decoded by GStreamer."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from fixtures_capture import START_UTC, MissionTruth, free_port, make_capture_mission

from capture import CaptureError, VideoSource
from capture.gst_buffer import VideoLayout
from capture.video_pipeline import parse_video_uri

pytestmark = pytest.mark.gst


@pytest.fixture(scope="module")
def capture_mission(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, MissionTruth]:
    return make_capture_mission(tmp_path_factory)


# Centre columns of the seven SMPTE bars at 160 px width and their colour (B, G, R high/low).
SMPTE_BARS = {
    11: (1, 1, 1),
    34: (0, 1, 1),
    57: (1, 1, 0),
    80: (0, 1, 0),
    103: (1, 0, 1),
    126: (0, 0, 1),
    149: (1, 0, 0),
}


def assert_smpte_bars(image: np.ndarray) -> None:
    for x, bgr in SMPTE_BARS.items():
        pixel = image[10, x].astype(int)
        expected = np.array(bgr) * 255
        assert np.all(np.abs(pixel - expected) < 40), f"bar at x={x}: {pixel} != {expected}"


@pytest.mark.parametrize("name", ["video.mp4", "video.ts"])
def test_reads_every_frame_with_size_times_and_colours(
    capture_mission: tuple[Path, MissionTruth], name: str
) -> None:
    folder, truth = capture_mission
    with VideoSource(str(folder / name), "cam", start_time_utc=START_UTC) as video:
        frames = list(video)
        assert video.frames_out == truth.n_frames
        assert video.frames_bad == 0
    assert [f.index for f in frames] == list(range(truth.n_frames))
    assert {(f.height, f.width) for f in frames} == {(truth.height, truth.width)}
    assert all(f.image.dtype == np.uint8 and f.image.shape[2] == 3 for f in frames)
    times = np.array([f.time_utc for f in frames])
    assert times[0] == pytest.approx(START_UTC)
    np.testing.assert_allclose(np.diff(times), 1.0 / truth.fps, atol=1e-3)
    assert all(f.source_id == "cam" and f.pose is None for f in frames)
    assert_smpte_bars(frames[0].image)
    assert_smpte_bars(frames[-1].image)


def test_zero_copy_frames_match_copied_frames_and_are_read_only(
    capture_mission: tuple[Path, MissionTruth],
) -> None:
    folder, _ = capture_mission
    uri = str(folder / "video.mp4")
    with VideoSource(uri, "a", start_time_utc=0.0) as video:
        viewed = list(video)  # the views must outlive the pipeline
    with VideoSource(uri, "b", start_time_utc=0.0, zero_copy=False) as video:
        copied = [f.image for f in video]
    assert len(viewed) == len(copied)
    for a, b in zip(viewed, copied, strict=True):
        np.testing.assert_array_equal(a.image, b)
    assert not viewed[0].image.flags.writeable
    with pytest.raises(ValueError):
        viewed[0].image[0, 0, 0] = 1


def test_named_decoder_and_file_uri(capture_mission: tuple[Path, MissionTruth]) -> None:
    folder, truth = capture_mission
    source = VideoSource(
        (folder / "video.mp4").as_uri(), "cam", start_time_utc=START_UTC, decoder="avdec_h264"
    )
    assert "parsebin ! avdec_h264" in source.pipeline_description
    assert len(list(source)) == truth.n_frames


def test_start_time_from_container_tag_when_not_given(capture_mission: tuple[Path, MissionTruth]) -> None:
    folder, _ = capture_mission
    # mp4mux writes its muxing time as the creation time: any sane recent UTC will do.
    first = next(iter(VideoSource(str(folder / "video.mp4"), "cam")))
    assert 1.7e9 < first.time_utc < 2.2e9


def test_transport_stream_without_start_time_is_an_error(capture_mission: tuple[Path, MissionTruth]) -> None:
    folder, _ = capture_mission
    with pytest.raises(CaptureError, match="no start time"):
        next(iter(VideoSource(str(folder / "video.ts"), "cam")))


def test_missing_file_names_the_uri(tmp_path: Path) -> None:
    missing = tmp_path / "nope.mp4"
    with pytest.raises(CaptureError, match=r"nope\.mp4"):
        VideoSource(str(missing), "cam")


def test_unsupported_scheme_and_transport() -> None:
    with pytest.raises(CaptureError, match=r"ftp://host/x\.mp4"):
        VideoSource("ftp://host/x.mp4", "cam")
    with pytest.raises(CaptureError, match="transport"):
        VideoSource("rtsp://127.0.0.1:1/x?transport=carrier-pigeon", "cam")


def test_transport_hint_is_removed_from_the_url() -> None:
    parsed = parse_video_uri("rtsp://127.0.0.1:8554/mission?transport=tcp&x=1")
    assert parsed == type(parsed)("rtsp", "rtsp://127.0.0.1:8554/mission?x=1", "tcp")


def test_corrupt_file_raises_capture_error_naming_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 20)
    with pytest.raises(CaptureError, match=r"broken\.mp4"):
        list(VideoSource(str(bad), "cam", start_time_utc=0.0, timeout_s=10))


def test_unreachable_rtsp_server_raises_capture_error() -> None:
    uri = f"rtsp://127.0.0.1:{free_port()}/none?transport=tcp"
    with pytest.raises(CaptureError, match=r"rtsp://127\.0\.0\.1"):
        list(VideoSource(uri, "cam", timeout_s=5))


def test_layout_respects_row_padding() -> None:
    import gi

    gi.require_version("Gst", "1.0")
    from gi.repository import Gst

    from capture.gst_buffer import buffer_to_array

    Gst.init(None)
    caps = Gst.Caps.from_string("video/x-raw,format=BGR,width=5,height=3,framerate=1/1")
    layout = VideoLayout.from_caps(caps)
    assert layout.stride == 16  # 5 * 3 = 15 bytes, rows aligned to 4
    rows = np.arange(16 * 3, dtype=np.uint8).reshape(3, 16)
    buffer = Gst.Buffer.new_wrapped(rows.tobytes())
    for zero_copy in (True, False):
        image = buffer_to_array(buffer, layout, zero_copy=zero_copy)
        np.testing.assert_array_equal(image, rows[:, :15].reshape(3, 5, 3))


def test_matroska_file(tmp_path: Path) -> None:
    mkv = tmp_path / "clip.mkv"
    subprocess.run(
        "gst-launch-1.0 -q videotestsrc num-buffers=5 pattern=smpte ! video/x-raw,width=160,height=120,"
        f"framerate=5/1 ! x264enc speed-preset=ultrafast ! h264parse ! matroskamux ! filesink location={mkv}",
        shell=True,
        check=True,
        timeout=60,
    )
    frames = list(VideoSource(str(mkv), "mkv", start_time_utc=100.0))
    assert [round(f.time_utc, 3) for f in frames] == [100.0, 100.2, 100.4, 100.6, 100.8]
    assert_smpte_bars(frames[2].image)
