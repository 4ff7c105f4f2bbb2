"""Where a detector's time goes: letterbox, the forward pass, box decoding and NMS.

Cumulative wall times over every frame a detector has seen, so a caller can read the
split per call (difference of two snapshots) or per run (divide by ``frames``).

Example:
    >>> timings = DetectTimings()
    >>> timings.add(preprocess_s=0.002, inference_s=0.020, postprocess_s=0.001, frames=1)
    >>> {k: round(v, 1) for k, v in timings.as_dict().items()}
    {'preprocess': 2.0, 'inference': 20.0, 'postprocess': 1.0}
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class DetectTimings:
    """Milliseconds spent so far per detector stage, and the frames they cover."""

    preprocess_ms: float = 0.0  # letterbox + colour/layout into the input tensor
    inference_ms: float = 0.0  # the model's forward pass
    postprocess_ms: float = 0.0  # box decoding, NMS, mapping back to frame pixels
    frames: int = 0

    def add(self, *, preprocess_s: float, inference_s: float, postprocess_s: float, frames: int) -> None:
        self.preprocess_ms += preprocess_s * 1000
        self.inference_ms += inference_s * 1000
        self.postprocess_ms += postprocess_s * 1000
        self.frames += frames

    def as_dict(self) -> dict[str, float]:
        """``{"preprocess": ms, "inference": ms, "postprocess": ms}``, cumulative."""
        return {
            "preprocess": self.preprocess_ms,
            "inference": self.inference_ms,
            "postprocess": self.postprocess_ms,
        }
