"""Real files for the attachment tests, made with Pillow (and a PDF by hand)."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image

GPS = {1: "N", 2: (13.0, 30.0, 0.0), 3: "E", 4: (2.0, 6.0, 0.0)}
GPS_IFD = 0x8825


def exif(with_gps: bool = True) -> Image.Exif:
    data = Image.Exif()
    data[0x010F] = "Acme"  # Make: other metadata stays
    data[0x0110] = "FieldCam 2"
    if with_gps:
        data[GPS_IFD] = GPS
    return data


def image(fmt: str, size: tuple[int, int] = (64, 48), *, gps: bool = True) -> bytes:
    picture = Image.new("RGB", size, (200, 30, 30))
    for x in range(size[0]):
        picture.putpixel((x, x % size[1]), (10, 200, 10))
    out = io.BytesIO()
    options: dict[str, object] = {"exif": exif(gps)}
    if fmt == "JPEG":
        options["quality"] = 92
    if fmt == "WEBP":
        options["lossless"] = True
    picture.save(out, fmt, **options)
    return out.getvalue()


def jpeg(size: tuple[int, int] = (64, 48), *, gps: bool = True) -> bytes:
    return image("JPEG", size, gps=gps)


def png(size: tuple[int, int] = (64, 48), *, gps: bool = True) -> bytes:
    return image("PNG", size, gps=gps)


def webp(size: tuple[int, int] = (64, 48), *, gps: bool = True) -> bytes:
    return image("WEBP", size, gps=gps)


def pdf() -> bytes:
    return (
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
        b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n"
        b"trailer<</Root 1 0 R>>\n%%EOF\n"
    )


def png_bomb(width: int, height: int) -> bytes:
    """A small PNG that claims ``width`` x ``height`` pixels (its rows compress to almost
    nothing): what a decompression bomb looks like."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale
    rows = zlib.compress(b"\x00" * ((width + 7) // 8 + 1) * min(height, 64), 9)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")
    )


def location_of(data: bytes) -> dict[int, object]:
    """The GPS IFD Pillow reads from ``data`` (empty when there is none)."""
    with Image.open(io.BytesIO(data)) as picture:
        return dict(picture.getexif().get_ifd(GPS_IFD))


def make_of(data: bytes) -> object:
    with Image.open(io.BytesIO(data)) as picture:
        return picture.getexif().get(0x010F)


def pixels(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as picture:
        return picture.convert("RGB").tobytes()
