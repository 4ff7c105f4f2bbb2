"""The reference backend: ``ultralytics.YOLO(path)`` on any format it loads, mapped to our records.

Ultralytics (and torch) are the optional ``train`` extra, imported only when
this backend is built. It runs whatever Ultralytics runs (``.pt``, ``.onnx``,
``*_openvino_model/``, ``.engine``, ...) with its own letterbox and NMS, and
maps the result to :class:`~detect.types.Detections` with the same class
mapping and per-class thresholds as the other backends, so a parity test can
compare them box for box.

Differences from :class:`~detect.onnx_backend.OnnxDetector`, by design of the
reference: NMS groups boxes by *model* class (ours groups by taxonomy class;
the same thing unless two model classes map to one taxonomy class), and
per-class thresholds are applied after NMS (equivalent: a box under its class
threshold can only suppress boxes of its class that score lower still).

Example:
    >>> det = UltralyticsDetector("runs/best.pt", conf=0.3, imgsz=960)  # doctest: +SKIP
    >>> [d] = det.detect([frame])  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from capture import Frame
from detect.detector import detect_frames
from detect.errors import DetectError
from detect.preprocess import check_frame
from detect.thresholds import model_class_thresholds
from detect.types import DetectedFrame, Detections
from taxonomy import ClassMapping, UnmappedClassError

DEFAULT_IMGSZ = 640  # Ultralytics' own default when a model says nothing


def _export_imgsz(path: Path, yolo: Any) -> tuple[int, int]:
    """The size the model was exported or trained at, as Ultralytics records it."""
    size: Any = None
    if path.suffix == ".onnx":
        import onnxruntime as ort

        from detect.model_info import read_model_info

        info = read_model_info(ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]), str(path))
        size = info.input_hw or info.meta_imgsz
    elif path.suffix == ".pt":
        size = getattr(yolo.model, "args", {}).get("imgsz")
    elif path.is_dir() and (path / "metadata.yaml").is_file():  # OpenVINO, TF SavedModel, ...
        import yaml

        size = (yaml.safe_load((path / "metadata.yaml").read_text(encoding="utf-8")) or {}).get("imgsz")
    if isinstance(size, int):
        return size, size
    if isinstance(size, list | tuple) and len(size) == 2:
        return int(size[0]), int(size[1])
    return DEFAULT_IMGSZ, DEFAULT_IMGSZ


class UltralyticsDetector:
    """Detection with ``ultralytics.YOLO`` (any format), returning taxonomy-labelled :class:`Detections`.

    Args:
        model_path: anything ``YOLO()`` loads (``.pt``, ``.onnx``, ``.engine``, ``*_openvino_model/``).
        conf: score threshold, one for all classes or per taxonomy key with an optional ``"default"``.
        iou: NMS IoU threshold.
        class_map: model class name -> taxonomy key, or ``None`` to ignore that class.
        imgsz: letterbox size (int or (height, width)); default: the size the model was exported at.
        max_det: boxes kept per frame at most.
        device: Ultralytics device string (``"cpu"``, ``"0"``).

    Raises:
        DetectError: the model is missing, Ultralytics is not installed, or the model is not a detector.
    """

    def __init__(
        self,
        model_path: str | Path,
        *,
        conf: float | dict[str, float] = 0.25,
        iou: float = 0.45,
        class_map: Mapping[str, str | None] | None = None,
        imgsz: int | tuple[int, int] | None = None,
        max_det: int = 300,
        device: str = "cpu",
    ) -> None:
        path = Path(model_path)
        if not path.exists():
            raise DetectError(f"{path}: model not found")
        if not 0.0 <= iou <= 1.0:
            raise DetectError(f"iou: must be in [0, 1], got {iou!r}")
        try:
            from ultralytics import YOLO
        except ImportError as exc:
            raise DetectError(
                f"{path}: the Ultralytics backend needs the training extra "
                f"(pip install 'roadsight[train]'): {exc}"
            ) from exc
        try:
            self._yolo = YOLO(str(path), task="detect")
        except Exception as exc:  # Ultralytics raises many kinds for unreadable models
            raise DetectError(f"{path}: Ultralytics cannot load the model: {exc}") from exc
        self.path = path
        if self._yolo.task != "detect":
            raise DetectError(f"{path}: task is {self._yolo.task!r}; only detection models are supported")
        if isinstance(imgsz, int):
            imgsz = (imgsz, imgsz)
        self.input_size: tuple[int, int] = (
            (int(imgsz[0]), int(imgsz[1])) if imgsz else _export_imgsz(path, self._yolo)
        )
        self.iou = iou
        self.max_det = max_det
        self.device = device
        # An exported model's class names come from its metadata, read by Ultralytics at the first predict.
        names = self._yolo.names if path.suffix == ".pt" else None
        if not names:
            warm_up: Any = self._yolo.predict(
                np.zeros((*self.input_size, 3), np.uint8),
                imgsz=list(self.input_size),
                device=device,
                verbose=False,
            )
            names = warm_up[0].names
        listed = [names[i] for i in range(len(names))]
        try:
            self.mapping = ClassMapping.build(listed, class_map)
        except UnmappedClassError as exc:
            raise UnmappedClassError(f"{path}: {exc}") from None
        self._names = tuple(listed)
        self._class_conf = model_class_thresholds(conf, self.mapping)
        finite = self._class_conf[np.isfinite(self._class_conf)]
        self._min_conf = float(finite.min()) if len(finite) else 1.0
        self._kept_classes = [int(i) for i in np.flatnonzero(self.mapping.lookup >= 0)]

    @property
    def names(self) -> tuple[str, ...]:
        """The model's own class names, by model class index."""
        return self._names

    def detect(self, images: Sequence[np.ndarray]) -> list[Detections]:
        """One :class:`Detections` per BGR ``uint8`` frame, in frame pixels, taxonomy class ids."""
        frames = [check_frame(image, i) for i, image in enumerate(images)]
        if not frames:
            return []
        results: Any = self._yolo.predict(
            frames,
            conf=self._min_conf,
            iou=self.iou,
            imgsz=list(self.input_size),
            max_det=self.max_det,
            classes=self._kept_classes,
            device=self.device,
            verbose=False,
        )
        out = []
        for result in results:
            boxes: Any = result.boxes
            xyxy, score = boxes.xyxy.cpu().numpy(), boxes.conf.cpu().numpy()
            model_class = boxes.cls.cpu().numpy().astype(np.intp)
            keep = score > self._class_conf[model_class]
            out.append(
                Detections.from_arrays(xyxy[keep], score[keep], self.mapping.to_taxonomy(model_class[keep]))
            )
        return out

    def detect_frames(self, frames: Sequence[Frame]) -> list[DetectedFrame]:
        """:meth:`detect` on captured frames; ``inference_ms`` is the batch's wall time shared per frame."""
        return detect_frames(self, frames)
