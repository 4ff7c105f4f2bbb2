"""Evidence packets: export, signature, tamper detection, GA/T 832-2014 checks and who may export."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fixtures_evidence import Site, build_site

from dashboard.evidence_packet import (
    MANIFEST,
    SIGNATURE,
    EvidencePacketError,
    export_evidence_packet,
    generate_site_key,
    load_signing_key,
    verify_evidence_packet,
)
from dashboard.roles import PermissionDenied, Role, User

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
OFFICER = User("wang", Role.enforcement)


def export(site: Site, out: Path, user: User = OFFICER, case_id: str | None = None) -> Path:
    return export_evidence_packet(
        case_id or site.case.case_id,
        user=user,
        cases_path=site.cases_path,
        events_store=site.store_path,
        evidence_root=site.evidence_root,
        out_zip=out,
        signing_key=site.keys.private,
        now=NOW,
    )


def rewrite_zip(src: Path, dst: Path, changes: dict[str, bytes | None]) -> Path:
    """Copy ``src`` with entries replaced (bytes), removed (None) or added (new names): valid CRCs."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            if info.filename in changes:
                data = changes[info.filename]
                if data is not None:
                    zout.writestr(info, data)
            else:
                zout.writestr(info, zin.read(info))
        for name, data in changes.items():
            if name not in zin.namelist() and data is not None:
                zout.writestr(name, data)
    return dst


def manifest_of(packet: Path) -> dict:
    with zipfile.ZipFile(packet) as zf:
        return json.loads(zf.read(MANIFEST))


@pytest.fixture
def site(tmp_path: Path) -> Site:
    return build_site(tmp_path)


@pytest.fixture
def packet(site: Site, tmp_path: Path) -> Path:
    return export(site, tmp_path / "out" / "case.zip")


def test_export_then_verify_is_intact_with_original_bytes(site: Site, packet: Path) -> None:
    report = verify_evidence_packet(packet, site.keys.public)
    assert report.intact, report.summary()
    assert report.case_id == site.case.case_id
    manifest = manifest_of(packet)
    assert manifest["created_utc"] == NOW.isoformat()
    assert manifest["events_included"] == 2 and manifest["events_missing"] == []
    frames = manifest["frames"]
    assert [f["width"] for f in frames] == [1280, 1280]
    with zipfile.ZipFile(packet) as zf:
        names = set(zf.namelist())
        assert {"case.json", "case.geojson", "events.geojson", MANIFEST, SIGNATURE} <= names
        # Untouched: the packet's frames are the captured bytes, in capture order.
        assert [zf.read(f["path"]) for f in frames] == site.frames
        listed = {f["path"] for f in manifest["files"]}
        assert listed == names - {MANIFEST, SIGNATURE}
        events = json.loads(zf.read("events.geojson"))
        assert sorted(f["properties"]["event_id"] for f in events["features"]) == sorted(site.case.event_ids)
        case = json.loads(zf.read("case.json"))
        assert case["case_id"] == site.case.case_id and case["kind"] == "enforcement"
    checks = {c["rule"]: c["status"] for c in manifest["compliance"]["checks"]}
    assert checks["two_images_different_times"] == "pass"
    assert checks["stationary_interval_10s"] == "pass"
    assert checks["resolution_1280x720"] == "pass"
    assert checks["time_and_place_stated"] == "pass"
    assert checks["capture_clock_within_1s"] == "not_checked"
    assert manifest["compliance"]["overall"] == "incomplete"


