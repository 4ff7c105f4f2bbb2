"""Data set converters: RDD VOC XML and COCO JSON -> YOLO with the taxonomy, on real road photos.

The VOC and COCO inputs are written here from the YOLO labels of the 226 real photos in
``../shared/data/road-damage-real`` (RDD codes D20/D00/D10/D40), then converted back; the boxes must
survive the round trip within 1 px and every box that is not converted must be counted.
"""

from __future__ import annotations

import json
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
import pytest
import yaml
from PIL import Image

from detect.convert import ConversionError, SourceClassMap, convert_coco, convert_voc, parse_voc_xml
from taxonomy import load_taxonomy

REAL = Path(__file__).resolve().parents[2] / "shared/data/road-damage-real"
REAL_CODES = ("D20", "D00", "D10", "D40")  # the real set's classes 0..3 (see its SOURCE.md)
REAL_COUNTS = {"alligator_crack": 109, "longitudinal_crack": 125, "transverse_crack": 47, "pothole": 51}
needs_real = pytest.mark.skipif(not REAL.is_dir(), reason=f"real road photos not found at {REAL}")


def _real_boxes() -> dict[Path, tuple[int, int, list[str], np.ndarray]]:
    """Per real image: width, height, RDD codes and pixel xyxy boxes from its YOLO label file."""
    out = {}
    for image in sorted((REAL / "images").glob("*.jpg")):
        with Image.open(image) as im:
            w, h = im.size
        label = REAL / "labels" / (image.stem + ".txt")
        rows = np.array([line.split() for line in label.read_text().splitlines()], float).reshape(-1, 5)
        cx, cy, bw, bh = rows[:, 1] * w, rows[:, 2] * h, rows[:, 3] * w, rows[:, 4] * h
        xyxy = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1)
        out[image] = (w, h, [REAL_CODES[int(c)] for c in rows[:, 0]], xyxy)
    return out


def _voc_xml(image: Path, w: int, h: int, names: list[str], xyxy: np.ndarray) -> str:
    objects = "".join(
        f"<object><name>{escape(n)}</name><difficult>0</difficult><bndbox><xmin>{b[0]:.0f}</xmin>"
        f"<ymin>{b[1]:.0f}</ymin><xmax>{b[2]:.0f}</xmax><ymax>{b[3]:.0f}</ymax></bndbox></object>\n"
        for n, b in zip(names, xyxy, strict=True)
    )
    return (
        f"<annotation><folder>images</folder><filename>{image.name}</filename>\n"
        f"<size><width>{w}</width><height>{h}</height><depth>3</depth></size>\n{objects}</annotation>\n"
    )


def _read_yolo(out: Path, split: str, stem: str, w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
    text = (out / "labels" / split / f"{stem}.txt").read_text()
    rows = np.array([line.split() for line in text.splitlines()], float).reshape(-1, 5)
    cx, cy, bw, bh = rows[:, 1] * w, rows[:, 2] * h, rows[:, 3] * w, rows[:, 4] * h
    return rows[:, 0].astype(int), np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1)


def _assert_round_trip(
    out: Path, split: str, real: dict[Path, tuple[int, int, list[str], np.ndarray]], decimals: int
) -> None:
    """Every real box comes back with its class within 1 px; ``decimals``: rounding in the input file."""
    tax = load_taxonomy()
    code_to_id = {code: tax.by_key[k].id for code, k in zip(REAL_CODES, REAL_COUNTS, strict=True)}
    for image, (w, h, names, xyxy) in real.items():
        ids, boxes = _read_yolo(out, split, image.stem, w, h)
        want_ids = np.array([code_to_id[n] for n in names], int)
        # Pair boxes by sorting on the values the input file held (near-duplicate boxes exist).
        written, got = np.round(xyxy, decimals), np.round(boxes, decimals)
        order_got = np.lexsort((*got.T[::-1], ids))
        order_want = np.lexsort((*written.T[::-1], want_ids))
        np.testing.assert_array_equal(ids[order_got], want_ids[order_want], err_msg=image.name)
        np.testing.assert_allclose(boxes[order_got], xyxy[order_want].clip(0, [w, h, w, h]), atol=1.0)
        assert (out / "images" / split / image.name).is_file()


@pytest.fixture(scope="module")
def real() -> dict[Path, tuple[int, int, list[str], np.ndarray]]:
    if not REAL.is_dir():
        pytest.skip(f"real road photos not found at {REAL}")
    return _real_boxes()


