"""Several detectors on one stream: e.g. a road-defect model plus a COCO vehicle model for parking rules.

Each model has its own class list, mapped onto the taxonomy at load time
(``class_map``: model class -> taxonomy key, or ``None`` to ignore it), and its
own score thresholds (``conf``: one value, or per taxonomy key with a
``"default"``). A model class that is neither mapped nor ignored fails at load,
naming the model file and every such class. :class:`DetectorEnsemble` runs all
models on the same frames and merges their boxes per frame: concatenated, or
with ``cross_model_iou`` one box per overlapping group of the same taxonomy
class (when two models both see potholes).

Example:
    >>> ensemble = DetectorEnsemble.from_specs([  # doctest: +SKIP
    ...     ModelSpec("models/defects.onnx", conf={"default": 0.3, "pothole": 0.4}),
    ...     ModelSpec("models/yolov5n-coco.onnx", imgsz=640, class_map=coco_vehicles, conf=0.4),
    ... ])
    >>> [d] = ensemble.detect([frame])  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from capture import Frame
from detect.detector import Detector, detect_frames
from detect.errors import DetectError
from detect.factory import Backend, load_detector
from detect.merge import merge_detections
from detect.types import DetectedFrame, Detections


@dataclass(frozen=True)
class ModelSpec:
    """One model of an ensemble, as a config file would list it (arguments of :func:`load_detector`)."""

    model: str | Path
    class_map: Mapping[str, str | None] | None = None
    conf: float | Mapping[str, float] = 0.25
    iou: float = 0.45
    imgsz: int | tuple[int, int] | None = None
    backend: Backend = "auto"
    extra: Mapping[str, Any] = field(default_factory=dict)  # providers, intra_op_threads, device, max_det


class DetectorEnsemble:
    """Runs every detector on the same frames and merges their :class:`Detections` per frame.

    Args:
        detectors: loaded detectors (their own class maps and thresholds already applied).
        cross_model_iou: ``None`` to concatenate; a number to suppress, per taxonomy class, boxes of
            one model that overlap a higher-scoring box of another by more than this IoU.
        max_det: boxes per frame at most after merging (None: no cap).
    """

    def __init__(
        self,
        detectors: Sequence[Detector],
        *,
        cross_model_iou: float | None = None,
        max_det: int | None = None,
    ) -> None:
        if not detectors:
            raise DetectError("an ensemble needs at least one detector")
        if cross_model_iou is not None and not 0.0 <= cross_model_iou <= 1.0:
            raise DetectError(f"cross_model_iou: must be in [0, 1], got {cross_model_iou!r}")
        self.detectors = list(detectors)
        self.cross_model_iou = cross_model_iou
        self.max_det = max_det

    @classmethod
    def from_specs(
        cls, specs: Sequence[ModelSpec], *, cross_model_iou: float | None = None, max_det: int | None = None
    ) -> DetectorEnsemble:
        """Load every model; the first whose classes cannot be mapped raises
        :class:`~taxonomy.UnmappedClassError` naming its file and classes."""
        detectors = [
            load_detector(
                s.model, s.backend,
                conf=dict(s.conf) if isinstance(s.conf, Mapping) else s.conf,
                iou=s.iou, class_map=s.class_map, imgsz=s.imgsz, **s.extra,
            )
            for s in specs
        ]  # fmt: skip
        return cls(detectors, cross_model_iou=cross_model_iou, max_det=max_det)

    @property
    def names(self) -> tuple[str, ...]:
        """Every member's own class names, member by member."""
        return tuple(name for d in self.detectors for name in d.names)

    @property
    def input_size(self) -> tuple[int, int]:
        """The largest member input size (height, width)."""
        sizes = np.array([d.input_size for d in self.detectors])
        return int(sizes[:, 0].max()), int(sizes[:, 1].max())

    def detect(self, images: Sequence[np.ndarray]) -> list[Detections]:
        """One merged :class:`Detections` per frame (taxonomy ids, frame pixels)."""
        per_model = [d.detect(images) for d in self.detectors]
        return [
            merge_detections([results[i] for results in per_model], self.cross_model_iou, self.max_det)
            for i in range(len(images))
        ]

    def detect_frames(self, frames: Sequence[Frame]) -> list[DetectedFrame]:
        """:meth:`detect` on captured frames."""
        return detect_frames(self, frames)
