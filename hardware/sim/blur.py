"""Motion blur along the direction of travel, exact for the ground plane.

While the shutter is open the camera moves ``travel_m`` metres along its
direction of travel, so each ground pixel smears along its own image path: a
straight streak under a nadir drone, a zoom away from the vanishing point for
a forward-looking vehicle camera (long near the bottom of the image, nothing
at the horizon). The smear is centred on the pose of the still, so the labels
stay where they are.

Example:
    >>> import numpy as np
    >>> K = np.array([[300.0, 0, 160], [0, 300.0, 90], [0, 0, 1]])
    >>> pose = CameraPose(0.0, 0.0, 10.0, 0.0, -90.0)
    >>> flow = travel_flow(K, pose, heading_deg=0.0, travel_m=0.5, width=320, height=180)
    >>> [round(float(f), 1) for f in flow[90, 160]]  # flying north: the ground slides down
    [0.0, 15.0]
    >>> travel_blur(np.zeros((180, 320, 3), np.uint8), flow).shape
    (180, 320, 3)
"""

from __future__ import annotations

import math
from dataclasses import replace

import cv2
import numpy as np

from hardware.sim.camera import CameraPose, ground_to_image_homography

MAX_SAMPLES = 12  # images averaged along the longest smear


def travel_flow(
    K: np.ndarray,
    pose: CameraPose,
    *,
    heading_deg: float,
    travel_m: float,
    width: int,
    height: int,
    max_px: float = 40.0,
) -> np.ndarray:
    """Image motion ``(h, w, 2)`` of the ground as the camera moves ``travel_m`` towards ``heading_deg``.

    Pixels that see the sky do not move; smears are capped at ``max_px`` pixels.
    """
    h = math.radians(heading_deg)
    moved = replace(pose, x=pose.x + travel_m * math.sin(h), y=pose.y + travel_m * math.cos(h))
    H0 = ground_to_image_homography(K, pose)
    H0_inv = np.linalg.inv(H0)
    to_moved = ground_to_image_homography(K, moved) @ H0_inv
    u, v = np.meshgrid(np.arange(width, dtype=np.float64), np.arange(height, dtype=np.float64))
    pix = np.stack([u, v, np.ones_like(u)], axis=-1)
    # a pixel sees the ground in front of the camera when its ground point has positive depth
    ground_w = pix @ H0_inv[2]
    q = pix @ to_moved.T
    ok = (ground_w > 1e-12) & (q[..., 2] > 1e-12)
    q_w = np.where(ok, q[..., 2], 1.0)
    flow = np.where(ok[..., None], q[..., :2] / q_w[..., None] - pix[..., :2], 0.0)
    length = np.hypot(flow[..., 0], flow[..., 1])
    flow *= (np.minimum(length, max_px) / np.maximum(length, 1e-9))[..., None]
    return flow.astype(np.float32)


def travel_blur(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Average ``image`` along ``flow`` (centred: from -flow/2 to +flow/2); returns a new ``uint8`` image."""
    longest = float(np.abs(flow).max(initial=0.0))
    n = int(np.clip(math.ceil(longest / 1.5), 1, MAX_SAMPLES))
    if n <= 1:
        return image.copy()
    h, w = image.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    acc = np.zeros(image.shape, np.float32)
    for t in np.linspace(-0.5, 0.5, n, dtype=np.float32):
        acc += cv2.remap(
            image,
            gx + t * flow[..., 0],
            gy + t * flow[..., 1],
            cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REFLECT,
        )
    return np.clip(acc / n + 0.5, 0, 255).astype(np.uint8)