@needs_real
def test_voc_rdd_layout_round_trips_real_boxes_and_counts_unmapped(tmp_path: Path, real: dict) -> None:
    split_dir = tmp_path / "RDD2022" / "Indonesia" / "train"
    (split_dir / "annotations" / "xmls").mkdir(parents=True)
    (split_dir / "images").mkdir()
    for i, (image, (w, h, names, xyxy)) in enumerate(real.items()):
        (split_dir / "images" / image.name).symlink_to(image)
        extra = [[5, 5, 60, 60]] if i % 40 == 0 else []  # an unknown damage code now and then
        xml = _voc_xml(
            image, w, h, names + ["D99"] * len(extra), np.vstack([xyxy, *extra]) if extra else xyxy
        )
        (split_dir / "annotations" / "xmls" / f"{image.stem}.xml").write_text(xml)
    (split_dir / "images" / "no_annotation.jpg").symlink_to(next(iter(real)))
    out = tmp_path / "yolo"

    report = convert_voc(tmp_path / "RDD2022", out, progress=False)

    n_extra = len(range(0, len(real), 40))
    assert dict(report.boxes) == REAL_COUNTS
    assert dict(report.unmapped) == {"D99": n_extra}
    assert report.images == len(real) == report.linked + report.copied
    assert len(report.empty_images) == sum(1 for v in real.values() if not v[2])
    assert report.unannotated_images == [str(split_dir / "images" / "no_annotation.jpg")]
    assert "D99=" in report.summary()
    _assert_round_trip(out, "train", real, decimals=0)
    data = yaml.safe_load((out / "data.yaml").read_text())
    assert data["train"] == "images/train" and data["names"][4] == "pothole" and len(data["names"]) == 28


@needs_real
def test_coco_round_trips_real_boxes_counts_unmapped_crowd_and_background(tmp_path: Path, real: dict) -> None:
    cats = [{"id": 10 + i, "name": code} for i, code in enumerate((*REAL_CODES, "D99"))]
    cat_id = {c["name"]: c["id"] for c in cats}
    images: list[dict[str, object]] = []
    anns: list[dict[str, object]] = []
    for i, (image, (w, h, names, xyxy)) in enumerate(real.items()):
        images.append({"id": 100 + i, "file_name": image.name, "width": w, "height": h})
        for name, b in zip(names, xyxy, strict=True):
            box = [
                round(float(b[0]), 2),
                round(float(b[1]), 2),
                round(float(b[2] - b[0]), 2),
                round(float(b[3] - b[1]), 2),
            ]
            anns.append(
                {"id": len(anns), "image_id": 100 + i, "category_id": cat_id[name], "bbox": box, "iscrowd": 0}
            )
    anns.append({"id": len(anns), "image_id": 100, "category_id": cat_id["D99"], "bbox": [1, 1, 30, 30]})
    anns.append({"id": len(anns), "image_id": 100, "category_id": cat_id["D99"], "bbox": [40, 1, 30, 30]})
    anns.append(
        {"id": len(anns), "image_id": 101, "category_id": cat_id["D00"], "bbox": [0, 0, 99, 99], "iscrowd": 1}
    )
    ann_file = tmp_path / "instances.json"
    ann_file.write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}, indent=1))
    out = tmp_path / "yolo"

    report = convert_coco(ann_file, REAL / "images", out, split="val", progress=False)

    assert dict(report.boxes) == REAL_COUNTS
    assert dict(report.unmapped) == {"D99": 2}
    assert report.crowd == 1
    assert report.images == len(real)
    assert len(report.empty_images) == sum(1 for v in real.values() if not v[2])
    _assert_round_trip(out, "val", real, decimals=2)
    data = yaml.safe_load((out / "data.yaml").read_text())
    assert data["val"] == data["train"] == "images/val"


def _one_image_voc(
    tmp_path: Path, objects: list[tuple[str, list[float]]], size: tuple[int, int] = (100, 80)
) -> Path:
    split_dir = tmp_path / "src" / "train"
    (split_dir / "annotations" / "xmls").mkdir(parents=True)
    (split_dir / "images").mkdir()
    image = split_dir / "images" / "a.jpg"
    Image.new("RGB", size).save(image)
    names = [n for n, _ in objects]
    xml = _voc_xml(image, *size, names, np.asarray([b for _, b in objects], float).reshape(-1, 4))
    (split_dir / "annotations" / "xmls" / "a.xml").write_text(xml)
    return tmp_path / "src"


def test_voc_counts_clipped_degenerate_and_outside_boxes(tmp_path: Path) -> None:
    src = _one_image_voc(
        tmp_path,
        [
            ("D40", [10, 10, 30, 30]),  # kept
            ("D40", [90, 70, 130, 95]),  # partly outside the 100x80 image: clipped to 90..100, 70..80
            ("D00", [20, 20, 20, 40]),  # zero width
            ("D00", [50, 40, 40, 60]),  # x2 < x1
            ("D10", [150, 10, 170, 30]),  # right of the image
        ],
    )
    report = convert_voc(src, tmp_path / "out", progress=False)
    assert (report.clipped, report.degenerate, report.outside) == (1, 2, 1)
    assert dict(report.boxes) == {"pothole": 2}
    _, boxes = _read_yolo(tmp_path / "out", "train", "a", 100, 80)
    np.testing.assert_allclose(boxes, [[10, 10, 30, 30], [90, 70, 100, 80]], atol=1e-3)


