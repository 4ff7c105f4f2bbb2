"""The command line of accounts, review and evidence packets, end to end on a small site."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from fixtures_evidence import build_site


def roadsight(*args: str, password: str = "s3cret-pass") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ROADSIGHT_PASSWORD": password}
    return subprocess.run(
        [sys.executable, "-m", "roadsight", *args], capture_output=True, text=True, timeout=120, env=env
    )


def test_accounts_review_and_a_signed_packet_from_the_command_line(tmp_path: Path) -> None:
    site = build_site(tmp_path)
    (tmp_path / "evidence").rename(tmp_path / "roadsight.evidence")  # where the pipeline puts it
    store = str(site.store_path)
    for name, role in (("officer", "enforcement"), ("crew", "field_crew")):
        added = roadsight("users", "add", name, "--role", role, "--store", store)
        assert added.returncode == 0, added.stdout + added.stderr
    keygen = roadsight("evidence", "keygen", "--store", store)
    assert keygen.returncode == 0, keygen.stdout + keygen.stderr
    packet = tmp_path / "case.zip"
    case = site.case.case_id
    export = roadsight(
        "evidence", "export", case, "--out", str(packet), "--user", "officer", "--store", store
    )
    assert export.returncode == 0, export.stdout + export.stderr
    public = tmp_path / "site_key.pub.pem"
    verify = roadsight("evidence", "verify", str(packet), "--public-key", str(public))
    assert verify.returncode == 0 and "intact" in verify.stdout, verify.stdout + verify.stderr
    # The field crew may not take enforcement evidence; a wrong password is refused.
    denied = roadsight(
        "evidence", "export", case, "--out", str(tmp_path / "x.zip"), "--user", "crew", "--store", store
    )
    assert denied.returncode == 1 and not (tmp_path / "x.zip").exists()
    wrong = roadsight("review", case, "--to", "confirmed", "--comment", "seen", "--user", "officer",
                      "--store", store, password="nope")  # fmt: skip
    assert wrong.returncode == 1
    confirmed = roadsight("review", case, "--to", "confirmed", "--comment", "seen", "--user", "officer",
                          "--store", store)  # fmt: skip
    assert confirmed.returncode == 0, confirmed.stdout + confirmed.stderr
    # A packet altered after export no longer verifies.
    data = bytearray(packet.read_bytes())
    data[len(data) // 3] ^= 0xFF
    packet.write_bytes(bytes(data))
    assert roadsight("evidence", "verify", str(packet), "--public-key", str(public)).returncode == 1
