"""TensorRT engines built on the target from the ONNX model, cached per device and TensorRT version.

A serialised TensorRT engine only runs on the GPU model (compute capability) and
TensorRT version it was built with, and bakes in the precision, input size and
batch. So the cache key is all of those plus the ONNX file's SHA-256; the
engine file name carries a readable prefix and a digest of the key, and a JSON
sidecar (``<engine>.json``) records the key. Before loading, :func:`engine_decision`
compares the sidecar with what is wanted here: anything missing, unreadable or
different means *build* (with the reason), never "load and hope".

Everything but :func:`current_target` and :func:`build_engine` is pure and runs
without TensorRT; those two import it (the ``gpu`` extra, or JetPack).

Example:
    >>> target = EngineTarget("Orin (nvgpu)", (8, 7), "10.3.0")
    >>> spec = EngineSpec(onnx_sha256="ab" * 32, precision="fp16", imgsz=(640, 640), batch=4)
    >>> engine_path(Path("cache"), "road", target, spec).name
    'road-fp16-640x640-b4-orin-nvgpu-sm87-trt10.3.0-8e245a68c77d.engine'
    >>> engine_decision(Path("cache/missing.engine"), engine_key(target, spec)).action
    'build'
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from detect.errors import DetectError

if TYPE_CHECKING:
    from detect.model_info import ModelInfo

Precision = Literal["fp32", "fp16", "int8"]
KEY_FORMAT = "roadsight-trt-engine/1"
SIDECAR_SUFFIX = ".json"
_HASH_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class EngineTarget:
    """The machine an engine runs on: GPU name, CUDA compute capability and TensorRT version."""

    device_name: str
    compute_capability: tuple[int, int]
    tensorrt_version: str


@dataclass(frozen=True, slots=True)
class EngineSpec:
    """What an engine is built from and for: the ONNX model's hash, precision, input (H, W), max batch."""

    onnx_sha256: str
    precision: Precision
    imgsz: tuple[int, int]
    batch: int


@dataclass(frozen=True, slots=True)
class EngineDecision:
    """``load`` the cached engine or ``build`` it, and why."""

    action: Literal["load", "build"]
    reason: str


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks (models are tens of MB)."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(_HASH_CHUNK):
                digest.update(chunk)
    except OSError as exc:
        raise DetectError(f"{path}: cannot read the model to hash it: {exc}") from exc
    return digest.hexdigest()


def engine_key(target: EngineTarget, spec: EngineSpec) -> dict[str, Any]:
    """The cache key as the sidecar stores it (JSON types only; also the engine header's fields)."""
    major, minor = target.compute_capability
    return {
        "format": KEY_FORMAT,
        "device": target.device_name,
        "compute_capability": f"{major}.{minor}",
        "tensorrt": target.tensorrt_version,
        "onnx_sha256": spec.onnx_sha256,
        "precision": spec.precision,
        "imgsz": [int(spec.imgsz[0]), int(spec.imgsz[1])],
        "batch": int(spec.batch),
    }


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9.]+", "-", text.lower()).strip("-") or "gpu"


def engine_path(cache_dir: Path, model_stem: str, target: EngineTarget, spec: EngineSpec) -> Path:
    """Where the engine for this model, target and spec lives in ``cache_dir``."""
    key = engine_key(target, spec)
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]
    major, minor = target.compute_capability
    height, width = spec.imgsz
    name = (
        f"{_slug(model_stem)}-{spec.precision}-{height}x{width}-b{spec.batch}-{_slug(target.device_name)}"
        f"-sm{major}{minor}-trt{_slug(target.tensorrt_version)}-{digest}.engine"
    )
    return Path(cache_dir) / name


def sidecar_path(engine: Path) -> Path:
    return engine.with_name(engine.name + SIDECAR_SUFFIX)


def read_sidecar(engine: Path) -> dict[str, Any]:
    """The key an engine was built with; :class:`DetectError` naming the file (and line) if unusable."""
    path = sidecar_path(engine)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DetectError(f"{path}: no metadata sidecar for {engine.name}") from None
    except json.JSONDecodeError as exc:
        raise DetectError(f"{path}: line {exc.lineno}: not valid JSON: {exc.msg}") from exc
    except OSError as exc:
        raise DetectError(f"{path}: cannot read: {exc}") from exc
    if not isinstance(data, dict):
        raise DetectError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def engine_decision(engine: Path, wanted: dict[str, Any]) -> EngineDecision:
    """Load ``engine`` only if it exists and its sidecar records exactly the ``wanted`` key."""
    if not engine.is_file():
        return EngineDecision("build", f"{engine}: no cached engine")
    try:
        built = read_sidecar(engine)
    except DetectError as exc:
        return EngineDecision("build", str(exc))
    wrong = [
        f"{key} {built.get(key)!r} (wanted {value!r})"
        for key, value in wanted.items()
        if built.get(key) != value
    ]
    if wrong:
        return EngineDecision("build", f"{engine}: built for another {', '.join(wrong)}")
    return EngineDecision("load", f"{engine}: built for this device, TensorRT and model")


