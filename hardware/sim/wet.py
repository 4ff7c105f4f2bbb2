"""Wet asphalt after rain: a darker, more saturated road with a sky sheen at grazing angles.

Water fills the pores of the asphalt (it darkens by a third or more) and its
film reflects the sky; the reflection follows Schlick's Fresnel term, so it is
faint under a nadir drone and strong towards the horizon of a forward vehicle
camera. Only the asphalt gets wet (its mask is the road band of the world,
sampled at each pixel's ground point); painted defects darken with it, so
they stay labelled.

Example:
    >>> import numpy as np
    >>> from hardware.sim.world import WorldSpec, build_world
    >>> from hardware.sim.road import RoadSpec
    >>> road = RoadSpec(length_m=20.0, heading_deg=0.0, verge_m=1.0)  # asphalt 7.5 m either side
    >>> world = build_world(WorldSpec(road=road, gsd=0.05, objects_per_class={}, n_distractors=0), seed=1)
    >>> K = np.array([[300.0, 0, 160], [0, 300.0, 90], [0, 0, 1]])
    >>> pose = CameraPose(0.0, 0.0, 20.0, 0.0, -90.0)  # the left image edge is 10.7 m west
    >>> view = pixel_ground_view(world, K, pose, 320, 180)
    >>> float(view.asphalt[90, 160]), float(view.asphalt[90, 0])  # centre line, verge
    (1.0, 0.0)
    >>> img = np.full((180, 320, 3), 100, np.uint8)
    >>> int(wet_asphalt(img, view, wetness=1.0, rng=np.random.default_rng(0))[90, 160, 1]) < 80
    True
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from hardware.sim.camera import CameraPose, camera_axes
from hardware.sim.noise import value_noise
from hardware.sim.render import SKY_HORIZON
from hardware.sim.world import World

MASK_LEVEL = 3  # the asphalt mask is drawn on a coarse ortho level (8x the ortho's pixel size)


@dataclass(frozen=True, slots=True)
class GroundView:
    """Per pixel: the asphalt share (0..1) and the cosine between the view ray and the ground's normal."""

    asphalt: np.ndarray  # (h, w) float32
    cos_incidence: np.ndarray  # (h, w) float32, 0 at the horizon (and for the sky), 1 straight down


def _asphalt_ortho(world: World) -> np.ndarray:
    key = "_asphalt_ortho"
    cached = world.__dict__.get(key)
    if cached is None:
        k = 2**MASK_LEVEL
        mask = np.zeros((world.frame.height // k + 2, world.frame.width // k + 2), np.uint8)
        half = world.road.spec.half_width_m
        band = world.frame.to_px(world.road.band(-half, half, step=1.0)) / k
        cv2.fillPoly(mask, [np.round(band * 16).astype(np.int32)], 255, cv2.LINE_AA, shift=4)
        cached = mask
        world.__dict__[key] = cached
    return np.asarray(cached)


def pixel_ground_view(world: World, K: np.ndarray, pose: CameraPose, width: int, height: int) -> GroundView:
    """Where each pixel of the view from ``pose`` meets the asphalt, and how obliquely."""
    axes = camera_axes(pose.yaw_deg, pose.pitch_deg, pose.roll_deg)
    u = (np.arange(width, dtype=np.float32) - K[0, 2]) / K[0, 0]
    v = (np.arange(height, dtype=np.float32) - K[1, 2]) / K[1, 1]
    rays = u[None, :, None] * axes[:, 0] + v[:, None, None] * axes[:, 1] + axes[:, 2]
    down = rays[..., 2]
    hits = down < -1e-6
    t = np.where(hits, pose.height / np.where(hits, -down, 1.0), 0.0)
    gx, gy = pose.x + t * rays[..., 0], pose.y + t * rays[..., 1]
    A = world.frame.local_to_px / 2**MASK_LEVEL
    mx = (A[0, 0] * gx + A[0, 1] * gy + A[0, 2]).astype(np.float32)
    my = (A[1, 0] * gx + A[1, 1] * gy + A[1, 2]).astype(np.float32)
    asphalt = cv2.remap(_asphalt_ortho(world), mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    asphalt = np.where(hits, asphalt.astype(np.float32) / 255.0, 0.0).astype(np.float32)
    cos_inc = np.where(hits, -down / np.linalg.norm(rays, axis=-1), 0.0).astype(np.float32)
    return GroundView(asphalt, cos_inc)


def wet_asphalt(
    image: np.ndarray, view: GroundView, *, wetness: float, rng: np.random.Generator
) -> np.ndarray:
    """A new image with the asphalt of ``view`` wet to degree ``wetness`` (0 dry .. 1 soaked)."""
    h, w = image.shape[:2]
    # drying is patchy: a smooth screen-space variation of the film
    film = wetness * np.clip(0.75 + 0.35 * value_noise((h, w), rng, 0.15 * max(h, w)), 0.0, 1.0)
    m = (view.asphalt * film)[..., None]
    img = image.astype(np.float32)
    grey = img.mean(axis=2, keepdims=True)
    wet = (grey + (img - grey) * 1.25) * float(rng.uniform(0.6, 0.8))  # darker, more saturated
    fresnel = 0.04 + 0.96 * (1.0 - view.cos_incidence) ** 5  # Schlick, water
    sheen = (fresnel * float(rng.uniform(0.5, 0.9)))[..., None] * SKY_HORIZON
    wet = wet * (1.0 - fresnel[..., None]) + sheen
    out = img * (1.0 - m) + wet * m
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)
