"""Content-addressed evidence store: frames, crops and clips named by SHA-256.

Messages carry an :class:`geo.EvidenceRef` (URI + SHA-256 + media type), never
pixels. The same bytes always get the same name, so a put is idempotent and a
reader checks what it got against the hash in the message.

Backends:

* :class:`LocalEvidenceStore` -- a directory (``file:///srv/evidence``),
  sharded ``ab/cd/<sha256>.jpg``; writes go to a temporary file in the target
  folder and are renamed into place (atomic: a reader never sees half a file).
* :class:`S3EvidenceStore` -- an S3-compatible bucket (``s3://bucket/prefix``,
  AWS, MinIO, Ceph ...) through boto3, which is imported only when used:
  without it, opening an ``s3://`` store raises :class:`EvidenceError` saying
  what to install.

Example:
    >>> store = open_evidence_store("file:///tmp/evidence")     # doctest: +SKIP
    >>> ref = store.put(jpeg_bytes, "image/jpeg")               # doctest: +SKIP
    >>> store.get(ref) == jpeg_bytes                            # doctest: +SKIP
    True
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlparse

from geo import EvidenceRef

_EXTENSIONS = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/webp": ".webp",
    "image/tiff": ".tif",
    "video/mp4": ".mp4",
    "video/mp2t": ".ts",
    "application/json": ".json",
}


class EvidenceError(RuntimeError):
    """Evidence could not be stored or read, or its bytes do not match its hash."""


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def evidence_name(sha256: str, media_type: str) -> str:
    """``ab/cd/<sha256><ext>``: two levels of 256 folders keep directories small."""
    return f"{sha256[:2]}/{sha256[2:4]}/{sha256}{_EXTENSIONS.get(media_type, '.bin')}"


def _verified(data: bytes, ref: EvidenceRef) -> bytes:
    actual = sha256_hex(data)
    if actual != ref.sha256:
        raise EvidenceError(f"evidence {ref.uri}: SHA-256 is {actual}, the reference says {ref.sha256}")
    return data


class EvidenceStore(Protocol):
    """Where evidence media lives; implementations are idempotent and verify on read."""

    def put(self, data: bytes, media_type: str = "image/jpeg", *, durable: bool = True) -> EvidenceRef: ...

    def make_durable(self, refs: Iterable[EvidenceRef]) -> int: ...

    def get(self, ref: EvidenceRef) -> bytes: ...


class LocalEvidenceStore:
    """Evidence in a local (or mounted network) directory."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def path_of(self, sha256: str, media_type: str) -> Path:
        return self.root / evidence_name(sha256, media_type)

    def put(self, data: bytes, media_type: str = "image/jpeg", *, durable: bool = True) -> EvidenceRef:
        """Store ``data`` (once) and return its reference.

        ``durable=False`` skips the fsync: the pipeline stores every frame that shows a
        detection but few of them end up referenced by an event, so it syncs only those
        (:meth:`make_durable`) before the events are committed. A crash in between can
        leave an unreferenced file short, which :meth:`get` detects by its hash.
        """
        digest = sha256_hex(data)
        target = self.path_of(digest, media_type)
        if not target.is_file():  # same name, same bytes: nothing to do
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=target.parent)
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(data)
                    out.flush()
                    if durable:
                        os.fsync(out.fileno())
                os.replace(tmp, target)  # atomic; a concurrent writer of the same bytes is harmless
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
                raise
        return EvidenceRef(uri=target.as_uri(), sha256=digest, media_type=media_type)

    def make_durable(self, refs: Iterable[EvidenceRef]) -> int:
        """fsync the files of ``refs`` (each once) and their directories; returns the files synced."""
        paths = {self.path_of(ref.sha256, ref.media_type) for ref in refs}
        for path in paths:
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        for directory in {path.parent for path in paths}:  # the renames themselves
            fd = os.open(directory, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        return len(paths)

    def get(self, ref: EvidenceRef) -> bytes:
        """The bytes of ``ref``, checked against its SHA-256."""
        parsed = urlparse(ref.uri)
        if parsed.scheme != "file":
            raise EvidenceError(f"evidence {ref.uri}: not a file:// URI")
        path = Path(unquote(parsed.path))
        if self.root not in path.resolve().parents:
            raise EvidenceError(f"evidence {ref.uri}: outside this store ({self.root})")
        try:
            data = path.read_bytes()
        except OSError as err:
            raise EvidenceError(f"evidence {ref.uri}: cannot read: {err}") from err
        return _verified(data, ref)


class S3EvidenceStore:
    """Evidence in an S3-compatible bucket (boto3, imported on first use).

    Args:
        bucket: bucket name.
        prefix: key prefix inside the bucket (no leading/trailing slash needed).
        endpoint_url: for MinIO/Ceph etc. (``http://minio:9000``); None for AWS.
        client: a ready boto3 S3 client (credentials and region from the usual
            boto3 environment otherwise).
    """

    def __init__(
        self, bucket: str, prefix: str = "", *, endpoint_url: str | None = None, client: Any = None
    ) -> None:
        prefix = prefix.strip("/")
        if client is None:
            try:
                import boto3
            except ImportError as err:
                raise EvidenceError(
                    f"evidence store s3://{bucket}/{prefix}: boto3 is not installed "
                    "(pip install boto3, or use a file:// evidence store)"
                ) from err
            client = boto3.client("s3", endpoint_url=endpoint_url)
        self.bucket = bucket
        self.prefix = prefix
        self._s3 = client

    def key_of(self, sha256: str, media_type: str) -> str:
        name = evidence_name(sha256, media_type)
        return f"{self.prefix}/{name}" if self.prefix else name

    def put(self, data: bytes, media_type: str = "image/jpeg", *, durable: bool = True) -> EvidenceRef:
        """Upload ``data`` (once); an acknowledged S3 PUT is already durable."""
        digest = sha256_hex(data)
        key = self.key_of(digest, media_type)
        if not self._exists(key):
            self._s3.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=media_type)
        return EvidenceRef(uri=f"s3://{self.bucket}/{key}", sha256=digest, media_type=media_type)

    def make_durable(self, refs: Iterable[EvidenceRef]) -> int:
        """Nothing to do: every PUT was acknowledged durable; returns 0."""
        return 0

    def _exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self._s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise EvidenceError(f"evidence s3://{self.bucket}/{key}: {err}") from err
        return True

    def get(self, ref: EvidenceRef) -> bytes:
        parsed = urlparse(ref.uri)
        if parsed.scheme != "s3" or parsed.netloc != self.bucket:
            raise EvidenceError(f"evidence {ref.uri}: not in s3://{self.bucket}")
        body = self._s3.get_object(Bucket=self.bucket, Key=parsed.path.lstrip("/"))["Body"].read()
        return _verified(body, ref)


def open_evidence_store(uri: str, *, endpoint_url: str | None = None) -> EvidenceStore:
    """``file:///dir``, a plain path, or ``s3://bucket/prefix`` -> the store."""
    parsed = urlparse(uri)
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise EvidenceError(f"evidence store {uri!r}: s3:// needs a bucket name")
        return S3EvidenceStore(parsed.netloc, parsed.path, endpoint_url=endpoint_url)
    if parsed.scheme == "file":
        return LocalEvidenceStore(unquote(parsed.path))
    if parsed.scheme == "":
        return LocalEvidenceStore(uri)
    raise EvidenceError(f"evidence store {uri!r}: unknown scheme {parsed.scheme!r} (use file:// or s3://)")
