"""Uploaded files: size-limited, type-checked by content (not by name), stored once by SHA-256.

Photos (JPEG, PNG, WebP) are decoded with Pillow before anything is written, so a truncated, corrupt or
disguised file and a decompression bomb are refused. The original bytes are kept as evidence (private: they
carry the camera's EXIF, GPS included); next to them two derived files are written for showing: a public copy
(orientation applied, every EXIF/XMP/ICC/comment block removed, re-encoded) and a thumbnail. From the EXIF we
keep what the case needs: pixel size, when the photo was taken, and where (WGS84 GPS).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import math
import os
import re
import tempfile
import warnings
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import BinaryIO

from PIL import Image, ImageCms, ImageOps
from starlette.responses import FileResponse, Response

from gridgov.core.errors import DomainError, Invalid

# Magic numbers of the formats accepted: photos from phones and cameras, and PDF documents.
SIGNATURES: tuple[tuple[bytes, int, str], ...] = (
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"WEBP", 8, "image/webp"),
    (b"%PDF-", 0, "application/pdf"),
)
# The Pillow decoder allowed for each image type: nothing else may parse an upload.
IMAGE_FORMATS: dict[str, str] = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}
# A 40-megapixel cap: above any phone camera (a 12 MP photo is 4032×3024) and about 160 MB decoded as RGBA,
# so a small file declaring a huge canvas (a decompression bomb) is refused before it is decoded.
MAX_PIXELS = 40_000_000
THUMB_PX = 320
PUBLIC_JPEG_QUALITY = 85
THUMB_JPEG_QUALITY = 80
CHUNK_BYTES = 1 << 20
PUBLIC_URL_PREFIX = "/media/public"
CACHE_SECONDS = 86400  # a hash names its content for ever: only access rights can change, so a day is safe
PUBLIC_CACHE_SECONDS = 3600  # shared caches may keep a public photo an hour after it stops being public
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")

_EXIF_IFD, _GPS_IFD = 0x8769, 0x8825
_DATETIME_ORIGINAL, _DATETIME_DIGITIZED, _OFFSET_TIME_ORIGINAL = 0x9003, 0x9004, 0x9011
_EXIF_DATETIME_RE = re.compile(r"^(\d{4}):(\d{2}):(\d{2})[ T](\d{2}):(\d{2}):(\d{2})")
_EXIF_OFFSET_RE = re.compile(r"^([+-])(\d{2}):(\d{2})$")
_SRGB = ImageCms.createProfile("sRGB")


class Variant(StrEnum):
    """Which copy of a photo to serve."""

    public = "public"  # orientation applied, no metadata: what anyone allowed to see the photo gets
    thumb = "thumb"  # at most 320 px, JPEG, no metadata
    original = "original"  # the uploaded bytes with their EXIF (GPS, camera): evidence, staff only


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
    """A file in the media store, with what its EXIF says when it is a photo."""

    sha256: str
    content_type: str
    size: int
    path: Path
    width: int | None = None  # after the EXIF orientation is applied (as shown)
    height: int | None = None
    taken_at: dt.datetime | None = None  # aware, UTC
    gps_lng: float | None = None  # WGS84 decimal degrees
    gps_lat: float | None = None

    @property
    def is_image(self) -> bool:
        return self.content_type in IMAGE_FORMATS


@dataclass(frozen=True)
class PhotoInfo:
    """What a photo's header and EXIF say: shown size, capture time and place."""

    width: int
    height: int
    orientation: int
    taken_at: dt.datetime | None
    gps_lng: float | None
    gps_lat: float | None


def is_sha256(text: str) -> bool:
    """Returns True for a lowercase hex SHA-256 (what names every stored file; nothing else reaches the disk)."""
    return bool(_SHA256_RE.match(text))


def path_for(media_dir: Path, sha256: str) -> Path:
    """Returns where the original file with this hash lives (two levels of fan-out)."""
    return media_dir / sha256[:2] / sha256[2:4] / sha256


def public_path_for(media_dir: Path, sha256: str) -> Path:
    """Returns where the public copy (no metadata, orientation applied) of the photo with this hash lives."""
    return path_for(media_dir, sha256).with_name(f"{sha256}.public")


def thumb_path_for(media_dir: Path, sha256: str) -> Path:
    """Returns where the thumbnail (JPEG, at most 320 px) of the photo with this hash lives."""
    return path_for(media_dir, sha256).with_name(f"{sha256}.thumb")


def variant_path(media_dir: Path, sha256: str, variant: Variant) -> Path:
    """Returns the file of one variant of a stored photo."""
    if variant is Variant.public:
        return public_path_for(media_dir, sha256)
    if variant is Variant.thumb:
        return thumb_path_for(media_dir, sha256)
    return path_for(media_dir, sha256)


