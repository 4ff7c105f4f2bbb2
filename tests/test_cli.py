"""The command line: help lists the commands; bad input gives one clear line, exit 2, no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def roadsight(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "roadsight", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


def test_help_lists_the_commands() -> None:
    result = roadsight("--help")
    assert result.returncode == 0
    for command in ("run", "eval", "dashboard", "demo", "sim", "train", "export", "taxonomy", "cases"):
        assert command in result.stdout
    for group, commands in {
        "sim": ("generate", "serve", "dataset"),
        "cases": ("export", "work-order"),
        "evidence": ("keygen", "export", "verify", "report"),
    }.items():
        listed = roadsight(group, "--help").stdout
        for command in commands:
            assert command in listed, f"{group} {command}"


def test_taxonomy_command_lists_28_classes() -> None:
    result = roadsight("taxonomy")
    assert result.returncode == 0
    assert "pothole" in result.stdout and "坑槽" in result.stdout and "construction_waste" in result.stdout


def _assert_clean_failure(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    text = result.stdout + result.stderr
    assert result.returncode == 2, text
    assert "Traceback" not in text, text
    assert "error" in text.lower()
    for needle in needles:
        assert needle in text, text


def test_run_with_missing_video(tmp_path: Path) -> None:
    telemetry = tmp_path / "t.tlog"
    telemetry.write_bytes(b"")
    result = roadsight("run", "--source", str(tmp_path / "nope.mp4"), "--telemetry", str(telemetry))
    _assert_clean_failure(result, "video source of cam0 not found", "nope.mp4")


def test_run_with_missing_telemetry(tmp_path: Path) -> None:
    video = tmp_path / "v.mp4"
    video.write_bytes(b"\x00" * 16)
    result = roadsight("run", "--source", str(video), "--telemetry", str(tmp_path / "nope.tlog"))
    _assert_clean_failure(result, "telemetry of cam0 not found")


def test_run_with_malformed_config_names_the_key(tmp_path: Path) -> None:
    config = tmp_path / "run.yaml"
    config.write_text("source: a.mp4\ntelemetry: a.tlog\ndetect:\n  iou: -1\n", encoding="utf-8")
    _assert_clean_failure(roadsight("run", "--config", str(config)), "detect.iou")


def test_run_with_bad_uri_scheme(tmp_path: Path) -> None:
    telemetry = tmp_path / "t.tlog"
    telemetry.write_bytes(b"")
    result = roadsight("run", "--source", "bogus://camera/1", "--telemetry", str(telemetry))
    _assert_clean_failure(result, "bogus://camera/1")


def test_run_with_missing_model(tmp_path: Path) -> None:
    video, telemetry = tmp_path / "v.mp4", tmp_path / "t.tlog"
    video.write_bytes(b"\x00")
    telemetry.write_bytes(b"")
    result = roadsight("run", "--source", str(video), "--telemetry", str(telemetry), "--model", "none.onnx")
    _assert_clean_failure(result, "model not found")


def test_eval_with_missing_mission(tmp_path: Path) -> None:
    _assert_clean_failure(
        roadsight("eval", "--mission", str(tmp_path), "--store", str(tmp_path / "s.gpkg")),
        "ground truth not found",
    )


@pytest.mark.parametrize("scenario", ["submarine", "no_such.yaml"])
def test_sim_generate_with_unknown_scenario(tmp_path: Path, scenario: str) -> None:
    result = roadsight("sim", "generate", "--scenario", scenario, "--out", str(tmp_path / "m"))
    _assert_clean_failure(result, "scenario")


def test_train_with_missing_data(tmp_path: Path) -> None:
    _assert_clean_failure(roadsight("train", "--data", str(tmp_path / "data.yaml")), "data file not found")


def test_export_int8_from_the_cli_and_engine_without_a_gpu(tmp_path: Path) -> None:
    from hardware.sim.photos import write_survey_photos
    from roadsight.config import DEFAULT_MODEL

    write_survey_photos("drone_quick", 4400, tmp_path / "calib", every_n=12)
    out = tmp_path / "int8.onnx"
    result = roadsight(
        "export", "--weights", str(DEFAULT_MODEL), "--format", "onnx-int8",
        "--calib", str(tmp_path / "calib"), "--imgsz", "640", "--out", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert out.is_file() and out.stat().st_size < DEFAULT_MODEL.stat().st_size
    # An engine is built from the trained weights on the target GPU, not from an ONNX file here.
    engine = roadsight(
        "export", "--weights", str(DEFAULT_MODEL), "--format", "engine", "--out", str(tmp_path / "m.engine")
    )
    _assert_clean_failure(engine, "--format engine needs .pt weights")
