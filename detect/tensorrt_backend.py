"""YOLO detection with a serialised TensorRT engine (FP16 or INT8, dynamic batch) on an NVIDIA GPU.

Engines are built per device by ``roadsight export --format engine`` (Ultralytics'
TensorRT exporter), which writes a small JSON header before the engine bytes:
a little-endian ``int32`` length, then the metadata (class names, stride,
image size). The engine is run with the TensorRT Python API (``tensorrt``
>= 10, the ``gpu`` extra; JetPack ships it on Jetson) and device buffers from
torch (the ``train`` extra, also on JetPack). Pre- and post-processing are the
ONNX Runtime backend's own (:class:`~detect.yolo_base.YoloDetectorBase`), so
the two agree up to the engine's arithmetic.

Example:
    >>> det = TensorRTDetector("models/road-fp16.engine", conf=0.3)  # doctest: +SKIP
    >>> [d] = det.detect([frame])  # doctest: +SKIP
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from detect.errors import DetectError
from detect.model_info import ModelInfo
from detect.yolo_base import YoloDetectorBase


def import_tensorrt() -> tuple[Any, Any]:
    """``(tensorrt, torch)`` when TensorRT and a CUDA GPU are usable, else a :class:`DetectError`."""
    try:
        import tensorrt as trt
    except ImportError as exc:
        raise DetectError(
            "TensorRT is not installed (pip install 'roadsight[gpu]' on an NVIDIA host; JetPack ships it): "
            f"{exc}"
        ) from exc
    try:
        import torch
    except ImportError as exc:
        raise DetectError(
            f"the TensorRT backend uses torch for GPU buffers (roadsight[train]): {exc}"
        ) from exc
    if not torch.cuda.is_available():
        raise DetectError(
            "no NVIDIA GPU: CUDA is not available to torch, so a TensorRT engine cannot run here"
        )
    return trt, torch


def gpu_available() -> bool:
    """Whether TensorRT and a CUDA GPU are both usable here."""
    try:
        import_tensorrt()
    except DetectError:
        return False
    return True


def read_engine_file(path: Path) -> tuple[dict[str, Any], bytes]:
    """Split an Ultralytics engine file into its metadata and the serialised engine."""
    if not path.is_file():
        raise DetectError(f"{path}: engine file not found")
    data = path.read_bytes()
    if len(data) < 4:
        raise DetectError(f"{path}: too short to be a TensorRT engine ({len(data)} bytes)")
    (meta_len,) = struct.unpack("<i", data[:4])
    if not 0 < meta_len < len(data) - 4:
        raise DetectError(
            f"{path}: no Ultralytics metadata header (class names); build engines with "
            "`roadsight export --format engine` (or Ultralytics' export format=engine)"
        )
    try:
        meta = json.loads(data[4 : 4 + meta_len].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DetectError(f"{path}: metadata header at bytes 4..{4 + meta_len} is not JSON: {exc}") from exc
    if not isinstance(meta, dict) or "names" not in meta:
        raise DetectError(f"{path}: metadata header has no 'names'")
    return meta, data[4 + meta_len :]


def engine_names(path: Path, meta: Mapping[str, Any]) -> tuple[str, ...]:
    """Class names by index from the header (JSON turns Ultralytics' int keys into strings)."""
    raw = meta["names"]
    names = dict(enumerate(raw)) if isinstance(raw, list) else {int(k): v for k, v in raw.items()}
    if sorted(names) != list(range(len(names))) or not all(isinstance(v, str) for v in names.values()):
        raise DetectError(f"{path}: metadata key 'names' must map 0..n-1 to names, got {raw!r}")
    return tuple(names[i] for i in range(len(names)))


class TensorRTDetector(YoloDetectorBase):
    """A YOLO engine run with the TensorRT Python API; same arguments and results as ``OnnxDetector``.

    Args:
        engine_path: the ``.engine`` file (built on this GPU model with this TensorRT version).
        conf, iou, class_map, imgsz, max_det, rect: as :class:`~detect.onnx_backend.OnnxDetector`.
        device: CUDA device index.

    Raises:
        DetectError: TensorRT or the GPU is missing, or the engine cannot be read or deserialised.
    """

    def __init__(
        self,
        engine_path: str | Path,
        *,
        conf: float | dict[str, float] = 0.25,
        iou: float = 0.45,
        class_map: Mapping[str, str | None] | None = None,
        imgsz: int | tuple[int, int] | None = None,
        max_det: int = 300,
        rect: bool = True,
        device: int = 0,
    ) -> None:
        path = Path(engine_path)
        meta, blob = read_engine_file(path)
        trt, torch = import_tensorrt()
        self._torch = torch
        self._device = torch.device(f"cuda:{device}")
        torch.cuda.set_device(self._device)
        logger = trt.Logger(trt.Logger.WARNING)
        self._engine = trt.Runtime(logger).deserialize_cuda_engine(blob)
        if self._engine is None:
            raise DetectError(
                f"{path}: TensorRT cannot deserialise the engine (built for another GPU or TensorRT version? "
                "engines are per device: rebuild with `roadsight export --format engine` here)"
            )
        self._context = self._engine.create_execution_context()
        io = [self._engine.get_tensor_name(i) for i in range(self._engine.num_io_tensors)]
        inputs = [n for n in io if self._engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        outputs = [n for n in io if self._engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        if len(inputs) != 1 or not outputs:
            raise DetectError(f"{path}: expected one image input and an output, got inputs {inputs}")
        self._input_name, self._output_name = inputs[0], outputs[0]
        shape = tuple(self._engine.get_tensor_shape(self._input_name))
        if len(shape) != 4 or shape[1] != 3:
            raise DetectError(f"{path}: input {self._input_name!r} has shape {shape}; expected (B, 3, H, W)")
        # Dynamic axes are -1; a dynamic batch is bounded by the optimisation profile's maximum
        # (a fully static engine has no profile to ask).
        self._profile_max_batch = (
            int(self._engine.get_tensor_profile_shape(self._input_name, 0)[2][0]) if -1 in shape else None
        )
        output_dtype = np.dtype(trt.nptype(self._engine.get_tensor_dtype(self._output_name)))
        self._output_torch_dtype = torch.float16 if output_dtype == np.float16 else torch.float32
        imgsz_meta = meta.get("imgsz")
        info = ModelInfo(
            path=str(path),
            names=engine_names(path, meta),
            stride=int(meta.get("stride", 32)),
            input_name=self._input_name,
            input_dtype=trt.nptype(self._engine.get_tensor_dtype(self._input_name)),
            input_hw=(int(shape[2]), int(shape[3])) if shape[2] > 0 and shape[3] > 0 else None,
            meta_imgsz=(int(imgsz_meta[0]), int(imgsz_meta[1])) if isinstance(imgsz_meta, list) else None,
            static_batch=int(shape[0]) if shape[0] > 0 else None,
            end2end=bool(meta.get("end2end", False)) or bool((meta.get("args") or {}).get("nms", False)),
        )
        super().__init__(
            info, conf=conf, iou=iou, class_map=class_map, imgsz=imgsz, max_det=max_det, rect=rect
        )
        self._stream = torch.cuda.Stream(device=self._device)

    def _max_batch(self) -> int | None:
        return self.info.static_batch or self._profile_max_batch

    def _infer(self, blob: np.ndarray) -> np.ndarray:
        torch = self._torch
        with torch.cuda.stream(self._stream):
            source = torch.from_numpy(np.ascontiguousarray(blob)).to(self._device, non_blocking=True)
            self._context.set_input_shape(self._input_name, tuple(source.shape))
            out_shape = tuple(self._context.get_tensor_shape(self._output_name))
            out = torch.empty(out_shape, dtype=self._output_torch_dtype, device=self._device)
            self._context.set_tensor_address(self._input_name, source.data_ptr())
            self._context.set_tensor_address(self._output_name, out.data_ptr())
            if not self._context.execute_async_v3(self._stream.cuda_stream):
                raise DetectError(f"{self.info.path}: TensorRT execution failed")
            result = out.cpu().numpy()  # synchronises the stream
        return np.asarray(result)