def public_media_url(sha256: str, variant: str | None = None) -> str:
    """Returns the anonymous URL path of a photo's public copy (or thumbnail); prefix it with the site's base URL.

    It answers only for photos of public-channel cases (随手拍, Open311); see `cases/media_public.py`.
    """
    url = f"{PUBLIC_URL_PREFIX}/{sha256}"
    if variant is not None and Variant(variant) is not Variant.public:
        if Variant(variant) is Variant.original:
            raise ValueError("originals are never public")
        url += f"?variant={Variant(variant).value}"
    return url


def media_type_of(path: Path) -> str:
    """Returns the content type of a stored file from its first bytes (derived copies are JPEG or PNG)."""
    with path.open("rb") as handle:
        return sniff(handle.read(16)) or "application/octet-stream"


def read_upload(stream: BinaryIO, *, max_bytes: int, chunk_bytes: int = CHUNK_BYTES) -> bytes:
    """Reads an upload in chunks; raises TooLarge as soon as it passes `max_bytes` (the rest is never read)."""
    chunks: list[bytes] = []
    total = 0
    while chunk := stream.read(chunk_bytes):
        total += len(chunk)
        if total > max_bytes:
            raise TooLarge(
                f"file of more than {max_bytes} bytes exceeds the limit of {max_bytes} bytes", limit=max_bytes
            )
        chunks.append(chunk)
    return b"".join(chunks)


def store(
    data: bytes, *, media_dir: Path, max_bytes: int, tz: dt.tzinfo | None = None, photos_only: bool = False
) -> StoredFile:
    """Checks and stores `data` (photos: with a public copy and a thumbnail); the same content is stored once.

    `tz` is the zone a camera's local EXIF time is read in (default: the settings' timezone); `photos_only`
    refuses documents (public channels take photos only). Nothing is written unless the whole file is
    acceptable; every file is written atomically and fsynced.
    """
    if len(data) > max_bytes:
        raise TooLarge(f"file of {len(data)} bytes exceeds the limit of {max_bytes} bytes", limit=max_bytes)
    if not data:
        raise Invalid("empty file", code="empty_file")
    content_type = sniff(data[:16])
    if content_type is None:
        raise Invalid("unsupported file type: send a JPEG, PNG or WebP photo, or a PDF", code="unsupported_type")
    if photos_only and content_type not in IMAGE_FORMATS:
        raise Invalid("not a photo: send a JPEG, PNG or WebP image", code="not_a_photo")
    sha256 = hashlib.sha256(data).hexdigest()
    target = path_for(media_dir, sha256)
    if content_type not in IMAGE_FORMATS:
        if not target.exists():
            _write_atomic(target, data)
        return StoredFile(sha256=sha256, content_type=content_type, size=len(data), path=target)

    if tz is None:
        from gridgov.config import get_settings  # NOTE: here, so importing this module reads no configuration

        tz = get_settings().tz
    public, thumb = public_path_for(media_dir, sha256), thumb_path_for(media_dir, sha256)
    if target.exists() and public.exists() and thumb.exists():
        # The same bytes were decoded and accepted before: only the header and EXIF are read again.
        with _open_image(data, content_type) as image:
            info = photo_info(image, tz=tz)
    else:
        with _decode(data, content_type) as image:
            info = photo_info(image, tz=tz)
            public_bytes, thumb_bytes = _derive(image)
        # The derived copies first: once the original exists, its copies do too.
        _write_atomic(public, public_bytes)
        _write_atomic(thumb, thumb_bytes)
        _write_atomic(target, data)
    return StoredFile(
        sha256=sha256,
        content_type=content_type,
        size=len(data),
        path=target,
        width=info.width,
        height=info.height,
        taken_at=info.taken_at,
        gps_lng=info.gps_lng,
        gps_lat=info.gps_lat,
    )


def ensure_derived(media_dir: Path, sha256: str) -> bool:
    """Writes a stored photo's public copy and thumbnail if missing (files stored before they existed).

    Returns False when there is no original or it is not a photo.
    """
    original = path_for(media_dir, sha256)
    public, thumb = public_path_for(media_dir, sha256), thumb_path_for(media_dir, sha256)
    if public.exists() and thumb.exists():
        return True
    if not original.exists():
        return False
    data = original.read_bytes()
    content_type = sniff(data[:16])
    if content_type not in IMAGE_FORMATS:
        return False
    with _decode(data, content_type) as image:
        public_bytes, thumb_bytes = _derive(image)
    _write_atomic(public, public_bytes)
    _write_atomic(thumb, thumb_bytes)
    return True


