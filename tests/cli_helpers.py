"""Run the real `roadsight` command line from tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml


def run_with_config(config: dict[str, object], folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`roadsight run --config <folder>/run.yaml --json` with ``config`` written as YAML."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "run.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-m", "roadsight", "run", "--config", str(path), "--json", *args],
        capture_output=True,
        text=True,
        timeout=600,
    )
