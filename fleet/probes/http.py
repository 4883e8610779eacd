"""HTTP(S) health-endpoint probe on httpx.

One ``AsyncClient`` per TLS-verification mode and event loop, shared by every probe (httpx
pools connections; a client may not cross event loops). TLS is verified unless the target's
``HttpOptions.verify_tls`` is false; the reading records which (``values["tls_verify"]``).

The expected status (``HttpOptions.expected_status``, any 2xx when unset) -> ok (JSON body
fields such as firmware/version/status/uptime are read from a 2xx body), 401/403 ->
auth_failed, other statuses -> error ("expected status 200, got 503"), connection refused ->
refused ("connection refused"), a failed TLS handshake -> error ("TLS handshake failed: wrong
version number"), timeout -> timeout, a body that is not JSON where JSON is expected ->
parse_error. Reasons name what went wrong, the same run after run, not a library's wording.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
import weakref
from typing import Any

import httpx

from fleet.probes.base import failed, short_reason, truncate
from fleet.probes.types import (
    HttpOptions,
    ProbeConfigError,
    ProbeStatus,
    ProbeTarget,
    Reading,
    Value,
    utcnow,
)

FIRMWARE_FIELDS = ("firmware_version", "firmware", "version", "sw_version")
UPTIME_FIELDS = ("uptime_seconds", "uptime")
USER_AGENT = "fleet-probe/1"


def _text(value: str) -> str:
    """A device's text as valid UTF-8: a JSON body may carry lone surrogates (``"\\ud800"``),
    which no response or database could write; they become ``?``."""
    return value.encode("utf-8", "replace").decode("utf-8")


def _scalar(value: Any) -> Value | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, int | float):
        return value
    return None


def read_health(body: Any, reading: Reading) -> None:
    """Copy the scalar fields of a JSON health document into ``reading``."""
    if not isinstance(body, dict):
        return
    for name, value in body.items():
        scalar = _scalar(value)
        if scalar is not None:
            reading.values[_text(str(name))] = (
                truncate(scalar) if isinstance(scalar, str) else scalar
            )
    for name in FIRMWARE_FIELDS:
        if isinstance(body.get(name), str | int | float) and not isinstance(body[name], bool):
            reading.firmware_version = _text(str(body[name]))
            break
    for name in UPTIME_FIELDS:
        value = body.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            reading.uptime_seconds = float(value)
            break


class HttpProbe:
    kind = "http"
    driver = "httpx"

    def __init__(self) -> None:
        self._clients: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[bool, httpx.AsyncClient]
        ] = weakref.WeakKeyDictionary()

    def client(self, verify: bool) -> httpx.AsyncClient:
        """The shared client of this event loop for the given TLS-verification mode."""
        loop = asyncio.get_running_loop()
        clients = self._clients.setdefault(loop, {})
        client = clients.get(verify)
        if client is None:
            client = clients[verify] = httpx.AsyncClient(
                verify=verify,
                follow_redirects=False,
                headers={"User-Agent": USER_AGENT},
                limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
            )
        return client

    async def aclose(self) -> None:
        """Close this event loop's clients."""
        clients = self._clients.pop(asyncio.get_running_loop(), {})
        for client in clients.values():
            await client.aclose()

    @staticmethod
    def url(target: ProbeTarget, opts: HttpOptions) -> str:
        host = f"[{target.address}]" if ":" in target.address else target.address
        path = opts.path if opts.path.startswith("/") else f"/{opts.path}"
        return f"{opts.scheme}://{host}:{target.port_for('http')}{path}"

    async def collect(self, target: ProbeTarget, timeout: float) -> Reading:  # noqa: ASYNC109
        started_at = utcnow()
        t0 = time.perf_counter()
        opts = target.http
        if opts is None:
            raise ProbeConfigError("target has no HTTP options")
        verify = opts.verify_tls or opts.scheme == "http"
        headers, auth = _request_auth(opts)
        try:
            response = await self.client(verify).get(
                self.url(target, opts),
                headers=headers,
                auth=auth or httpx.USE_CLIENT_DEFAULT,
                timeout=httpx.Timeout(timeout),
            )
        except httpx.TimeoutException:
            return failed(self.kind, target, ProbeStatus.TIMEOUT, "HTTP timeout", started_at, t0)
        except httpx.HTTPError as exc:
            status, reason = failure_reason(exc, opts.scheme)
            return failed(self.kind, target, status, reason, started_at, t0)

        code = response.status_code
        reading = Reading(
            kind=self.kind,
            device_id=target.device_id,
            status=ProbeStatus.OK,
            started_at=started_at,
            http_status=code,
            values={"tls_verify": "true" if verify else "false"},
        )
        _judge(response, opts, reading)
        reading.duration_ms = (time.perf_counter() - t0) * 1000
        return reading


