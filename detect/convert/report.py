"""What a data set conversion did: boxes per class, and every box or image it did not convert, counted.

Example:
    >>> r = ConversionReport()
    >>> r.boxes["pothole"] += 2; r.unmapped["D99"] += 1
    >>> print(r.summary().splitlines()[0])
    images: 0 written (0 hard-linked, 0 copied), 0 of them without boxes
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from rich.console import Console
from rich.table import Table


@dataclass
class ConversionReport:
    """Counts of one conversion; lists hold the offending file paths."""

    images: int = 0
    linked: int = 0
    copied: int = 0
    boxes: Counter[str] = field(default_factory=Counter)  # taxonomy key -> boxes written
    source_boxes: Counter[str] = field(default_factory=Counter)  # source class -> boxes read
    unmapped: Counter[str] = field(default_factory=Counter)  # source class -> boxes skipped: no class
    ambiguous: Counter[str] = field(default_factory=Counter)  # source class -> boxes skipped: several classes
    ignored: Counter[str] = field(default_factory=Counter)  # source class -> boxes skipped on purpose
    clipped: int = 0  # boxes partly outside the image, clipped to it and kept
    degenerate: int = 0  # boxes narrower or lower than MIN_BOX_PX (or with x2 < x1), dropped
    outside: int = 0  # boxes that do not overlap the image, dropped
    crowd: int = 0  # COCO iscrowd=1 regions, dropped (they are not single objects)
    empty_images: list[str] = field(default_factory=list)  # written as background (no label rows)
    unannotated_images: list[str] = field(default_factory=list)  # image files without an annotation file
    missing_images: list[str] = field(default_factory=list)  # annotated images whose file is missing

    @property
    def skipped_boxes(self) -> int:
        """Boxes read but not written, for any reason."""
        return (
            sum(self.unmapped.values()) + sum(self.ambiguous.values()) + sum(self.ignored.values())
            + self.degenerate + self.outside + self.crowd
        )  # fmt: skip

    def summary(self) -> str:
        """A plain-text account, one fact per line."""
        lines = [
            f"images: {self.images} written ({self.linked} hard-linked, {self.copied} copied), "
            f"{len(self.empty_images)} of them without boxes",
            f"boxes written: {sum(self.boxes.values())} "
            + ", ".join(f"{k}={n}" for k, n in sorted(self.boxes.items())),
        ]
        for label, counts in (
            ("unmapped source classes (skipped)", self.unmapped),
            ("ambiguous source classes (skipped; map them with an override)", self.ambiguous),
            ("ignored source classes (mapped to null)", self.ignored),
        ):
            if counts:
                lines.append(f"{label}: " + ", ".join(f"{k}={n}" for k, n in sorted(counts.items())))
        lines.append(
            f"boxes clipped to the image: {self.clipped}; dropped: {self.degenerate} degenerate, "
            f"{self.outside} outside the image, {self.crowd} crowd regions"
        )
        if self.unannotated_images:
            lines.append(f"images without an annotation file (not converted): {len(self.unannotated_images)}")
        if self.missing_images:
            lines.append(f"annotations whose image is missing (not converted): {len(self.missing_images)}")
        return "\n".join(lines)

    def print(self, console: Console | None = None) -> None:
        """Per-class table and the skipped counts, with rich."""
        console = console or Console()
        table = Table(title="boxes per taxonomy class")
        table.add_column("class")
        table.add_column("boxes", justify="right")
        for key, n in sorted(self.boxes.items(), key=lambda kv: -kv[1]):
            table.add_row(key, str(n))
        console.print(table)
        console.print(self.summary())
