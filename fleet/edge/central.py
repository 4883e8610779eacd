"""The edge poller's calls to the central service: short timeouts, and every failure one of
two kinds, *unreachable* (try again later: no route, a timeout, a 5xx, a 409) or *refused*
(the request will never be taken: another 4xx)."""

from __future__ import annotations

from typing import Any

import httpx

from fleet import __version__
from fleet.edge.buffer import Depth, Targets


class Unreachable(Exception):
    """Central did not take the request this time."""


class Refused(Exception):
    """Central refused the request for good (its problem detail as the message)."""


class Central:
    def __init__(self, url: str, token: str, timeout_s: float, sites: list[str]) -> None:
        self.sites = sites
        self.http = httpx.AsyncClient(
            base_url=url.rstrip("/") + "/api/v1",
            headers={"Authorization": f"Bearer {token}", "User-Agent": f"fleet-edge/{__version__}"},
            timeout=httpx.Timeout(timeout_s),
        )

    async def close(self) -> None:
        await self.http.aclose()

    async def _call(self, method: str, path: str, **options: Any) -> httpx.Response:
        try:
            response = await self.http.request(method, path, **options)
        except httpx.HTTPError as exc:
            raise Unreachable(f"{type(exc).__name__}: {exc}") from None
        if response.status_code >= 500 or response.status_code in (408, 409, 429):
            raise Unreachable(f"{response.status_code} {response.text[:200]}")
        if response.status_code >= 400:
            raise Refused(f"{response.status_code} {response.text[:500]}")
        return response

    async def targets(self, etag: str | None) -> Targets | None:
        """The targets, or None when those of ``etag`` are still current."""
        headers = {"If-None-Match": etag} if etag else {}
        params = [("site", code) for code in self.sites]
        response = await self._call("GET", "/edge/targets", headers=headers, params=params)
        if response.status_code == 304:
            return None
        body = response.json()
        return Targets(body["devices"], response.headers.get("etag"), body["probe_interval_s"])

    async def send(self, rounds: list[dict[str, Any]]) -> dict[str, int]:
        """A batch of rounds; what central stored (``accepted``, ``duplicates``)."""
        response = await self._call("POST", "/edge/results", json={"rounds": rounds})
        stored: dict[str, int] = response.json()
        return stored

    async def beat(self, depth: Depth, buffer_max_age_s: int) -> None:
        body = {
            "version": __version__,
            "buffered": depth.rounds,
            "oldest_buffered_at": depth.oldest.isoformat() if depth.oldest else None,
            "dropped": depth.dropped,
            "buffer_max_age_s": buffer_max_age_s,
        }
        await self._call("POST", "/edge/heartbeat", json=body)
