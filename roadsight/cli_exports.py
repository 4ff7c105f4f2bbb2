"""Command line of case exports and printed reports: ``roadsight cases export|work-order`` and
``roadsight evidence report``.

Wiring (in :mod:`roadsight.cli`): ``register(app, evidence_app=evidence_app)`` adds a ``cases``
sub-command group to ``app`` and the ``report`` command to ``evidence_app``. The commands find
the cases, review log, users and evidence beside the event store (``--store``, or ``store:`` of
``--config``), as ``roadsight evidence export`` and ``roadsight review`` do.

Who may take what: without ``--user`` an export is public (no enforcement cases, no links to
original frames); with ``--user`` (password from ``$ROADSIGHT_PASSWORD`` or a prompt) it holds
what that role may see, and needs a role that may export (not the field crew).

Example:
    >>> # roadsight cases export --out potholes.gpkg --class pothole --since 2026-11-01
    >>> # roadsight cases work-order --road "Jiefang Rd" --out jiefang.pdf --roads roads.gpkg
    >>> # roadsight evidence report CASE_ID --out case.pdf --user wang
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

if TYPE_CHECKING:
    import geopandas as gpd

console = Console(stderr=True, soft_wrap=True)
DEFAULT_STORE = "data/roadsight.gpkg"  # as roadsight.config's and roadsight.cli's default

StoreOpt = Annotated[
    Path | None, typer.Option(help="The event store whose cases, review log and users to use.")
]
ConfigOpt = Annotated[Path | None, typer.Option(help="A run config (its store and roads settings apply).")]
UserOpt = Annotated[
    str | None,
    typer.Option(help="Your account (password from $ROADSIGHT_PASSWORD or a prompt); none: a public export."),
]
RoadsOpt = Annotated[
    Path | None, typer.Option(help="Road centre lines (GeoPackage/GeoJSON) to give cases road and stake.")
]


def _settings(store: Path | None, config: Path | None) -> tuple[Path, Any]:
    """The event store (``--store`` over the config's ``store``) and the config's ``roads`` section
    (only those two are read: exporting needs no camera or source)."""
    from pydantic import ValidationError

    from roadsight.config import RoadsConfig, read_config_file

    raw = read_config_file(config) if config is not None else {}
    try:
        roads = RoadsConfig.model_validate(raw.get("roads") or {})
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise _fail(f"{config}: roads.{where}: {err['msg']}") from None
    return (store if store is not None else Path(raw.get("store") or DEFAULT_STORE)), roads


def _fail(exc: BaseException | str) -> typer.Exit:
    console.print(f"[bold red]error:[/] {exc}", highlight=False)
    return typer.Exit(1)


def _case_table(store: Path, roads_cfg: Any, roads: Path | None, user: str | None) -> gpd.GeoDataFrame:
    """The cases a user (or the public) may export, with review states and road columns."""
    from dashboard.exports import cases_for, load_case_table
    from dashboard.review import review_path_for
    from dashboard.roles import DEFECT_EXPORTERS, require
    from geo.roads import OSM_COLUMNS, RoadColumns, load_road_network
    from roadsight.cli import _login
    from roadsight.config import beside_store

    who = None
    if user is not None:
        who = _login(store, user)
        require(who, DEFECT_EXPORTERS, "export cases")
    roads_path = roads if roads is not None else roads_cfg.path
    network = None
    if roads_path is not None:
        columns = OSM_COLUMNS if roads_cfg.preset == "osm" else RoadColumns()
        network = load_road_network(roads_path, columns, layer=roads_cfg.layer if roads is None else None)
    table = load_case_table(
        beside_store(store, ".cases.gpkg"),
        review_path=review_path_for(store),
        roads=network,
        max_distance_m=roads_cfg.max_distance_m,
    )
    return cases_for(who, table)


def _with_cases(
    store: Path | None,
    config: Path | None,
    roads: Path | None,
    user: str | None,
    make: Callable[[gpd.GeoDataFrame], str],
) -> None:
    """Run ``make`` on the cases the user may export; print what it returns, or the error (exit 1)."""
    from dashboard.exports import ExportError
    from dashboard.roles import AuthError, PermissionDenied
    from geo.errors import GeoError

    store_path, roads_cfg = _settings(store, config)
    try:
        message = make(_case_table(store_path, roads_cfg, roads, user))
    except (ExportError, GeoError, AuthError, PermissionDenied) as exc:
        raise _fail(exc) from None
    console.print(message)


def _split(values: list[str] | None) -> list[str] | None:
    # "--class pothole,rutting --class crack": repeated or comma-separated.
    return [v.strip() for item in values for v in item.split(",") if v.strip()] if values else None


def register(app: typer.Typer, **subapps: typer.Typer) -> None:
    """Add ``cases export``, ``cases work-order`` to ``app`` and ``report`` to ``subapps["evidence_app"]``."""
    cases_app = typer.Typer(
        help="Case tables for road managers: exports and work orders.", no_args_is_help=True
    )
    app.add_typer(cases_app, name="cases")

    @cases_app.command("export")
    def cases_export(
        out: Annotated[Path, typer.Option(help="The file to write: .gpkg, .geojson, .csv or .xlsx.")],
        class_: Annotated[
            list[str] | None, typer.Option("--class", help="Class key(s), repeated or comma-separated.")
        ] = None,
        status: Annotated[
            list[str] | None, typer.Option(help="Review state(s) (new, confirmed, ...) or case status(es).")
        ] = None,
        road: Annotated[list[str] | None, typer.Option(help="Road name(s) or id(s).")] = None,
        since: Annotated[
            str | None, typer.Option(help="Last seen at or after (ISO 8601; UTC if naive).")
        ] = None,
        until: Annotated[str | None, typer.Option(help="First seen before (ISO 8601; UTC if naive).")] = None,
        user: UserOpt = None,
        roads: RoadsOpt = None,
        store: StoreOpt = None,
        config: ConfigOpt = None,
    ) -> None:
        """Export the filtered cases as GeoPackage, GeoJSON, CSV or Excel (EPSG:4326)."""
        from dashboard.exports import export_cases, filter_cases

        def export(table: gpd.GeoDataFrame) -> str:
            chosen = filter_cases(table, classes=_split(class_), statuses=_split(status), roads=_split(road),
                                  since=since, until=until)  # fmt: skip
            return f"[green]{len(chosen)} of {len(table)} cases[/]: {export_cases(chosen, out)}"

        _with_cases(store, config, roads, user, export)

    @cases_app.command("work-order")
    def cases_work_order(
        road: Annotated[str, typer.Option(help="Road name or id.")],
        out: Annotated[Path, typer.Option(help="The PDF to write.")],
        user: UserOpt = None,
        roads: RoadsOpt = None,
        store: StoreOpt = None,
        config: ConfigOpt = None,
    ) -> None:
        """Print the work order of one road: its open cases by chainage (PDF)."""
        from dashboard.exports import open_cases_on_road, work_order_pdf

        def work_order(table: gpd.GeoDataFrame) -> str:
            path = work_order_pdf(table, road, out)
            return f"[green]work order[/] {road}: {len(open_cases_on_road(table, road))} open case(s): {path}"

        _with_cases(store, config, roads, user, work_order)

    evidence_app = subapps.get("evidence_app")
    if evidence_app is None:
        return

    @evidence_app.command("report")
    def evidence_report(
        case_id: Annotated[str, typer.Argument(help="Case id (from the case book).")],
        out: Annotated[Path, typer.Option(help="The PDF to write.")],
        user: Annotated[
            str, typer.Option(help="Your account (password from $ROADSIGHT_PASSWORD or a prompt).")
        ],
        store: StoreOpt = None,
        config: ConfigOpt = None,
    ) -> None:
        """Print a case: record, GA/T 832-2014 checks, frame hashes, annotated images (blurred for others)."""
        from dashboard.evidence_packet import EvidencePacketError, write_case_report
        from dashboard.roles import AuthError, PermissionDenied
        from roadsight.cli import _login
        from roadsight.config import beside_store

        store_path, _ = _settings(store, config)
        try:
            path = write_case_report(
                case_id,
                user=_login(store_path, user),
                cases_path=beside_store(store_path, ".cases.gpkg"),
                events_store=store_path,
                evidence_root=beside_store(store_path, ".evidence"),
                out_pdf=out,
            )
        except (EvidencePacketError, AuthError, PermissionDenied) as exc:
            raise _fail(exc) from None
        console.print(f"[green]case report[/]: {path}")
