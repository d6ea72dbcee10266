"""Uploaded files: size-limited, type-checked by content (not by name), stored once by SHA-256."""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from gridgov.core.errors import DomainError, Invalid

# Magic numbers of the formats accepted: photos from phones and cameras, and PDF documents.
SIGNATURES: tuple[tuple[bytes, int, str], ...] = (
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"WEBP", 8, "image/webp"),
    (b"%PDF-", 0, "application/pdf"),
)


class TooLarge(DomainError):
    """The upload exceeds the configured size limit."""

    status = 413
    code = "too_large"


def sniff(head: bytes) -> str | None:
    """Returns the content type recognised from the first bytes of a file, or None."""
    for magic, offset, content_type in SIGNATURES:
        if head[offset : offset + len(magic)] == magic:
            if content_type == "image/webp" and head[:4] != b"RIFF":
                continue
            return content_type
    return None


@dataclass(frozen=True)
class StoredFile:
    """A file in the media store."""

    sha256: str
    content_type: str
    size: int
    path: Path


def path_for(media_dir: Path, sha256: str) -> Path:
    """Returns where the file with this hash lives (two levels of fan-out)."""
    return media_dir / sha256[:2] / sha256[2:4] / sha256


def store(data: bytes, *, media_dir: Path, max_bytes: int) -> StoredFile:
    """Checks and stores `data`; the same content is stored once. Written atomically and fsynced."""
    if len(data) > max_bytes:
        raise TooLarge(f"file of {len(data)} bytes exceeds the limit of {max_bytes} bytes", limit=max_bytes)
    if not data:
        raise Invalid("empty file", code="empty_file")
    content_type = sniff(data[:16])
    if content_type is None:
        raise Invalid("unsupported file type: send a JPEG, PNG or WebP photo, or a PDF", code="unsupported_type")
    sha256 = hashlib.sha256(data).hexdigest()
    target = path_for(media_dir, sha256)
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return StoredFile(sha256=sha256, content_type=content_type, size=len(data), path=target)
