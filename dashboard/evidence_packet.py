"""Tamper-evident evidence packets: one zip per case, signed with the site's Ed25519 key.

A packet holds, for one case:

* ``frames/<sha256>.<ext>`` -- the original frames as captured, byte for byte
  from the content-addressed evidence store (checked against their SHA-256);
* ``case.json`` -- the case record; ``case.geojson`` -- its point and footprint;
* ``events.geojson`` -- the detections merged into the case, from the event store;
* ``annotated/<sha256>.jpg`` -- a copy of each image frame with the detection boxes
  and the capture time and place burned in (GA/T 832-2014: time and place visible);
* ``clip.mp4`` -- the annotated frames in capture order as an H.264 clip, one a
  second (``clip.avi``, Motion-JPEG, where GStreamer's x264enc is missing);
* ``telemetry.csv`` -- one row per detection: time, source, frame, box, place,
  and the platform and camera pose when the mission's telemetry track is given;
* ``report.pdf`` -- the printable case report (:mod:`dashboard.reports`);
* ``manifest.json`` -- every file above with its SHA-256 and size, the frames
  with their capture times and sizes, what could not be included (never dropped
  silently), the exporting user, the UTC time of export, and a ``compliance``
  section with the GA/T 832-2014 checks for enforcement cases;
* ``manifest.sig.json`` -- an Ed25519 signature over a statement holding the
  manifest's SHA-256 and the SHA-256 of each manifest field, so that
  :func:`verify_evidence_packet` can name the exact field that was edited.

Time stamp: the export time is in the signed manifest, so it cannot be changed
afterwards without breaking the signature, but it is the site's own clock. A
trusted RFC 3161 time stamp needs a time-stamping authority (a network service)
and is out of scope offline; ``manifest["timestamp"]`` says so.

Keys: :func:`generate_site_key` writes ``site_key.pem`` (PKCS#8, mode 0600) and
``site_key.pub.pem``; hand the public key to whoever verifies packets.

Example:
    >>> keys = generate_site_key("keys/site_key.pem")  # doctest: +SKIP
    >>> export_evidence_packet(case_id, user=user, cases_path="data/roadsight.cases.gpkg",
    ...     events_store="data/roadsight.gpkg", evidence_root="data/evidence",
    ...     out_zip="case.zip", signing_key=keys.private)  # doctest: +SKIP
    >>> verify_evidence_packet("case.zip", keys.public).intact  # doctest: +SKIP
    True
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import os
import stat
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from capture.telemetry.track import TelemetryTrack
from dashboard.case_evidence import CaseFrame, CaseNotFound, find_case, gather_case_evidence
from dashboard.evidence_media import (
    CLIP_SECONDS_PER_FRAME,
    EvidenceMediaError,
    annotated_copy,
    packet_media,
    report_images,
)
from dashboard.privacy import PrivacyError
from dashboard.reports import case_report_pdf
from dashboard.roles import (
    ENFORCEMENT_KIND,
    ENFORCEMENT_VIEWERS,
    User,
    packet_exporters,
    require,
    require_view,
)
from geo.cases import Case, CaseBook
from stream.evidence import EvidenceStore, sha256_hex

PACKET_FORMAT = "roadsight-evidence-packet/1"
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig.json"
REPORT = "report.pdf"
# GA/T 832-2014 (道路交通安全违法行为图像取证技术规范) figures used by the checks.
GAT832_MIN_IMAGES = 2
GAT832_STATIONARY_MIN_INTERVAL_S = 10.0
GAT832_MIN_SIZE = (1280, 720)


class EvidencePacketError(RuntimeError):
    """A packet cannot be made (unknown case, bad key, unreadable store)."""


# -- keys ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SiteKeyPaths:
    private: Path
    public: Path


def generate_site_key(path: str | Path) -> SiteKeyPaths:
    """Write a new Ed25519 key: ``path`` (PKCS#8 PEM, mode 0600) and ``<stem>.pub.pem``.

    Refuses to overwrite an existing key: packets signed with it could no longer be checked.
    """
    private = Path(path)
    public = private.with_name(private.name.removesuffix(".pem") + ".pub.pem")
    for p in (private, public):
        if p.exists():
            raise EvidencePacketError(f"{p}: exists already; a site key is never overwritten")
    private.parent.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    # O_EXCL + mode at creation: the key is never readable by others, not even for a moment.
    fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return SiteKeyPaths(private, public)


def load_signing_key(path: str | Path) -> Ed25519PrivateKey:
    """The site's private key; refuses a file that group or others can read (like ssh does)."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
        data = path.read_bytes()
    except OSError as exc:
        raise EvidencePacketError(f"{path}: cannot read the site key ({exc})") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise EvidencePacketError(
            f"{path}: site key is accessible by group/others (mode {mode & 0o777:o}): chmod 600"
        )
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise EvidencePacketError(f"{path}: not a PEM private key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise EvidencePacketError(f"{path}: not an Ed25519 key ({type(key).__name__})")
    return key


def load_public_key(source: str | Path | bytes | Ed25519PublicKey) -> Ed25519PublicKey:
    """An Ed25519 public key from a PEM file, PEM bytes, or the key itself."""
    if isinstance(source, Ed25519PublicKey):
        return source
    where = "public key bytes" if isinstance(source, bytes) else str(source)
    try:
        data = source if isinstance(source, bytes) else Path(source).read_bytes()
        key = serialization.load_pem_public_key(data)
    except (OSError, ValueError) as exc:
        raise EvidencePacketError(f"{where}: not a readable PEM public key ({exc})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise EvidencePacketError(f"{where}: not an Ed25519 key ({type(key).__name__})")
    return key


def key_fingerprint(key: Ed25519PublicKey) -> str:
    """SHA-256 of the raw 32-byte public key, hex."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


# -- manifest fields and the signed statement --------------------------------------------------


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def manifest_fields(manifest: Any, pointer: str = "") -> Iterator[tuple[str, Any]]:
    """Leaves of the manifest as (JSON pointer, value): ``/files/2/sha256`` -> ``"ab12..."``."""
    if isinstance(manifest, dict):
        for k in sorted(manifest):
            yield from manifest_fields(
                manifest[k], f"{pointer}/{str(k).replace('~', '~0').replace('/', '~1')}"
            )
    elif isinstance(manifest, list):
        for i, v in enumerate(manifest):
            yield from manifest_fields(v, f"{pointer}/{i}")
    else:
        yield pointer, manifest


def _field_digests(manifest: Any) -> dict[str, str]:
    return {p: hashlib.sha256(canonical_json(v)).hexdigest() for p, v in manifest_fields(manifest)}


def sign_manifest(manifest_bytes: bytes, key: Ed25519PrivateKey) -> bytes:
    """The ``manifest.sig.json`` for ``manifest_bytes``: the signed statement and its signature."""
    statement = {
        "manifest_sha256": sha256_hex(manifest_bytes),
        "field_sha256": _field_digests(json.loads(manifest_bytes)),
        "public_key_sha256": key_fingerprint(key.public_key()),
    }
    signature = key.sign(canonical_json(statement))
    doc = {"algorithm": "Ed25519", "statement": statement, "signature": base64.b64encode(signature).decode()}
    return json.dumps(doc, indent=1, sort_keys=True).encode("utf-8")


# -- export ----------------------------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    if isinstance(value, pd.Timestamp | datetime):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is pd.NA or value is None:
        return None
    if hasattr(value, "item"):  # NumPy scalars
        return value.item()
    return value


def case_record(case: Case) -> dict[str, Any]:
    """The case as plain JSON (the columns of the case book; series and maps as JSON, not text)."""
    row = CaseBook(cases=[case]).to_geodataframe().drop(columns="geometry").iloc[0].to_dict()
    record: dict[str, Any] = {}
    for k, v in row.items():
        if k in ("trend", "votes", "class_ids", "event_ids", "footprint", "evidence"):
            v = json.loads(v)
        record[str(k)] = _jsonable(v)
    return record


def case_geojson(case: Case) -> dict[str, Any]:
    """The case point and, when it has one, its footprint polygon (WGS84, RFC 7946)."""
    props = {
        "case_id": case.case_id,
        "class_key": case.class_key,
        "kind": case.kind,
        "accuracy_m": case.accuracy_m,
        "first_seen_utc": case.first_seen_utc.isoformat(),
        "last_seen_utc": case.last_seen_utc.isoformat(),
    }
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [case.lon, case.lat]},
            "properties": {**props, "role": "location"},
        }
    ]
    if len(case.footprint) >= 4:
        ring = [list(p) for p in case.footprint]
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": [ring]},
                "properties": {**props, "role": "footprint"},
            }
        )
    return {"type": "FeatureCollection", "features": features}


def _events_geojson(events: pd.DataFrame) -> dict[str, Any]:
    features = []
    for row in events.drop(columns="geometry").to_dict("records"):
        props = {str(k): _jsonable(v) for k, v in row.items()}
        for k in ("footprint", "evidence"):
            props[k] = json.loads(props[k]) if props.get(k) else None
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [row["lon"], row["lat"]]},
                "properties": props,
            }
        )
    return {"type": "FeatureCollection", "features": features}


def _check(rule: str, status: str, detail: str) -> dict[str, str]:
    return {"rule": rule, "status": status, "detail": detail}


def gat832_compliance(
    case: Case, frames: Sequence[CaseFrame], annotated: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The GA/T 832-2014 checks for an enforcement case; each ``pass``, ``fail`` or ``not_checked``.

    Every enforcement class of the taxonomy is a standing object (parked
    vehicles, stalls, banners, piles), so all count as stationary violations
    and need their images at least 10 s apart. Every frame counts as a
    full-scene image (the evidence store holds whole frames; a crop would fail
    the resolution rule).
    """
    if case.kind != ENFORCEMENT_KIND:
        return {
            "standard": "GA/T 832-2014",
            "applicable": False,
            "overall": "not_applicable",
            "reason": f"case kind {case.kind!r}: the standard covers traffic-violation evidence",
            "checks": [],
        }
    images = [f for f in frames if f.ref.media_type.startswith("image/")]
    timed = sorted({f.time_utc for f in images if f.time_utc is not None})
    checks = [
        _check(
            "two_images_different_times",
            "pass" if len(timed) >= GAT832_MIN_IMAGES else "fail",
            f"{len(images)} image(s) at {len(timed)} distinct capture time(s); needs {GAT832_MIN_IMAGES}",
        )
    ]
    span = (timed[-1] - timed[0]).total_seconds() if len(timed) >= 2 else 0.0
    checks.append(
        _check(
            "stationary_interval_10s",
            "pass" if span >= GAT832_STATIONARY_MIN_INTERVAL_S else "fail",
            f"first to last image {span:.1f} s apart; a stationary violation needs "
            f">= {GAT832_STATIONARY_MIN_INTERVAL_S:.0f} s",
        )
    )
    min_w, min_h = GAT832_MIN_SIZE
    small = [
        f.path
        for f in images
        if f.width is None
        or f.height is None
        or max(f.width, f.height) < min_w
        or min(f.width, f.height) < min_h
    ]
    checks.append(
        _check(
            "resolution_1280x720",
            "pass" if images and not small else "fail",
            f"below {min_w}x{min_h} or unreadable: {', '.join(small)}"
            if small
            else (f"all {len(images)} image(s) >= {min_w}x{min_h}" if images else "no images"),
        )
    )
    untimed = [f.path for f in images if f.time_utc is None]
    place_ok = math.isfinite(case.lon) and math.isfinite(case.lat)
    checks.append(
        _check(
            "time_and_place_stated",
            "pass" if images and not untimed and place_ok else "fail",
            (f"no capture time for {', '.join(untimed)}; " if untimed else "")
            + (f"place {case.lat:.7f}, {case.lon:.7f} (WGS84)" if place_ok else "no place"),
        )
    )
    checks.append(
        _check(
            "capture_clock_within_1s",
            "not_checked",
            "the packet carries no clock-synchronisation record of the capture device",
        )
    )
    if annotated is None:
        visible = _check(
            "time_and_place_visible_in_image",
            "not_checked",
            "no annotated copies: time and place are stated in case.json and the manifest",
        )
    else:
        bare = [f.path for f in images if f.path not in annotated]
        visible = _check(
            "time_and_place_visible_in_image",
            "pass" if images and not bare else "fail",
            f"no annotated copy of {', '.join(bare)}"
            if bare
            else "burned into the annotated copies (annotated/); the originals stay as captured",
        )
    checks.append(visible)
    statuses = {c["status"] for c in checks}
    overall = "fail" if "fail" in statuses else ("incomplete" if "not_checked" in statuses else "pass")
    return {"standard": "GA/T 832-2014", "applicable": True, "overall": overall, "checks": checks}


def export_evidence_packet(
    case_or_case_id: Case | str,
    *,
    user: User,
    cases_path: str | Path,
    events_store: str | Path,
    evidence_root: str | Path | EvidenceStore,
    out_zip: str | Path,
    signing_key: str | Path | Ed25519PrivateKey,
    now: datetime | None = None,
    telemetry: TelemetryTrack | None = None,
    clip_seconds_per_frame: float = CLIP_SECONDS_PER_FRAME,
) -> Path:
    """Write the signed evidence packet of one case to ``out_zip`` and return its path.

    ``user`` must be allowed to export the case (:func:`dashboard.roles.packet_exporters`:
    enforcement cases only by enforcement and admin; the field crew never).
    Events or frames that cannot be found are listed in the manifest
    (``events_missing``, ``evidence_missing``), and so are annotated copies or a
    clip that could not be made (``media_problems``): nothing is left out silently.
    ``telemetry``: the mission's track, for the camera poses in ``telemetry.csv``.
    """
    try:
        case = find_case(case_or_case_id, cases_path)
    except CaseNotFound as exc:
        raise EvidencePacketError(str(exc)) from None
    require(
        user, packet_exporters(case.kind), f"export the evidence packet of {case.kind} case {case.case_id}"
    )
    key = signing_key if isinstance(signing_key, Ed25519PrivateKey) else load_signing_key(signing_key)
    created = (now or datetime.now(UTC)).astimezone(UTC)
    found = gather_case_evidence(case, events_store=events_store, evidence_root=evidence_root)
    events, ordered = found.events, found.frames

    payload: list[tuple[str, bytes, str]] = [(f.path, f.data, f.ref.media_type) for f in ordered]
    payload.append(
        (
            "case.json",
            json.dumps(case_record(case), indent=1, ensure_ascii=False).encode(),
            "application/json",
        )
    )
    payload.append(
        ("case.geojson", json.dumps(case_geojson(case), indent=1).encode(), "application/geo+json")
    )
    payload.append(
        ("events.geojson", json.dumps(_events_geojson(events), indent=1).encode(), "application/geo+json")
    )
    media = packet_media(case, found, telemetry=telemetry, clip_seconds_per_frame=clip_seconds_per_frame)
    payload += media.files
    compliance = gat832_compliance(case, ordered, annotated=media.annotated)
    report = case_report_pdf(
        case_record(case),
        media.report_images,
        created_utc=created,
        created_by=f"{user.name} ({user.role.value})",
        compliance=compliance,
        files=[{"path": p, "sha256": sha256_hex(data)} for p, data, _ in payload],
        note="The packet's manifest.json lists every file with its SHA-256 and is signed with the "
        "site's Ed25519 key; check the packet with `roadsight evidence verify`.",
    )
    payload.append((REPORT, report, "application/pdf"))

    manifest = {
        "format": PACKET_FORMAT,
        "case_id": case.case_id,
        "class_key": case.class_key,
        "kind": case.kind,
        "place_wgs84": {"lon": case.lon, "lat": case.lat, "accuracy_m": case.accuracy_m},
        "created_utc": created.isoformat(),
        "created_by": {"user": user.name, "role": user.role.value},
        "timestamp": {
            "kind": "signed-site-clock",
            "note": "export time signed with the site key; not an RFC 3161 token (that needs a "
            "time-stamping authority, out of scope offline)",
        },
        "files": [
            {"path": p, "sha256": sha256_hex(data), "size": len(data), "media_type": mt}
            for p, data, mt in payload
        ],
        "frames": [
            {
                "path": f.path,
                "sha256": f.ref.sha256,
                "media_type": f.ref.media_type,
                "captured_utc": f.time_utc.isoformat() if f.time_utc else None,
                "width": f.width,
                "height": f.height,
                "event_ids": sorted(f.event_ids),
            }
            for f in ordered
        ],
        "annotated": [{"path": a, "of": o} for o, a in media.annotated.items()],
        "clip": media.clip_info,
        "telemetry": media.telemetry_info,
        "report": REPORT,
        "events_included": len(events),
        "events_missing": found.events_missing,
        "evidence_missing": found.evidence_missing,
        "media_problems": media.problems,
        "compliance": compliance,
    }
    manifest_bytes = json.dumps(manifest, indent=1, ensure_ascii=False).encode("utf-8")

    out = Path(out_zip)
    out.parent.mkdir(parents=True, exist_ok=True)
    stamp = created.timetuple()[:6]
    tmp = out.with_name(f".{out.name}.tmp")
    with zipfile.ZipFile(tmp, "w") as zf:
        for path, data, media_type in [
            *payload,
            (MANIFEST, manifest_bytes, "application/json"),
            (SIGNATURE, sign_manifest(manifest_bytes, key), "application/json"),
        ]:
            info = zipfile.ZipInfo(path, date_time=stamp)
            # Images are compressed already: stored as they are, readable with any unzip.
            info.compress_type = (
                zipfile.ZIP_STORED if media_type.startswith(("image/", "video/")) else zipfile.ZIP_DEFLATED
            )
            zf.writestr(info, data)
    os.replace(tmp, out)
    return out


def write_case_report(
    case_or_case_id: Case | str,
    *,
    user: User,
    cases_path: str | Path,
    events_store: str | Path,
    evidence_root: str | Path | EvidenceStore,
    out_pdf: str | Path,
    now: datetime | None = None,
) -> Path:
    """Write the printable report of one case (:mod:`dashboard.reports`) to ``out_pdf``.

    ``user`` must be allowed to see the case. Images are the annotated copies;
    for everyone but enforcement and admin, faces and plates are blurred first,
    and an image that cannot be blurred (no face detector installed) is left out
    with a note, never shown unblurred.
    """
    try:
        case = find_case(case_or_case_id, cases_path)
    except CaseNotFound as exc:
        raise EvidencePacketError(str(exc)) from None
    require_view(user, case.kind, case.case_id)
    blur = user.role not in ENFORCEMENT_VIEWERS
    created = (now or datetime.now(UTC)).astimezone(UTC)
    found = gather_case_evidence(case, events_store=events_store, evidence_root=evidence_root)
    copies: dict[str, bytes] = {}
    withheld: list[str] = []
    for frame in found.frames:
        if frame.is_image:
            try:
                copies[frame.path] = annotated_copy(case, found, frame, blur=blur)
            except (EvidenceMediaError, PrivacyError) as exc:
                withheld.append(f"{frame.path} ({exc})")
    note = "Faces and licence plates are blurred in the images. " if blur else ""
    if withheld:
        note += "Images left out: " + "; ".join(withheld) + ". "
    if found.evidence_missing:
        note += f"{len(found.evidence_missing)} frame(s) missing from the evidence store. "
    pdf = case_report_pdf(
        case_record(case),
        report_images(found, copies),
        created_utc=created,
        created_by=f"{user.name} ({user.role.value})",
        compliance=gat832_compliance(case, found.frames, annotated={p: p for p in copies}),
        files=[{"path": f.path, "sha256": f.ref.sha256} for f in found.frames],
        note=note.strip(),
    )
    out = Path(out_pdf)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_bytes(pdf)
    os.replace(tmp, out)
    return out


# -- verify ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PacketProblem:
    """One finding.

    ``kind``: signature, manifest_field, file_altered, file_missing, file_added or packet.
    """

    kind: str
    where: str  # a file path in the zip, a manifest JSON pointer, or the packet
    detail: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.where}: {self.detail}"


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """Intact, or every problem found; ``compliance`` as the manifest states it."""

    path: Path
    signature_ok: bool
    problems: tuple[PacketProblem, ...]
    case_id: str | None = None
    created_utc: str | None = None
    compliance: dict[str, Any] | None = None

    @property
    def intact(self) -> bool:
        return self.signature_ok and not self.problems

    def where(self) -> list[str]:
        """The files and manifest fields named by the problems."""
        return [p.where for p in self.problems]

    def summary(self) -> str:
        if self.intact:
            return f"{self.path}: intact (case {self.case_id}, signed {self.created_utc})"
        return "\n".join([f"{self.path}: NOT intact", *(f"  {p}" for p in self.problems)])


def _file_label(manifest: Any, pointer: str) -> str:
    # "/files/3/sha256" -> "/files/3/sha256 (frames/ab...jpg)": which file the field is about.
    parts = pointer.split("/")
    if len(parts) > 2 and parts[1] in ("files", "frames") and parts[2].isdigit():
        try:
            return f"{pointer} ({manifest[parts[1]][int(parts[2])]['path']})"
        except (KeyError, IndexError, TypeError):
            pass
    return pointer


def verify_evidence_packet(
    zip_path: str | Path, public_key: str | Path | bytes | Ed25519PublicKey
) -> VerifyReport:
    """Check the packet's signature, manifest and every file; name what was altered, missing or added."""
    path = Path(zip_path)
    key = load_public_key(public_key)
    problems: list[PacketProblem] = []
    try:
        zf = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        return VerifyReport(path, False, (PacketProblem("packet", str(path), f"not a readable zip ({exc})"),))
    with zf:
        contents: dict[str, bytes] = {}
        for info in zf.infolist():
            try:
                contents[info.filename] = zf.read(info)
            except (zipfile.BadZipFile, OSError) as exc:  # CRC error: bytes changed inside the zip
                problems.append(PacketProblem("file_altered", info.filename, f"unreadable ({exc})"))
                contents[info.filename] = b""
    manifest_bytes, sig_bytes = contents.get(MANIFEST), contents.get(SIGNATURE)
    if manifest_bytes is None:
        problems.append(PacketProblem("file_missing", MANIFEST, "the packet has no manifest"))
    if sig_bytes is None:
        problems.append(PacketProblem("file_missing", SIGNATURE, "the packet has no signature"))
    if manifest_bytes is None or sig_bytes is None:
        return VerifyReport(path, False, tuple(problems))

    signature_ok, statement = False, None
    try:
        sig_doc = json.loads(sig_bytes)
        statement = sig_doc["statement"]
        key.verify(base64.b64decode(sig_doc["signature"]), canonical_json(statement))
        signature_ok = True
    except InvalidSignature:
        claimed = statement.get("public_key_sha256") if isinstance(statement, dict) else None
        given = key_fingerprint(key)
        why = (
            f"signed by key {claimed}, not by the given key {given} (or {SIGNATURE} was edited)"
            if claimed and claimed != given
            else f"{SIGNATURE} does not match its signature (edited)"
        )
        problems.append(PacketProblem("signature", SIGNATURE, why))
    except (ValueError, KeyError, TypeError) as exc:
        problems.append(PacketProblem("signature", SIGNATURE, f"unreadable signature file ({exc})"))
        statement = None

    try:
        manifest = json.loads(manifest_bytes)
    except ValueError as exc:
        problems.append(PacketProblem("manifest_field", MANIFEST, f"not JSON ({exc})"))
        return VerifyReport(path, signature_ok, tuple(problems))

    if isinstance(statement, dict) and statement.get("manifest_sha256") != sha256_hex(manifest_bytes):
        signed = statement.get("field_sha256") or {}
        actual = _field_digests(manifest)
        changed = [p for p in actual if p in signed and signed[p] != actual[p]]
        added = [p for p in actual if p not in signed]
        removed = [p for p in signed if p not in actual]
        for p in changed:
            problems.append(
                PacketProblem("manifest_field", _file_label(manifest, p), "altered after signing")
            )
        for p in added:
            problems.append(PacketProblem("manifest_field", _file_label(manifest, p), "added after signing"))
        for p in removed:
            problems.append(PacketProblem("manifest_field", p, "removed after signing"))
        if not (changed or added or removed):
            problems.append(
                PacketProblem("manifest_field", MANIFEST, "re-formatted after signing (same fields)")
            )

    listed: set[str] = set()
    for entry in manifest.get("files", []) if isinstance(manifest, dict) else []:
        name = str(entry.get("path"))
        listed.add(name)
        data = contents.get(name)
        if data is None:
            problems.append(PacketProblem("file_missing", name, "listed in the manifest, not in the packet"))
        elif (len(data) != entry.get("size") or sha256_hex(data) != entry.get("sha256")) and not any(
            p.where == name for p in problems
        ):
            problems.append(
                PacketProblem(
                    "file_altered",
                    name,
                    f"SHA-256 {sha256_hex(data)} ({len(data)} bytes), manifest says "
                    f"{entry.get('sha256')} ({entry.get('size')} bytes)",
                )
            )
    for name in sorted(set(contents) - listed - {MANIFEST, SIGNATURE}):
        problems.append(PacketProblem("file_added", name, "in the packet, not in the manifest"))
    return VerifyReport(
        path,
        signature_ok,
        tuple(problems),
        case_id=manifest.get("case_id"),
        created_utc=manifest.get("created_utc"),
        compliance=manifest.get("compliance"),
    )