def test_ambiguous_coco_class_is_counted_until_an_override_chooses(tmp_path: Path) -> None:
    Image.new("RGB", (64, 48)).save(tmp_path / "p.jpg")
    coco = {
        "images": [{"id": 1, "file_name": "p.jpg", "width": 64, "height": 48}],
        "categories": [{"id": 1, "name": "person"}, {"id": 2, "name": "car"}, {"id": 3, "name": "dog"}],
        "annotations": [
            {"image_id": 1, "category_id": 1, "bbox": [1, 1, 10, 20]},
            {"image_id": 1, "category_id": 2, "bbox": [20, 10, 30, 20]},
            {"image_id": 1, "category_id": 3, "bbox": [5, 5, 5, 5]},
        ],
    }
    (tmp_path / "c.json").write_text(json.dumps(coco))
    report = convert_coco(tmp_path / "c.json", tmp_path, tmp_path / "a", progress=False)
    assert dict(report.boxes) == {"illegal_parking_vehicle": 1}
    assert dict(report.ambiguous) == {"person": 1} and dict(report.unmapped) == {"dog": 1}
    assert "ambiguous" in report.summary()

    chosen = convert_coco(
        tmp_path / "c.json",
        tmp_path,
        tmp_path / "b",
        {"person": "street_vending", "dog": None},
        progress=False,
    )
    assert dict(chosen.boxes) == {"illegal_parking_vehicle": 1, "street_vending": 1}
    assert dict(chosen.ignored) == {"dog": 1} and not chosen.unmapped and not chosen.ambiguous


def test_override_to_a_key_outside_the_taxonomy_is_refused() -> None:
    with pytest.raises(ConversionError, match="not_a_class"):
        SourceClassMap.from_taxonomy({"D00": "not_a_class"})


def test_malformed_xml_names_file_and_line(tmp_path: Path) -> None:
    src = _one_image_voc(tmp_path, [("D40", [10, 10, 30, 30])])
    xml = src / "train" / "annotations" / "xmls" / "a.xml"
    xml.write_text("<annotation>\n<size><width>100</width>\n<object><name>D40</name>\n</annotation>\n")
    with pytest.raises(ConversionError, match=rf"{xml}:4:\d+: malformed XML"):
        convert_voc(src, tmp_path / "out", progress=False)
    xml.write_text(
        "<annotation><object><name>D40</name><bndbox><xmin>a</xmin></bndbox></object></annotation>"
    )
    with pytest.raises(ConversionError, match=r"a\.xml: object #0: <xmin> is not a number"):
        parse_voc_xml(xml)


def test_malformed_coco_names_file_line_and_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{\n  "images": [],\n  "annotations": [\n    {"image_id": 1,}\n  ]\n}\n')
    with pytest.raises(ConversionError, match=rf"{bad}:4:\d+: malformed JSON"):
        convert_coco(bad, tmp_path, tmp_path / "out", progress=False)
    bad.write_text(
        json.dumps({"images": [], "categories": [], "annotations": [{"image_id": 1, "category_id": 1}]})
    )
    with pytest.raises(ConversionError, match=r"annotations\[0\]\.bbox is missing"):
        convert_coco(bad, tmp_path, tmp_path / "out", progress=False)
    bad.write_text(
        json.dumps(
            {
                "images": [],
                "categories": [],
                "annotations": [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1]}],
            }
        )
    )
    with pytest.raises(ConversionError, match=r"annotations\[0\]\.image_id 1 is not in images"):
        convert_coco(bad, tmp_path, tmp_path / "out", progress=False)


def test_no_voc_layout_is_an_error_naming_the_folder(tmp_path: Path) -> None:
    with pytest.raises(ConversionError, match=rf"{tmp_path}: no annotations/xmls folder"):
        convert_voc(tmp_path, tmp_path / "out", progress=False)


def test_voc_without_size_reads_the_image_header_and_shows_progress(tmp_path: Path) -> None:
    src = _one_image_voc(tmp_path, [("D40", [10, 10, 30, 30])], size=(120, 90))
    xml = src / "train" / "annotations" / "xmls" / "a.xml"
    xml.write_text(
        xml.read_text().replace("<size><width>120</width><height>90</height><depth>3</depth></size>", "")
    )
    assert parse_voc_xml(xml).width == 0
    report = convert_voc(src, tmp_path / "out", progress=True)
    _, boxes = _read_yolo(tmp_path / "out", "train", "a", 120, 90)
    np.testing.assert_allclose(boxes, [[10, 10, 30, 30]], atol=1e-3)
    assert dict(report.boxes) == {"pothole": 1}


def test_cli_dataset_convert_reports_counts_and_applies_overrides(tmp_path: Path) -> None:
    import subprocess
    import sys

    src = _one_image_voc(tmp_path, [("D40", [10, 10, 40, 40]), ("D99", [50, 20, 70, 60])])
    out = tmp_path / "yolo"
    run = subprocess.run(
        [sys.executable, "-m", "roadsight", "dataset", "convert", str(src), str(out), "--format", "voc"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "pothole" in run.stdout + run.stderr and "D99" in run.stdout + run.stderr  # unmapped, reported
    assert (out / "data.yaml").is_file()
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "roadsight",
            "dataset",
            "convert",
            str(src),
            str(tmp_path / "x"),
            "--map",
            "D99",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2 and "--map 'D99'" in bad.stdout + bad.stderr
