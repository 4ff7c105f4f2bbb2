"""The peer: Ultralytics ``YOLO(model).predict(source=video, stream=True)`` on the same video and model.

roadsight's end-to-end figure is only meaningful next to what the usual tool does with the
same model file, the same frames and the same input size, so this runs Ultralytics'
streaming predictor over the mission video and counts what it processed.

Example:
    >>> video, model = Path("m/video.mp4"), Path("model.onnx")
    >>> peer = ultralytics_predict_stream(video, model, (544, 960))  # doctest: +SKIP
    >>> peer.frames, round(peer.fps, 1)  # doctest: +SKIP
    (1050, 4.2)
"""

from __future__ import annotations

import logging
import resource
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class PeerRun:
    """What the peer did: frames it produced results for, the wall time and its CPU share."""

    frames: int
    seconds: float
    cpu_percent: float  # process CPU time / wall time, all threads (200 % = both of 2 cores)
    detections: int

    @property
    def fps(self) -> float:
        return self.frames / self.seconds


def process_cpu_seconds() -> float:
    """CPU time of this process, all threads, user + system (GStreamer and ONNX Runtime threads too)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def ultralytics_predict_stream(
    video: Path, model: Path, imgsz_hw: tuple[int, int], *, conf: float = 0.25, iou: float = 0.45
) -> PeerRun:
    """Run Ultralytics' streaming predictor over every frame of ``video`` with ``model``.

    ``imgsz_hw`` is the input [height, width] roadsight's detector feeds the model for these
    frames (rectangular inference), and ``conf`` / ``iou`` its thresholds, so both run the
    same model on the same tensors' size. Loading the model is not timed; the first frame is.
    """
    from ultralytics import YOLO

    logging.getLogger("ultralytics").setLevel(logging.WARNING)
    yolo = YOLO(str(model), task="detect")
    frames = detections = 0
    t0, cpu0 = time.perf_counter(), process_cpu_seconds()
    for result in yolo.predict(
        source=str(video),
        stream=True,
        imgsz=list(imgsz_hw),
        conf=conf,
        iou=iou,
        device="cpu",
        verbose=False,
        save=False,
    ):
        frames += 1
        boxes = getattr(result, "boxes", None)  # a Results; the stub also allows a bare Tensor
        detections += 0 if boxes is None else len(boxes)
    seconds = time.perf_counter() - t0
    cpu = process_cpu_seconds() - cpu0
    return PeerRun(frames, seconds, 100 * cpu / seconds, detections)
