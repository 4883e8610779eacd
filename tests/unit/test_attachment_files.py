"""The checks of an uploaded file and the removal of a photo's location, on bytes made here:
the GPS block goes and everything else of the file stays byte for byte; a broken container is
refused; the body guard stops a body over its limit and one that is too slow."""

from __future__ import annotations

import asyncio
import io
import struct
import zlib
from typing import Any

import pytest
from litestar.exceptions import HTTPException
from PIL import Image, PngImagePlugin

from fleet.api.guard import bounded
from fleet.attachments import content
from fleet.attachments.location import Malformed, remove_location
from fleet.errors import InvalidInput, TooLarge, UnsupportedMediaType
from tests.integration.attachments import files


def _png_chunks(data: bytes) -> list[bytes]:
    at, kinds = 8, []
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kinds.append(data[at + 4 : at + 8])
        at += 12 + length
    return kinds


def test_the_jpeg_keeps_every_segment_but_the_location() -> None:
    sent = files.jpeg((320, 200))
    cleaned, removed = remove_location("image/jpeg", sent)
    assert removed
    assert files.location_of(cleaned) == {}
    assert files.make_of(cleaned) == "Acme"
    scan = sent.index(b"\xff\xda")
    assert cleaned.endswith(sent[scan:])  # the compressed pixels, byte for byte
    assert remove_location("image/jpeg", cleaned) == (cleaned, False)


def test_the_png_loses_a_legacy_exif_text_chunk_too() -> None:
    sent = files.png()
    text = b"Raw profile type exif\x00\x00" + b"exif\n 10\n" + b"00" * 10
    crc = struct.pack(">I", zlib.crc32(b"zTXt" + text) & 0xFFFFFFFF)
    legacy = struct.pack(">I", len(text)) + b"zTXt" + text + crc
    at_end = sent.index(b"IEND") - 4
    cleaned, removed = remove_location("image/png", sent[:at_end] + legacy + sent[at_end:])
    assert removed
    assert b"zTXt" not in _png_chunks(cleaned)
    assert files.location_of(cleaned) == {}
    assert files.pixels(cleaned) == files.pixels(sent)


def test_the_webp_riff_size_is_right_after_the_rewrite() -> None:
    cleaned, removed = remove_location("image/webp", files.webp((33, 17)))
    assert removed
    assert struct.unpack("<I", cleaned[4:8])[0] == len(cleaned) - 8
    assert files.location_of(cleaned) == {}


@pytest.mark.parametrize(
    ("content_type", "data"),
    [
        ("image/jpeg", b"\xff\xd8\xff\xe1\xff\xff" + b"Exif\x00\x00"),
        ("image/jpeg", b"\xff\xd8\x00\x00\x00\x00"),
        ("image/png", b"\x89PNG\r\n\x1a\n\x7f\xff\xff\xffIHDR" + b"\x00" * 8),
        ("image/webp", b"RIFF\x00\x00\x00\x00WEBPEXIF\xff\xff\x00\x00"),
        ("image/jpeg", b"\xff\xd8\xff\xe1\x00\x10Exif\x00\x00not a tiff"),
    ],
)
def test_a_broken_container_is_malformed(content_type: str, data: bytes) -> None:
    with pytest.raises(Malformed):
        remove_location(content_type, data)


def test_a_pdf_is_never_touched() -> None:
    assert remove_location("application/pdf", files.pdf()) == (files.pdf(), False)
    checked = content.check("application/pdf", files.pdf(), max_pixels=1, keep_location=False)
    assert (checked.data, checked.width, checked.location_removed) == (files.pdf(), None, False)


def test_the_pixel_bound_is_read_from_the_header() -> None:
    with pytest.raises(InvalidInput, match="64 x 48 pixels"):
        content.check("image/png", files.png(), max_pixels=64 * 48 - 1, keep_location=True)
    assert content.check("image/png", files.png(), max_pixels=64 * 48, keep_location=True)