def test_a_flipped_byte_in_a_frame_names_that_frame(site: Site, packet: Path, tmp_path: Path) -> None:
    frame = manifest_of(packet)["frames"][1]["path"]
    with zipfile.ZipFile(packet) as zf:
        original = zf.read(frame)
        offset = zf.getinfo(frame).header_offset
    tampered = bytearray(original)
    tampered[len(tampered) // 2] ^= 0x01
    # With a valid zip CRC (a careful forger) ...
    forged = rewrite_zip(packet, tmp_path / "forged.zip", {frame: bytes(tampered)})
    report = verify_evidence_packet(forged, site.keys.public)
    assert not report.intact and report.signature_ok
    assert report.where() == [frame]
    assert report.problems[0].kind == "file_altered"
    # ... and a raw flip inside the zip file (the zip CRC no longer matches).
    raw = bytearray(packet.read_bytes())
    at = raw.index(original[:64], offset)
    raw[at + len(original) // 2] ^= 0x01
    flipped = tmp_path / "flipped.zip"
    flipped.write_bytes(bytes(raw))
    report = verify_evidence_packet(flipped, site.keys.public)
    assert not report.intact
    assert report.where() == [frame]


def test_an_edited_manifest_field_is_named(site: Site, packet: Path, tmp_path: Path) -> None:
    manifest = manifest_of(packet)
    manifest["created_utc"] = "2026-01-01T00:00:00+00:00"
    edited = rewrite_zip(packet, tmp_path / "edited.zip", {MANIFEST: json.dumps(manifest, indent=1).encode()})
    report = verify_evidence_packet(edited, site.keys.public)
    assert not report.intact
    assert report.where() == ["/created_utc"]
    assert report.problems[0].kind == "manifest_field"

    # A forger who replaces a frame and its hash in the manifest is caught by the signature.
    manifest = manifest_of(packet)
    frame = manifest["files"][0]
    fake = b"\xff\xd8 not the frame"
    frame["sha256"], frame["size"] = hashlib.sha256(fake).hexdigest(), len(fake)
    forged = rewrite_zip(
        packet, tmp_path / "forged.zip", {MANIFEST: json.dumps(manifest).encode(), frame["path"]: fake}
    )
    report = verify_evidence_packet(forged, site.keys.public)
    assert not report.intact
    assert sorted(report.where()) == sorted(
        [f"/files/0/sha256 ({frame['path']})", f"/files/0/size ({frame['path']})"]
    )


def test_a_replaced_signature_or_wrong_key_fails_the_signature(
    site: Site, packet: Path, tmp_path: Path
) -> None:
    other = generate_site_key(tmp_path / "other" / "site_key.pem")
    report = verify_evidence_packet(packet, other.public)
    assert not report.intact and not report.signature_ok
    assert report.problems[0].kind == "signature"
    assert "not by the given key" in report.problems[0].detail

    sig = json.loads(zipfile.ZipFile(packet).read(SIGNATURE))
    sig["statement"]["manifest_sha256"] = "0" * 64
    bad = rewrite_zip(packet, tmp_path / "bad_sig.zip", {SIGNATURE: json.dumps(sig).encode()})
    report = verify_evidence_packet(bad, site.keys.public)
    assert not report.signature_ok and report.where()[0] == SIGNATURE


def test_added_and_missing_files_are_named(site: Site, packet: Path, tmp_path: Path) -> None:
    changed = rewrite_zip(packet, tmp_path / "c.zip", {"case.geojson": None, "frames/extra.jpg": b"x"})
    report = verify_evidence_packet(changed, site.keys.public)
    assert {(p.kind, p.where) for p in report.problems} == {
        ("file_missing", "case.geojson"),
        ("file_added", "frames/extra.jpg"),
    }
    stripped = rewrite_zip(packet, tmp_path / "s.zip", {SIGNATURE: None})
    assert verify_evidence_packet(stripped, site.keys.public).where() == [SIGNATURE]


@pytest.mark.parametrize(
    ("offsets", "size", "failing"),
    [
        ((0.0,), (1280, 720), {"two_images_different_times", "stationary_interval_10s"}),
        ((0.0, 5.0), (1280, 720), {"stationary_interval_10s"}),
        ((0.0, 12.0), (640, 480), {"resolution_1280x720"}),
    ],
)
def test_gat832_checks_fail_by_rule(
    tmp_path: Path, offsets: tuple[float, ...], size: tuple[int, int], failing: set[str]
) -> None:
    site = build_site(tmp_path, frame_offsets_s=offsets, size=size)
    packet = export(site, tmp_path / "p.zip")
    compliance = manifest_of(packet)["compliance"]
    assert compliance["applicable"] and compliance["overall"] == "fail"
    assert {c["rule"] for c in compliance["checks"] if c["status"] == "fail"} == failing
    assert verify_evidence_packet(packet, site.keys.public).intact  # reported, not refused


def test_who_may_export(tmp_path: Path) -> None:
    site = build_site(tmp_path / "enf")
    for role in (Role.field_crew, Role.road_manager):
        with pytest.raises(PermissionDenied, match="enforcement case"):
            export(site, tmp_path / "x.zip", user=User("someone", role))
    assert not (tmp_path / "x.zip").exists()
    assert export(site, tmp_path / "a.zip", user=User("root", Role.admin)).is_file()

    defect = build_site(tmp_path / "def", class_key="pothole", class_id=4)
    with pytest.raises(PermissionDenied):
        export(defect, tmp_path / "y.zip", user=User("crew", Role.field_crew))
    packet = export(defect, tmp_path / "d.zip", user=User("li", Role.road_manager))
    assert manifest_of(packet)["compliance"]["applicable"] is False


def test_missing_evidence_and_unknown_case_are_reported(site: Site, tmp_path: Path) -> None:
    gone = site.case.evidence[0].sha256
    next(site.evidence_root.rglob(f"{gone}*")).unlink()
    manifest = manifest_of(export(site, tmp_path / "m.zip"))
    assert [m["sha256"] for m in manifest["evidence_missing"]] == [gone]
    assert len(manifest["frames"]) == 1
    with pytest.raises(EvidencePacketError, match="no case 'nope'"):
        export(site, tmp_path / "n.zip", case_id="nope")


def test_site_key_is_private_and_never_overwritten(site: Site) -> None:
    assert stat.S_IMODE(site.keys.private.stat().st_mode) == 0o600
    with pytest.raises(EvidencePacketError, match="never overwritten"):
        generate_site_key(site.keys.private)
    os.chmod(site.keys.private, 0o644)
    with pytest.raises(EvidencePacketError, match="chmod 600"):
        load_signing_key(site.keys.private)
