"""``roadsight export``: trained weights to every format a backend runs.

============  ==================================  ======================================
format        input                               output (run it with)
============  ==================================  ======================================
onnx          ``.pt``                             ``.onnx`` (ONNX Runtime)
onnx-int8     ``.pt`` or an FP32 ``.onnx``        ``.onnx`` INT8 QDQ, calibrated on
                                                  ``calib_dir`` (ONNX Runtime on CPU)
openvino      ``.pt``                             ``*_openvino_model/`` (Ultralytics,
                                                  OpenVINO runtime); INT8 with calib_dir
engine        ``.pt``                             ``.engine`` FP16, or INT8 with
                                                  calib_dir (TensorRT, this GPU only)
============  ==================================  ======================================

OpenVINO and TensorRT go through Ultralytics' exporters. Their runtimes are not
dependencies of roadsight (OpenVINO is ~100 MB, TensorRT needs an NVIDIA GPU),
so each export first checks that its runtime is importable here and otherwise
says what to install, rather than letting Ultralytics install packages on the fly.

Example:
    >>> export_model(Path("best.pt"), Path("road-int8.onnx"), fmt="onnx-int8",  # doctest: +SKIP
    ...              calib_dir=Path("frames"))
    PosixPath('road-int8.onnx')
"""

from __future__ import annotations

import importlib.util
import shutil
import tempfile
from pathlib import Path
from typing import Any

import yaml

from detect.errors import DetectError
from detect.export import export_onnx, load_staged_yolo

EXPORT_FORMATS = ("onnx", "onnx-int8", "openvino", "engine")


def _calibration_yaml(calib_dir: Path, names: dict[int, str], tmp: Path) -> Path:
    """An Ultralytics data file whose ``val`` split is the calibration frames (labels are not needed)."""
    data = {"path": str(calib_dir.resolve()), "train": ".", "val": ".", "names": names}
    path = tmp / "calibration.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def _require_module(module: str, fmt: str, install: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise DetectError(f"export --format {fmt}: {module} is not installed here ({install})")


def _ultralytics_export(
    weights: Path,
    out: Path,
    fmt: str,
    *,
    imgsz: tuple[int, int],
    calib_dir: Path | None,
    max_batch: int,
    **kwargs: Any,
) -> Path:
    """Export with Ultralytics (``openvino`` or ``engine``) and move the result to ``out``."""
    with tempfile.TemporaryDirectory(prefix="roadsight-export-") as tmp_name:
        tmp = Path(tmp_name)
        model = load_staged_yolo(weights, tmp, out.stem.removesuffix("_openvino_model"))
        if calib_dir is not None:
            kwargs |= {"quantize": 8, "data": str(_calibration_yaml(calib_dir, dict(model.names), tmp))}
        try:
            produced = Path(
                model.export(
                    format=fmt, imgsz=list(imgsz), dynamic=True, batch=max_batch, verbose=False, **kwargs
                )
            )
        except Exception as exc:  # Ultralytics raises many kinds; report them as one
            raise DetectError(f"{weights}: Ultralytics {fmt} export failed: {exc}") from exc
        if out.exists():
            shutil.rmtree(out) if out.is_dir() else out.unlink()
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(produced), str(out))
    return out


def export_model(
    source: Path,
    out: Path,
    *,
    fmt: str = "onnx",
    imgsz: int | tuple[int, int] = 640,
    calib_dir: Path | None = None,
    calib_frames: int = 64,
    max_batch: int = 8,
    progress: bool = True,
) -> Path:
    """Export ``source`` to ``out`` in format ``fmt`` (see the module table); returns the written path.

    Args:
        source: trained ``.pt`` weights (an FP32 ``.onnx`` is also accepted for ``onnx-int8``).
        out: file (``.onnx``, ``.engine``) or folder (OpenVINO, named ``*_openvino_model``) to write.
        fmt: ``onnx``, ``onnx-int8``, ``openvino`` or ``engine``.
        imgsz: export size (int or (height, width)); for ``onnx-int8`` of a dynamic-size ONNX, the
            letterbox budget the calibration frames are fitted into.
        calib_dir: folder of frames for INT8 calibration: required for ``onnx-int8``, turns
            ``openvino`` and ``engine`` into INT8 exports. Never the frames the model is validated on.
        calib_frames: calibration frames used at most (``onnx-int8``).
        max_batch: largest batch of a dynamic-batch engine's optimisation profile (``engine``, ``openvino``).
        progress: progress bar over the calibration frames.

    Raises:
        DetectError: an unknown format, a missing input, a runtime that is not installed (OpenVINO),
            no NVIDIA GPU or TensorRT (``engine``), or a failed export.
    """
    source, out = Path(source), Path(out)
    if fmt not in EXPORT_FORMATS:
        raise DetectError(f"export format {fmt!r}: expected one of {list(EXPORT_FORMATS)}")
    if not source.exists():
        raise DetectError(f"{source}: not found")
    if calib_dir is not None and not Path(calib_dir).is_dir():
        raise DetectError(f"{calib_dir}: calibration frames folder not found")
    size = (imgsz, imgsz) if isinstance(imgsz, int) else (int(imgsz[0]), int(imgsz[1]))
    if source.suffix == ".onnx" and fmt != "onnx-int8":
        raise DetectError(
            f"{source}: export --format {fmt} needs .pt weights (an .onnx goes to onnx-int8 only)"
        )
    if fmt == "onnx":
        return export_onnx(source, out, imgsz=size)
    if fmt == "onnx-int8":
        if calib_dir is None:
            raise DetectError(
                "export --format onnx-int8 needs --calib DIR (a folder of representative frames)"
            )
        from detect.quantize import quantize_onnx_int8

        if source.suffix == ".onnx":
            return quantize_onnx_int8(
                source, calib_dir, out, max_frames=calib_frames, imgsz=max(size), progress=progress
            ).out
        with tempfile.TemporaryDirectory(prefix="roadsight-export-") as tmp:
            fp32 = export_onnx(source, Path(tmp) / f"{out.stem}-fp32.onnx", imgsz=size)
            return quantize_onnx_int8(fp32, calib_dir, out, max_frames=calib_frames, progress=progress).out
    if fmt == "openvino":
        _require_module("openvino", fmt, "pip install openvino; it is not a roadsight dependency")
        if not out.name.endswith("_openvino_model"):
            raise DetectError(
                f"{out}: name an OpenVINO export folder '*_openvino_model' (how it is recognised)"
            )
        return _ultralytics_export(
            source, out, "openvino", imgsz=size, calib_dir=calib_dir, max_batch=max_batch
        )
    from detect.tensorrt_backend import import_tensorrt

    import_tensorrt()  # TensorRT and an NVIDIA GPU, or a clear error: engines are built on their device
    half = {} if calib_dir is not None else {"quantize": 16}
    return _ultralytics_export(
        source, out, "engine", imgsz=size, calib_dir=calib_dir, max_batch=max_batch, device=0, **half
    )
