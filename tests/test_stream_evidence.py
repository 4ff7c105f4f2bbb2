"""The content-addressed evidence store (local directory backend; S3 only as a clear error)."""

from __future__ import annotations

import hashlib
import sys
import threading
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from stream.evidence import EvidenceError, LocalEvidenceStore, S3EvidenceStore, open_evidence_store
from stream.schema import EvidenceV1


def jpeg(seed: int) -> bytes:
    image = np.random.default_rng(seed).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    ok, data = cv2.imencode(".jpg", image)
    assert ok
    return data.tobytes()


def test_put_names_by_sha256_in_sharded_folders(tmp_path: Path) -> None:
    store = open_evidence_store((tmp_path / "ev").as_uri())
    data = jpeg(1)
    ref = store.put(data, "image/jpeg")
    digest = hashlib.sha256(data).hexdigest()
    path = tmp_path / "ev" / digest[:2] / digest[2:4] / f"{digest}.jpg"
    assert ref.sha256 == digest
    assert ref.uri == path.as_uri()
    assert path.read_bytes() == data
    assert store.get(ref) == data
    EvidenceV1(uri=ref.uri, sha256=ref.sha256, media_type=ref.media_type)  # fits the wire schema


def test_put_is_idempotent_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    store = LocalEvidenceStore(tmp_path)
    data = jpeg(2)
    refs = []
    threads = [threading.Thread(target=lambda: refs.append(store.put(data))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(refs)) == 1
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert files == [store.path_of(refs[0].sha256, "image/jpeg")]
    assert store.put(jpeg(3), "image/png").uri.endswith(".png")


def test_get_refuses_bytes_that_do_not_match_the_hash(tmp_path: Path) -> None:
    store = LocalEvidenceStore(tmp_path)
    ref = store.put(jpeg(4))
    Path(store.path_of(ref.sha256, ref.media_type)).write_bytes(jpeg(5))  # tampered or corrupt
    with pytest.raises(EvidenceError, match=f"SHA-256 is [0-9a-f]{{64}}, the reference says {ref.sha256}"):
        store.get(ref)
    with pytest.raises(EvidenceError, match="outside this store"):
        store.get(replace(ref, uri=(tmp_path.parent / "x.jpg").as_uri()))
    with pytest.raises(EvidenceError, match="cannot read"):
        store.get(replace(ref, uri=(tmp_path / "ab" / "missing.jpg").as_uri()))


def test_unknown_scheme_and_missing_boto3_are_clear_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(EvidenceError, match="unknown scheme 'ftp'"):
        open_evidence_store("ftp://host/evidence")
    monkeypatch.setitem(sys.modules, "boto3", None)  # as on an install without boto3
    with pytest.raises(EvidenceError, match=r"s3://bucket/site-a: boto3 is not installed"):
        open_evidence_store("s3://bucket/site-a")


def test_s3_keys_follow_the_same_layout() -> None:
    store = S3EvidenceStore("bucket", "/site-a/", client=object())  # key naming needs no server
    digest = "ab" + "c" * 62
    assert store.key_of(digest, "video/mp4") == f"site-a/ab/cc/{digest}.mp4"


def test_deferred_put_syncs_only_what_is_referenced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    store = LocalEvidenceStore(tmp_path / "ev")
    synced: list[int] = []
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        synced.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    refs = [store.put(jpeg(i), "image/jpeg", durable=False) for i in range(5)]
    assert synced == []  # nothing synced while frames are only candidates
    assert [store.get(ref) for ref in refs] == [jpeg(i) for i in range(5)]  # readable at once
    referenced = [refs[1], refs[3], refs[1]]
    assert store.make_durable(referenced) == 2  # each referenced file once
    dirs = {store.path_of(r.sha256, r.media_type).parent for r in referenced}
    assert len(synced) == 2 + len(dirs)  # the files, then their directories (the renames)
    store.put(jpeg(9), "image/jpeg")  # the default stays durable
    assert len(synced) == 2 + len(dirs) + 1
