"""edge doctor on this machine (no GPU, no JetPack): precise failures for what is missing, passes the rest."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from hardware.device_profiles import load_edge_profile
from hardware.edge_doctor import Check, check_broker, parse_chronyc_tracking, run_doctor


def _by_name(checks: list[Check]) -> dict[str, Check]:
    return {c.name: c for c in checks}


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_jetson_profile_fails_precisely_on_this_machine(tmp_path: Path) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        broker = f"127.0.0.1:{listener.getsockname()[1]}"
        checks = _by_name(
            run_doctor(
                load_edge_profile("jetson_orin_nx"), model=None, spool_dir=tmp_path / "spool", broker=broker
            )
        )
    decoder = checks["gstreamer element nvv4l2decoder"]
    assert decoder.ok is False
    assert "nvv4l2decoder is not installed" in decoder.detail and "JetPack" in decoder.detail
    gpu = checks["gpu"]
    assert gpu.ok is False and "no NVIDIA GPU" in gpu.detail and "JetPack" in gpu.detail
    assert checks["tensorrt"].ok is False and "TensorRT is not installed" in checks["tensorrt"].detail
    for element in ("rtspsrc", "rtph264depay", "h264parse", "videoconvert", "appsink"):
        assert checks[f"gstreamer element {element}"].ok is True
    assert checks["spool disk"].ok is True and "need 8 GB" in checks["spool disk"].detail
    assert checks["broker"].ok is True
    # No systemd and no chrony here: the clock is unknown, a warning and never a pass.
    assert checks["clock sync"].ok is not True
    assert checks["clock sync"].status in ("WARN", "FAIL")


def test_cpu_profile_passes_what_is_present(tmp_path: Path) -> None:
    model = tmp_path / "model.onnx"
    model.write_bytes(b"onnx")
    checks = _by_name(run_doctor(load_edge_profile("x86_cpu"), model=model, spool_dir=tmp_path, broker=None))
    assert checks["gstreamer element avdec_h264"].ok is True
    assert checks["gpu"].ok is True and "none needed" in checks["gpu"].detail
    assert checks["tensorrt"].ok is True and checks["model"].ok is True
    assert "broker" not in checks
    assert all(c.ok is not False for c in checks.values()), [c for c in checks.values() if c.ok is False]


def test_spool_disk_and_engine_failures(tmp_path: Path) -> None:
    cpu = load_edge_profile("x86_cpu").model_copy(update={"min_spool_free_gb": 1e9})
    engine = tmp_path / "road.engine"
    engine.write_bytes(b"\x00\x00\x00\x00garbage")
    checks = _by_name(run_doctor(cpu, model=engine, spool_dir=tmp_path / "a" / "b", broker=None))
    assert checks["spool disk"].ok is False and f"at {tmp_path} " in checks["spool disk"].detail
    assert checks["engine"].ok is False and "no Ultralytics metadata header" in checks["engine"].detail
    missing = run_doctor(cpu, model=tmp_path / "nope.onnx", spool_dir=tmp_path, broker=None)
    assert _by_name(missing)["model"].detail.endswith("nope.onnx: model file not found")


def test_broker_unreachable_names_each_server() -> None:
    port = _closed_port()
    check = check_broker(f"127.0.0.1:{port},bad-entry", timeout_s=0.5)
    assert check.ok is False
    assert (
        f"127.0.0.1:{port}: Connection refused" in check.detail and "bad-entry: not host:port" in check.detail
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Leap status     : Normal\nSystem time     : 0.000012345 seconds slow of NTP time\n",
            (True, 1.2345e-5),
        ),
        (
            "System time     : 2.5 seconds fast of NTP time\nLeap status     : Not synchronised\n",
            (False, 2.5),
        ),
        ("506 Cannot talk to daemon\n", None),
    ],
)
def test_parse_chronyc_tracking(text: str, expected: tuple[bool, float] | None) -> None:
    assert parse_chronyc_tracking(text) == expected
