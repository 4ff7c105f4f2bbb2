"""The `roadsight` command line: a thin layer over the stages.

Every command prints what it did and where the results are. Bad input (a
missing file, a bad URI, a malformed config) prints one clear line and exits
with status 2, never a traceback. Heavy modules are imported inside commands
so that `roadsight --help` stays fast.
"""

from __future__ import annotations

# ONNX Runtime loads before GStreamer (see roadsight/pipeline.py for why).
import onnxruntime  # noqa: F401  isort: skip

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from roadsight import __version__

app = typer.Typer(
    name="roadsight",
    help="Urban road inspection: drone and patrol-vehicle video to geo-referenced road defects on a map.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
sim_app = typer.Typer(
    help="The test range: simulated missions with exact ground truth.", no_args_is_help=True
)
app.add_typer(sim_app, name="sim")
dataset_app = typer.Typer(help="Labelled data sets: convert public formats to YOLO with the taxonomy.")
app.add_typer(dataset_app, name="dataset")
evidence_app = typer.Typer(help="Tamper-evident evidence packets (signed with the site's Ed25519 key).")
app.add_typer(evidence_app, name="evidence")
users_app = typer.Typer(help="Local accounts: field_crew, road_manager, enforcement, admin.")
app.add_typer(users_app, name="users")
profiles_app = typer.Typer(help="Device profiles (cameras, drones, vehicle rigs, edge computers) as data.")
app.add_typer(profiles_app, name="profiles")
mission_app = typer.Typer(help="Drone inspection missions along roads.")
app.add_typer(mission_app, name="mission")
edge_app = typer.Typer(help="The edge computer: what it has and what it lacks.")
app.add_typer(edge_app, name="edge")

# Messages go to stderr and never wrap (a wrapped path is hard to copy); results
# go to stdout, wide enough for tables when piped.
console = Console(stderr=True, soft_wrap=True)
out = Console(width=None if sys.stdout.isatty() else 200)

REPO_ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = {"drone": "drone_sample", "vehicle": "vehicle_sample"}
DEMO_DIR = Path("data/demo")


class UsageError(ValueError):
    """Bad input on the command line itself."""


def _require_file(path: Path, what: str) -> Path:
    if not path.exists():
        raise UsageError(f"{what} not found: {path}")
    return path


@app.command()
def version() -> None:
    """Print the roadsight version."""
    out.print(f"roadsight {__version__}")


@app.command()
def taxonomy() -> None:
    """List the 28 taxonomy classes."""
    from rich.table import Table

    from taxonomy import load_taxonomy

    tax = load_taxonomy()
    table = Table("id", "key", "中文", "English", "category", "kind", "severity")
    for c in tax.classes:
        table.add_row(str(c.id), c.key, c.name_zh, c.name_en, c.category, c.kind.value, str(c.severity))
    out.print(table)


@app.command()
def run(
    source: Annotated[str | None, typer.Option(help="Video: file path, file:// or rtsp:// URI.")] = None,
    telemetry: Annotated[
        str | None, typer.Option(help="Telemetry: .tlog/.SRT/.nmea file, or udp:HOST:PORT MAVLink.")
    ] = None,
    model: Annotated[
        Path | None, typer.Option(help="ONNX model (default: the bundled starter model).")
    ] = None,
    kafka: Annotated[str | None, typer.Option(help="Kafka bootstrap servers; events also go there.")] = None,
    topic: Annotated[str | None, typer.Option(help="Kafka topic for geo-events.")] = None,
    store: Annotated[Path | None, typer.Option(help="GeoPackage store to write events into.")] = None,
    camera: Annotated[str | None, typer.Option(help="Camera profile name or YAML path.")] = None,
    mission_id: Annotated[str | None, typer.Option(help="Mission id (default: the source's name).")] = None,
    start_time: Annotated[
        str | None, typer.Option(help="UTC capture time of the first frame (ISO 8601), for files.")
    ] = None,
    sampling: Annotated[
        str | None,
        typer.Option(help="Frames to process: distance (footprint advance; default), time (--max-fps), all."),
    ] = None,
    max_fps: Annotated[
        float | None, typer.Option(help="Time sampling: frames per second to process (0 = all).")
    ] = None,
    conf: Annotated[float | None, typer.Option(help="Default confidence threshold.")] = None,
    config: Annotated[Path | None, typer.Option(help="Pipeline config (YAML or TOML).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the run summary as JSON.")] = False,
) -> None:
    """Run the pipeline: video + telemetry -> detections -> geo-events -> store (and Kafka)."""
    summary = _run_pipeline(
        config,
        {
            "source": source,
            "telemetry": telemetry,
            "mission_id": mission_id,
            "camera": camera,
            "start_time_utc": start_time,
            "store": str(store) if store else None,
            "detect": {"model": str(model) if model else None, "conf": conf},
            "sampling": {"mode": sampling, "max_fps": max_fps},
            "kafka": {"bootstrap": kafka, "topic": topic},
        },
        quiet=json_out,
    )
    if json_out:
        out.print_json(json.dumps(summary))
    if summary["errors"]:  # the other sources ran to the end; say which ones did not
        raise typer.Exit(1)


def _run_pipeline(
    config_path: Path | None, overrides: dict[str, Any], *, quiet: bool = False
) -> dict[str, Any]:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from roadsight.config import load_pipeline_config
    from roadsight.pipeline import Pipeline, RunSummary

    cfg = load_pipeline_config(config_path, overrides)
    for stream in cfg.streams():
        # Every source and telemetry file is checked before any work starts; capture knows the schemes.
        if "://" in stream.source:
            from capture import parse_video_uri

            parse_video_uri(stream.source)
        else:
            _require_file(Path(stream.source), f"video source of {stream.source_id}")
        if ":" not in stream.telemetry or Path(stream.telemetry).exists():
            _require_file(Path(stream.telemetry), f"telemetry of {stream.source_id}")
    for model in cfg.detect.model_list():
        _require_file(model.model, "model")
    if cfg.store_path is not None:
        cfg.store_path.parent.mkdir(parents=True, exist_ok=True)

    with Progress(
        TextColumn("[bold]roadsight run"),
        BarColumn(bar_width=None),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        console=console,
        disable=quiet,
        transient=False,
    ) as progress:
        task = progress.add_task("run", total=None, status="starting")

        def report(s: RunSummary) -> None:
            progress.update(
                task,
                status=f"{s.frames_decoded} frames decoded, {s.frames_processed} processed, "
                f"{s.events} events",
            )

        summary = Pipeline(cfg, progress=report).run()
    result = summary.to_dict()
    if not quiet:
        console.print(
            f"[green]done[/] in {summary.seconds:.1f} s: {summary.frames_decoded} frames decoded, "
            f"{summary.frames_processed} processed ({summary.frames_unlocated} unlocated), "
            f"{summary.detections} detections -> {summary.events} events"
        )
        if len(summary.sources) > 1:
            for sid, src in summary.sources.items():
                console.print(
                    f"  {sid}: {src.frames_decoded} decoded, {src.frames_dropped} dropped, "
                    f"{src.frames_processed} processed, {src.events} events"
                )
        for sid, error in summary.errors.items():
            console.print(f"[bold red]source {sid} stopped:[/] {error}", highlight=False)
        console.print(f"store: {cfg.store} ({summary.events_stored} new rows)")
        if summary.cases is not None:
            c = summary.cases
            console.print(
                f"cases: {c.path} ({c.cases_total} cases: {c.new} new, {c.updated} seen again, "
                f"{c.possibly_fixed} possibly fixed; coverage of {c.frames_covered} frames)"
            )
        if cfg.kafka.bootstrap:
            console.print(
                f"kafka: {summary.events_sent} events -> {cfg.kafka.bootstrap} topic {cfg.kafka.topic}"
            )
    return result


@app.command("eval")
def eval_(
    mission: Annotated[Path, typer.Option(help="Mission folder with ground_truth.geojson.")],
    store: Annotated[Path, typer.Option(help="GeoPackage store with the run's events.")],
    radius: Annotated[float, typer.Option(help="Match radius in metres.")] = 2.0,
    mission_id: Annotated[str | None, typer.Option(help="Only events of this mission id.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Score a run's events against the mission's ground truth."""
    report = _evaluate(mission, store, radius=radius, mission_id=mission_id)
    if json_out:
        out.print_json(json.dumps(report))
        return
    from rich.table import Table

    table = Table("metric", "value", title=f"roadsight eval: {mission}")
    for key in (
        "recall",
        "precision",
        "matched_objects",
        "objects",
        "events",
        "geo_error_p50_m",
        "geo_error_p95_m",
        "events_per_object",
    ):
        value = report.get(key)
        table.add_row(key, f"{value:.3f}" if isinstance(value, float) else str(value))
    out.print(table)


def _evaluate(mission: Path, store_path: Path, *, radius: float, mission_id: str | None) -> dict[str, Any]:
    from geo import evaluate_events, load_ground_truth
    from stream import GeoPackageStore

    gt_path = _require_file(mission / "ground_truth.geojson", "ground truth")
    _require_file(store_path, "store")
    with GeoPackageStore(store_path) as store:
        events = store.read()
    if mission_id is not None and len(events):
        events = events[events["mission_id"] == mission_id]
    return evaluate_events(events, load_ground_truth(gt_path), radius_m=radius).to_dict()


@app.command()
def dashboard(
    store: Annotated[str, typer.Option(help="Event store to show: GeoPackage path or postgresql:// URL.")] = (
        "data/roadsight.gpkg"
    ),
    port: Annotated[int, typer.Option(help="HTTP port.")] = 8501,
    address: Annotated[str, typer.Option(help="Address to listen on.")] = "localhost",
    map_style: Annotated[
        str | None, typer.Option(help="Basemap style URL (MapLibre/Mapbox); none: offline, no tiles.")
    ] = None,
    map_gcj02: Annotated[
        bool, typer.Option("--map-gcj02", help="Shift displayed coordinates to GCJ-02 (Chinese basemaps).")
    ] = False,
    refresh_s: Annotated[float, typer.Option(help="Live mode: re-read the store every N s (0: off).")] = 10.0,
) -> None:
    """Serve the dashboard (map, cases, review, roads, statistics, missions) on the store."""
    extra = ["--refresh-s", str(refresh_s)]
    if map_style:
        extra += ["--map-style", map_style]
    if map_gcj02:
        extra.append("--map-gcj02")
    _serve_dashboard(store, port=port, address=address, extra=extra)


def _serve_dashboard(store: Path | str, *, port: int, address: str, extra: Sequence[str] = ()) -> None:
    app_path = REPO_ROOT / "dashboard" / "app.py"
    console.print(f"dashboard: http://{address}:{port} (store {store}); Ctrl+C stops it")
    cmd = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(app_path),
        "--server.headless",
        "true",
        "--server.port",
        str(port),
        "--server.address",
        address,
        "--browser.gatherUsageStats",
        "false",
        "--",
        "--store",
        str(store),
        *extra,
    ]
    try:
        code = subprocess.call(cmd)
    except KeyboardInterrupt:
        code = 0
    raise typer.Exit(code=code)


@app.command()
def demo(
    port: Annotated[int, typer.Option(help="Dashboard HTTP port.")] = 8501,
    no_serve: Annotated[
        bool, typer.Option("--no-serve", help="Stop after the run and the evaluation.")
    ] = False,
    workdir: Annotated[Path, typer.Option(help="Where the mission and the store go.")] = DEMO_DIR,
) -> None:
    """The bundled sample drone mission through the full pipeline, then the map."""
    mission = _ensure_mission("drone", seed=0, out=workdir / "drone_sample")
    store = workdir / "roadsight.gpkg"
    if store.exists():
        store.unlink()
    _run_pipeline(
        None,
        {
            "source": str(mission / "video.mp4"),
            "telemetry": str(mission / "telemetry.tlog"),
            "mission_id": "drone_sample",
            "store": str(store),
            "camera": _mission_camera(mission),
        },
    )
    report = _evaluate(mission, store, radius=2.0, mission_id=None)
    console.print(
        f"eval: recall {report['recall']:.2f}, precision {report['precision']:.2f}, "
        f"geo error p95 {report['geo_error_p95_m']:.2f} m"
    )
    login = _demo_account(store)
    console.print(f"dashboard login: {login[0]} / {login[1]} (admin; a local demo account)")
    if not no_serve:
        _serve_dashboard(store, port=port, address="localhost")


def _demo_account(store: Path) -> tuple[str, str]:
    """The demo's admin account beside its store (created once), so the map can be opened."""
    from dashboard.roles import AccountBook, Role, users_path_for

    name, password = "demo", "demo"
    with AccountBook(users_path_for(store)) as accounts:
        if name not in {user.name for user in accounts.users()}:
            accounts.add_user(name, Role.admin, password)
    return name, password


def _mission_camera(mission: Path) -> str:
    manifest = json.loads((mission / "scenario.json").read_text(encoding="utf-8"))
    return str(manifest.get("camera_profile") or manifest.get("camera") or "dji_m3e_wide")


def _ensure_mission(scenario: str, *, seed: int, out: Path) -> Path:
    if (out / "scenario.json").exists() and (out / "ground_truth.geojson").exists():
        console.print(f"mission: {out} (already generated)")
        return out
    scenario_path = _scenario_path(scenario)
    from hardware.sim import generate_mission

    console.print(f"generating the sample {scenario} mission into {out} ...")
    return generate_mission(scenario_path, seed, out)


def _scenario_path(scenario: str) -> Path:
    name = SCENARIOS.get(scenario, scenario)
    path = Path(name)
    if path.suffix in (".yaml", ".yml"):
        return _require_file(path, "scenario")
    candidate = REPO_ROOT / "hardware" / "scenarios" / f"{name}.yaml"
    if not candidate.exists():
        known = ", ".join(sorted(SCENARIOS))
        raise UsageError(f"unknown scenario {scenario!r} (known: {known}, or a path to a scenario YAML)")
    return candidate


@sim_app.command("generate")
def sim_generate(
    out_dir: Annotated[Path, typer.Option("--out", help="Mission folder to write.")],
    scenario: Annotated[str, typer.Option(help="drone, vehicle, or a scenario YAML.")] = "drone",
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same mission).")] = 0,
) -> None:
    """Render a simulated mission: video, telemetry, ground truth."""
    scenario_path = _scenario_path(scenario)
    from hardware.sim import generate_mission

    path = generate_mission(scenario_path, seed, out_dir)
    console.print(f"[green]mission written[/]: {path}")
    for f in sorted(path.iterdir()):
        console.print(f"  {f.name} ({f.stat().st_size / 1e6:.1f} MB)")


@sim_app.command("dataset")
def sim_dataset(
    out_dir: Annotated[Path, typer.Option("--out", help="Dataset folder to write.")],
    train: Annotated[int, typer.Option(help="Training images.")] = 1200,
    val: Annotated[int, typer.Option(help="Validation images.")] = 200,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 1000,
    imgsz: Annotated[int, typer.Option(help="Long side of the saved images.")] = 640,
) -> None:
    """Render a YOLO training set from the test range (random poses, exact labels)."""
    from hardware.sim import generate_dataset

    path = generate_dataset(out_dir, n_train=train, n_val=val, seed=seed, imgsz=imgsz)
    console.print(f"[green]dataset written[/]: {path} (data.yaml inside)")


@sim_app.command("serve")
def sim_serve(
    mission: Annotated[Path, typer.Argument(help="Mission folder from `roadsight sim generate`.")],
    rtsp_port: Annotated[int, typer.Option(help="RTSP port.")] = 8554,
    mavlink: Annotated[str, typer.Option(help="MAVLink output (pymavlink URI).")] = "udpout:127.0.0.1:14550",
    loop: Annotated[bool, typer.Option(help="Replay the mission in a loop.")] = False,
) -> None:
    """Serve a mission live: RTSP video and MAVLink telemetry, time-shifted to now."""
    from hardware.sim.serve import serve_mission

    _require_file(mission / "scenario.json", "mission manifest")
    server = serve_mission(mission, rtsp_port=rtsp_port, mavlink_out=mavlink, loop=loop)
    console.print(f"serving {mission}: rtsp://127.0.0.1:{rtsp_port}/mission, MAVLink {mavlink}; Ctrl+C stops")
    try:
        server.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


@app.command()
def bench(
    quick: Annotated[bool, typer.Option(help="Small sizes and the quick mission (a few minutes).")] = False,
    model: Annotated[Path | None, typer.Option(help="ONNX model (default: the starter model).")] = None,
    json_path: Annotated[Path, typer.Option("--json", help="Where to write the figures.")] = Path(
        "data/bench/bench.json"
    ),
    docs: Annotated[Path | None, typer.Option(help="Markdown file whose bench table to update.")] = None,
    kafka: Annotated[
        str | None,
        typer.Option(help="Kafka bootstrap: also measure producing through the spool and the sink."),
    ] = None,
    postgis: Annotated[
        str | None, typer.Option(help="postgresql:// URL: also measure the sink into PostGIS.")
    ] = None,
    soak_s: Annotated[
        float | None, typer.Option("--soak-s", help="Live soak seconds (default 600; 20 with --quick).")
    ] = None,
    first_paint_cases: Annotated[
        int | None, typer.Option(help="Dashboard cases for first paint (default 100000; 2000 quick).")
    ] = None,
) -> None:
    """Measure the model alone, the detector, the Ultralytics peer, geo, the store, the pipeline end
    to end, live latency at 80 % load, the soak and the dashboard's first paint."""
    from roadsight.bench import run_bench, write_docs
    from roadsight.config import DEFAULT_MODEL

    model_path = _require_file(model or DEFAULT_MODEL, "model")
    scenario = "drone_quick" if quick else "drone_sample"
    mission = _ensure_mission(scenario, seed=0, out=Path("data/bench") / scenario)
    command = "roadsight bench" + (" --quick" if quick else "") + (f" --soak-s {soak_s:g}" if soak_s else "")
    report = run_bench(
        quick=quick,
        model=model_path,
        mission=mission,
        work=json_path.parent,
        command=command,
        progress=lambda msg: console.print(f"bench: {msg}"),
        kafka=kafka,
        postgis=postgis,
        soak_s=soak_s,
        first_paint_cases=first_paint_cases,
    )
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(report.to_dict(), indent=2), encoding="utf-8")
    out.print(report.markdown_table())
    console.print(f"figures: {json_path}")
    if docs is not None:
        write_docs(report, docs)
        console.print(f"updated: {docs}")


@app.command("train")
def train_cmd(
    data: Annotated[Path, typer.Option(help="Ultralytics data.yaml (class names are taxonomy keys).")],
    epochs: Annotated[int, typer.Option(help="Epochs.")] = 40,
    imgsz: Annotated[int, typer.Option(help="Training image size.")] = 640,
    batch: Annotated[int, typer.Option(help="Batch size.")] = 16,
    model: Annotated[str, typer.Option(help="Model yaml or weights to start from.")] = "yolo11n.yaml",
    out_dir: Annotated[Path, typer.Option("--out", help="Runs folder.")] = Path("runs/train"),
    name: Annotated[str, typer.Option(help="Run name.")] = "roadsight",
    device: Annotated[str, typer.Option(help="cpu, or a CUDA device index.")] = "cpu",
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Train a detector with Ultralytics; writes weights, ONNX and a model card."""
    from detect.train import train

    _require_file(data, "data file")
    result = train(
        data,
        model=model,
        epochs=epochs,
        imgsz=imgsz,
        batch=batch,
        out=out_dir,
        name=name,
        device=device,
        seed=seed,
    )
    console.print(f"[green]trained[/] in {result.seconds / 60:.1f} min: mAP50 {result.metrics['mAP50']:.3f}")
    console.print(f"weights: {result.weights}\nonnx: {result.onnx}\nmodel card: {result.model_card}")


@app.command("export")
def export_cmd(
    weights: Annotated[
        Path, typer.Option(help="Trained weights (.pt); an FP32 .onnx for --format onnx-int8.")
    ],
    out: Annotated[Path, typer.Option(help="Output .onnx / .engine, or a *_openvino_model folder.")],
    imgsz: Annotated[int, typer.Option(help="Input size.")] = 640,
    fmt: Annotated[str, typer.Option("--format", help="onnx, onnx-int8, openvino or engine.")] = "onnx",
    calib: Annotated[
        Path | None,
        typer.Option("--calib", help="Frames folder for INT8 calibration (never the validation frames)."),
    ] = None,
    calib_frames: Annotated[int, typer.Option(help="Calibration frames at most.")] = 64,
    batch: Annotated[int, typer.Option(help="Largest batch of a dynamic-batch engine.")] = 8,
) -> None:
    """Export a model: ONNX, INT8 ONNX (calibrated on --calib), OpenVINO, or a TensorRT engine."""
    from detect import export_model

    _require_file(weights, "weights")
    if calib is not None:
        _require_file(calib, "calibration frames")
    path = export_model(
        weights, out, fmt=fmt, imgsz=imgsz, calib_dir=calib, calib_frames=calib_frames, max_batch=batch
    )
    console.print(f"[green]exported[/] {fmt}: {path}")


@dataset_app.command("convert")
def dataset_convert(
    src: Annotated[Path, typer.Argument(help="RDD root/country/split folder (voc) or the COCO JSON file.")],
    out: Annotated[Path, typer.Argument(help="Output YOLO data set folder.")],
    fmt: Annotated[
        str, typer.Option("--format", help="voc (RDD2020/RDD2022 Pascal VOC XML) or coco.")
    ] = "voc",
    images: Annotated[
        Path | None, typer.Option(help="COCO: the images folder (default: beside the JSON).")
    ] = None,
    split: Annotated[str, typer.Option(help="COCO: the split to write (train, val, test).")] = "train",
    mapping: Annotated[
        list[str] | None,
        typer.Option("--map", help="Source class = taxonomy key, or = null to ignore it (repeatable)."),
    ] = None,
) -> None:
    """Convert a labelled data set to YOLO format with the taxonomy mapping; report per-class counts."""
    from detect.convert import convert_coco, convert_voc

    _require_file(src, "data set")
    overrides: dict[str, str | None] = {}
    for item in mapping or []:
        name, sep, key = item.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--map {item!r}: expected SOURCE=TAXONOMY_KEY or SOURCE=null")
        overrides[name.strip()] = None if key.strip().lower() in ("", "null", "none") else key.strip()
    if fmt == "voc":
        report = convert_voc(src, out, overrides or None)
    elif fmt == "coco":
        report = convert_coco(src, images or src.parent, out, overrides or None, split=split)
    else:
        raise UsageError(f"--format {fmt!r}: use voc or coco")
    report.print(console)
    console.print(f"[green]written[/]: {out / 'data.yaml'}")


@app.command("calibrate")
def calibrate(
    frame: Annotated[Path, typer.Option(help="A frame of the mounted camera (its size is what counts).")],
    points: Annotated[
        Path,
        typer.Option(help="CSV with u,v,right_m,forward_m (body metres) or u,v,lon,lat (needs --pose)."),
    ],
    camera: Annotated[str, typer.Option(help="Camera profile name or YAML path (with a fixed mount).")],
    out: Annotated[
        Path | None, typer.Option(help="Homography YAML (default: beside the profile, used automatically).")
    ] = None,
    pose: Annotated[
        str | None, typer.Option(help="LON,LAT,HEADING of the vehicle at the frame, for lon/lat points.")
    ] = None,
) -> None:
    """Calibrate a vehicle camera's ground-plane homography from surveyed points in one frame."""
    import cv2
    import numpy as np
    import pandas as pd

    from capture import Pose
    from geo import CameraModel, calibrate_ground_homography, homography_path
    from hardware import load_camera_profile

    image = cv2.imread(str(_require_file(frame, "frame")))
    if image is None:
        raise UsageError(f"{frame}: not a readable image")
    height, width = image.shape[:2]
    table = pd.read_csv(_require_file(points, "points"))
    if {"u", "v", "right_m", "forward_m"} <= set(table.columns):
        ground, vehicle = table[["right_m", "forward_m"]].to_numpy(), None
    elif {"u", "v", "lon", "lat"} <= set(table.columns):
        if pose is None:
            raise UsageError(f"{points}: lon/lat points need --pose LON,LAT,HEADING")
        try:
            lon, lat, heading = (float(x) for x in pose.split(","))
        except ValueError:
            raise UsageError(f"--pose {pose!r}: expected LON,LAT,HEADING") from None
        ground, vehicle = table[["lon", "lat"]].to_numpy(), Pose(0.0, lat, lon, yaw=heading)
    else:
        raise UsageError(
            f"{points}: needs columns u,v,right_m,forward_m or u,v,lon,lat; has {list(table.columns)}"
        )
    profile = load_camera_profile(camera)
    model = CameraModel.from_profile(profile, width, height)
    homography = calibrate_ground_homography(
        table[["u", "v"]].to_numpy(np.float64),
        ground,
        frame_size=(width, height),
        vehicle_pose=vehicle,
        camera=model,
    )
    target = out or homography_path(camera)
    target.parent.mkdir(parents=True, exist_ok=True)
    homography.save(target)
    console.print(
        f"[green]calibrated[/] from {len(table)} points: rmse {homography.rmse_m:.3f} m "
        f"(max {homography.max_error_m:.3f} m, {homography.rmse_px:.2f} px) -> {target}"
    )


@app.command("sink")
def sink(
    kafka: Annotated[str, typer.Option(help="Kafka bootstrap servers.")],
    store: Annotated[
        str, typer.Option(help="Store: a GeoPackage path, or postgresql://user@host/db (PostGIS).")
    ],
    topic: Annotated[str, typer.Option(help="Topic of geo-events to consume.")] = "roadsight.geo-events",
    group: Annotated[str, typer.Option(help="Consumer group: sinks in one group share the partitions.")] = (
        "roadsight-sink"
    ),
    dlq: Annotated[str, typer.Option(help="Dead-letter topic for messages that fail validation.")] = (
        "roadsight.dead-letter"
    ),
    metrics_port: Annotated[
        int | None, typer.Option(help="Serve /metrics and /healthz on this port.")
    ] = None,
    metrics_host: Annotated[str, typer.Option(help="Address for the metrics endpoint.")] = "127.0.0.1",
    batch_size: Annotated[int, typer.Option(help="Records per store write at most.")] = 5000,
    max_message_bytes: Annotated[
        int, typer.Option(help="Larger messages go to the dead-letter topic.")
    ] = 65536,
    max_messages: Annotated[int | None, typer.Option(help="Stop after this many records.")] = None,
    idle_exit_s: Annotated[float | None, typer.Option(help="Stop after this long without records.")] = None,
) -> None:
    """Consume geo-events into the store: validated, idempotent, offsets committed after the write."""
    from stream.sink import run_sink, settle_heap

    console.print(f"sink: {topic} @ {kafka} -> {store} (group {group}, dead letters -> {dlq})")
    settle_heap()  # start-up objects out of the cyclic GC's way: a long-running consumer
    counters = run_sink(
        kafka,
        topic,
        store,
        group,
        dlq,
        max_messages=max_messages,
        idle_exit_s=idle_exit_s,
        metrics_port=metrics_port,
        metrics_host=metrics_host,
        batch_size=batch_size,
        max_message_bytes=max_message_bytes,
    )
    out.print_json(json.dumps(counters.as_dict()))
    console.print(
        f"[green]stopped[/]: {counters.written} events written, {counters.duplicates} already there, "
        f"{counters.dead_lettered} dead-lettered"
    )


StoreOption = Annotated[Path, typer.Option(help="The event store whose cases, users and evidence to use.")]
UserOption = Annotated[
    str, typer.Option(help="Your account (password from $ROADSIGHT_PASSWORD or a prompt).")
]


def _login(store: Path, name: str) -> Any:
    from dashboard.roles import authenticate, users_path_for

    password = os.environ.get("ROADSIGHT_PASSWORD") or typer.prompt(f"Password for {name}", hide_input=True)
    return authenticate(users_path_for(store), name, password)


def _site_key(store: Path) -> Path:
    return store.parent / "site_key.pem"


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="Account name.")],
    role: Annotated[str, typer.Option(help="field_crew, road_manager, enforcement or admin.")],
    store: StoreOption = Path("data/roadsight.gpkg"),
) -> None:
    """Add a local account (password hashed with argon2id; from $ROADSIGHT_PASSWORD or a prompt)."""
    from dashboard.roles import AccountBook, users_path_for

    password = os.environ.get("ROADSIGHT_PASSWORD") or typer.prompt(
        "Password", hide_input=True, confirmation_prompt=True
    )
    with AccountBook(users_path_for(store)) as accounts:
        user = accounts.add_user(name, role, password)
    console.print(f"[green]added[/] {user.name} ({user.role}) to {users_path_for(store)}")


