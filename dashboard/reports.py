"""The printable PDF report of one case: its record, the GA/T 832-2014 checks, the files and the images.

Page 1 holds the case (class, place, times, size, status), the compliance checks
when the case is enforcement evidence, and the SHA-256 of each file of the
evidence packet so a printed report can be matched to the packet. One page per
image follows: the annotated copy (boxes, burned-in time and place) with the
capture time and the original's SHA-256. Drawn with Matplotlib (A4 portrait), no
other PDF library needed.

Example:
    >>> pdf = case_report_pdf(case_record(case), [ReportImage(jpeg, "frame 1", "sha256 ab12...")],
    ...                       created_utc=now, created_by="wang (enforcement)")  # doctest: +SKIP
    >>> Path("case.pdf").write_bytes(pdf)  # doctest: +SKIP
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import cv2
import numpy as np

A4_PORTRAIT_IN = (8.27, 11.69)
CASE_FIELDS = ("case_id", "class_key", "category", "kind", "status", "lat", "lon", "accuracy_m",
               "first_seen_utc", "last_seen_utc", "times_seen", "detections", "size_m", "area_m2", "length_m",
               "best_score", "road_name", "stake", "side")  # fmt: skip


@dataclass(frozen=True, slots=True)
class ReportImage:
    """One image page: an encoded image (JPEG/PNG), a title and a detail line."""

    data: bytes
    title: str
    detail: str = ""


def _lines(record: dict[str, Any]) -> list[str]:
    out = []
    for key in CASE_FIELDS:
        value = record.get(key)
        if value is None:
            continue
        if isinstance(value, float):
            value = f"{value:.7f}" if key in ("lat", "lon") else f"{value:.2f}"
        out.append(f"{key:<16} {value}")
    return out


def case_report_pdf(
    record: dict[str, Any],
    images: Sequence[ReportImage],
    *,
    created_utc: datetime,
    created_by: str,
    compliance: dict[str, Any] | None = None,
    files: Sequence[dict[str, Any]] = (),
    note: str = "",
) -> bytes:
    """The report as PDF bytes (``record``: :func:`dashboard.evidence_packet.case_record`)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.backends.backend_pdf import PdfPages
    from matplotlib.figure import Figure

    buf = io.BytesIO()
    title = f"Case {record.get('case_id', '?')}"
    with PdfPages(buf, metadata={"Title": f"Evidence report {title}", "Creator": "roadsight"}) as pdf:
        fig = Figure(figsize=A4_PORTRAIT_IN)
        fig.text(0.07, 0.95, f"Evidence report: {title}", fontsize=15, weight="bold")
        fig.text(0.07, 0.93, f"Made {created_utc:%Y-%m-%d %H:%M:%S} UTC by {created_by}", fontsize=9)
        body = ["CASE", *_lines(record), ""]
        if compliance is not None and compliance.get("applicable"):
            body.append(f"{compliance.get('standard', 'GA/T 832-2014')}: {compliance.get('overall')}")
            for check in compliance.get("checks", []):
                detail = textwrap.shorten(str(check.get("detail", "")), 70)
                body.append(f"  {check.get('status', '?'):<12} {check.get('rule', '?')}: {detail}")
            body.append("")
        if files:
            body.append("FILES (SHA-256)")
            body += [f"  {f.get('sha256', '')}  {f.get('path', '')}" for f in files]
            body.append("")
        if note:
            body += textwrap.wrap(note, 95)
        fig.text(0.07, 0.9, "\n".join(body), fontsize=7.5, family="monospace", va="top")
        pdf.savefig(fig)
        for i, image in enumerate(images, start=1):
            decoded = cv2.imdecode(np.frombuffer(image.data, np.uint8), cv2.IMREAD_COLOR)
            fig = Figure(figsize=A4_PORTRAIT_IN)
            fig.text(0.07, 0.95, f"Image {i} of {len(images)}: {image.title}", fontsize=11, weight="bold")
            if image.detail:
                fig.text(0.07, 0.93, image.detail, fontsize=7.5, family="monospace")
            ax = fig.add_axes((0.07, 0.35, 0.86, 0.55))
            ax.axis("off")
            if decoded is None:
                ax.text(0.0, 0.5, f"image not decodable ({len(image.data)} bytes)", fontsize=10)
            else:
                ax.imshow(cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB), interpolation="antialiased")
            pdf.savefig(fig)
    return buf.getvalue()
