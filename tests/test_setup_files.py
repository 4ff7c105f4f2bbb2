"""The one-command set-up: CI entry point, Makefile targets, lock files, setup script."""

from __future__ import annotations

import os
import re
import subprocess
import time
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^\s;#]+)")


def read_pins(lock: str) -> dict[str, str]:
    pins: dict[str, str] = {}
    for number, line in enumerate((ROOT / lock).read_text(encoding="utf-8").splitlines(), 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        match = PIN.match(text)
        assert match, f"{lock}:{number}: not an exact pin: {line!r}"
        pins[canonicalize_name(match["name"])] = match["version"]
    return pins


def project_requirements(*extras: str) -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    specs = list(project["dependencies"])
    for extra in extras:
        specs += project["optional-dependencies"][extra]
    return [Requirement(s) for s in specs]


def test_ci_runs_make_test_and_nothing_else() -> None:
    script = ROOT / ".ci" / "run"
    lines = [ln for ln in script.read_text(encoding="utf-8").splitlines() if ln.strip()]
    assert lines == ["#!/usr/bin/env bash", "set -euo pipefail", "make test"]
    assert os.access(script, os.X_OK)


@pytest.mark.parametrize("target", ["setup", "test", "lint", "demo", "kafka", "lock", "clean"])
def test_makefile_has_target(target: str) -> None:
    result = subprocess.run(
        ["make", "-n", target], cwd=ROOT, capture_output=True, text=True, check=False, timeout=30
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip(), f"`make -n {target}` runs nothing"


def test_make_test_sets_up_fetches_kafka_then_runs_pytest() -> None:
    out = subprocess.run(
        ["make", "-n", "test"], cwd=ROOT, capture_output=True, text=True, check=True, timeout=30
    ).stdout
    setup, fetch, pytest_run = (out.find(s) for s in ("scripts/setup.sh", "kafka_broker.py fetch", "pytest"))
    assert -1 < setup < fetch < pytest_run, out


@pytest.mark.parametrize(
    ("lock", "extras"), [("requirements.lock", ("dev",)), ("requirements-train.lock", ("dev", "train"))]
)
def test_lock_pins_every_dependency_of_pyproject(lock: str, extras: tuple[str, ...]) -> None:
    pins = read_pins(lock)
    for requirement in project_requirements(*extras):
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{lock} does not pin {requirement.name}: run `make lock`"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"{lock} pins {name}=={pins[name]}, outside pyproject's {requirement}: run `make lock`"
        )


def test_both_locks_agree_on_shared_versions() -> None:
    runtime, train = read_pins("requirements.lock"), read_pins("requirements-train.lock")
    assert set(runtime) <= set(train)
    assert {n: v for n, v in runtime.items() if train[n] != v} == {}


def test_setup_scripts_are_valid_bash() -> None:
    for script in ("scripts/setup.sh", "scripts/lock.sh"):
        subprocess.run(["bash", "-n", script], cwd=ROOT, check=True, timeout=30)


def test_setup_is_complete_and_a_rerun_has_nothing_to_do() -> None:
    """After `make setup` (which `make test` runs first) the check finds nothing missing, quickly."""
    started = time.monotonic()
    result = subprocess.run(
        ["bash", "scripts/setup.sh", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, f"run `make setup`:\n{result.stdout}{result.stderr}"
    assert "everything in place" in result.stdout
    assert time.monotonic() - started < 10


def test_kafka_cache_and_lock_stamp_are_git_ignored() -> None:
    result = subprocess.run(
        ["git", "check-ignore", ".cache/kafka/4.4.0/libs/x.jar", ".venv/.roadsight-installed"],
        cwd=ROOT, capture_output=True, text=True, check=False, timeout=30,
    )  # fmt: skip
    assert result.stdout.split() == [".cache/kafka/4.4.0/libs/x.jar", ".venv/.roadsight-installed"]
