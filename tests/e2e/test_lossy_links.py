"""A client that goes away in the middle of a create leaves its Idempotency-Key unclaimed."""

from __future__ import annotations

import json
import socket
import time
from urllib.parse import urlsplit

import httpx

from tests.e2e.conftest import Served

SITE = {
    "code": "NE-LOSSY-01",
    "name": "Lossy post",
    "kind": "border_crossing_land",
    "country": "NE",
    "latitude": 13.0,
    "longitude": 2.0,
}


def _send_half_and_close(served: Served, key: str, body: bytes) -> None:
    parts = urlsplit(served.base)
    head = (
        f"POST /api/v1/sites HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        f"Authorization: Bearer {served.token}\r\nContent-Type: application/json\r\n"
        f"Idempotency-Key: {key}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as sock:
        sock.sendall(head + body[: len(body) // 2])
        time.sleep(0.2)


def test_disconnect_mid_body_claims_nothing_and_the_retry_succeeds(served: Served) -> None:
    body = json.dumps(SITE).encode()
    _send_half_and_close(served, "lossy-key-1", body)
    time.sleep(0.5)  # the server sees the disconnect
    headers = {
        "Authorization": f"Bearer {served.token}",
        "Idempotency-Key": "lossy-key-1",
        "Content-Type": "application/json",
    }
    retry = httpx.post(f"{served.base}/api/v1/sites", content=body, headers=headers, timeout=10)
    assert retry.status_code == 201, retry.text
    assert "idempotent-replayed" not in retry.headers
    again = httpx.post(f"{served.base}/api/v1/sites", content=body, headers=headers, timeout=10)
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    auth = {"Authorization": f"Bearer {served.token}"}
    found = httpx.get(
        f"{served.base}/api/v1/sites", params={"q": "LOSSY"}, headers=auth, timeout=10
    ).json()
    assert [s["code"] for s in found["items"]] == ["NE-LOSSY-01"]
    changes = httpx.get(f"{served.base}/api/v1/sites/NE-LOSSY-01/history", headers=auth, timeout=10)
    assert changes.status_code == 200, changes.text


def test_chunked_body_over_the_limit_is_413_not_a_reset(served: Served) -> None:
    parts = urlsplit(served.base)
    head = (
        f"POST /api/v1/sites HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        f"Authorization: Bearer {served.token}\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    ).encode()
    chunk = b"x" * 65536
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(head + b'b\r\n{"notes": "\r\n')
        try:
            for _ in range(20):  # 1.3 MB, over the 1 MiB default
                sock.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may stop reading once it has answered
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"application/problem+json" in answer
