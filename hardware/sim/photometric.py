"""Camera-like photometric variation: exposure, contrast, white balance, shadow bands, blur, noise, JPEG.

Example:
    >>> import numpy as np
    >>> img = np.full((36, 64, 3), 100, np.uint8)
    >>> out = apply_photometric(img, Photometric(gain=1.2), np.random.default_rng(0))
    >>> int(out[0, 0, 0])
    120
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from hardware.sim.noise import value_noise


@dataclass(frozen=True, slots=True)
class Photometric:
    """Photometric settings; the defaults leave an image untouched."""

    gain: float = 1.0  # exposure
    contrast: float = 1.0  # about mid-grey
    white_balance: tuple[float, float, float] = (1.0, 1.0, 1.0)  # B, G, R gains (colour temperature)
    shadow_bands: int = 0  # soft dark screen-space bands (buildings, trees); stills only
    motion_blur_px: float = 0.0
    motion_angle_deg: float = 0.0
    noise_sigma: float = 0.0  # sensor noise, grey levels
    jpeg_quality: int | None = None  # re-encode to add compression artefacts

    @classmethod
    def random(cls, rng: np.random.Generator, *, stills: bool = True) -> Photometric:
        """A plausible random variation (``stills`` allows screen-space shadow bands)."""
        warm = rng.normal(0.0, 0.06)
        return cls(
            gain=float(rng.uniform(0.7, 1.3)),
            contrast=float(rng.uniform(0.8, 1.2)),
            white_balance=(float(1.0 - warm), float(1.0 + rng.normal(0, 0.02)), float(1.0 + warm)),
            shadow_bands=int(rng.choice([0, 0, 0, 1, 2])) if stills else 0,
            motion_blur_px=float(rng.choice([0.0, 0.0, rng.uniform(1.0, 4.0)])),
            motion_angle_deg=float(rng.uniform(0, 180)),
            noise_sigma=float(rng.uniform(0.0, 6.0)),
            jpeg_quality=int(rng.integers(55, 95)) if rng.random() < 0.5 else None,
        )


def _motion_kernel(length: float, angle_deg: float) -> np.ndarray:
    size = int(np.ceil(length)) | 1
    k = np.zeros((size, size), np.float32)
    c = size // 2
    a = np.radians(angle_deg)
    d = (length - 1) / 2
    cv2.line(
        k,
        (round(c - d * np.cos(a)), round(c - d * np.sin(a))),
        (round(c + d * np.cos(a)), round(c + d * np.sin(a))),
        1.0,
        1,
        cv2.LINE_AA,
    )
    return k / max(float(k.sum()), 1e-6)


def apply_photometric(image: np.ndarray, p: Photometric, rng: np.random.Generator) -> np.ndarray:
    """Return a new BGR ``uint8`` image with the variation ``p`` applied."""
    img: np.ndarray = image.astype(np.float32)
    if p.motion_blur_px >= 1.0:
        img = cv2.filter2D(img, -1, _motion_kernel(p.motion_blur_px, p.motion_angle_deg))
    if p.shadow_bands:
        h, w = img.shape[:2]
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
        shade = np.zeros((h, w), np.float32)
        for _ in range(p.shadow_bands):
            ang = rng.uniform(0, np.pi)
            off = rng.uniform(-0.5, 0.5) * max(h, w)
            width = rng.uniform(0.05, 0.3) * max(h, w)
            d = np.cos(ang) * (xs - w / 2) + np.sin(ang) * (ys - h / 2) - off
            edge = max(2.0, 0.01 * max(h, w))
            band = np.clip((width / 2 - np.abs(d)) / edge + 0.5, 0, 1)
            band *= np.clip(0.8 + 0.4 * value_noise((h, w), rng, max(4.0, 0.05 * max(h, w))), 0, 1)
            shade = np.maximum(shade, band * rng.uniform(0.25, 0.5))
        img *= (1.0 - shade)[..., None]
    img = (img - 128.0) * p.contrast + 128.0
    img *= p.gain * np.asarray(p.white_balance, np.float32)
    if p.noise_sigma > 0:
        img += rng.normal(0.0, p.noise_sigma, img.shape).astype(np.float32)
    out = np.clip(img + 0.5, 0, 255).astype(np.uint8)
    if p.jpeg_quality is not None:
        ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, p.jpeg_quality])
        decoded = cv2.imdecode(buf, cv2.IMREAD_COLOR) if ok else None
        if decoded is not None:
            out = np.asarray(decoded, np.uint8)
    return out
