"""RDD2020 / RDD2022 (Pascal VOC XML) -> YOLO, with the taxonomy mapping.

The RDD layout is ``<country>/<split>/annotations/xmls/<stem>.xml`` beside
``<country>/<split>/images/<stem>.jpg``; ``src_dir`` may be the data set root,
one country, or one split. Every ``annotations/xmls`` folder under it is
converted into the split it sits in (``train``, ``val``, ``test``; anything
else counts as ``train``). Object names (``D00``, ``D10``, ``D20``, ``D40``,
``D43``, ``D44``, ``D50``, ``Repair``, ...) map onto taxonomy classes through
:class:`~detect.convert.source_map.SourceClassMap`. VOC pixel coordinates are
taken as box edges (``xmax - xmin`` is the width), which is how the RDD
annotation tools write them.

Example:
    >>> report = convert_voc(Path("RDD2022"), Path("data/rdd-yolo"))  # doctest: +SKIP
    >>> print(report.summary())  # doctest: +SKIP
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from detect.convert.errors import ConversionError
from detect.convert.progress import progress_iter
from detect.convert.report import ConversionReport
from detect.convert.source_map import SourceClassMap
from detect.convert.yolo_writer import YoloDatasetWriter
from detect.dataset_tiles import IMAGE_SUFFIXES

KNOWN_SPLITS = ("train", "val", "test")
_BOX_TAGS = ("xmin", "ymin", "xmax", "ymax")


@dataclass(frozen=True)
class VocAnnotation:
    """One parsed VOC XML file."""

    width: int  # 0 when the file has no usable <size>
    height: int
    names: list[str]
    xyxy: np.ndarray  # (N, 4) float64 pixels


def _number(path: Path, obj_index: int, tag: str, text: str | None) -> float:
    try:
        return float(text or "")
    except ValueError:
        raise ConversionError(f"{path}: object #{obj_index}: <{tag}> is not a number: {text!r}") from None


def parse_voc_xml(path: Path) -> VocAnnotation:
    """Read one VOC annotation; a malformed file raises :class:`ConversionError` naming file and line."""
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        line, column = exc.position
        raise ConversionError(f"{path}:{line}:{column}: malformed XML: {exc.msg}") from None
    size = root.find("size")
    width = int(_number(path, -1, "width", size.findtext("width", "0"))) if size is not None else 0
    height = int(_number(path, -1, "height", size.findtext("height", "0"))) if size is not None else 0
    names: list[str] = []
    rows: list[list[float]] = []
    for i, obj in enumerate(root.iter("object")):
        name = (obj.findtext("name") or "").strip()
        if not name:
            raise ConversionError(f"{path}: object #{i}: no <name>")
        box = obj.find("bndbox")
        if box is None:
            raise ConversionError(f"{path}: object #{i} ({name}): no <bndbox>")
        rows.append([_number(path, i, tag, box.findtext(tag)) for tag in _BOX_TAGS])
        names.append(name)
    xyxy = np.asarray(rows, np.float64).reshape(-1, 4)
    return VocAnnotation(width, height, names, xyxy)


def _image_for(images_dir: Path, xml: Path) -> Path | None:
    for suffix in (".jpg", ".jpeg", ".png", ".JPG", ".JPEG", ".PNG"):
        candidate = images_dir / (xml.stem + suffix)
        if candidate.is_file():
            return candidate
    return None


def _image_size(image: Path) -> tuple[int, int]:
    from PIL import Image  # reads the header only

    try:
        with Image.open(image) as im:
            return im.size
    except OSError as exc:
        raise ConversionError(f"{image}: cannot read the image size: {exc}") from exc


def find_voc_splits(src_dir: Path) -> list[tuple[str, Path, Path]]:
    """``(split, xmls folder, images folder)`` for every ``annotations/xmls`` folder under ``src_dir``."""
    found = []
    candidates = Path(src_dir).rglob("xmls")
    for xmls in sorted(p for p in candidates if p.is_dir() and p.parent.name == "annotations"):
        split_dir = xmls.parent.parent
        split = split_dir.name if split_dir.name in KNOWN_SPLITS else "train"
        found.append((split, xmls, split_dir / "images"))
    return found


def convert_voc(
    src_dir: str | Path,
    out_dir: str | Path,
    mapping: Mapping[str, str | None] | SourceClassMap | None = None,
    *,
    progress: bool = True,
) -> ConversionReport:
    """Convert an RDD-layout VOC data set under ``src_dir`` into a YOLO data set in ``out_dir``.

    Args:
        src_dir: RDD root, a country folder, or a split folder (see the module docstring).
        out_dir: receives ``images/<split>``, ``labels/<split>`` and ``data.yaml``.
        mapping: source class overrides (``{"Repair": None}``) on top of the taxonomy's ``sources``.
        progress: show a rich progress bar.

    Returns the :class:`ConversionReport`. Raises :class:`ConversionError` for a folder with no
    ``annotations/xmls`` or a malformed XML file (naming file and line).
    """
    src = Path(src_dir)
    splits = find_voc_splits(src)
    if not splits:
        raise ConversionError(
            f"{src}: no annotations/xmls folder found (expected <country>/<split>/annotations/xmls/*.xml)"
        )
    source_map = mapping if isinstance(mapping, SourceClassMap) else SourceClassMap.from_taxonomy(mapping)
    report = ConversionReport()
    writer = YoloDatasetWriter(Path(out_dir), report)
    jobs = [(split, xml, images) for split, xmls, images in splits for xml in sorted(xmls.glob("*.xml"))]
    for split, xml, images_dir in progress_iter(jobs, "VOC -> YOLO", enabled=progress):
        ann = parse_voc_xml(xml)
        image = _image_for(images_dir, xml)
        if image is None:
            report.missing_images.append(str(images_dir / (xml.stem + ".jpg")))
            continue
        width, height = (ann.width, ann.height) if ann.width > 0 and ann.height > 0 else _image_size(image)
        ids = source_map.to_taxonomy_ids(ann.names, report)
        keep = ids >= 0
        writer.add_image(split, image, width, height, ann.xyxy[keep], ids[keep])
    for _split, xmls, images_dir in splits:
        if images_dir.is_dir():
            annotated = {p.stem for p in xmls.glob("*.xml")}
            report.unannotated_images.extend(
                str(p)
                for p in sorted(images_dir.iterdir())
                if p.suffix.lower() in IMAGE_SUFFIXES and p.stem not in annotated
            )
    writer.write_data_yaml()
    return report
