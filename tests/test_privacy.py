"""Face and licence-plate blurring: real images, real detectors, pixels checked inside and outside."""

from __future__ import annotations

from pathlib import Path

import cv2
import matplotlib
import numpy as np
import pytest

from dashboard.haar import CascadeError, load_cascade
from dashboard.privacy import (
    BLUR_MARGIN,
    PrivacyError,
    blur_boxes,
    blur_sensitive,
    blur_sensitive_image,
    detect_plates,
    detect_sensitive,
    face_cascade,
    vehicle_plate_zones,
)

# A real photograph that ships with matplotlib (Grace Hopper, a frontal face); no download.
PORTRAIT = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
PLATE_TEXT = "A 12345"


def test_the_face_cascade_is_installed() -> None:
    # setup.sh installs Debian's opencv-data; without it every image is withheld from other roles.
    assert face_cascade() is not None, "haarcascade_frontalface_default.xml missing: apt install opencv-data"


def street(
    plate: tuple[int, int, int, int] | None, *, face: tuple[int, ...], ink: tuple[int, ...]
) -> np.ndarray:
    """A 1280x720 street-like frame: sky-to-road gradient, a car body, and a plate (x, y, w, h)
    of colour ``face`` with characters in ``ink``."""
    w, h = 1280, 720
    x = np.linspace(60, 160, w, dtype=np.float32)
    y = np.linspace(0, 60, h, dtype=np.float32)[:, None]
    img = np.stack([x + y, x + 0.5 * y, 120 + 0.8 * y + 0 * x], axis=-1).clip(0, 255).astype(np.uint8)
    cv2.rectangle(img, (420, 240), (940, 540), (40, 40, 150), -1)
    if plate is not None:
        px, py, pw, ph = plate
        cv2.rectangle(img, (px, py), (px + pw, py + ph), face, -1)
        cv2.putText(img, PLATE_TEXT, (px + 12, py + ph - 14), cv2.FONT_HERSHEY_SIMPLEX, ph / 42, ink, 3)
    return img


