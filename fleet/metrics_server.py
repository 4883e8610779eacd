"""A process's own metrics over HTTP, for ``fleet worker`` (which has no API): the probe
results and durations and the scheduler's lateness it keeps, in Prometheus' text format at
``/metrics``, behind the same optional bearer token as the API's ``/metrics``.

It runs in a thread of its own (the standard library's WSGI server), so a busy event loop does
not delay a scrape.
"""

from __future__ import annotations

import hmac
import threading
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import make_wsgi_app

from fleet.metrics import REGISTRY

Start = Callable[[str, list[tuple[str, str]]], Any]


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes are not logged one by one."""


def _app(token: str | None) -> Callable[[dict[str, Any], Start], Iterable[bytes]]:
    metrics = make_wsgi_app(REGISTRY)

    def app(environ: dict[str, Any], start: Start) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != "/metrics":
            start("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found: the metrics are at /metrics\n"]
        if token is not None:
            scheme, _, given = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                given.strip().encode(), token.encode()
            ):
                start(
                    "401 Unauthorized",
                    [("Content-Type", "text/plain"), ("WWW-Authenticate", "Bearer")],
                )
                return [b"a bearer token (FLEET_METRICS_TOKEN) is needed\n"]
        result: Iterable[bytes] = metrics(environ, start)
        return result

    return app


class MetricsServer:
    """``/metrics`` on ``host:port`` until ``stop``; port 0 picks a free one (see ``port``)."""

    def __init__(self, host: str, port: int, token: str | None = None) -> None:
        self._server: WSGIServer = make_server(
            host, port, _app(token), server_class=WSGIServer, handler_class=_Quiet
        )
        self.port = int(self._server.server_port)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="metrics", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
