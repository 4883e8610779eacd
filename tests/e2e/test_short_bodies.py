"""A body shorter than its Content-Length is a 408 after the read timeout, nothing written."""

from __future__ import annotations

import json
import socket
import time
from urllib.parse import urlsplit

import httpx
import pytest

from tests.e2e.conftest import Served

SITE = {
    "code": "NE-SHORT-01",
    "name": "Short body post",
    "kind": "border_crossing_land",
    "country": "NE",
    "latitude": 13.0,
    "longitude": 2.0,
}


@pytest.fixture
def served_env() -> dict[str, str]:
    return {"FLEET_BODY_READ_TIMEOUT_S": "1"}


def test_body_shorter_than_its_length_is_408_promptly_and_writes_nothing(served: Served) -> None:
    body = json.dumps(SITE).encode()
    parts = urlsplit(served.base)
    head = (
        f"POST /api/v1/sites HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        f"Authorization: Bearer {served.token}\r\nContent-Type: application/json\r\n"
        f"Idempotency-Key: short-key-1\r\nContent-Length: {len(body) + 40}\r\n\r\n"
    ).encode()
    started = time.monotonic()
    with socket.create_connection((parts.hostname, parts.port), timeout=8) as sock:
        sock.sendall(head + body)  # 40 bytes short, and the connection stays open
        answer = sock.recv(4096)
        waited = time.monotonic() - started
        head_end = answer.find(b"\r\n\r\n")
        length = int(answer.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        while len(answer) < head_end + 4 + length:
            more = sock.recv(4096)
            if not more:
                break
            answer += more

    assert answer.startswith(b"HTTP/1.1 408"), answer[:300]
    assert b"application/problem+json" in answer
    assert waited < 5, waited
    assert b"did not arrive whole within 1 s" in answer
    auth = {"Authorization": f"Bearer {served.token}"}
    found = httpx.get(
        f"{served.base}/api/v1/sites", params={"q": "SHORT"}, headers=auth, timeout=10
    ).json()
    assert found["items"] == []
    time.sleep(0.3)  # the request's log line is written after the answer
    lines = [json.loads(line) for line in served.output if line.startswith("{")]
    assert not any(e.get("level") in ("error", "critical") for e in lines), lines
