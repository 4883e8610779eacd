"""What an uploaded file is: its declared type checked against its magic bytes, an image
decoded by Pillow (within a pixel bound, against decompression bombs), a PDF's first and last
marks. The checks are pure functions of the bytes; they raise the errors the API maps to
problem details."""

from __future__ import annotations

import io
import unicodedata
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from fleet.attachments.location import Malformed, remove_location
from fleet.errors import InvalidInput, UnsupportedMediaType

IMAGE_TYPES = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}
PDF = "application/pdf"
CONTENT_TYPES = (*IMAGE_TYPES, PDF)
NAME_MAX = 200
PDF_TAIL = 1024


@dataclass(frozen=True)
class Checked:
    """A file that passed: the bytes to store, the image's size, whether a location went."""

    data: bytes
    width: int | None
    height: int | None
    location_removed: bool


def media_type(header: str | None) -> str:
    """The declared type without parameters, if it is one of :data:`CONTENT_TYPES`."""
    media = (header or "").split(";", 1)[0].strip().lower()
    if media not in CONTENT_TYPES:
        raise UnsupportedMediaType(
            f"send the file as one of {', '.join(CONTENT_TYPES)} (got {media or 'nothing'!r})",
            field="Content-Type",
        )
    return media


def sniff(data: bytes) -> str | None:
    """The type the magic bytes say, if it is one we take."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data.startswith(b"%PDF-"):
        return PDF
    return None


def check_name(name: str) -> str:
    """The file name to show: 1 to 200 characters, no path separator, no control character."""
    if not 1 <= len(name) <= NAME_MAX:
        raise InvalidInput(f"name must be 1 to {NAME_MAX} characters", field="name")
    if "/" in name or "\\" in name:
        raise InvalidInput("name must not hold a path separator (/ or \\)", field="name")
    if any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in name):
        raise InvalidInput("name must not hold control or formatting characters", field="name")
    if not name.strip(" ."):
        raise InvalidInput("name must hold more than dots and spaces", field="name")
    return name


def _too_many_pixels(max_pixels: int, size: str) -> InvalidInput:
    return InvalidInput(
        f"the image is {size} pixels, more than the {max_pixels:,} this service decodes "
        "(a decompression bomb?)",
        field="body",
    )


def _image_size(content_type: str, data: bytes, max_pixels: int) -> tuple[int, int]:
    """The image's size, once it decoded whole. The pixel bound is checked on the header,
    before any pixel is decoded (Pillow refuses, by itself, twice its own bound at open)."""
    try:
        with Image.open(io.BytesIO(data), formats=[IMAGE_TYPES[content_type]]) as image:
            width, height = image.size
            if width * height > max_pixels:
                raise _too_many_pixels(max_pixels, f"{width} x {height}")
            image.load()  # the whole image decodes: not truncated, not corrupt
    except InvalidInput:
        raise
    except Image.DecompressionBombError:
        raise _too_many_pixels(max_pixels, "so many") from None
    except (
        UnidentifiedImageError,
        OSError,
        SyntaxError,
        ValueError,
        EOFError,
    ) as exc:
        raise InvalidInput(f"the image does not decode: {exc}", field="body") from None
    return width, height


def _check_pdf(data: bytes) -> None:
    if b"%%EOF" not in data[-PDF_TAIL:]:
        raise InvalidInput(
            f"the PDF does not end with %%EOF within its last {PDF_TAIL} bytes (truncated?)",
            field="body",
        )


def check(content_type: str, data: bytes, *, max_pixels: int, keep_location: bool) -> Checked:
    """Check ``data`` declared as ``content_type`` and return what to store.

    The location is removed first and the result decoded, so what is stored is what was
    checked."""
    if not data:
        raise InvalidInput("the body is empty; send the file's bytes", field="body")
    found = sniff(data)
    if found != content_type:
        what = f"a {found} file" if found else "none of the types this service takes"
        raise UnsupportedMediaType(
            f"the body was declared {content_type}, but its content is {what}",
            field="Content-Type",
        )
    if content_type == PDF:
        _check_pdf(data)
        return Checked(data, None, None, False)
    removed = False
    if not keep_location:
        try:
            data, removed = remove_location(content_type, data)
        except Malformed as exc:
            raise InvalidInput(f"the image is malformed: {exc}", field="body") from None
    width, height = _image_size(content_type, data, max_pixels)
    return Checked(data, width, height, removed)