def photo_info(image: Image.Image, *, tz: dt.tzinfo) -> PhotoInfo:
    """Reads the shown size, capture time (aware UTC) and WGS84 position from an opened photo's EXIF."""
    try:
        exif = image.getexif()
    except Exception:  # a broken EXIF block is ignored, like a missing one; the pixels are fine
        exif = Image.Exif()
    orientation = exif.get(0x0112)
    orientation = orientation if isinstance(orientation, int) and 1 <= orientation <= 8 else 1
    width, height = image.size
    if orientation in (5, 6, 7, 8):  # rotated a quarter turn: shown with width and height swapped
        width, height = height, width
    lng, lat = _gps(exif)
    return PhotoInfo(
        width=width, height=height, orientation=orientation, taken_at=_taken_at(exif, tz), gps_lng=lng, gps_lat=lat
    )


# --- decoding and deriving ---------------------------------------------------------------------------------------


def _open_image(data: bytes, content_type: str) -> Image.Image:
    """Opens (header only) an image with the one decoder its magic number names, refusing bombs by size."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=[IMAGE_FORMATS[content_type]])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _too_many_pixels(None) from None
    except Exception:  # Pillow raises many exception types on hostile input
        raise _bad_image(content_type) from None
    width, height = image.size
    if width * height > MAX_PIXELS:
        image.close()
        raise _too_many_pixels((width, height))
    return image


def _decode(data: bytes, content_type: str) -> Image.Image:
    """Verifies and fully decodes an image (first frame); refuses truncated, corrupt and oversized ones."""
    with _open_image(data, content_type) as probe:
        try:
            probe.verify()  # structure and checksums (PNG CRCs); the image must be reopened afterwards
        except Exception:
            raise _bad_image(content_type) from None
    image = _open_image(data, content_type)
    try:
        image.seek(0)
        image.load()  # the full decode: a truncated or corrupt JPEG fails here ("image file is truncated")
    except Exception:
        image.close()
        raise _bad_image(content_type) from None
    return image


def _derive(image: Image.Image) -> tuple[bytes, bytes]:
    """Returns the public copy (JPEG, or PNG when transparent) and the JPEG thumbnail of a decoded photo."""
    try:
        shown = _to_srgb(_normal_mode(ImageOps.exif_transpose(image)))
    except Exception:  # a pixel format Pillow cannot convert is refused like a broken file
        raise Invalid(
            "the photo's pixel format is not supported; send a normal JPEG or PNG", code="bad_image"
        ) from None
    if shown.mode == "RGBA" and shown.getchannel("A").getextrema()[0] == 255:
        shown = shown.convert("RGB")  # an alpha channel that is fully opaque carries nothing
    shown.info = {}  # NOTE: Pillow writes a comment and ICC profile from .info unless it is cleared
    public = io.BytesIO()
    if shown.mode == "RGBA":
        shown.save(public, "PNG")
        flat = Image.new("RGB", shown.size, (255, 255, 255))
        flat.paste(shown, mask=shown.getchannel("A"))
    else:
        shown.save(public, "JPEG", quality=PUBLIC_JPEG_QUALITY)
        flat = shown
    scale = min(1.0, THUMB_PX / max(flat.size))
    size = (max(1, round(flat.width * scale)), max(1, round(flat.height * scale)))
    # reducing_gap: box-reduce first, then Lanczos on the small image (3× faster than thumbnail() on a copy)
    thumb_image = flat.resize(size, Image.Resampling.LANCZOS, reducing_gap=2.0) if scale < 1 else flat.copy()
    thumb_image.info = {}
    thumb = io.BytesIO()
    thumb_image.save(thumb, "JPEG", quality=THUMB_JPEG_QUALITY)
    return public.getvalue(), thumb.getvalue()


def _normal_mode(image: Image.Image) -> Image.Image:
    """Returns the image as L, RGB, RGBA or CMYK (the modes the public copy is made from)."""
    if image.mode in ("L", "RGB", "RGBA", "CMYK"):
        return image
    if image.mode == "P":
        return image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("LA", "PA", "RGBa", "La"):
        return image.convert("RGBA")
    if image.mode == "1":
        return image.convert("L")
    if image.mode.startswith("I"):  # 16/32-bit greyscale: scale to 8 bits
        return image.convert("I").point(lambda v: v / 256).convert("L")
    return image.convert("RGB")


def _to_srgb(image: Image.Image) -> Image.Image:
    """Converts pixels described by an embedded ICC profile to sRGB, so the stripped copy keeps its colours."""
    icc = image.info.get("icc_profile")
    if not icc or image.mode not in ("RGB", "RGBA", "CMYK"):
        return image.convert("RGB") if image.mode == "CMYK" else image
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        mode = "RGBA" if image.mode == "RGBA" else "RGB"
        converted = ImageCms.profileToProfile(image, source, _SRGB, outputMode=mode)
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        converted = None  # a broken or mismatched profile: keep the pixels as they are
    if converted is None:
        return image.convert("RGB") if image.mode == "CMYK" else image
    return converted


def _write_atomic(target: Path, data: bytes) -> None:
    """Writes `data` to `target` through a temporary file in the same directory, fsynced, then renamed."""
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


def _bad_image(content_type: str) -> Invalid:
    kind = IMAGE_FORMATS.get(content_type, "image")
    return Invalid(
        f"the file starts like a {kind} image but cannot be decoded (truncated, corrupt or not really an image)",
        code="bad_image",
    )


def _too_many_pixels(size: tuple[int, int] | None) -> Invalid:
    found = f"{size[0]}×{size[1]} pixels" if size else "a canvas"
    return Invalid(
        f"the image declares {found}, more than the limit of {MAX_PIXELS // 1_000_000} megapixels "
        "(refused as a possible decompression bomb)",
        code="bad_image",
        max_pixels=MAX_PIXELS,
    )


# --- EXIF ----------------------------------------------------------------------------------------------------------


def _taken_at(exif: Image.Exif, tz: dt.tzinfo) -> dt.datetime | None:
    """Returns DateTimeOriginal as aware UTC: with its EXIF offset when the camera wrote one, else local in `tz`."""
    try:
        sub = exif.get_ifd(_EXIF_IFD)
    except Exception:
        return None
    for tag in (_DATETIME_ORIGINAL, _DATETIME_DIGITIZED):
        text = _text(sub.get(tag))
        match = _EXIF_DATETIME_RE.match(text or "")
        if not match:
            continue
        try:
            naive = dt.datetime(*(int(g) for g in match.groups()))  # zone attached below
        except ValueError:
            continue
        offset = _EXIF_OFFSET_RE.match(_text(sub.get(_OFFSET_TIME_ORIGINAL)) or "")
        if offset and tag == _DATETIME_ORIGINAL:
            sign = 1 if offset.group(1) == "+" else -1
            zone: dt.tzinfo = dt.timezone(sign * dt.timedelta(hours=int(offset.group(2)), minutes=int(offset.group(3))))
        else:
            zone = tz
        return naive.replace(tzinfo=zone).astimezone(dt.UTC)
    return None


def _gps(exif: Image.Exif) -> tuple[float | None, float | None]:
    """Returns the EXIF GPS position as WGS84 decimal degrees (longitude, latitude), or (None, None)."""
    try:
        gps = exif.get_ifd(_GPS_IFD)
        lat = _degrees(gps.get(2), gps.get(1), "S")
        lng = _degrees(gps.get(4), gps.get(3), "W")
    except Exception:  # malformed GPS data is treated as none
        return None, None
    if lat is None or lng is None or not (-90 <= lat <= 90 and -180 <= lng <= 180):
        return None, None
    if lat == 0 and lng == 0:  # cameras without a fix write zeros
        return None, None
    return lng, lat


def _degrees(dms: object, ref: object, negative: str) -> float | None:
    """Returns degrees from EXIF (degrees, minutes, seconds) rationals and a hemisphere reference."""
    if not isinstance(dms, tuple | list) or not dms:
        return None
    parts = [float(v) for v in dms[:3]]
    if any(math.isnan(p) or math.isinf(p) for p in parts):
        return None
    parts += [0.0] * (3 - len(parts))
    value = parts[0] + parts[1] / 60 + parts[2] / 3600
    return -value if (_text(ref) or "").strip().upper().startswith(negative) else value


def _text(value: object) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    return value.strip("\x00 ") if isinstance(value, str) else None


# --- serving -----------------------------------------------------------------------------------------------------


def file_response(path: Path, *, etag: str, cache_control: str, if_none_match: str | None) -> Response:
    """Returns a stored file (304 when the client's If-None-Match holds its ETag), typed by its content."""
    quoted = f'"{etag}"'
    headers = {"ETag": quoted, "Cache-Control": cache_control, "X-Content-Type-Options": "nosniff"}
    if if_none_match is not None:
        tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
        if quoted in tags or "*" in tags:
            return Response(status_code=304, headers=headers)
    return FileResponse(path, media_type=media_type_of(path), headers=headers)
