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

import json
import logging
import resource
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
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


def ultralytics_predict_stream_in_child(
    video: Path, model: Path, imgsz_hw: tuple[int, int], *, conf: float = 0.25, iou: float = 0.45
) -> PeerRun:
    """:func:`ultralytics_predict_stream` in a fresh Python process.

    The peer must not inherit what the bench process has set up for roadsight (allocator
    settings from :mod:`roadsight.malloc_tuning`, ONNX Runtime sessions and their threads,
    warm caches): it runs as a user would run it, alone in its process.
    """
    args = [str(video), str(model), str(imgsz_hw[0]), str(imgsz_hw[1]), str(conf), str(iou)]
    child = subprocess.run(
        [sys.executable, "-m", "roadsight.bench_peer", *args], capture_output=True, text=True, timeout=1800
    )
    if child.returncode != 0:
        raise RuntimeError(f"Ultralytics peer failed (exit {child.returncode}):\n{child.stderr[-2000:]}")
    return PeerRun(**json.loads(child.stdout.strip().splitlines()[-1]))


def main(argv: list[str]) -> int:
    video, model, height, width, conf, iou = argv
    run = ultralytics_predict_stream(
        Path(video), Path(model), (int(height), int(width)), conf=float(conf), iou=float(iou)
    )
    print(json.dumps(asdict(run)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
