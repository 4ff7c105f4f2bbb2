"""COCO detection JSON -> YOLO, with the taxonomy mapping.

Reads ``images`` (``id``, ``file_name``, ``width``, ``height``), ``categories``
(``id``, ``name``) and ``annotations`` (``image_id``, ``category_id``,
``bbox = [x, y, w, h]`` in pixels, optional ``iscrowd``). Category names map
onto taxonomy classes through
:class:`~detect.convert.source_map.SourceClassMap` (COCO's ``car``/``truck``/
``bus``, or RDD codes in a COCO export of RDD). Crowd regions are not single
objects and are dropped, counted. Images listed without annotations are written
as background and counted.

Example:
    >>> report = convert_coco("instances_val.json", "val2017", "data/coco-yolo")  # doctest: +SKIP
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from detect.convert.errors import ConversionError
from detect.convert.progress import progress_iter
from detect.convert.report import ConversionReport
from detect.convert.source_map import SourceClassMap
from detect.convert.yolo_writer import YoloDatasetWriter


def _load_json(path: Path) -> dict[str, Any]:
    try:
        with path.open(encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise ConversionError(f"{path}: annotation file not found") from None
    except json.JSONDecodeError as exc:
        raise ConversionError(f"{path}:{exc.lineno}:{exc.colno}: malformed JSON: {exc.msg}") from None
    if not isinstance(data, dict):
        raise ConversionError(f"{path}: top level must be an object with images, annotations, categories")
    return data


def _field(path: Path, where: str, record: Any, key: str, kind: type | tuple[type, ...]) -> Any:
    if not isinstance(record, dict) or key not in record:
        raise ConversionError(f"{path}: {where}.{key} is missing")
    value = record[key]
    if isinstance(value, bool) or not isinstance(value, kind):
        raise ConversionError(f"{path}: {where}.{key} has the wrong type: {value!r}")
    return value


def _list(path: Path, data: dict[str, Any], key: str) -> list[Any]:
    value = data.get(key)
    if not isinstance(value, list):
        raise ConversionError(f"{path}: top-level key {key!r} must be a list")
    return value


def convert_coco(
    annotations_json: str | Path,
    images_dir: str | Path,
    out_dir: str | Path,
    mapping: Mapping[str, str | None] | SourceClassMap | None = None,
    *,
    split: str = "train",
    progress: bool = True,
) -> ConversionReport:
    """Convert one COCO annotation file and its images into split ``split`` of a YOLO data set.

    Args:
        annotations_json: the COCO ``instances_*.json``.
        images_dir: where the ``file_name`` of each image is found (relative paths allowed).
        out_dir: receives ``images/<split>``, ``labels/<split>`` and ``data.yaml``.
        mapping: category name overrides (``{"person": "street_vending"}``, ``{"dog": None}``).
        split: the split to write.
        progress: show a rich progress bar.

    Raises :class:`ConversionError` naming the file and the line/column (malformed JSON) or the key
    (``annotations[3].bbox``) of bad input, or an annotation that refers to an unknown image/category.
    """
    path = Path(annotations_json)
    data = _load_json(path)
    source_map = mapping if isinstance(mapping, SourceClassMap) else SourceClassMap.from_taxonomy(mapping)
    categories: dict[int, str] = {}
    for i, cat in enumerate(_list(path, data, "categories")):
        categories[_field(path, f"categories[{i}]", cat, "id", int)] = str(
            _field(path, f"categories[{i}]", cat, "name", str)
        )
    images: dict[int, tuple[str, int, int]] = {}
    for i, im in enumerate(_list(path, data, "images")):
        where = f"images[{i}]"
        images[_field(path, where, im, "id", int)] = (
            _field(path, where, im, "file_name", str),
            _field(path, where, im, "width", (int, float)),
            _field(path, where, im, "height", (int, float)),
        )
    boxes: dict[int, list[tuple[list[float], str]]] = {image_id: [] for image_id in images}
    report = ConversionReport()
    for i, ann in enumerate(_list(path, data, "annotations")):
        where = f"annotations[{i}]"
        image_id = _field(path, where, ann, "image_id", int)
        category_id = _field(path, where, ann, "category_id", int)
        bbox = _field(path, where, ann, "bbox", list)
        if image_id not in images:
            raise ConversionError(f"{path}: {where}.image_id {image_id} is not in images")
        if category_id not in categories:
            raise ConversionError(f"{path}: {where}.category_id {category_id} is not in categories")
        if len(bbox) != 4 or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in bbox):
            raise ConversionError(f"{path}: {where}.bbox must be four numbers [x, y, w, h], got {bbox!r}")
        if ann.get("iscrowd", 0):
            report.source_boxes[categories[category_id]] += 1
            report.crowd += 1
            continue
        boxes[image_id].append(([float(v) for v in bbox], categories[category_id]))
    writer = YoloDatasetWriter(Path(out_dir), report)
    root = Path(images_dir)
    for image_id, (file_name, width, height) in progress_iter(
        list(images.items()), "COCO -> YOLO", enabled=progress
    ):
        image = root / file_name
        if not image.is_file():
            report.missing_images.append(str(image))
            continue
        xywh = np.asarray([b for b, _ in boxes[image_id]], np.float64).reshape(-1, 4)
        xyxy = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
        ids = source_map.to_taxonomy_ids([name for _, name in boxes[image_id]], report)
        keep = ids >= 0
        writer.add_image(split, image, int(width), int(height), xyxy[keep], ids[keep])
    writer.write_data_yaml()
    return report