def write_engine(engine: Path, blob: bytes, header: dict[str, Any], key: dict[str, Any]) -> Path:
    """Write the engine (Ultralytics layout: int32 header length, JSON header, engine) then its sidecar.

    Both go through a temporary file and a rename, engine first, so a crash never leaves a
    sidecar vouching for a half-written engine.
    """
    engine.parent.mkdir(parents=True, exist_ok=True)
    meta = json.dumps({**header, **key}).encode("utf-8")
    tmp = engine.with_name(engine.name + ".tmp")
    tmp.write_bytes(struct.pack("<i", len(meta)) + meta + blob)
    os.replace(tmp, engine)
    side = sidecar_path(engine)
    tmp_side = side.with_name(side.name + ".tmp")
    tmp_side.write_text(json.dumps(key, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp_side, side)
    return engine


def current_target() -> EngineTarget:
    """This machine's GPU and TensorRT version (:class:`DetectError` without TensorRT or a GPU)."""
    from detect.tensorrt_backend import import_tensorrt

    trt, torch = import_tensorrt()
    major, minor = torch.cuda.get_device_capability(0)
    return EngineTarget(str(torch.cuda.get_device_name(0)), (int(major), int(minor)), str(trt.__version__))


def onnx_info(onnx: Path) -> ModelInfo:
    """What the ONNX model says about itself (names, stride, input size), read on the CPU."""
    import onnxruntime as ort

    from detect.model_info import read_model_info

    return read_model_info(ort.InferenceSession(str(onnx), providers=["CPUExecutionProvider"]), str(onnx))


def onnx_header(onnx: Path) -> dict[str, Any]:
    """Class names, stride and image size from the ONNX metadata, for the engine header."""
    info = onnx_info(onnx)
    header: dict[str, Any] = {"names": dict(enumerate(info.names)), "stride": info.stride}
    if info.meta_imgsz is not None:
        header["imgsz"] = list(info.meta_imgsz)
    return header


def build_engine(
    onnx: Path, engine: Path, target: EngineTarget, spec: EngineSpec, *, workspace_gb: float = 2.0
) -> Path:
    """Build ``engine`` from ``onnx`` with TensorRT on this GPU and write it with its sidecar.

    The batch axis gets an optimisation profile 1..``spec.batch`` when the ONNX input is dynamic.
    INT8 without a calibrator relies on the model's Q/DQ nodes (a quantised ONNX export).
    """
    from detect.tensorrt_backend import import_tensorrt

    trt, _torch = import_tensorrt()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx.read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise DetectError(f"{onnx}: TensorRT cannot parse the ONNX model: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gb * (1 << 30)))
    if spec.precision == "fp16":
        config.set_flag(trt.BuilderFlag.FP16)
    elif spec.precision == "int8":
        config.set_flag(trt.BuilderFlag.INT8)
        config.set_flag(trt.BuilderFlag.FP16)
    image = network.get_input(0)
    height, width = spec.imgsz
    if -1 in tuple(image.shape):
        profile = builder.create_optimization_profile()
        profile.set_shape(
            image.name, (1, 3, height, width), (spec.batch, 3, height, width), (spec.batch, 3, height, width)
        )
        config.add_optimization_profile(profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise DetectError(
            f"{onnx}: TensorRT failed to build a {spec.precision} engine for {target.device_name}"
        )
    return write_engine(engine, bytes(serialized), onnx_header(onnx), engine_key(target, spec))


def ensure_engine(
    onnx: Path, cache_dir: Path, *, precision: Precision, imgsz: tuple[int, int], batch: int = 1
) -> tuple[Path, EngineDecision]:
    """The cached engine for ``onnx`` on this machine, built first when missing or mismatched."""
    target = current_target()
    spec = EngineSpec(file_sha256(onnx), precision, imgsz, batch)
    engine = engine_path(cache_dir, onnx.stem, target, spec)
    decision = engine_decision(engine, engine_key(target, spec))
    if decision.action == "build":
        build_engine(onnx, engine, target, spec)
    return engine, decision
