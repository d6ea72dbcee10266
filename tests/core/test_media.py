"""The media store on real photos made with Pillow: content checks, EXIF reading, the stripped public copy."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import struct
import zlib
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from PIL import Image, ImageCms, features
from PIL.TiffImagePlugin import IFDRational

from gridgov.core import media
from gridgov.core.errors import Invalid

SH = ZoneInfo("Asia/Shanghai")
LIMIT = 10 * 1024 * 1024
# A point in Zhengzhou (the synthetic district's city) with six decimals.
LNG, LAT = 113.654321, 34.765432
RED, BLUE = (230, 20, 20), (20, 20, 230)


def _dms(value: float) -> tuple[IFDRational, IFDRational, IFDRational]:
    """Returns degrees, minutes and seconds as EXIF rationals (seconds to 1/10000, like phones write)."""
    value = abs(value)
    degrees = int(value)
    minutes = int((value - degrees) * 60)
    seconds = (value - degrees - minutes / 60) * 3600
    return IFDRational(degrees, 1), IFDRational(minutes, 1), IFDRational(round(seconds * 10000), 10000)


def exif_of(
    *,
    orientation: int | None = None,
    gps: tuple[float, float] | None = None,
    taken: str | None = None,
    offset: str | None = None,
) -> Image.Exif:
    """Returns EXIF as a phone writes it: camera make and model, orientation, capture time, GPS position."""
    exif = Image.Exif()
    exif[0x010F] = "ACME-PHONES"  # Make
    exif[0x0110] = "Pocket 9 Pro"  # Model
    if orientation is not None:
        exif[0x0112] = orientation
    if taken is not None:
        sub = exif.get_ifd(0x8769)
        sub[0x9003] = taken  # DateTimeOriginal
        if offset is not None:
            sub[0x9011] = offset  # OffsetTimeOriginal
    if gps is not None:
        lng, lat = gps
        ifd = exif.get_ifd(0x8825)
        ifd[1], ifd[2] = ("N" if lat >= 0 else "S"), _dms(lat)
        ifd[3], ifd[4] = ("E" if lng >= 0 else "W"), _dms(lng)
        ifd[0x12] = "WGS-84"  # GPSMapDatum
    return exif


def photo(
    size: tuple[int, int] = (400, 200),
    *,
    fmt: str = "JPEG",
    mode: str = "RGB",
    orientation: int | None = None,
    gps: tuple[float, float] | None = None,
    taken: str | None = None,
    offset: str | None = None,
    seed: int = 0,
    **save: object,
) -> bytes:
    """Returns a real photo: blue, with a red block in the stored top-left corner to check rotation."""
    colour = BLUE if mode == "RGB" else (*BLUE, 255)
    image = Image.new(mode, size, colour)
    corner = RED if mode == "RGB" else (*RED, 255)
    image.paste(corner, (0, 0, size[0] // 4, size[1] // 4))
    image.putpixel((size[0] - 1, size[1] - 1), (seed % 256, 0, 0) if mode == "RGB" else (seed % 256, 0, 0, 255))
    buffer = io.BytesIO()
    image.save(buffer, fmt, exif=exif_of(orientation=orientation, gps=gps, taken=taken, offset=offset), **save)
    return buffer.getvalue()


def near(pixel: tuple[int, ...], colour: tuple[int, int, int], tolerance: int = 40) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel[:3], colour, strict=True))


def files_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


# --- a phone photo -------------------------------------------------------------------------------------------------


def test_phone_photo_keeps_the_original_and_writes_a_stripped_rotated_public_copy_and_thumbnail(tmp_path):
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    data = photo(
        (1600, 800),
        orientation=6,  # the phone was held upright: shown rotated a quarter turn clockwise
        gps=(LNG, LAT),
        taken="2026:11:25 08:30:15",
        icc_profile=srgb,
        comment=b"secret comment",
        xmp=b"<x:xmpmeta><rdf:Description creator='Zhang San'/></x:xmpmeta>",
    )
    stored = media.store(data, media_dir=tmp_path, max_bytes=LIMIT, tz=SH)

    sha = hashlib.sha256(data).hexdigest()
    assert stored.sha256 == sha and stored.content_type == "image/jpeg" and stored.size == len(data)
    assert stored.path == media.path_for(tmp_path, sha) and stored.path.read_bytes() == data  # evidence, untouched
    assert (stored.width, stored.height) == (800, 1600)  # as shown: width and height swapped
    assert stored.taken_at == dt.datetime(2026, 11, 25, 0, 30, 15, tzinfo=dt.UTC)  # 08:30:15 in Shanghai
    assert stored.gps_lng == pytest.approx(LNG, abs=1e-6) and stored.gps_lat == pytest.approx(LAT, abs=1e-6)

    public_bytes = media.public_path_for(tmp_path, sha).read_bytes()
    for secret in (b"Exif", b"ACME-PHONES", b"Pocket 9", b"secret comment", b"Zhang San", b"xmpmeta", b"ICC_PROFILE"):
        assert secret in data and secret not in public_bytes, secret
    public = Image.open(io.BytesIO(public_bytes))
    assert public.format == "JPEG" and public.size == (800, 1600)
    assert len(public.getexif()) == 0
    assert not {"exif", "icc_profile", "comment", "xmp"} & set(public.info)
    public = public.convert("RGB")
    # The red block was stored top-left; turned clockwise it is shown top-right.
    assert near(public.getpixel((800 - 10, 10)), RED) and near(public.getpixel((10, 10)), BLUE)

    thumb_bytes = media.thumb_path_for(tmp_path, sha).read_bytes()
    assert b"Exif" not in thumb_bytes and b"ACME-PHONES" not in thumb_bytes
    thumb = Image.open(io.BytesIO(thumb_bytes))
    assert thumb.format == "JPEG" and thumb.size == (160, 320) and len(thumb.getexif()) == 0

    # Three files, nothing else (no temporary file left behind).
    assert [p.name for p in files_in(tmp_path)] == [sha, f"{sha}.public", f"{sha}.thumb"]


def test_comment_and_xmp_are_removed_from_an_upright_photo_without_colour_profile(tmp_path):
    data = photo(comment=b"secret comment", xmp=b"<x:xmpmeta>Zhang San</x:xmpmeta>", gps=(LNG, LAT))
    stored = media.store(data, media_dir=tmp_path, max_bytes=LIMIT, tz=SH)
    public_bytes = media.public_path_for(tmp_path, stored.sha256).read_bytes()
    for secret in (b"Exif", b"ACME-PHONES", b"secret comment", b"Zhang San"):
        assert secret in data and secret not in public_bytes, secret
    assert Image.open(io.BytesIO(public_bytes)).size == (400, 200)


def test_the_same_photo_is_stored_once(tmp_path):
    data = photo(gps=(LNG, LAT))
    first = media.store(data, media_dir=tmp_path, max_bytes=LIMIT, tz=SH)
    public = media.public_path_for(tmp_path, first.sha256)
    written = public.stat().st_mtime_ns
    again = media.store(data, media_dir=tmp_path, max_bytes=LIMIT, tz=SH)
    assert again == first
    assert public.stat().st_mtime_ns == written and len(files_in(tmp_path)) == 3


def test_exif_offset_time_wins_over_the_district_zone(tmp_path):
    data = photo(taken="2026:07:01 12:00:00", offset="+02:00")
    stored = media.store(data, media_dir=tmp_path, max_bytes=LIMIT, tz=SH)
    assert stored.taken_at == dt.datetime(2026, 7, 1, 10, 0, tzinfo=dt.UTC)


def test_southern_and_western_gps_are_negative_and_zeros_mean_no_fix(tmp_path):
    stored = media.store(photo(gps=(-43.1729, -22.9068)), media_dir=tmp_path, max_bytes=LIMIT, tz=SH)
    assert stored.gps_lng == pytest.approx(-43.1729, abs=1e-6)
    assert stored.gps_lat == pytest.approx(-22.9068, abs=1e-6)
    zeros = media.store(photo(gps=(0.0, 0.0), seed=1), media_dir=tmp_path, max_bytes=LIMIT, tz=SH)
    assert zeros.gps_lng is None and zeros.gps_lat is None


def test_a_photo_without_exif_has_no_time_and_no_position(tmp_path):
    image = Image.new("RGB", (64, 48), BLUE)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG")
    stored = media.store(buffer.getvalue(), media_dir=tmp_path, max_bytes=LIMIT, tz=SH)
    assert (stored.width, stored.height, stored.taken_at, stored.gps_lng, stored.gps_lat) == (64, 48, None, None, None)


# --- other formats -------------------------------------------------------------------------------------------------


def test_png_with_exif_is_accepted_and_stripped(tmp_path):
    data = photo((300, 100), fmt="PNG", gps=(LNG, LAT))
    stored = media.store(data, media_dir=tmp_path, max_bytes=LIMIT, tz=SH)
    assert stored.content_type == "image/png" and (stored.width, stored.height) == (300, 100)
    assert stored.gps_lat == pytest.approx(LAT, abs=1e-6)
    public_bytes = media.public_path_for(tmp_path, stored.sha256).read_bytes()
    assert b"ACME-PHONES" not in public_bytes and b"eXIf" not in public_bytes
    public = Image.open(io.BytesIO(public_bytes))
    assert public.format == "JPEG" and public.size == (300, 100)  # opaque: re-encoded as JPEG


def test_transparent_png_keeps_its_alpha_in_a_png_public_copy(tmp_path):
    image = Image.new("RGBA", (200, 200), (0, 0, 0, 0))
    image.paste((*RED, 255), (50, 50, 150, 150))
    buffer = io.BytesIO()
    image.save(buffer, "PNG", exif=exif_of(gps=(LNG, LAT)))
    stored = media.store(buffer.getvalue(), media_dir=tmp_path, max_bytes=LIMIT, tz=SH)
    public = Image.open(media.public_path_for(tmp_path, stored.sha256))
    assert public.format == "PNG" and public.mode == "RGBA"
    assert public.getpixel((0, 0))[3] == 0 and public.getpixel((100, 100)) == (*RED, 255)
    assert len(public.getexif()) == 0 and "exif" not in public.info
    thumb = Image.open(media.thumb_path_for(tmp_path, stored.sha256))
    assert thumb.format == "JPEG" and near(thumb.convert("RGB").getpixel((0, 0)), (255, 255, 255))  # on white


@pytest.mark.skipif(not features.check("webp"), reason="Pillow built without WebP")
def test_webp_is_accepted(tmp_path):
    data = photo((120, 80), fmt="WEBP", orientation=8, gps=(LNG, LAT))
    stored = media.store(data, media_dir=tmp_path, max_bytes=LIMIT, tz=SH)
    assert stored.content_type == "image/webp" and (stored.width, stored.height) == (80, 120)
    assert stored.gps_lng == pytest.approx(LNG, abs=1e-6)
    public = Image.open(media.public_path_for(tmp_path, stored.sha256))
    assert public.format == "JPEG" and public.size == (80, 120) and len(public.getexif()) == 0


def test_pdf_is_stored_as_it_is_without_copies(tmp_path):
    data = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"
    stored = media.store(data, media_dir=tmp_path, max_bytes=LIMIT)
    assert stored.content_type == "application/pdf" and stored.width is None and not stored.is_image
    assert files_in(tmp_path) == [media.path_for(tmp_path, stored.sha256)]


# --- refused files -------------------------------------------------------------------------------------------------


def test_a_text_file_named_jpg_is_refused(tmp_path):
    with pytest.raises(Invalid) as refused:
        media.store(b"<html><script>alert(1)</script></html>", media_dir=tmp_path, max_bytes=LIMIT)
    assert refused.value.code == "unsupported_type"
    assert files_in(tmp_path) == []


def test_a_file_disguised_with_jpeg_magic_is_refused(tmp_path):
    with pytest.raises(Invalid) as refused:
        media.store(b"\xff\xd8\xff\xe0" + b"not really a photo " * 50, media_dir=tmp_path, max_bytes=LIMIT)
    assert refused.value.code == "bad_image" and "cannot be decoded" in refused.value.message
    assert files_in(tmp_path) == []


def test_a_truncated_jpeg_is_refused_and_nothing_is_written(tmp_path):
    data = photo((800, 600), gps=(LNG, LAT))
    with pytest.raises(Invalid) as refused:
        media.store(data[: len(data) // 2], media_dir=tmp_path, max_bytes=LIMIT, tz=SH)
    assert refused.value.code == "bad_image"
    assert files_in(tmp_path) == []


def test_a_png_with_a_broken_checksum_is_refused(tmp_path):
    data = bytearray(photo((64, 64), fmt="PNG"))
    idat = data.index(b"IDAT")
    data[idat + 10] ^= 0xFF  # one flipped byte inside the compressed pixels: its CRC no longer matches
    with pytest.raises(Invalid) as refused:
        media.store(bytes(data), media_dir=tmp_path, max_bytes=LIMIT)
    assert refused.value.code == "bad_image"


def _png_header_only(width: int, height: int) -> bytes:
    """Returns a tiny PNG declaring a huge canvas (a decompression bomb's header)."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.mark.parametrize("size", [(8000, 6000), (30000, 30000)])
def test_decompression_bombs_are_refused_before_decoding(tmp_path, size):
    data = _png_header_only(*size)
    assert len(data) < 200
    with pytest.raises(Invalid) as refused:
        media.store(data, media_dir=tmp_path, max_bytes=LIMIT)
    assert refused.value.code == "bad_image" and "40 megapixels" in refused.value.message
    assert files_in(tmp_path) == []


def test_oversize_is_refused(tmp_path):
    data = photo()
    with pytest.raises(media.TooLarge) as refused:
        media.store(data, media_dir=tmp_path, max_bytes=len(data) - 1)
    assert refused.value.status == 413 and refused.value.details == {"limit": len(data) - 1}


def test_read_upload_stops_at_the_limit_without_reading_the_rest():
    stream = io.BytesIO(b"x" * 5_000_000)
    with pytest.raises(media.TooLarge):
        media.read_upload(stream, max_bytes=1_000_000, chunk_bytes=65536)
    assert stream.tell() <= 1_000_000 + 65536
    assert media.read_upload(io.BytesIO(b"abc"), max_bytes=3) == b"abc"


# --- helpers -------------------------------------------------------------------------------------------------------


def test_missing_copies_of_an_older_upload_are_made_on_demand(tmp_path):
    stored = media.store(photo(orientation=6), media_dir=tmp_path, max_bytes=LIMIT, tz=SH)
    media.public_path_for(tmp_path, stored.sha256).unlink()
    media.thumb_path_for(tmp_path, stored.sha256).unlink()
    assert media.ensure_derived(tmp_path, stored.sha256) is True
    assert Image.open(media.public_path_for(tmp_path, stored.sha256)).size == (200, 400)
    assert media.ensure_derived(tmp_path, "0" * 64) is False


def test_public_media_url():
    sha = "a" * 64
    assert media.public_media_url(sha) == f"/media/public/{sha}"
    assert media.public_media_url(sha, "public") == f"/media/public/{sha}"
    assert media.public_media_url(sha, "thumb") == f"/media/public/{sha}?variant=thumb"
    with pytest.raises(ValueError):
        media.public_media_url(sha, "original")
    assert media.is_sha256(sha) and not media.is_sha256("../" + sha[3:]) and not media.is_sha256(sha.upper())