def _request_auth(opts: HttpOptions) -> tuple[dict[str, str], httpx.BasicAuth | None]:
    """The request's headers and basic auth from the profile: a bearer token, or a user."""
    headers: dict[str, str] = {"Accept": "application/json"} if opts.expect_json else {}
    cred = opts.credentials
    if cred is not None and cred.bearer_token:
        headers["Authorization"] = f"Bearer {cred.bearer_token}"
    elif cred is not None and cred.username is not None:
        return headers, httpx.BasicAuth(cred.username, cred.password or "")
    return headers, None


def _causes(exc: BaseException) -> list[BaseException]:
    """The exception and what caused it, outermost first (httpx wraps httpcore wraps OSError)."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _ssl_text(exc: ssl.SSLError) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError) and exc.verify_message:
        return f"certificate verify failed: {exc.verify_message}"
    if exc.reason:
        return str(exc.reason).replace("_", " ").lower()
    return type(exc).__name__


def failure_reason(exc: httpx.HTTPError, scheme: str) -> tuple[ProbeStatus, str]:
    """A failed request's status and a reason that is the same each time the peer fails the
    same way: what went wrong, not the wording of whichever layer saw it first."""
    chain = _causes(exc)
    for cause in chain:
        if isinstance(cause, ssl.SSLError):
            return ProbeStatus.ERROR, f"TLS handshake failed: {_ssl_text(cause)}"
    for cause in chain:
        if isinstance(cause, ConnectionRefusedError):
            return ProbeStatus.REFUSED, "connection refused"
    closed = (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)
    closed_early = any(isinstance(c, closed) for c in chain) or isinstance(
        exc, httpx.RemoteProtocolError
    )
    if isinstance(exc, httpx.ConnectError):
        if scheme == "https" and closed_early:
            return ProbeStatus.ERROR, "TLS handshake failed: connection closed by the peer"
        for cause in chain:
            if isinstance(cause, OSError) and cause.strerror:
                return ProbeStatus.REFUSED, f"connect failed: {cause.strerror.lower()}"
        return ProbeStatus.REFUSED, "connect failed"
    if closed_early:
        return ProbeStatus.ERROR, "connection closed by the peer before an answer"
    return ProbeStatus.ERROR, short_reason(exc)


def _judge(response: httpx.Response, opts: HttpOptions, reading: Reading) -> None:
    """The reading's status from the answer: its code, then (when JSON is expected) its body."""
    code = response.status_code
    expected = opts.expected_status
    if code != expected and code in (401, 403):
        reading.status = ProbeStatus.AUTH_FAILED
        reading.reason = f"HTTP {code}"
    elif expected is not None and code != expected:
        reading.status = ProbeStatus.ERROR
        reading.reason = f"expected status {expected}, got {code}"
    elif expected is None and not 200 <= code < 300:
        reading.status = ProbeStatus.ERROR
        reading.reason = f"expected a 2xx status, got {code}"
    elif opts.expect_json and 200 <= code < 300 and code != 204:
        try:
            body = json.loads(response.content) if response.content else None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            reading.status = ProbeStatus.PARSE_ERROR
            reading.reason = f"body is not JSON: {short_reason(exc)}"
        else:
            if body is None:
                reading.status = ProbeStatus.PARSE_ERROR
                reading.reason = "empty body where JSON was expected"
            else:
                read_health(body, reading)
