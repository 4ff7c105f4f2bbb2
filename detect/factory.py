"""Pick a detection backend for a model file: one call, whatever the format.

=========================  ===============  =============================================
model                      backend          runs with
=========================  ===============  =============================================
``*.onnx`` (FP32 or INT8)  ``onnxruntime``  :class:`OnnxDetector` (CPU; CUDA/TensorRT/
                                            OpenVINO execution providers when present)
``*.engine``               ``tensorrt``     :class:`TensorRTDetector` (NVIDIA GPU); an
                                            ``.onnx`` with ``backend="tensorrt"`` is built
                                            into a cached engine first
``*.pt``                   ``ultralytics``  :class:`UltralyticsDetector` (reference)
``*_openvino_model/``      ``openvino``     ONNX Runtime's OpenVINO provider on the
                                            ``.onnx`` inside, if both exist; else
                                            Ultralytics (OpenVINO runtime)
=========================  ===============  =============================================

Example:
    >>> detector = load_detector("detect/models/roadsight-starter.onnx", conf=0.3)  # doctest: +SKIP
    >>> type(detector).__name__  # doctest: +SKIP
    'OnnxDetector'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from detect.detector import Detector
from detect.errors import DetectError

Backend = Literal["auto", "onnxruntime", "tensorrt", "ultralytics", "openvino"]
BACKENDS: tuple[str, ...] = ("auto", "onnxruntime", "tensorrt", "ultralytics", "openvino")
OPENVINO_PROVIDER = "OpenVINOExecutionProvider"
_ENGINE_SUFFIXES = (".engine", ".plan", ".trt")


def backend_for(path: Path) -> str:
    """The backend ``"auto"`` picks for ``path``, by its suffix (or ``*_openvino_model`` folder name)."""
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        return "onnxruntime"
    if suffix in _ENGINE_SUFFIXES:
        return "tensorrt"
    if suffix == ".pt":
        return "ultralytics"
    if path.name.endswith("_openvino_model"):
        return "openvino"
    raise DetectError(
        f"{path}: cannot tell the model format from the name; expected .onnx, .engine, .pt or a "
        "*_openvino_model folder (or pass backend=)"
    )


def _openvino_onnx(path: Path) -> Path | None:
    """The ONNX model ONNX Runtime's OpenVINO provider can run for ``path``, if there is one."""
    import onnxruntime as ort

    if OPENVINO_PROVIDER not in ort.get_available_providers():
        return None
    if path.suffix.lower() == ".onnx":
        return path
    found = sorted(path.glob("*.onnx")) if path.is_dir() else []
    return found[0] if found else None


def _cached_engine(
    onnx: Path,
    imgsz: int | tuple[int, int] | None,
    precision: Literal["fp32", "fp16", "int8"],
    batch: int,
    cache_dir: Path | None,
) -> Path:
    """The engine for ``onnx`` on this GPU, built first when the cache has none that matches."""
    from detect.engine_cache import current_target, ensure_engine, onnx_info

    current_target()  # no TensorRT or GPU: say so before reading the model
    if imgsz is None:
        info = onnx_info(onnx)
        imgsz = info.input_hw or info.meta_imgsz or (640, 640)
    size = (imgsz, imgsz) if isinstance(imgsz, int) else (int(imgsz[0]), int(imgsz[1]))
    engine, _decision = ensure_engine(
        onnx, cache_dir or onnx.parent / "engines", precision=precision, imgsz=size, batch=batch
    )
    return engine


def load_detector(
    path: str | Path,
    backend: Backend = "auto",
    *,
    conf: float | dict[str, float] = 0.25,
    iou: float = 0.45,
    class_map: Mapping[str, str | None] | None = None,
    imgsz: int | tuple[int, int] | None = None,
    max_det: int = 300,
    providers: Sequence[str] | str | None = None,
    intra_op_threads: int | None = None,
    spin: bool | None = None,
    device: str | int | None = None,
    engine_precision: Literal["fp32", "fp16", "int8"] = "fp16",
    engine_batch: int = 1,
    engine_cache: Path | None = None,
) -> Detector:
    """A :class:`Detector` for the model at ``path``.

    Args:
        path: model file or folder.
        backend: ``"auto"`` (by suffix, see the module table) or one backend by name.
        conf, iou, class_map, imgsz, max_det: as :class:`OnnxDetector`, for every backend.
        providers, intra_op_threads, spin: ONNX Runtime only (``providers="auto"``: the best one present).
        device: CUDA device index for TensorRT; Ultralytics device string (default ``"cpu"``).
        engine_precision, engine_batch, engine_cache: an ONNX model with ``backend="tensorrt"`` runs as
            an engine built here and cached in ``engine_cache`` (default ``<model dir>/engines``) per
            GPU and TensorRT version (:mod:`detect.engine_cache`); a mismatched cached engine is rebuilt.

    Raises:
        DetectError: unknown backend or format, a backend that is not installed or has no device here
            (TensorRT without an NVIDIA GPU says so), or a model the backend cannot load.
    """
    path = Path(path)
    if backend not in BACKENDS:
        raise DetectError(f"backend {backend!r}: expected one of {list(BACKENDS)}")
    chosen = backend_for(path) if backend == "auto" else backend
    common: dict[str, Any] = {
        "conf": conf,
        "iou": iou,
        "class_map": class_map,
        "imgsz": imgsz,
        "max_det": max_det,
    }
    if chosen == "openvino":
        onnx_model = _openvino_onnx(path)
        if onnx_model is not None:
            from detect.onnx_backend import OnnxDetector

            return OnnxDetector(
                onnx_model,
                providers=[OPENVINO_PROVIDER],
                intra_op_threads=intra_op_threads,
                spin=spin,
                **common,
            )
        if path.suffix.lower() == ".onnx":
            raise DetectError(
                f"{path}: this onnxruntime has no {OPENVINO_PROVIDER} (install onnxruntime-openvino "
                "in place of onnxruntime), and Ultralytics runs OpenVINO from a *_openvino_model folder"
            )
        chosen = "ultralytics"  # an OpenVINO IR folder: Ultralytics runs it with the OpenVINO runtime
    if chosen == "onnxruntime":
        from detect.onnx_backend import OnnxDetector

        return OnnxDetector(path, providers=providers, intra_op_threads=intra_op_threads, spin=spin, **common)
    if chosen == "tensorrt":
        from detect.tensorrt_backend import TensorRTDetector

        if path.suffix.lower() == ".onnx":
            path = _cached_engine(path, imgsz, engine_precision, engine_batch, engine_cache)
        return TensorRTDetector(path, device=int(device or 0), **common)
    from detect.ultralytics_backend import UltralyticsDetector

    return UltralyticsDetector(path, device=str(device if device is not None else "cpu"), **common)