@pytest.mark.parametrize(
    ("header", "expected"),
    [("image/JPEG", "image/jpeg"), ("application/pdf; charset=binary", "application/pdf")],
)
def test_the_declared_type_is_read_without_its_parameters(header: str, expected: str) -> None:
    assert content.media_type(header) == expected


@pytest.mark.parametrize("header", [None, "", "image/gif", "image/svg+xml", "text/html"])
def test_other_types_are_refused(header: str | None) -> None:
    with pytest.raises(UnsupportedMediaType):
        content.media_type(header)


def _receiver(chunks: list[bytes], delay: float = 0) -> Any:
    async def receive() -> Any:
        await asyncio.sleep(delay)
        chunk = chunks.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}

    return receive


async def _drain(receive: Any) -> int:
    size = 0
    while True:
        message = await receive()
        size += len(message["body"])
        if not message["more_body"]:
            return size


def test_the_guard_lets_a_body_within_its_limit_through() -> None:
    async def run() -> int:
        return await _drain(bounded({"headers": []}, _receiver([b"a" * 600, b"b" * 400]), 1000, 5))

    assert asyncio.run(run()) == 1000


def test_the_guard_stops_a_body_as_soon_as_it_is_over() -> None:
    chunks = [b"a" * 600, b"b" * 600, b"c" * 600]

    async def run() -> None:
        await _drain(bounded({"headers": []}, _receiver(chunks), 1000, 5))

    with pytest.raises(TooLarge):
        asyncio.run(run())
    assert chunks == [b"c" * 600]  # the rest was never read


def test_the_guard_refuses_a_declared_length_over_the_limit_before_reading() -> None:
    async def run() -> None:
        bounded({"headers": [(b"content-length", b"1001")]}, _receiver([b""]), 1000, 5)

    with pytest.raises(TooLarge):
        asyncio.run(run())


def test_the_guard_gives_a_slow_body_its_time_and_no_more() -> None:
    async def run() -> None:
        await _drain(bounded({"headers": []}, _receiver([b"a", b"b"], delay=0.2), 1000, 0.3))

    with pytest.raises(HTTPException) as refused:
        asyncio.run(run())
    assert refused.value.status_code == 408


XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
    b'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
    b'xmlns:exif="http://ns.adobe.com/exif/1.0/" exif:GPSLatitude="13,30.0N" '
    b'exif:GPSLongitude="2,6.0E"/></rdf:RDF></x:xmpmeta>'
)
XMP_ELSEWHERE = XMP.replace(b"GPSLatitude", b"Rating").replace(b"GPSLongitude", b"Label")


def _with_xmp(fmt: str, packet: bytes) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (16, 8), (1, 2, 3)).save(out, fmt, xmp=packet)
    return out.getvalue()


@pytest.mark.parametrize(("fmt", "content_type"), [("JPEG", "image/jpeg"), ("WEBP", "image/webp")])
def test_an_xmp_packet_with_the_location_goes_and_one_without_stays(
    fmt: str, content_type: str
) -> None:
    cleaned, removed = remove_location(content_type, _with_xmp(fmt, XMP))
    assert removed
    assert b"GPSLatitude" not in cleaned
    with Image.open(io.BytesIO(cleaned)) as picture:
        picture.load()
        assert "xmp" not in picture.info
    kept = _with_xmp(fmt, XMP_ELSEWHERE)
    assert remove_location(content_type, kept) == (kept, False)


def test_a_png_xmp_chunk_with_the_location_goes() -> None:
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", XMP.decode())
    out = io.BytesIO()
    Image.new("RGB", (16, 8)).save(out, "PNG", pnginfo=info)
    cleaned, removed = remove_location("image/png", out.getvalue())
    assert removed
    assert b"GPSLatitude" not in cleaned
    assert b"iTXt" not in _png_chunks(cleaned)