@evidence_app.command("keygen")
def evidence_keygen(store: StoreOption = Path("data/roadsight.gpkg")) -> None:
    """Create the site's Ed25519 signing key (private key readable by its owner only)."""
    from dashboard.evidence_packet import generate_site_key

    keys = generate_site_key(_site_key(store))
    console.print(f"[green]site key[/]: {keys.private} (public: {keys.public})")


@evidence_app.command("export")
def evidence_export(
    case_id: Annotated[str, typer.Argument(help="Case id (from the case book).")],
    out: Annotated[Path, typer.Option(help="The packet to write (.zip).")],
    user: UserOption,
    store: StoreOption = Path("data/roadsight.gpkg"),
) -> None:
    """Export a case's signed evidence packet: original frames, case, GeoJSON, events, manifest."""
    from dashboard.evidence_packet import EvidencePacketError, export_evidence_packet
    from dashboard.roles import AuthError, PermissionDenied
    from roadsight.config import beside_store

    try:
        path = export_evidence_packet(
            case_id,
            user=_login(store, user),
            cases_path=beside_store(store, ".cases.gpkg"),
            events_store=store,
            evidence_root=beside_store(store, ".evidence"),
            out_zip=out,
            signing_key=_site_key(store),
        )
    except (EvidencePacketError, AuthError, PermissionDenied) as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(1) from None
    console.print(f"[green]evidence packet[/]: {path}")


