"""`roadsight dashboard-demo` (roadsight/cli_dashboard.py) through typer's CliRunner on a local app."""

from __future__ import annotations

from pathlib import Path

import typer
from typer.testing import CliRunner

from dashboard.demo_data import DEMO_USERS
from dashboard.roles import authenticate
from geo.cases import load_cases
from roadsight.cli_dashboard import register


def test_dashboard_demo_writes_a_site_with_accounts(tmp_path: Path):
    app = typer.Typer()
    register(app)

    @app.command()
    def other() -> None:  # a second command keeps typer in sub-command mode, as in roadsight.cli
        pass

    result = CliRunner().invoke(
        app, ["dashboard-demo", "--cases", "25", "--seed", "3", "--workdir", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert "25 cases" in result.output and "account admin (admin)" in result.output
    assert len(load_cases(tmp_path / "roadsight.cases.gpkg")) == 25
    assert authenticate(
        tmp_path / "roadsight.users.sqlite", "police", DEMO_USERS["police"][1]
    ).role.value == ("enforcement")
    bad = CliRunner().invoke(app, ["dashboard-demo", "--cases", "0", "--workdir", str(tmp_path)])
    assert bad.exit_code != 0 and "0" in bad.output
