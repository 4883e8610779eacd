"""The HTTP probe against respx-mocked endpoints (no real server)."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator

import httpx
import pytest
import respx

from fleet.probes.base import run_probe
from fleet.probes.http import HttpProbe
from fleet.probes.types import HttpCredentials, HttpOptions, ProbeStatus, ProbeTarget

pytestmark = pytest.mark.anyio

URL = "https://127.0.0.1:8443/api/health"


@pytest.fixture
async def probe() -> AsyncIterator[HttpProbe]:
    p = HttpProbe()
    try:
        yield p
    finally:
        await p.aclose()


def target(**http: object) -> ProbeTarget:
    return ProbeTarget(
        5,
        "127.0.0.1",
        8443,
        http=HttpOptions(path="/api/health", **http),  # type: ignore[arg-type]
    )


@respx.mock
async def test_ok_reads_json_fields(probe: HttpProbe) -> None:
    respx.get(URL).respond(
        200,
        json={"status": "healthy", "firmware": "7.2.4", "uptime": 12345, "ha": True, "x": [1]},
    )
    reading = await run_probe(probe, target(), timeout=2)
    assert reading.status is ProbeStatus.OK, reading.reason
    assert reading.http_status == 200
    assert reading.firmware_version == "7.2.4"
    assert reading.uptime_seconds == 12345.0
    assert reading.values["status"] == "healthy"
    assert reading.values["ha"] == "true"
    assert "x" not in reading.values  # only scalar fields
    assert reading.values["tls_verify"] == "true"


@respx.mock
async def test_credentials_are_sent(probe: HttpProbe) -> None:
    route = respx.get(URL).respond(200, json={"version": "1.0"})
    await run_probe(probe, target(credentials=HttpCredentials(bearer_token="tok-123")), timeout=2)
    assert route.calls.last.request.headers["Authorization"] == "Bearer tok-123"
    await run_probe(
        probe, target(credentials=HttpCredentials(username="ops", password="pw")), timeout=2
    )
    assert route.calls.last.request.headers["Authorization"].startswith("Basic ")


@pytest.mark.parametrize("code", [401, 403])
@respx.mock
async def test_unauthorized_is_auth_failed(probe: HttpProbe, code: int) -> None:
    respx.get(URL).respond(code)
    reading = await run_probe(probe, target(), timeout=2, retries=2)
    assert reading.status is ProbeStatus.AUTH_FAILED
    assert reading.http_status == code
    assert "attempts" not in reading.values


@respx.mock
async def test_server_error_is_error_with_status(probe: HttpProbe) -> None:
    route = respx.get(URL).respond(500)
    reading = await run_probe(probe, target(), timeout=2, retries=1)
    assert reading.status is ProbeStatus.ERROR
    assert reading.http_status == 500
    assert reading.reason == "expected a 2xx status, got 500"
    assert route.call_count == 2  # retried once


@respx.mock
async def test_timeout(probe: HttpProbe) -> None:
    respx.get(URL).mock(side_effect=httpx.ReadTimeout("slow"))
    reading = await run_probe(probe, target(), timeout=2)
    assert reading.status is ProbeStatus.TIMEOUT


@respx.mock
async def test_refused(probe: HttpProbe) -> None:
    respx.get(URL).mock(side_effect=httpx.ConnectError("[Errno 111] Connection refused"))
    reading = await run_probe(probe, target(), timeout=2)
    assert reading.status is ProbeStatus.REFUSED


@respx.mock
async def test_bad_json_is_parse_error(probe: HttpProbe) -> None:
    respx.get(URL).respond(200, text="<html>it works</html>")
    reading = await run_probe(probe, target(), timeout=2, retries=2)
    assert reading.status is ProbeStatus.PARSE_ERROR
    assert reading.reason.startswith("body is not JSON")
    assert "attempts" not in reading.values


@respx.mock
async def test_plain_body_accepted_when_json_not_expected(probe: HttpProbe) -> None:
    respx.get(URL).respond(200, text="OK")
    reading = await run_probe(probe, target(expect_json=False), timeout=2)
    assert reading.status is ProbeStatus.OK


@respx.mock
async def test_tls_verify_flag_is_passed_through(probe: HttpProbe) -> None:
    respx.get(URL).respond(200, json={})
    verified = await run_probe(probe, target(), timeout=2)
    unverified = await run_probe(probe, target(verify_tls=False), timeout=2)
    assert verified.values["tls_verify"] == "true"
    assert unverified.values["tls_verify"] == "false"

    def verify_mode(client: httpx.AsyncClient) -> ssl.VerifyMode:
        return client._transport._pool._ssl_context.verify_mode  # type: ignore[attr-defined,no-any-return]

    assert verify_mode(probe.client(True)) == ssl.CERT_REQUIRED
    assert verify_mode(probe.client(False)) == ssl.CERT_NONE
    assert probe.client(False) is probe.client(False)  # shared, reused


async def test_plain_http_url() -> None:
    t = ProbeTarget(1, "127.0.0.1", http=HttpOptions(path="status", scheme="http"))
    assert t.http is not None
    assert HttpProbe.url(t, t.http) == "http://127.0.0.1:80/status"


@respx.mock
async def test_text_that_is_not_unicode_is_made_so(probe: HttpProbe) -> None:
    # a JSON body may carry lone surrogates, which no response or database can write
    respx.get(URL).respond(
        200,
        content=b'{"st\\ud800": "bad \\udfff text", "firmware": "7.2\\ud800"}',
        headers={"content-type": "application/json"},
    )
    reading = await run_probe(probe, target(), timeout=2)
    assert reading.status is ProbeStatus.OK, reading.reason
    assert reading.values["st?"] == "bad ? text"
    assert reading.firmware_version == "7.2?"
    "".join(map(str, reading.values)).encode("utf-8")  # writable as UTF-8