@evidence_app.command("verify")
def evidence_verify(
    packet: Annotated[Path, typer.Argument(help="The packet (.zip).")],
    public_key: Annotated[Path, typer.Option(help="The site's public key (PEM).")],
) -> None:
    """Check a packet: intact, or exactly which file or manifest field was altered."""
    from dashboard.evidence_packet import verify_evidence_packet

    report = verify_evidence_packet(_require_file(packet, "packet"), _require_file(public_key, "public key"))
    out.print(report.summary(), highlight=False)
    if report.compliance is not None and report.compliance.get("applicable"):
        out.print(f"GA/T 832-2014: {report.compliance.get('overall')}")
    raise typer.Exit(0 if report.intact else 1)


@app.command("review")
def review(
    case_id: Annotated[str, typer.Argument(help="Case id.")],
    to: Annotated[str, typer.Option(help="confirmed, rejected, dispatched, fixed, verified or new.")],
    comment: Annotated[str, typer.Option(help="Why (kept in the audit log).")],
    user: UserOption,
    assignee: Annotated[str | None, typer.Option(help="Who repairs it (when dispatching).")] = None,
    store: StoreOption = Path("data/roadsight.gpkg"),
) -> None:
    """Move a case through review (role checked; every action appended to the audit log)."""
    from dashboard.review import ReviewError, review_case, review_path_for
    from dashboard.roles import AuthError, PermissionDenied
    from roadsight.config import beside_store

    try:
        entry = review_case(
            case_id,
            to,
            user=_login(store, user),
            comment=comment,
            cases_path=beside_store(store, ".cases.gpkg"),
            review_path=review_path_for(store),
            assignee=assignee,
        )
    except (ReviewError, AuthError, PermissionDenied) as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(1) from None
    console.print(f"[green]{case_id}[/]: {entry}")


