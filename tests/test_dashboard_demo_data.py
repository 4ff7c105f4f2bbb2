"""The demo site generator: real stores the dashboard, the CLI and the packet export can read."""

from __future__ import annotations

from pathlib import Path

import pyogrio

from dashboard.demo_data import DEMO_USERS, write_demo_site
from dashboard.evidence_packet import export_evidence_packet, verify_evidence_packet
from dashboard.roles import authenticate
from geo.cases import load_cases
from stream import open_store


def test_demo_site_is_readable_and_deterministic(tmp_path: Path):
    site = write_demo_site(tmp_path / "a", 300, seed=3)
    book = load_cases(site.cases_path)
    assert len(book) == 300 == site.n_cases
    assert [c.case_id for c in book.cases] == list(site.case_ids)
    with open_store(site.store, readonly=True) as store:
        events = store.read()
    assert len(events) == 300
    assert set(events["mission_id"]) <= set(site.missions)
    coverage = pyogrio.read_dataframe(site.cases_path, layer="coverage")
    assert set(coverage["mission_id"]) == set(site.missions)
    for name, (role, password) in DEMO_USERS.items():
        assert authenticate(site.users_path, name, password).role is role
    kinds = {c.case_id: c.kind for c in book.cases}
    assert kinds[site.defect_case_id] == "defect"
    assert site.enforcement_case_id is None or kinds[site.enforcement_case_id] == "enforcement"
    again = write_demo_site(tmp_path / "b", 300, seed=3)
    assert again.case_ids == site.case_ids
    assert write_demo_site(tmp_path / "c", 300, seed=4).case_ids != site.case_ids


def test_demo_case_exports_a_verifiable_packet(tmp_path: Path):
    site = write_demo_site(tmp_path, 20, seed=0)
    admin = authenticate(site.users_path, "admin", DEMO_USERS["admin"][1])
    packet = export_evidence_packet(
        site.defect_case_id,
        user=admin,
        cases_path=site.cases_path,
        events_store=site.store,
        evidence_root=site.evidence_root,
        out_zip=tmp_path / "p.zip",
        signing_key=site.site_key,
    )
    assert verify_evidence_packet(packet, site.site_key.with_suffix(".pub.pem")).intact
