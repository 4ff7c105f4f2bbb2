"""Field operations commands: `mission upload`, `mission start`, `edge install` (thin: logic in hardware/).

Registered by the main CLI (``roadsight.cli``) with its sub-apps:

Example:
    >>> app, mission_app, edge_app = typer.Typer(), typer.Typer(), typer.Typer()
    >>> app.add_typer(mission_app, name="mission"); app.add_typer(edge_app, name="edge")
    >>> register(app, mission_app=mission_app, edge_app=edge_app)
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

console = Console(stderr=True, soft_wrap=True)

ConnectOption = Annotated[
    str, typer.Option("--connect", help="Vehicle link: udp:HOST:PORT, tcp:HOST:PORT or a serial device.")
]


def _connect(url: str, timeout_s: float) -> Any:
    import dronekit

    console.print(f"connecting to {url} ...")
    try:
        return dronekit.connect(url, wait_ready=True, timeout=timeout_s, heartbeat_timeout=timeout_s)
    except dronekit.APIException as exc:  # no heartbeat, refused port: one line, not a traceback
        raise ConnectionError(f"cannot reach the vehicle at {url} within {timeout_s:g} s: {exc}") from exc


def register(app: typer.Typer, **subapps: typer.Typer) -> None:
    """Add ``mission upload|start`` to ``mission_app``, ``edge install`` to ``edge_app`` and, given
    ``sim_app``, ``sim fly`` (a simulated copter that flies what is uploaded)."""
    mission_app = subapps["mission_app"]
    edge_app = subapps["edge_app"]
    sim_app = subapps.get("sim_app")
    if sim_app is not None:
        _register_sim_fly(sim_app)

    @mission_app.command("upload")
    def mission_upload(
        plan: Annotated[Path, typer.Argument(help="QGroundControl .plan (from `roadsight mission plan`).")],
        connect: ConnectOption,
        timeout: Annotated[
            float, typer.Option(help="Seconds to wait for the link and each transfer.")
        ] = 30.0,
    ) -> None:
        """Upload a planned mission to the vehicle, read it back and check both are the same."""
        from hardware.mission_upload import download_mission, same_mission, upload_mission
        from hardware.missions import MissionError
        from hardware.qgc_plan import read_qgc_plan

        items = read_qgc_plan(plan)
        vehicle = _connect(connect, timeout)
        try:
            upload_mission(vehicle, items, timeout_s=timeout)
            back = download_mission(vehicle, timeout_s=timeout)
        finally:
            vehicle.close()
        if not same_mission(back, items):
            raise MissionError(f"{connect}: the vehicle holds {len(back)} items that differ from {plan}")
        console.print(f"[green]uploaded[/]: {len(items)} items from {plan}, read back equal")

    @mission_app.command("start")
    def mission_start(
        connect: ConnectOption,
        drone: Annotated[
            str, typer.Option(help="Drone profile (failsafe: RTL battery level, link loss).")
        ] = ("generic_ardupilot_quad"),
        confirm: Annotated[bool, typer.Option("--confirm", help="Really arm and fly the vehicle.")] = False,
        timeout: Annotated[float, typer.Option(help="Seconds to wait for the link and each step.")] = 30.0,
        max_flight_s: Annotated[
            float | None, typer.Option(help="Give up monitoring after this long.")
        ] = None,
        link_loss_s: Annotated[
            float, typer.Option(help="No vehicle heartbeat this long = link lost: command RTL.")
        ] = 5.0,
    ) -> None:
        """Pre-flight checks, arm, AUTO, then follow the mission to its end (RTL on failsafe)."""
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        from hardware.device_profiles import load_drone_profile
        from hardware.mission_flight import MissionStartRefused, start_mission

        profile = load_drone_profile(drone)
        if not confirm:
            raise MissionStartRefused(
                "refusing to start the mission without --confirm: this arms the vehicle and flies it"
            )
        vehicle = _connect(connect, timeout)
        try:
            flight = start_mission(
                vehicle, drone=profile, confirm=confirm, timeout_s=timeout, link_loss_s=link_loss_s
            )
            for check in flight.checks:
                console.print(check.line(), highlight=False)
            columns = (
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
            )
            with Progress(*columns, TextColumn("{task.fields[state]}"), console=console) as bar:
                task = bar.add_task("mission", total=flight.total, state="")
                for progress in flight.progress(timeout_s=max_flight_s):
                    label = f"RTL ({progress.rtl_reason})" if progress.rtl_reason else "mission"
                    bar.update(
                        task, completed=progress.last_reached, description=label, state=progress.line()
                    )
        finally:
            vehicle.close()
        status = "[yellow]returned early[/]" if progress.last_reached < progress.total else "[green]done[/]"
        console.print(f"{status}: {progress.line()}", highlight=False)

    @edge_app.command("install")
    def edge_install(
        profile: Annotated[str, typer.Option(help="Edge profile (decoder, TensorRT precision, batch).")],
        out: Annotated[Path, typer.Option(help="Folder for roadsight.yaml and the systemd units.")],
        config: Annotated[
            Path | None, typer.Option(help="Base pipeline config the profile is merged into.")
        ] = None,
        source: Annotated[str | None, typer.Option(help="Video source (e.g. rtsp://...).")] = None,
        telemetry: Annotated[str | None, typer.Option(help="Telemetry (e.g. udp:0.0.0.0:14550).")] = None,
        camera: Annotated[str | None, typer.Option(help="Camera profile.")] = None,
        kafka: Annotated[str | None, typer.Option(help="Kafka bootstrap servers.")] = None,
        data_dir: Annotated[Path, typer.Option(help="Store, spool and working directory.")] = Path(
            "/var/lib/roadsight"
        ),
        user: Annotated[str, typer.Option(help="System user the services run as.")] = "roadsight",
        metrics_port: Annotated[int, typer.Option(help="Pipeline /metrics port.")] = 9108,
        sink_store: Annotated[
            str | None, typer.Option(help="Also run a sink on this box into this store (GeoPackage/PostGIS).")
        ] = None,
    ) -> None:
        """Write a pipeline config from an edge profile and the systemd units that run it."""
        from hardware.device_profiles import load_edge_profile
        from hardware.edge_install import EdgeInstall, install_edge

        settings = EdgeInstall(
            source=source,
            telemetry=telemetry,
            camera=camera,
            kafka=kafka,
            data_dir=data_dir,
            user=user,
            metrics_port=metrics_port,
            sink_store=sink_store,
        )
        written = install_edge(load_edge_profile(profile), settings, out, base_config=config)
        for path in written:
            console.print(f"wrote {path}")
        units = " ".join(p.name for p in written if p.suffix == ".service")
        console.print(
            f"[green]install[/]: sudo cp {out}/*.service /etc/systemd/system/ && "
            f"sudo systemctl daemon-reload && sudo systemctl enable --now {units}"
        )


def _register_sim_fly(sim_app: typer.Typer) -> None:
    @sim_app.command("fly")
    def sim_fly(
        home: Annotated[str, typer.Option(help="Take-off point: LAT,LON[,GROUND_AMSL_M].")],
        mavlink: Annotated[
            str, typer.Option(help="MAVLink output (pymavlink URI).")
        ] = "udpout:127.0.0.1:14550",
        time_factor: Annotated[float, typer.Option(help="Simulated seconds per wall-clock second.")] = 1.0,
        battery: Annotated[float, typer.Option(help="Battery at start, percent.")] = 100.0,
        endurance_min: Annotated[float, typer.Option(help="Flight time on a full battery, minutes.")] = 25.0,
    ) -> None:
        """A simulated ArduCopter that flies the mission a ground station uploads and starts."""
        import threading

        from hardware.sim.flying_vehicle import FlyingVehicle

        try:
            parts = [float(v) for v in home.split(",")]
        except ValueError:
            parts = []
        if len(parts) not in (2, 3) or not (-90 <= parts[0] <= 90 and -180 <= parts[1] <= 180):
            raise ValueError(
                f"--home {home!r}: expected LAT,LON or LAT,LON,GROUND_AMSL_M in degrees and metres"
            )
        lat, lon, ground = parts[0], parts[1], parts[2] if len(parts) == 3 else 0.0
        vehicle = FlyingVehicle(
            (lat, lon, ground),
            mavlink,
            time_factor=time_factor,
            battery_percent=battery,
            endurance_s=endurance_min * 60.0,
        )
        console.print(
            f"simulated copter at {lat:.7f}, {lon:.7f} on {mavlink} (x{time_factor:g}); Ctrl+C stops"
        )
        with vehicle, contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
