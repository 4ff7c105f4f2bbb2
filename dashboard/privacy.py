"""Blur faces and licence plates in images shown to other roles and in public exports.

Originals are never changed: the functions here return blurred copies, and the
unblurred frames exist only in evidence packets (:mod:`dashboard.evidence_packet`).

What finds what, and what it misses (read before relying on it):

* Faces: OpenCV's frontal-face Haar cascade (``haarcascade_frontalface_default.xml``
  from Debian's ``opencv-data``; evaluated by :mod:`dashboard.haar`). It finds
  frontal faces of about 30 px and more; it misses profiles, faces turned away
  or half hidden, small faces in drone footage from altitude, and faces in
  strong backlight. When the cascade file is not installed,
  :attr:`SensitiveRegions.faces_checked` is False and :func:`blur_sensitive`
  refuses (unless told to go on), because it cannot promise anything.
* Licence plates: a classical localiser (vertical character edges, closed into
  a block of characters 1.5 to 10 times as wide as high, grown to the plate face). It
  finds plates seen roughly front-on at 60 px wide and more; it misses plates
  at steep angles, dirty or partly covered plates, and plates under about 60 px.
  It also blurs some other text (shop signs, banners): over-blurring is the safe
  side. OpenCV's plate cascades are not used: ``haarcascade_russian_plate_number``
  has tilted features and ``haarcascade_licence_plate_rus_16stages`` is in the
  old format, and both are trained on Russian plates.
* Vehicles the detector found: :func:`vehicle_plate_zones` gives the band of a
  vehicle box where its plate usually is, for callers that have the boxes.

Blurring pixelates each region (blocks of a sixth of its short side, at least
6 px) and then smooths it: the result cannot be sharpened back into a readable
plate or a recognisable face.

Example:
    >>> blurred_jpeg = blur_sensitive(frame_jpeg_bytes)  # doctest: +SKIP
    >>> public = blur_boxes(frame, [(400, 300, 520, 340)])  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import cv2
import numpy as np

from dashboard.haar import HaarCascade, find_cascade, load_cascade

FACE_CASCADE = "haarcascade_frontalface_default.xml"
FACE_CASCADE_PACKAGE = "opencv-data"  # the Debian package that installs it
FACE_SEARCH_MAX_SIDE = 1280  # pixels: larger frames are searched for faces at this size
BLUR_MARGIN = 0.15  # each box grows by this share of its size before blurring
# Width / height of the block of characters on a plate (the plate itself: Chinese 440x140 mm,
# EU 520x110 mm; the characters fill most of its width and about two thirds of its height).
PLATE_TEXT_ASPECT = (1.5, 10.0)
PLATE_TEXT_HEIGHT_SHARE = 0.6  # a found block of characters grows to the plate face around it
PLATE_MIN_WIDTH_PX = 60


class PrivacyError(RuntimeError):
    """An image cannot be made safe to show (unreadable, or no face detector installed)."""


@dataclass(frozen=True, slots=True)
class SensitiveRegions:
    """Boxes ``(N, 4)`` as x1, y1, x2, y2 pixels; ``faces_checked`` False when no face detector ran."""

    faces: np.ndarray
    plates: np.ndarray
    faces_checked: bool

    @property
    def boxes(self) -> np.ndarray:
        return np.concatenate([self.faces, self.plates]).reshape(-1, 4)


@cache
def face_cascade() -> HaarCascade | None:
    """The frontal-face cascade, or None when ``opencv-data`` (or ``$ROADSIGHT_HAAR_DIR``) lacks it."""
    path = find_cascade(FACE_CASCADE)
    return load_cascade(path) if path is not None else None


def _gray(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return image
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY if image.shape[2] == 3 else cv2.COLOR_BGRA2GRAY)


def detect_faces(gray: np.ndarray, *, min_size_px: int = 30) -> np.ndarray | None:
    """Frontal faces as ``(N, 4)`` x1, y1, x2, y2; None when the cascade is not installed.

    Frames larger than :data:`FACE_SEARCH_MAX_SIDE` are searched at that size (a face
    small enough to vanish there is too small to recognise), boxes scaled back.
    """
    cascade = face_cascade()
    if cascade is None:
        return None
    scale = min(1.0, FACE_SEARCH_MAX_SIDE / max(gray.shape))
    small = gray if scale == 1.0 else cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    side = max(round(min_size_px * scale), cascade.width)
    xywh = cascade.detect(cv2.equalizeHist(small), min_size=(side, side)).astype(np.float64) / scale
    return np.round(np.column_stack([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]])).astype(np.int64).reshape(-1, 4)


def detect_plates(gray: np.ndarray, *, min_width_px: int = PLATE_MIN_WIDTH_PX) -> np.ndarray:
    """Plate-like regions as ``(N, 4)`` x1, y1, x2, y2: dense vertical edges closed into a blob of
    plate aspect, whose face is clearly lighter or darker than the characters on it."""
    # Vertical strokes of characters: the horizontal gradient, Otsu-thresholded.
    grad = np.abs(cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3))
    grad = cv2.convertScaleAbs(grad, alpha=255.0 / max(float(grad.max()), 1.0))
    _, edges = cv2.threshold(grad, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    found: list[tuple[int, int, int, int]] = []
    # Close the gaps between characters (and the wider ones between groups): a few kernel widths,
    # from the character gap of the smallest plate up.
    smallest_gap = max(min_width_px // 6, 5)
    for gap in (smallest_gap, 2 * smallest_gap, 4 * smallest_gap):
        found += _plate_blobs(gray, edges, gap, min_width_px)
    return _merge_overlapping(np.array(found, np.int64).reshape(-1, 4))


def _plate_blobs(
    gray: np.ndarray, edges: np.ndarray, gap: int, min_width_px: int
) -> list[tuple[int, int, int, int]]:
    w = gray.shape[1]
    blobs = cv2.morphologyEx(edges, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (gap, 3)))
    blobs = cv2.morphologyEx(blobs, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (5, 3)))
    contours, _ = cv2.findContours(blobs, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    found = []
    for contour in contours:
        x, y, bw, bh = cv2.boundingRect(contour)
        if bw < min_width_px or bh < 8 or bw > w // 2:
            continue
        if not PLATE_TEXT_ASPECT[0] <= bw / bh <= PLATE_TEXT_ASPECT[1]:
            continue
        if cv2.contourArea(contour) < 0.5 * bw * bh:  # a solid block, not a sprawling edge tangle
            continue
        patch = gray[y : y + bh, x : x + bw]
        strokes = edges[y : y + bh, x : x + bw] > 0
        # Characters: a fair share of stroke pixels, and many stroke/background switches along the middle row.
        row = strokes[bh // 2]
        switches = int(np.count_nonzero(row[1:] != row[:-1]))
        if not 0.05 <= strokes.mean() <= 0.8 or switches < 6:
            continue
        if float(patch.std()) < 30.0:  # plates are high contrast by design
            continue
        pad_y = round(bh * (1 / PLATE_TEXT_HEIGHT_SHARE - 1) / 2)
        pad_x = round(bw * 0.05)
        found.append((x - pad_x, y - pad_y, x + bw + pad_x, y + bh + pad_y))
    return found


def _merge_overlapping(boxes: np.ndarray) -> np.ndarray:
    """Boxes that overlap merged into their union (the same plate found with several kernels)."""
    merged: list[np.ndarray] = []
    for box in boxes[np.argsort(-(boxes[:, 2] - boxes[:, 0]))] if len(boxes) else []:
        for i, m in enumerate(merged):
            if box[0] < m[2] and m[0] < box[2] and box[1] < m[3] and m[1] < box[3]:
                merged[i] = np.array(
                    [min(m[0], box[0]), min(m[1], box[1]), max(m[2], box[2]), max(m[3], box[3])]
                )
                break
        else:
            merged.append(box.copy())
    return np.array(merged, np.int64).reshape(-1, 4)


def detect_sensitive(image: np.ndarray) -> SensitiveRegions:
    """Faces and plates in a BGR (or gray) image."""
    gray = _gray(image)
    faces = detect_faces(gray)
    return SensitiveRegions(
        faces=np.zeros((0, 4), np.int64) if faces is None else faces,
        plates=detect_plates(gray),
        faces_checked=faces is not None,
    )


def vehicle_plate_zones(vehicle_boxes: Sequence[Sequence[float]] | np.ndarray) -> np.ndarray:
    """Where plates usually are on detected vehicles (x1, y1, x2, y2 each): the middle half of the
    box's width over its lowest 45 %, which holds front and rear plates seen from a road or a drone."""
    b = np.asarray(vehicle_boxes, np.float64).reshape(-1, 4)
    w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    return np.column_stack([b[:, 0] + 0.2 * w, b[:, 1] + 0.55 * h, b[:, 2] - 0.2 * w, b[:, 3]])


