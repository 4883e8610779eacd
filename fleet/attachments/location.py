"""Removing the location (the EXIF GPS block) from a JPEG, PNG or WebP file without touching its
pixels: the EXIF block is rewritten by Pillow without its GPS IFD and put back in place of the
old one (a JPEG APP1 segment, a PNG ``eXIf`` chunk, a WebP ``EXIF`` chunk). Everything else in
the file is copied byte for byte, so there is no re-encoding and no loss of quality."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable

from PIL import Image

GPS_IFD = 0x8825
EXIF_HEADER = b"Exif\x00\x00"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: Legacy PNG text chunks (ImageMagick) that carry a whole EXIF block as hex text.
PNG_EXIF_TEXT = (b"Raw profile type exif", b"Raw profile type APP1")


class Malformed(ValueError):
    """The container around the pixels is not well formed."""


def _without_gps(block: bytes) -> bytes | None:
    """``block`` (a TIFF structure, with or without the ``Exif`` header) without its GPS IFD,
    in the same form; None when it holds no GPS IFD."""
    header = EXIF_HEADER if block.startswith(EXIF_HEADER) else b""
    exif = Image.Exif()
    try:
        exif.load(block)
    except (SyntaxError, ValueError, struct.error, OSError) as exc:
        raise Malformed(f"the EXIF block cannot be read: {exc}") from None
    if GPS_IFD not in exif:
        return None
    del exif[GPS_IFD]
    rewritten = exif.tobytes()  # with the Exif header
    return header + rewritten.removeprefix(EXIF_HEADER)


def _jpeg(data: bytes) -> tuple[bytes, bool]:
    if not data.startswith(b"\xff\xd8"):
        raise Malformed("not a JPEG stream")
    out = [data[:2]]
    at, removed = 2, False
    while at + 4 <= len(data):
        if data[at] != 0xFF:
            raise Malformed("a JPEG segment does not start with a marker")
        marker = data[at + 1]
        if marker == 0xDA:  # start of scan: the pixels and what follows, as they are
            break
        (length,) = struct.unpack(">H", data[at + 2 : at + 4])
        end = at + 2 + length
        if length < 2 or end > len(data):
            raise Malformed("a JPEG segment runs past the end of the file")
        payload = data[at + 4 : end]
        if marker == 0xE1 and payload.startswith(EXIF_HEADER):
            rewritten = _without_gps(payload)
            if rewritten is not None:
                if len(rewritten) + 2 > 0xFFFF:
                    raise Malformed("the EXIF block does not fit in one JPEG segment")
                out.append(b"\xff\xe1" + struct.pack(">H", len(rewritten) + 2) + rewritten)
                at, removed = end, True
                continue
        out.append(data[at:end])
        at = end
    out.append(data[at:])
    return b"".join(out), removed


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def _png(data: bytes) -> tuple[bytes, bool]:
    if not data.startswith(PNG_SIGNATURE):
        raise Malformed("not a PNG stream")
    out = [PNG_SIGNATURE]
    at, removed = len(PNG_SIGNATURE), False
    while at + 12 <= len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind = data[at + 4 : at + 8]
        end = at + 12 + length
        if end > len(data):
            raise Malformed("a PNG chunk runs past the end of the file")
        payload = data[at + 8 : at + 8 + length]
        if kind == b"eXIf":
            rewritten = _without_gps(payload)
            if rewritten is not None:
                out.append(_png_chunk(kind, rewritten))
                at, removed = end, True
                continue
        elif kind in (b"tEXt", b"zTXt", b"iTXt") and payload.split(b"\x00", 1)[0] in PNG_EXIF_TEXT:
            at, removed = end, True  # a whole EXIF block as text: dropped
            continue
        out.append(data[at:end])
        at = end
        if kind == b"IEND":
            break
    out.append(data[at:])
    return b"".join(out), removed


def _webp(data: bytes) -> tuple[bytes, bool]:
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise Malformed("not a WebP stream")
    out: list[bytes] = []
    at, removed = 12, False
    while at + 8 <= len(data):
        kind = data[at : at + 4]
        (length,) = struct.unpack("<I", data[at + 4 : at + 8])
        end = at + 8 + length + (length & 1)
        if at + 8 + length > len(data):
            raise Malformed("a WebP chunk runs past the end of the file")
        payload = data[at + 8 : at + 8 + length]
        if kind == b"EXIF":
            rewritten = _without_gps(payload)
            if rewritten is not None:
                pad = b"\x00" if len(rewritten) & 1 else b""
                out.append(kind + struct.pack("<I", len(rewritten)) + rewritten + pad)
                at, removed = end, True
                continue
        out.append(data[at:end])
        at = end
    body = b"".join(out)
    return b"RIFF" + struct.pack("<I", len(body) + 4) + b"WEBP" + body, removed


REWRITERS: dict[str, Callable[[bytes], tuple[bytes, bool]]] = {
    "image/jpeg": _jpeg,
    "image/png": _png,
    "image/webp": _webp,
}


def remove_location(content_type: str, data: bytes) -> tuple[bytes, bool]:
    """``data`` without its GPS block, and whether there was one to remove."""
    rewrite = REWRITERS.get(content_type)
    if rewrite is None:
        return data, False
    return rewrite(data)
