"""Writing a YOLO detection data set: images hard-linked (or copied), one label file per image, data.yaml.

Class indices are taxonomy ids and ``names`` are all taxonomy keys, so every
converted data set (RDD, COCO, the simulator's) shares one class list and can
be merged. Boxes come in as pixel ``x1, y1, x2, y2``; each image's boxes are
checked, clipped and normalised in one vectorised pass, and each one dropped
is counted in the :class:`~detect.convert.report.ConversionReport`.

Example:
    >>> w = YoloDatasetWriter(Path("out"), ConversionReport())  # doctest: +SKIP
    >>> boxes, ids = np.array([[10, 10, 50, 40]]), np.array([4])  # pixels x1 y1 x2 y2, taxonomy ids
    >>> w.add_image("train", Path("a.jpg"), 640, 480, boxes, ids)  # doctest: +SKIP
    >>> w.write_data_yaml()  # doctest: +SKIP
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

import numpy as np
import yaml

from detect.convert.errors import ConversionError
from detect.convert.report import ConversionReport
from taxonomy import load_taxonomy

#: Boxes narrower or lower than this many pixels (after clipping) are not objects.
MIN_BOX_PX = 1.0
# Hard links fail across file systems or where the source is not ours to link; copy then.
_LINK_ERRORS = {errno.EXDEV, errno.EPERM, errno.EACCES, errno.EMLINK, errno.ENOTSUP}


class YoloDatasetWriter:
    """Writes ``images/<split>/``, ``labels/<split>/`` and ``data.yaml`` under ``out_dir``."""

    def __init__(self, out_dir: Path, report: ConversionReport) -> None:
        self.out_dir = Path(out_dir)
        self.report = report
        self._taxonomy = load_taxonomy()
        self._written: dict[tuple[str, str], Path] = {}  # (split, file name) -> source, to refuse collisions

    def add_image(
        self,
        split: str,
        image: Path,
        width: int,
        height: int,
        xyxy: np.ndarray,
        taxonomy_ids: np.ndarray,
    ) -> None:
        """Place ``image`` and write its label file from pixel boxes ``(N, 4)`` and their taxonomy ids."""
        if width <= 0 or height <= 0:
            raise ConversionError(f"{image}: image size {width}x{height} is not positive")
        name = image.name
        previous = self._written.get((split, name))
        if previous is not None:
            raise ConversionError(f"{image}: same file name as {previous} in split {split!r}")
        self._written[(split, name)] = image
        boxes = np.asarray(xyxy, np.float64).reshape(-1, 4)
        ids = np.asarray(taxonomy_ids, np.int64).reshape(-1)
        keep, clipped = self._checked(boxes, width, height)
        boxes, ids = clipped[keep], ids[keep]
        size = np.array([width, height, width, height], np.float64)
        centre, extent = (boxes[:, :2] + boxes[:, 2:]) / 2, boxes[:, 2:] - boxes[:, :2]
        cxcywh = np.concatenate([centre, extent], axis=1) / size
        rows = [f"{c} {x:.6f} {y:.6f} {w:.6f} {h:.6f}" for c, (x, y, w, h) in zip(ids, cxcywh, strict=True)]
        label = self.out_dir / "labels" / split / (image.stem + ".txt")
        label.parent.mkdir(parents=True, exist_ok=True)
        label.write_text("".join(r + "\n" for r in rows), encoding="utf-8")
        self._place_image(image, self.out_dir / "images" / split / name)
        self.report.images += 1
        if not rows:
            self.report.empty_images.append(str(image))
        for tax_id, n in zip(*np.unique(ids, return_counts=True), strict=True):
            self.report.boxes[self._taxonomy.by_id[int(tax_id)].key] += int(n)

    def _checked(self, boxes: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
        """(keep mask, boxes clipped to the image); counts degenerate, outside and clipped boxes."""
        finite = np.isfinite(boxes).all(axis=1)
        sized = finite & (boxes[:, 2] - boxes[:, 0] >= MIN_BOX_PX) & (boxes[:, 3] - boxes[:, 1] >= MIN_BOX_PX)
        clipped = np.where(np.isfinite(boxes), boxes, 0.0)
        clipped[:, 0::2] = clipped[:, 0::2].clip(0, width)
        clipped[:, 1::2] = clipped[:, 1::2].clip(0, height)
        inside = (clipped[:, 2] - clipped[:, 0] >= MIN_BOX_PX) & (clipped[:, 3] - clipped[:, 1] >= MIN_BOX_PX)
        keep = sized & inside
        self.report.degenerate += int((~sized).sum())
        self.report.outside += int((sized & ~inside).sum())
        self.report.clipped += int((keep & (clipped != boxes).any(axis=1)).sum())
        return keep, clipped

    def _place_image(self, src: Path, dst: Path) -> None:
        dst.parent.mkdir(parents=True, exist_ok=True)
        if dst.exists():
            dst.unlink()  # a re-run replaces its own earlier output
        try:
            os.link(src, dst)
            self.report.linked += 1
        except OSError as exc:
            if exc.errno not in _LINK_ERRORS:
                raise ConversionError(f"{src}: cannot link into {dst}: {exc}") from exc
            shutil.copy2(src, dst)
            self.report.copied += 1

    def write_data_yaml(self) -> Path:
        """``data.yaml``: the splits written (``val`` falls back to ``train``) and all taxonomy keys."""
        splits = sorted({split for split, _ in self._written})
        train = "train" if "train" in splits else (splits[0] if splits else "train")
        val = "val" if "val" in splits else train
        data = {
            "path": str(self.out_dir.resolve()),
            "train": f"images/{train}",
            "val": f"images/{val}",
            **{s: f"images/{s}" for s in splits if s not in (train, val)},
            "names": {c.id: c.key for c in self._taxonomy.classes},
        }
        header = "# converted by roadsight detect.convert: class ids = taxonomy ids, names = taxonomy keys\n"
        path = self.out_dir / "data.yaml"
        self.out_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(header + yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        return path