def text_box(plate: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """Where :func:`street` drew the characters on ``plate`` (x1, y1, x2, y2)."""
    px, py, _, ph = plate
    (tw, th), base = cv2.getTextSize(PLATE_TEXT, cv2.FONT_HERSHEY_SIMPLEX, ph / 42, 3)
    return px + 12, py + ph - 14 - th, px + 12 + tw, py + ph - 14 + base


def sharpness(img: np.ndarray) -> float:
    return float(cv2.Laplacian(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var())


def grown(box: tuple[int, int, int, int], margin: float, shape: tuple[int, ...]) -> np.ndarray:
    """Mask of ``box`` (x1, y1, x2, y2) grown by ``margin`` of its size."""
    x1, y1, x2, y2 = box
    mx, my = (x2 - x1) * margin, (y2 - y1) * margin
    mask = np.zeros(shape[:2], bool)
    mask[max(int(y1 - my), 0) : int(np.ceil(y2 + my)), max(int(x1 - mx), 0) : int(np.ceil(x2 + mx))] = True
    return mask


@pytest.mark.parametrize(
    ("plate", "face", "ink"),
    [
        ((600, 420, 220, 60), (255, 255, 255), (0, 0, 0)),  # white plate, black characters
        ((300, 460, 300, 90), (160, 60, 0), (255, 255, 255)),  # Chinese blue plate, white characters
    ],
)
def test_a_plate_is_found_and_blurred_and_nothing_else_changes(
    plate: tuple[int, int, int, int], face: tuple[int, ...], ink: tuple[int, ...]
) -> None:
    img = street(plate, face=face, ink=ink)
    found = detect_plates(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY))
    pw, ph = plate[2:]
    assert len(found) == 1
    fx1, fy1, fx2, fy2 = found[0]
    # The found box covers the characters ...
    tx1, ty1, tx2, ty2 = text_box(plate)
    assert fx1 <= tx1 and fy1 <= ty1 and fx2 >= tx2 and fy2 >= ty2
    # ... and not much more than the plate.
    assert (fx2 - fx1) * (fy2 - fy1) < 2.0 * pw * ph

    out = blur_sensitive_image(img, require_faces=False)
    inner = (slice(ty1, ty2), slice(tx1, tx2))
    assert sharpness(out[inner]) < 0.05 * sharpness(img[inner])
    outside = ~grown(tuple(found[0]), BLUR_MARGIN, img.shape)
    assert np.array_equal(out[outside], img[outside])
    assert not np.shares_memory(out, img)


def test_a_frame_without_plates_or_faces_is_unchanged() -> None:
    img = street(None, face=(0, 0, 0), ink=(0, 0, 0))
    found = detect_sensitive(img)
    assert len(found.plates) == 0 and len(found.faces) == 0
    assert np.array_equal(blur_sensitive_image(img, require_faces=False), img)


def test_blur_boxes_blurs_exactly_the_given_boxes() -> None:
    rng = np.random.default_rng(7)
    img = rng.integers(0, 256, (200, 300, 3), dtype=np.uint8)
    boxes = [(20, 30, 80, 90), (250, 150, 330, 230)]  # the second runs off the image
    out = blur_boxes(img, boxes, margin=0.0)
    changed = np.any(out != img, axis=-1)
    expected = np.zeros((200, 300), bool)
    expected[30:90, 20:80] = True
    expected[150:200, 250:300] = True
    assert not changed[~expected].any()
    assert changed[expected].mean() > 0.9
    assert sharpness(out[30:90, 20:80]) < 0.02 * sharpness(img[30:90, 20:80])
    assert np.array_equal(blur_boxes(img, []), img)


def test_vehicle_plate_zones_are_the_lower_middle_of_the_box() -> None:
    zones = vehicle_plate_zones([(100, 200, 300, 400)])
    assert zones.tolist() == [[140.0, 310.0, 260.0, 400.0]]


def test_a_real_face_is_found_and_blurred() -> None:
    photo = cv2.imread(str(PORTRAIT))
    assert photo is not None, PORTRAIT
    found = detect_sensitive(photo)
    assert found.faces_checked and len(found.faces) == 1
    x1, y1, x2, y2 = found.faces[0]
    # Her face: between the hairline and the chin, around (262, 216) in the 512x600 photo.
    assert x1 < 262 < x2 and y1 < 216 < y2 and 150 < x2 - x1 < 320
    # The same photo at 4x: searched at 1280 px, the box scaled back to the full frame.
    big = cv2.resize(photo, None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC)
    faces = detect_sensitive(big).faces
    assert (np.abs(faces - 4 * found.faces[0]) < 40).all(axis=1).any(), faces
    data = PORTRAIT.read_bytes()
    blurred = cv2.imdecode(np.frombuffer(blur_sensitive(data), np.uint8), cv2.IMREAD_COLOR)
    assert blurred is not None
    face = (slice(y1, y2), slice(x1, x2))
    assert sharpness(blurred[face]) < 0.1 * sharpness(photo[face])
    far = (slice(0, 60), slice(0, 60))  # the corner, away from every box
    assert np.abs(blurred[far].astype(int) - photo[far].astype(int)).mean() < 3  # JPEG re-encoding only


def test_unreadable_bytes_and_a_missing_face_detector_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(PrivacyError, match="not a readable image"):
        blur_sensitive(b"not an image")
    monkeypatch.setattr("dashboard.privacy.face_cascade", lambda: None)
    img = street(None, face=(0, 0, 0), ink=(0, 0, 0))
    with pytest.raises(PrivacyError, match="opencv-data"):
        blur_sensitive_image(img)
    assert detect_sensitive(img).faces_checked is False


EDGE_CASCADE = """<?xml version="1.0"?>
<opencv_storage><cascade>
  <stageType>BOOST</stageType><featureType>HAAR</featureType><height>6</height><width>6</width>
  <stageNum>1</stageNum>
  <stages><_><maxWeakCount>1</maxWeakCount><stageThreshold>0.</stageThreshold>
    <weakClassifiers><_><internalNodes>0 -1 0 0.1</internalNodes><leafValues>-1. 1.</leafValues></_>
    </weakClassifiers></_></stages>
  <features><_><rects><_>0 0 3 6 1.</_><_>3 0 3 6 -1.</_></rects>{tilted}</_></features>
</cascade></opencv_storage>
"""


def test_haar_evaluator_finds_the_pattern_its_cascade_describes(tmp_path: Path) -> None:
    # One feature: bright left half, dark right half. A vertical step edge at x = 50 matches it.
    path = tmp_path / "edge.xml"
    path.write_text(EDGE_CASCADE.format(tilted=""))
    cascade = load_cascade(path)
    img = np.zeros((40, 100), np.uint8)
    img[:, :50] = 200
    boxes = cascade.detect(img, min_neighbors=0, max_size=(6, 6))
    assert len(boxes) > 0
    assert ((boxes[:, 0] < 50) & (boxes[:, 0] + boxes[:, 2] > 50)).all()
    assert len(cascade.detect(img[:, ::-1].copy(), min_neighbors=0)) == 0  # the mirror image: dark left

    path.write_text(EDGE_CASCADE.format(tilted="<tilted>1</tilted>"))
    with pytest.raises(CascadeError, match="feature 0 is tilted"):
        load_cascade(path)
    path.write_text("<opencv_storage><old_format/></opencv_storage>")
    with pytest.raises(CascadeError, match="no <cascade>"):
        load_cascade(path)