@profiles_app.command("list")
def profiles_list(
    kind: Annotated[str | None, typer.Argument(help="cameras, drones, vehicles or edge.")] = None,
) -> None:
    """List the bundled profiles."""
    from hardware.device_profiles import PROFILE_KINDS, list_profiles

    for k in (kind,) if kind else PROFILE_KINDS:
        out.print(f"{k}: {', '.join(list_profiles(k))}")


@profiles_app.command("show")
def profiles_show(
    kind: Annotated[str, typer.Argument(help="cameras, drones, vehicles or edge.")],
    name: Annotated[str, typer.Argument(help="Profile name or YAML path.")],
) -> None:
    """Show one profile, validated."""
    import yaml

    from hardware.device_profiles import load_profile

    out.print(
        yaml.safe_dump(load_profile(kind, name).model_dump(mode="json"), sort_keys=False, allow_unicode=True)
    )


@mission_app.command("plan")
def mission_plan(
    road: Annotated[Path, typer.Argument(help="GeoJSON with the road LineString (and keep-out Polygons).")],
    drone: Annotated[str, typer.Option(help="Drone profile (its camera, speed, endurance).")],
    out: Annotated[Path, typer.Option(help="QGroundControl .plan to write.")],
    alt: Annotated[float, typer.Option(help="Altitude above take-off, m.")] = 40.0,
    speed: Annotated[float, typer.Option(help="Ground speed, m/s.")] = 8.0,
    overlap: Annotated[float, typer.Option(help="Forward overlap, 0..1.")] = 0.7,
    side_overlap: Annotated[float, typer.Option(help="Side overlap between passes, 0..1.")] = 0.6,
    lanes: Annotated[int, typer.Option(help="Lanes to cover (3.5 m each).")] = 2,
    both_directions: Annotated[bool, typer.Option(help="Fly every pass out and back.")] = False,
) -> None:
    """Plan a road inspection: passes, trigger spacing from the footprint, keep-out zones respected."""
    from hardware import load_camera_profile
    from hardware.device_profiles import load_drone_profile
    from hardware.missions import plan_road_mission, read_road_geojson

    line, zones = read_road_geojson(_require_file(road, "road"))
    profile = load_drone_profile(drone)
    plan = plan_road_mission(
        line,
        camera=load_camera_profile(profile.camera),
        altitude_m=alt,
        speed_mps=speed,
        forward_overlap=overlap,
        side_overlap=side_overlap,
        lanes=lanes,
        both_directions=both_directions,
        keep_out=zones,
        drone=profile,
    )
    plan.write_qgc_plan(out)
    console.print(
        f"[green]mission[/]: {len(plan.passes)} passes, {sum(plan.pass_lengths_m):.0f} m, "
        f"a photo every {plan.coverage.trigger_spacing_m:.2f} m, {plan.duration_s / 60:.1f} min -> {out}"
    )


