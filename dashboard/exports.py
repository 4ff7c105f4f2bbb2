"""Case exports for road managers: filtered cases as GeoPackage, GeoJSON, CSV or Excel, and work orders.

* :func:`load_case_table` -- the cases file with review states (and road columns);
* :func:`filter_cases` -- the cases a user asked for (class, review state or case
  status, road, time range);
* :func:`cases_for` -- what a user may take away: enforcement cases only for
  enforcement and admin, and never the ``evidence`` column (URIs of the
  unblurred original frames) in a public export;
* :func:`export_cases` -- one file, the format from the suffix (``.gpkg``,
  ``.geojson``, ``.csv``, ``.xlsx``); GeoPackage and GeoJSON in EPSG:4326, CSV and
  Excel with the geometry as WKT beside ``lon``/``lat``;
* :func:`export_cases_bytes` -- the same as bytes, for a download button;
* :func:`work_order_pdf` -- the open cases of one road, by chainage, as a
  printable table (A4 landscape, :data:`WORK_ORDER_ROWS_PER_PAGE` rows a page).

Files are written to a temporary name and renamed: a failed export never leaves
half a file under the requested name.

Example:
    >>> cases = load_cases("data/roadsight.cases.gpkg").to_geodataframe()  # doctest: +SKIP
    >>> potholes = filter_cases(cases, classes=["pothole"], since="2026-11-01")  # doctest: +SKIP
    >>> export_cases(potholes, "potholes.gpkg")  # doctest: +SKIP
    >>> work_order_pdf(network.annotate(potholes), "Jiefang Rd", "jiefang.pdf")  # doctest: +SKIP
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

import geopandas as gpd
import pandas as pd

from dashboard.review import ReviewLog, ReviewState
from dashboard.roles import ENFORCEMENT_KIND, User, can_view_kind
from geo.cases import CASES_LAYER
from geo.roads import RoadNetwork, read_vector_file

FORMATS = {".gpkg": "gpkg", ".geojson": "geojson", ".csv": "csv", ".xlsx": "xlsx"}
EXPORT_LAYER = "cases"
# Columns that point at unblurred original frames: never in a public export.
PRIVATE_COLUMNS = ("evidence",)
# Review states that still need work on the road.
OPEN_REVIEW_STATES = frozenset({ReviewState.new, ReviewState.confirmed, ReviewState.dispatched})
WORK_ORDER_ROWS_PER_PAGE = 25
WKT_COLUMN = "geometry_wkt"


class ExportError(ValueError):
    """An export that cannot be made (unknown format, missing columns); the message names the file."""


def export_format(path: str | Path, fmt: str | None = None) -> str:
    """``gpkg``, ``geojson``, ``csv`` or ``xlsx``: ``fmt`` when given, else from the suffix of ``path``."""
    if fmt is not None:
        name = fmt.lower().lstrip(".")
        if name not in FORMATS.values():
            raise ExportError(f"{path}: unknown export format {fmt!r} (one of {', '.join(FORMATS.values())})")
        return name
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise ExportError(
            f"{path}: cannot tell the format from {suffix or 'no suffix'!r} (use {', '.join(FORMATS)})"
        )
    return FORMATS[suffix]


def with_review_states(cases: gpd.GeoDataFrame, review_path: str | Path) -> gpd.GeoDataFrame:
    """``cases`` with ``review_state`` and ``assignee`` columns from the review log (``new`` when none)."""
    out = cases.copy()
    if not Path(review_path).exists():
        out["review_state"] = ReviewState.new.value
        out["assignee"] = None
        return out
    with ReviewLog(review_path) as log:
        out["review_state"] = [log.state(str(c)).value for c in out["case_id"]]
        out["assignee"] = [log.assignee(str(c)) for c in out["case_id"]]
    return out


def load_case_table(
    cases_path: str | Path,
    *,
    review_path: str | Path | None = None,
    roads: RoadNetwork | None = None,
    max_distance_m: float = 20.0,
) -> gpd.GeoDataFrame:
    """The cases file as a table, with every column it has (road columns written by the pipeline
    stay), the review states when ``review_path`` is given, and snapped to ``roads`` when given."""
    cases = read_vector_file(cases_path, "cases", layer=CASES_LAYER)
    if roads is not None:
        cases = roads.annotate(cases, max_distance_m=max_distance_m)
    if review_path is not None:
        cases = with_review_states(cases, review_path)
    return cases


def _utc(value: str | datetime | None, what: str) -> pd.Timestamp | None:
    if value is None:
        return None
    try:
        stamp = pd.Timestamp(value)
    except ValueError as exc:
        raise ExportError(f"{what}: not a date or time ({value!r}: {exc})") from None
    return stamp.tz_localize(UTC) if stamp.tzinfo is None else stamp.tz_convert(UTC)


def filter_cases(
    cases: gpd.GeoDataFrame,
    *,
    classes: Iterable[str] | None = None,
    statuses: Iterable[str] | None = None,
    roads: Iterable[str] | None = None,
    since: str | datetime | None = None,
    until: str | datetime | None = None,
) -> gpd.GeoDataFrame:
    """The cases matching every filter given (each one a list: any of its values).

    ``statuses`` match the review state (``review_state``, see :func:`with_review_states`)
    or the case book's own status (open, confirmed, possibly_fixed). ``roads`` match
    ``road_name`` or ``road_id``. ``since``/``until`` (naive times are UTC) keep cases
    last seen at or after ``since`` and first seen before ``until``.
    """
    keep = pd.Series(True, index=cases.index)
    if classes is not None:
        keep &= cases["class_key"].isin(list(classes))
    if statuses is not None:
        wanted = list(statuses)
        hit = cases["status"].isin(wanted)
        if "review_state" in cases.columns:
            hit |= cases["review_state"].isin(wanted)
        keep &= hit
    if roads is not None:
        wanted = list(roads)
        if "road_name" not in cases.columns:
            raise ExportError("cases have no road columns: snap them to a road network first (roads.path)")
        keep &= cases["road_name"].isin(wanted) | cases["road_id"].astype(str).isin(wanted)
    start, end = _utc(since, "since"), _utc(until, "until")
    if start is not None:
        keep &= pd.to_datetime(cases["last_seen_utc"], utc=True, format="ISO8601") >= start
    if end is not None:
        keep &= pd.to_datetime(cases["first_seen_utc"], utc=True, format="ISO8601") < end
    return cases[keep]


def cases_for(user: User | None, cases: gpd.GeoDataFrame, *, public: bool = False) -> gpd.GeoDataFrame:
    """What ``user`` may export: enforcement cases only for those who may see them; a public
    export (``user`` None or ``public``) has no enforcement cases and no :data:`PRIVATE_COLUMNS`."""
    if user is None or public:
        visible = cases[cases["kind"] != ENFORCEMENT_KIND]
        return visible.drop(columns=[c for c in PRIVATE_COLUMNS if c in visible.columns])
    allowed = {k: can_view_kind(user, k) for k in cases["kind"].unique()}
    return cases[cases["kind"].map(allowed).astype(bool)]


def _plain_table(cases: gpd.GeoDataFrame) -> pd.DataFrame:
    # CSV and Excel have no geometry type: WKT keeps any geometry, lon/lat stay for spreadsheets.
    table = pd.DataFrame(cases.drop(columns=cases.geometry.name))
    table[WKT_COLUMN] = cases.geometry.to_wkt().to_numpy()
    for column in table.columns:
        if isinstance(table[column].dtype, pd.DatetimeTZDtype):
            # Excel has no time zones: ISO 8601 text with the offset says exactly what it is.
            table[column] = table[column].map(lambda t: t.isoformat() if pd.notna(t) else None)
    return table


def export_cases(cases: gpd.GeoDataFrame, path: str | Path, fmt: str | None = None) -> Path:
    """Write ``cases`` to ``path`` (format from ``fmt`` or the suffix) and return the path.

    GeoPackage (layer :data:`EXPORT_LAYER`) and GeoJSON are written in EPSG:4326;
    CSV and Excel get the geometry as WKT in :data:`WKT_COLUMN`.
    """
    out = Path(path)
    kind = export_format(out, fmt)
    if cases.crs is None:
        raise ExportError(f"{out}: the cases have no CRS (expected EPSG:4326)")
    wgs84 = cases.to_crs("EPSG:4326")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp{out.suffix}")
    tmp.unlink(missing_ok=True)
    try:
        if kind == "gpkg":
            wgs84.to_file(tmp, layer=EXPORT_LAYER, driver="GPKG", engine="pyogrio")
        elif kind == "geojson":
            wgs84.to_file(tmp, driver="GeoJSON", engine="pyogrio")
        elif kind == "csv":
            _plain_table(wgs84).to_csv(tmp, index=False)
        else:
            try:
                import openpyxl  # noqa: F401  the engine pandas uses for .xlsx
            except ImportError:
                raise ExportError(f"{out}: Excel export needs openpyxl (pip install openpyxl)") from None
            _plain_table(wgs84).to_excel(tmp, index=False, sheet_name=EXPORT_LAYER, engine="openpyxl")
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def export_cases_bytes(cases: gpd.GeoDataFrame, fmt: str) -> bytes:
    """What :func:`export_cases` writes for ``fmt`` (gpkg, geojson, csv or xlsx), as bytes."""
    kind = export_format(f"cases.{fmt}", fmt)
    with tempfile.TemporaryDirectory(prefix="roadsight-export-") as tmp:
        return export_cases(cases, Path(tmp) / f"cases.{kind}").read_bytes()


def open_cases_on_road(cases: gpd.GeoDataFrame, road: str) -> gpd.GeoDataFrame:
    """The open cases (review state new, confirmed or dispatched) of ``road`` (name or id), by chainage."""
    if "road_name" not in cases.columns or "chainage_m" not in cases.columns:
        raise ExportError("cases have no road columns: snap them to a road network first (roads.path)")
    on_road = cases[(cases["road_name"] == road) | (cases["road_id"].astype(str) == road)]
    if "review_state" in on_road.columns:
        on_road = on_road[on_road["review_state"].isin([s.value for s in OPEN_REVIEW_STATES])]
    return on_road.sort_values(["chainage_m", "case_id"])


def _work_order_rows(cases: gpd.GeoDataFrame) -> list[list[str]]:
    def text(row: pd.Series, column: str, fmt: str = "{}") -> str:
        value = row.get(column)
        return "" if value is None or (isinstance(value, float) and pd.isna(value)) else fmt.format(value)

    return [
        [
            text(row, "stake"),
            text(row, "side"),
            text(row, "class_key"),
            text(row, "size_m", "{:.2f}"),
            text(row, "review_state") or text(row, "status"),
            text(row, "assignee"),
            text(row, "last_seen_utc")[:16].replace("T", " "),
            f"{row['lat']:.6f}, {row['lon']:.6f}",
            str(row["case_id"])[:12],
        ]
        for _, row in cases.iterrows()
    ]


WORK_ORDER_COLUMNS = ("stake", "side", "class", "size m", "state", "assignee", "last seen UTC", "lat, lon",
                      "case")  # fmt: skip


def work_order_pdf(
    cases: gpd.GeoDataFrame, road: str, path: str | Path, *, now: datetime | None = None
) -> Path:
    """Write the work order of ``road`` (its open cases by chainage) as a PDF; one page per
    :data:`WORK_ORDER_ROWS_PER_PAGE` cases, a page saying "no open cases" when there are none."""
    import matplotlib

    matplotlib.use("Agg")  # no display: a server or a test
    from matplotlib.backends.backend_pdf import PdfPages
    from matplotlib.figure import Figure

    rows = _work_order_rows(open_cases_on_road(cases, road))
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    created = (now or datetime.now(UTC)).astimezone(UTC)
    chunks = [rows[i : i + WORK_ORDER_ROWS_PER_PAGE] for i in range(0, len(rows), WORK_ORDER_ROWS_PER_PAGE)]
    tmp = out.with_name(f".{out.name}.tmp")
    with PdfPages(tmp, metadata={"Title": f"Work order {road}", "Creator": "roadsight"}) as pdf:
        for page, chunk in enumerate(chunks or [[]], start=1):
            fig = Figure(figsize=(11.69, 8.27))  # A4 landscape, inches
            fig.text(0.04, 0.95, f"Work order: {road}", fontsize=16, weight="bold")
            fig.text(
                0.04,
                0.915,
                f"{len(rows)} open case(s), by chainage. Printed {created:%Y-%m-%d %H:%M} UTC. "
                f"Page {page} of {max(len(chunks), 1)}.",
                fontsize=9,
            )
            ax = fig.add_axes((0.04, 0.08, 0.92, 0.8))
            ax.axis("off")
            if chunk:
                table = ax.table(cellText=chunk, colLabels=list(WORK_ORDER_COLUMNS), loc="upper center",
                                 cellLoc="left", colLoc="left")  # fmt: skip
                table.auto_set_font_size(False)
                table.set_fontsize(8)
                table.scale(1.0, 1.3)
            else:
                ax.text(0.0, 0.9, "No open cases on this road.", fontsize=12)
            fig.text(0.04, 0.04, "Done by: ____________   Date: ____________   Signature: ____________",
                     fontsize=9)  # fmt: skip
            pdf.savefig(fig)
    os.replace(tmp, out)
    return out
