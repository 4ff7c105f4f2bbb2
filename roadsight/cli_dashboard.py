"""Command line of the dashboard's demo data: ``roadsight dashboard-demo``.

Wiring (in :mod:`roadsight.cli`): ``register(app)`` adds the command. It writes a
synthetic site (:func:`dashboard.demo_data.write_demo_site`: event store, case
book with roads and coverage, evidence frames, one account per role, site key)
and prints how to open it; ``--serve`` also starts the dashboard on it.

Example:
    >>> # roadsight dashboard-demo --cases 100000 --workdir data/demo_site --serve
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

console = Console(stderr=True, soft_wrap=True)
APP_PATH = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"


def register(app: typer.Typer, **subapps: typer.Typer) -> None:
    """Add ``dashboard-demo`` to ``app`` (no sub-app needed)."""
    del subapps

    @app.command("dashboard-demo")
    def dashboard_demo(
        cases: Annotated[int, typer.Option(min=1, help="How many synthetic cases.")] = 10_000,
        seed: Annotated[int, typer.Option(help="Random seed (same seed, same site).")] = 0,
        workdir: Annotated[Path, typer.Option(help="Where the site goes (its files are replaced).")] = Path(
            "data/demo_site"
        ),
        serve: Annotated[bool, typer.Option("--serve", help="Start the dashboard on the site.")] = False,
        port: Annotated[int, typer.Option(help="Dashboard HTTP port (with --serve).")] = 8501,
    ) -> None:
        """Write a synthetic site for the dashboard (one account per role) and optionally serve it."""
        from dashboard.demo_data import DEMO_USERS, write_demo_site

        site = write_demo_site(workdir, cases, seed)
        console.print(
            f"[green]demo site[/]: {site.n_cases} cases, {len(site.missions)} missions, store {site.store}"
        )
        for name, (role, password) in DEMO_USERS.items():
            console.print(f"  account {name} ({role.value}): password {password}")
        command = [sys.executable, "-m", "streamlit", "run", str(APP_PATH), "--server.headless", "true",
                   "--server.port", str(port), "--browser.gatherUsageStats", "false", "--", "--store",
                   str(site.store)]  # fmt: skip
        if not serve:
            console.print(f"open it: roadsight dashboard --store {site.store}")
            return
        console.print(f"dashboard: http://localhost:{port} (Ctrl+C stops it)")
        try:
            code = subprocess.call(command)
        except KeyboardInterrupt:
            code = 0
        raise typer.Exit(code=code)
