"""The TensorRT engine cache: keys per device / compute capability / TensorRT / model / precision / size,
and the load-or-rebuild decision from the engine's JSON sidecar (pure: no TensorRT needed)."""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import json
from pathlib import Path

import pytest

from detect.engine_cache import (
    EngineSpec,
    EngineTarget,
    engine_decision,
    engine_key,
    engine_path,
    ensure_engine,
    file_sha256,
    onnx_header,
    sidecar_path,
    write_engine,
)
from detect.errors import DetectError
from detect.factory import load_detector
from detect.tensorrt_backend import engine_names, read_engine_file

ORIN = EngineTarget("Orin (nvgpu)", (8, 7), "10.3.0")
SPEC = EngineSpec(onnx_sha256="0f" * 32, precision="fp16", imgsz=(640, 640), batch=4)
STARTER = Path(__file__).resolve().parents[1] / "detect" / "models" / "roadsight-starter.onnx"

CHANGES = {
    "another GPU": (dataclasses.replace(ORIN, device_name="NVIDIA GeForce RTX 4090"), SPEC),
    "another compute capability": (dataclasses.replace(ORIN, compute_capability=(8, 6)), SPEC),
    "another TensorRT": (dataclasses.replace(ORIN, tensorrt_version="10.0.1"), SPEC),
    "another model": (ORIN, dataclasses.replace(SPEC, onnx_sha256="1e" * 32)),
    "another precision": (ORIN, dataclasses.replace(SPEC, precision="int8")),
    "another input size": (ORIN, dataclasses.replace(SPEC, imgsz=(640, 1280))),
    "another batch": (ORIN, dataclasses.replace(SPEC, batch=1)),
}


def test_engine_path_is_deterministic_and_readable(tmp_path: Path) -> None:
    path = engine_path(tmp_path, "road model", ORIN, SPEC)
    assert path == engine_path(tmp_path, "road model", ORIN, SPEC)
    assert path.parent == tmp_path
    assert path.name.startswith("road-model-fp16-640x640-b4-orin-nvgpu-sm87-trt10.3.0-")
    assert sidecar_path(path).name == path.name + ".json"


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_every_key_field_gives_its_own_engine(change: str, tmp_path: Path) -> None:
    target, spec = CHANGES[change]
    assert engine_key(target, spec) != engine_key(ORIN, SPEC)
    assert engine_path(tmp_path, "road", target, spec) != engine_path(tmp_path, "road", ORIN, SPEC)


def test_matching_engine_is_loaded_and_its_header_reads_back(tmp_path: Path) -> None:
    engine = engine_path(tmp_path, "road", ORIN, SPEC)
    assert engine_decision(engine, engine_key(ORIN, SPEC)).action == "build"
    header = {"names": {0: "pothole", 1: "patch"}, "stride": 32, "imgsz": [640, 640]}
    write_engine(engine, b"\x00serialized-engine", header, engine_key(ORIN, SPEC))
    decision = engine_decision(engine, engine_key(ORIN, SPEC))
    assert decision.action == "load", decision.reason
    # The engine file is what TensorRTDetector and `edge doctor` read: names, device and version.
    meta, blob = read_engine_file(engine)
    assert blob == b"\x00serialized-engine"
    assert engine_names(engine, meta) == ("pothole", "patch")
    assert (meta["device"], meta["tensorrt"]) == ("Orin (nvgpu)", "10.3.0")
    assert not list(tmp_path.glob("*.tmp"))


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_mismatched_engine_is_rebuilt_not_loaded(change: str, tmp_path: Path) -> None:
    target, spec = CHANGES[change]
    engine = tmp_path / "road.engine"  # the same file, found where the wanted key expects another build
    write_engine(engine, b"blob", {"names": {0: "pothole"}}, engine_key(ORIN, SPEC))
    decision = engine_decision(engine, engine_key(target, spec))
    assert decision.action == "build"
    assert "built for another" in decision.reason and str(engine) in decision.reason


def test_mismatch_reason_names_the_field_and_both_values(tmp_path: Path) -> None:
    engine = tmp_path / "road.engine"
    write_engine(engine, b"blob", {"names": {0: "pothole"}}, engine_key(ORIN, SPEC))
    newer = dataclasses.replace(ORIN, tensorrt_version="10.7.0")
    reason = engine_decision(engine, engine_key(newer, SPEC)).reason
    assert "tensorrt '10.3.0' (wanted '10.7.0')" in reason
    assert "device" not in reason  # only what differs


def test_engine_without_or_with_a_broken_sidecar_is_rebuilt(tmp_path: Path) -> None:
    engine = tmp_path / "road.engine"
    engine.write_bytes(b"bytes from somewhere")
    decision = engine_decision(engine, engine_key(ORIN, SPEC))
    assert decision.action == "build" and "no metadata sidecar" in decision.reason
    sidecar_path(engine).write_text('{\n  "device": "Orin",\n  oops\n}\n', encoding="utf-8")
    decision = engine_decision(engine, engine_key(ORIN, SPEC))
    assert decision.action == "build"
    assert str(sidecar_path(engine)) in decision.reason and "line 3" in decision.reason
    sidecar_path(engine).write_text(json.dumps(["not", "an", "object"]), encoding="utf-8")
    assert "expected a JSON object" in engine_decision(engine, engine_key(ORIN, SPEC)).reason


def test_file_sha256_streams_the_model(tmp_path: Path) -> None:
    model = tmp_path / "m.onnx"
    model.write_bytes(b"x" * (3 << 20) + b"tail")
    assert file_sha256(model) == hashlib.sha256(model.read_bytes()).hexdigest()
    with pytest.raises(DetectError, match=r"missing\.onnx"):
        file_sha256(tmp_path / "missing.onnx")


def test_engine_header_from_the_starter_onnx() -> None:
    header = onnx_header(STARTER)
    assert header["stride"] == 32 and "pothole" in header["names"].values()
    assert list(header["names"]) == list(range(len(header["names"])))


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None, reason="TensorRT is installed here")
def test_building_without_tensorrt_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DetectError, match="TensorRT is not installed"):
        ensure_engine(STARTER, tmp_path, precision="fp16", imgsz=(640, 640))
    assert not list(tmp_path.iterdir())


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None, reason="TensorRT is installed here")
def test_onnx_with_the_tensorrt_backend_goes_through_the_cache(tmp_path: Path) -> None:
    with pytest.raises(DetectError, match="TensorRT is not installed"):
        load_detector(STARTER, backend="tensorrt", engine_cache=tmp_path / "engines")
    assert not (tmp_path / "engines").exists()