def blur_boxes(
    image: np.ndarray, boxes: Sequence[Sequence[float]] | np.ndarray, *, margin: float = BLUR_MARGIN
) -> np.ndarray:
    """A copy of ``image`` with each box (x1, y1, x2, y2 pixels, grown by ``margin``) pixelated and
    smoothed beyond recognition; pixels outside the grown boxes are unchanged."""
    out = image.copy()
    h, w = image.shape[:2]
    for x1, y1, x2, y2 in np.asarray(boxes, np.float64).reshape(-1, 4):
        mx, my = (x2 - x1) * margin, (y2 - y1) * margin
        c1, r1 = max(int(np.floor(x1 - mx)), 0), max(int(np.floor(y1 - my)), 0)
        c2, r2 = min(int(np.ceil(x2 + mx)), w), min(int(np.ceil(y2 + my)), h)
        if c2 - c1 < 2 or r2 - r1 < 2:
            continue
        region = out[r1:r2, c1:c2]
        block = max(6, min(r2 - r1, c2 - c1) // 6)
        small = cv2.resize(region, (max((c2 - c1) // block, 1), max((r2 - r1) // block, 1)),
                           interpolation=cv2.INTER_AREA)  # fmt: skip
        coarse = cv2.resize(small, (c2 - c1, r2 - r1), interpolation=cv2.INTER_NEAREST)
        out[r1:r2, c1:c2] = cv2.GaussianBlur(coarse, (0, 0), sigmaX=block / 2)
    return out


def blur_sensitive_image(
    image: np.ndarray, *, extra_boxes: Sequence[Sequence[float]] | np.ndarray = (), require_faces: bool = True
) -> np.ndarray:
    """A copy of ``image`` with the faces, plates and ``extra_boxes`` blurred.

    ``require_faces``: refuse (:class:`PrivacyError`) when no face detector is installed.
    """
    found = detect_sensitive(image)
    if require_faces and not found.faces_checked:
        raise PrivacyError(
            f"no face detector: {FACE_CASCADE} not found (apt-get install {FACE_CASCADE_PACKAGE}, "
            "or set ROADSIGHT_HAAR_DIR)"
        )
    extra = np.asarray(extra_boxes, np.float64).reshape(-1, 4)
    return blur_boxes(image, np.concatenate([found.boxes.astype(np.float64), extra]))


def blur_sensitive(image_bytes: bytes, *, require_faces: bool = True, jpeg_quality: int = 90) -> bytes:
    """A blurred copy of an encoded image (JPEG in, JPEG out; PNG in, PNG out)."""
    image = cv2.imdecode(np.frombuffer(image_bytes, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise PrivacyError(f"not a readable image ({len(image_bytes)} bytes)")
    blurred = blur_sensitive_image(image, require_faces=require_faces)
    png = image_bytes.startswith(b"\x89PNG")
    ok, data = cv2.imencode(".png" if png else ".jpg", blurred,
                            [] if png else [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])  # fmt: skip
    if not ok:
        raise PrivacyError("could not encode the blurred image")
    return bytes(data)
