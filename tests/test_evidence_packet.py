"""Evidence packets: export, signature, tamper detection, GA/T 832-2014 checks and who may export."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import stat
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import pytest
from fixtures_evidence import Site, build_site, jpeg

from capture.telemetry.track import TelemetryTrack
from dashboard.evidence_media import caption_for, encode_clip
from dashboard.evidence_packet import (
    MANIFEST,
    SIGNATURE,
    EvidencePacketError,
    export_evidence_packet,
    generate_site_key,
    load_signing_key,
    verify_evidence_packet,
    write_case_report,
)
from dashboard.privacy import face_cascade
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


# -- annotated copies, clip, telemetry excerpt, report ---------------------------------------------


def pdf_pages(data: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page\b(?!s)", data))


def decode(data: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image


def test_packet_holds_annotated_copies_a_clip_the_telemetry_and_a_report(site: Site, packet: Path) -> None:
    manifest = manifest_of(packet)
    assert manifest["media_problems"] == []
    frames = [f["path"] for f in manifest["frames"]]
    assert [a["of"] for a in manifest["annotated"]] == frames
    with zipfile.ZipFile(packet) as zf:
        for entry in manifest["annotated"]:
            original, copy = decode(zf.read(entry["of"])), decode(zf.read(entry["path"]))
            h, w = original.shape[:2]
            # The caption band is added below the scene: same width, taller, white text on black.
            assert copy.shape[1] == w and copy.shape[0] > h
            band = copy[h + 2 :]
            assert band.max() > 200 and np.median(band) < 30
            # Above the band, the scene: changed only where the box (10, 20, 30, 40) and its label are
            # (and in the last rows, where the decoder's chroma upsampling reaches into the band).
            diff = np.abs(copy[:h].astype(int) - original.astype(int)).max(axis=-1) > 40
            assert diff[:50, :].any() and not diff[60 : h - 4, 40:].any()
        clip = zf.read("clip.mp4")
        assert clip[4:8] == b"ftyp" and b"avc1" in clip
        rows = list(csv.DictReader(io.StringIO(zf.read("telemetry.csv").decode())))
        assert [r["event_id"] for r in rows] == sorted(site.case.event_ids)
        assert [r["frame_index"] for r in rows] == ["0", "1"]
        assert "platform_lat" not in rows[0]
        report = zf.read("report.pdf")
        assert report.startswith(b"%PDF") and pdf_pages(report) == 1 + len(frames)
    assert manifest["clip"]["codec"] == "H.264" and manifest["clip"]["frames"] == 2
    assert manifest["telemetry"]["poses"] is False
    checks = {c["rule"]: c["status"] for c in manifest["compliance"]["checks"]}
    assert checks["time_and_place_visible_in_image"] == "pass"


def test_the_clip_plays_for_one_second_a_frame(packet: Path, tmp_path: Path) -> None:
    gi = pytest.importorskip("gi")
    gi.require_version("Gst", "1.0")
    gi.require_version("GstPbutils", "1.0")
    from gi.repository import Gst, GstPbutils

    Gst.init(None)
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(zipfile.ZipFile(packet).read("clip.mp4"))
    info = GstPbutils.Discoverer.new(60 * Gst.SECOND).discover_uri(clip.as_uri())
    assert info.get_duration() / Gst.SECOND == pytest.approx(2.0, abs=0.05)
    video = info.get_video_streams()
    assert len(video) == 1 and video[0].get_caps().to_string().startswith("video/x-h264")
    assert (video[0].get_width(), video[0].get_height()) == (1280, 756)  # 720 + the caption band


def test_a_flipped_byte_in_any_file_names_that_file(site: Site, packet: Path, tmp_path: Path) -> None:
    manifest = manifest_of(packet)
    with zipfile.ZipFile(packet) as zf:
        contents = {f["path"]: zf.read(f["path"]) for f in manifest["files"]}
    assert {"clip.mp4", "telemetry.csv", "report.pdf"} <= contents.keys()
    assert sum(p.startswith("annotated/") for p in contents) == 2
    for i, (path, data) in enumerate(contents.items()):
        flipped = bytearray(data)
        flipped[len(flipped) // 2] ^= 0x01
        forged = rewrite_zip(packet, tmp_path / f"forged{i}.zip", {path: bytes(flipped)})
        report = verify_evidence_packet(forged, site.keys.public)
        assert report.signature_ok and not report.intact
        assert report.where() == [path], path


def test_one_frame_makes_no_clip_and_says_why(tmp_path: Path) -> None:
    site = build_site(tmp_path, frame_offsets_s=(0.0,))
    manifest = manifest_of(export(site, tmp_path / "p.zip"))
    assert manifest["clip"] == {"path": None, "reason": "fewer than two image frames"}
    assert len(manifest["annotated"]) == 1
    assert "clip.mp4" not in {f["path"] for f in manifest["files"]}


def test_telemetry_excerpt_carries_the_camera_pose_from_the_track(site: Site, tmp_path: Path) -> None:
    t0 = site.events[0].time_utc.timestamp()
    times = t0 + np.arange(-5.0, 30.0, 0.5)
    track = TelemetryTrack.from_columns(
        "flight.tlog", time_utc=times, lat=30.27 + (times - t0) * 1e-6, lon=np.full(times.shape, 120.15),
        alt_agl=np.full(times.shape, 40.0), yaw=np.full(times.shape, 90.0),
        camera_pitch=np.full(times.shape, -90.0),
    )  # fmt: skip
    packet = export_evidence_packet(
        site.case.case_id, user=OFFICER, cases_path=site.cases_path, events_store=site.store_path,
        evidence_root=site.evidence_root, out_zip=tmp_path / "t.zip", signing_key=site.keys.private,
        now=NOW, telemetry=track,
    )  # fmt: skip
    rows = list(csv.DictReader(io.StringIO(zipfile.ZipFile(packet).read("telemetry.csv").decode())))
    assert [float(r["alt_agl"]) for r in rows] == [40.0, 40.0]
    assert [float(r["camera_pitch"]) for r in rows] == [-90.0, -90.0]
    # 15.25 s after the first detection: the track's latitude then.
    assert float(rows[1]["platform_lat"]) == pytest.approx(30.27 + 15.25e-6, abs=1e-9)
    assert manifest_of(packet)["telemetry"]["poses"] is True
    assert verify_evidence_packet(packet, site.keys.public).intact


def test_caption_states_time_and_place() -> None:
    t = datetime(2026, 11, 23, 9, 0, 15, 250000, tzinfo=UTC)
    assert caption_for(t, 30.27, 120.15, 0.8, "pothole") == (
        "2026-11-23 09:00:15.250 UTC | N30.2700000 E120.1500000 +/-0.8 m | pothole"
    )
    assert caption_for(None, -33.9, -70.6) == "time unknown | S33.9000000 W70.6000000"


def test_mjpeg_clip_where_h264_is_not_wanted(site: Site) -> None:
    smaller = jpeg(640, 480, seed=9)  # scaled to the first frame's size
    clip = encode_clip([*site.frames, smaller], prefer_h264=False)
    assert clip.name == "clip.avi" and clip.codec == "MJPEG" and clip.frames == 3
    assert clip.data[:4] == b"RIFF" and clip.data[8:12] == b"AVI "


def test_case_report_for_print_follows_the_roles(site: Site, tmp_path: Path) -> None:
    def report(user: User, s: Site, name: str) -> Path:
        return write_case_report(
            s.case.case_id, user=user, cases_path=s.cases_path, events_store=s.store_path,
            evidence_root=s.evidence_root, out_pdf=tmp_path / name, now=NOW,
        )  # fmt: skip

    pdf = report(OFFICER, site, "officer.pdf").read_bytes()
    assert pdf.startswith(b"%PDF") and pdf_pages(pdf) == 3
    with pytest.raises(PermissionDenied):
        report(User("crew", Role.field_crew), site, "crew.pdf")
    assert not (tmp_path / "crew.pdf").exists()
    defect = build_site(tmp_path / "def", class_key="pothole", class_id=4)
    blurred = report(User("li", Role.road_manager), defect, "manager.pdf").read_bytes()
    # Blurred images for a road manager; withheld (a note, no page) where no face detector is installed.
    assert pdf_pages(blurred) == (3 if face_cascade() is not None else 1)
    with pytest.raises(EvidencePacketError, match="no case 'nope'"):
        write_case_report(
            "nope", user=OFFICER, cases_path=site.cases_path, events_store=site.store_path,
            evidence_root=site.evidence_root, out_pdf=tmp_path / "x.pdf",
        )  # fmt: skip