@edge_app.command("doctor")
def edge_doctor(
    profile: Annotated[str, typer.Option(help="Edge profile (decoder, TensorRT precision, batch).")],
    model: Annotated[Path | None, typer.Option(help="Model the edge will run (.onnx or .engine).")] = None,
    spool: Annotated[Path, typer.Option(help="Where the Kafka spool lives.")] = Path("data"),
    broker: Annotated[str | None, typer.Option(help="Kafka bootstrap to reach.")] = None,
) -> None:
    """Check GStreamer elements, decoder, GPU, TensorRT engine, spool disk, clock sync and the broker."""
    from hardware.device_profiles import load_edge_profile
    from hardware.edge_doctor import run_doctor

    checks = run_doctor(load_edge_profile(profile), model=model, spool_dir=spool, broker=broker)
    for check in checks:
        out.print(check.line(), highlight=False)
    raise typer.Exit(1 if any(c.ok is False for c in checks) else 0)


# Commands that live beside their stage's code; each module imports roadsight.cli only inside
# its commands, so registering here makes no import cycle.
from roadsight.cli_exports import register as register_exports  # noqa: E402

register_exports(app, evidence_app=evidence_app)
from roadsight.cli_dashboard import register as register_dashboard  # noqa: E402

register_dashboard(app)
from roadsight import cli_ops  # noqa: E402

cli_ops.register(app, mission_app=mission_app, edge_app=edge_app, sim_app=sim_app)


def _known_errors() -> tuple[type[BaseException], ...]:
    # Every package-specific error is a ValueError subclass with a clear message.
    from stream import StreamError

    return (ValueError, StreamError, FileNotFoundError, PermissionError, ConnectionError, TimeoutError)


def main() -> None:
    """Entry point: run the app, turning known errors into one line and exit 2."""
    os.environ.setdefault("YOLO_OFFLINE", "1")
    try:
        app(standalone_mode=True)
    except _known_errors() as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False)
        sys.exit(2)


if __name__ == "__main__":
    main()
