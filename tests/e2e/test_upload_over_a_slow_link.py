"""A photo uploaded to a real `fleet serve` process the way a phone on a 32 kb/s link sends it:
slowly, in small pieces, then again with the same Idempotency-Key after the answer was lost
(stored once); a body announced too large is refused before it is sent, and one that streams
past the limit is cut off while it streams."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from tests.e2e.conftest import Served
from tests.integration.attachments import files

pytestmark = pytest.mark.e2e
SITE = "BF-BCL-01"  # in the sample
LIMIT = 256 * 1024
RATE = 4000  # bytes a second: 32 kb/s


@pytest.fixture
def served_env() -> dict[str, str]:
    return {"FLEET_ATTACHMENT_MAX_BYTES": str(LIMIT), "FLEET_SCHEDULER": "false"}


def _slowly(data: bytes, rate: int = RATE, piece: int = 1000) -> Iterator[bytes]:
    for at in range(0, len(data), piece):
        time.sleep(piece / rate)
        yield data[at : at + piece]


def _socket_post(served: Served, length: int, body: bytes) -> bytes:
    """Send the head and ``body`` of a POST announcing ``length`` bytes; the answer's start."""
    parts = urlsplit(served.base)
    head = (
        f"POST /api/v1/sites/{SITE}/attachments?name=big.jpg HTTP/1.1\r\n"
        f"Host: {parts.netloc}\r\nAuthorization: Bearer {served.token}\r\n"
        f"Content-Type: image/jpeg\r\nContent-Length: {length}\r\n\r\n"
    ).encode()
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(head + body)
        return sock.recv(4096)


@pytest.mark.timeout(120)
def test_a_photo_over_a_slow_link_and_its_retry_are_stored_once(served: Served) -> None:
    photo = files.jpeg((400, 300))
    assert 4_000 < len(photo) < 40_000
    headers = {
        "Authorization": f"Bearer {served.token}",
        "Content-Type": "image/jpeg",
        "Idempotency-Key": "phone-upload-1",
    }
    url = f"{served.base}/api/v1/sites/{SITE}/attachments"
    started = time.monotonic()
    first = httpx.post(
        url, content=_slowly(photo), params={"name": "mast.jpg"}, headers=headers, timeout=60
    )
    took = time.monotonic() - started
    assert first.status_code == 201, first.text
    assert took >= len(photo) / RATE * 0.9  # it really came slowly
    assert first.json()["location_removed"] is True
    again = httpx.post(
        url, content=_slowly(photo, rate=50_000), params={"name": "mast.jpg"}, headers=headers
    )
    assert again.status_code == 201, again.text
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    listed = httpx.get(url, headers={"Authorization": f"Bearer {served.token}"}).json()
    assert [item["id"] for item in listed["items"]] == [first.json()["id"]]
    stored = httpx.get(
        served.base + first.json()["content_url"],
        headers={"Authorization": f"Bearer {served.token}"},
    )
    assert files.location_of(stored.content) == {}
    assert files.pixels(stored.content) == files.pixels(photo)


@pytest.mark.timeout(60)
def test_a_body_announced_too_large_is_refused_before_it_is_sent(served: Served) -> None:
    started = time.monotonic()
    answer = _socket_post(served, 50 * LIMIT, b"")  # not one byte of the body sent
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert time.monotonic() - started < 5


@pytest.mark.timeout(60)
def test_a_body_that_streams_past_the_limit_is_cut_off(served: Served) -> None:
    answer = _socket_post(served, 4 * LIMIT, b"\xff" * (LIMIT + 1024))  # the rest never sent
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    listed = httpx.get(
        f"{served.base}/api/v1/sites/{SITE}/attachments",
        headers={"Authorization": f"Bearer {served.token}"},
    ).json()
    assert listed["items"] == []
