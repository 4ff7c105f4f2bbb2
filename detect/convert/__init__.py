"""Public data sets to YOLO format, labelled with taxonomy classes.

:func:`convert_voc` reads RDD2020/RDD2022 Pascal VOC XML, :func:`convert_coco`
reads COCO detection JSON; both write ``images/<split>`` (hard links where the
file system allows, copies otherwise), ``labels/<split>`` (normalised ``class
cx cy w h`` with taxonomy ids) and ``data.yaml`` (all taxonomy keys), and return
a :class:`ConversionReport` that counts every box written per class and every
box or image left out (unmapped or ambiguous source classes, clipped,
degenerate, outside the image, crowd, missing files).

Example:
    >>> from detect.convert import convert_voc  # doctest: +SKIP
    >>> report = convert_voc("RDD2022/Japan", "data/rdd-japan", {"Repair": None})  # doctest: +SKIP
    >>> report.print()  # doctest: +SKIP
"""

from __future__ import annotations

from detect.convert.coco import convert_coco
from detect.convert.errors import ConversionError
from detect.convert.report import ConversionReport
from detect.convert.source_map import Skip, SourceClassMap
from detect.convert.voc import convert_voc, parse_voc_xml

__all__ = [
    "ConversionError",
    "ConversionReport",
    "Skip",
    "SourceClassMap",
    "convert_coco",
    "convert_voc",
    "parse_voc_xml",
]
