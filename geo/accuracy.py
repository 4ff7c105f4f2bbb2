"""First-order propagation of pose and pixel errors to a ground point's horizontal position.

A ground point is ``P = C + t r`` with ``r`` the pixel's ray in ENU,
``d = -r_z`` its downward component and ``t = h / d`` (flat ground, camera
``h`` above it). A small change ``dr`` of the ray moves the point by::

    dP_xy = t (dr_xy + r_xy dr_z / d)

and a change ``dh`` of the height by ``r_xy / d dh``. Each independent error
source contributes ``J J^T sigma^2`` to the 2x2 covariance of ``P``:

* camera position: ``sigma_pos^2`` (radial, ``Pose.horizontal_accuracy_m``);
* camera height: ``(g / h)^2 sigma_h^2`` with ``g`` the horizontal distance from the nadir point;
* attitude: small rotations about east, north and up (``dr = a x r``),
  ``sigma_att`` each (gimbal/IMU tilt and heading);
* the anchor pixel: ``dr = right / fx`` and ``down / fy`` per pixel,
  ``sigma_px`` each; this is the ground sample distance at the point, along and across the ray.

The reported accuracy is the radial 1 sigma ``sqrt(trace(cov))`` (DRMS).
Terrain-model and lens-calibration errors are not included.

Example:
    >>> import numpy as np
    >>> ray = np.array([[0.0, 0.0, -1.0]])  # nadir
    >>> axes_r, axes_d = np.array([[1.0, 0, 0]]), np.array([[0.0, -1, 0]])
    >>> s = ground_sigma_m(ray, np.array([30.0]), axes_r, axes_d, focal_px=np.array([1000.0]),
    ...                    sigma_pos_m=np.array([0.0]), sigma_h_m=np.array([0.0]),
    ...                    sigma_att_rad=0.0, sigma_px=1.0)
    >>> round(float(s[0]), 4)  # sqrt(2) * 30 m / 1000 px
    0.0424
"""

from __future__ import annotations

import numpy as np

DEFAULT_ATTITUDE_SIGMA_DEG = 1.0  # gimbal/IMU attitude error per axis, typical small UAV or vehicle
DEFAULT_ANCHOR_SIGMA_PX = 1.0  # how well a detector box places the anchor point


def _moved_sq(
    rx: np.ndarray, ry: np.ndarray, d: np.ndarray, t: np.ndarray, dr: tuple[np.ndarray, ...]
) -> np.ndarray:
    """``|dP_xy|^2`` for ray changes ``dr = (dx, dy, dz)``."""
    k = dr[2] / d
    return np.asarray(t * t * ((dr[0] + rx * k) ** 2 + (dr[1] + ry * k) ** 2))


def ground_sigma_m(
    ray: np.ndarray,
    height_m: np.ndarray,
    axes_right: np.ndarray,
    axes_down: np.ndarray,
    *,
    focal_px: np.ndarray,
    sigma_pos_m: np.ndarray,
    sigma_h_m: np.ndarray,
    sigma_att_rad: np.ndarray | float,
    sigma_px: float,
) -> np.ndarray:
    """Radial 1-sigma horizontal error (metres) of ground points seen along ``ray`` ``(N, 3)``.

    ``axes_right``/``axes_down`` ``(N, 3)`` are the camera's image axes in
    ENU; ``focal_px`` the focal length in the frame's pixels. Rays that miss
    the ground give NaN.
    """
    rx, ry, rz = ray[:, 0], ray[:, 1], ray[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        d = np.where(rz < 0, -rz, np.nan)
        t = height_m / d
        zero = np.zeros_like(rx)
        att = (
            _moved_sq(rx, ry, d, t, (zero, -rz, ry))  # about east
            + _moved_sq(rx, ry, d, t, (rz, zero, -rx))  # about north
            + _moved_sq(rx, ry, d, t, (-ry, rx, zero))  # about up (heading)
        )
        px = (
            _moved_sq(rx, ry, d, t, (axes_right[:, 0], axes_right[:, 1], axes_right[:, 2]))
            + _moved_sq(rx, ry, d, t, (axes_down[:, 0], axes_down[:, 1], axes_down[:, 2]))
        ) / (focal_px * focal_px)
        g2_over_h2 = (rx * rx + ry * ry) / (d * d)
        var = sigma_pos_m**2 + sigma_h_m**2 * g2_over_h2 + sigma_att_rad**2 * att + sigma_px**2 * px
    return np.asarray(np.sqrt(var))
