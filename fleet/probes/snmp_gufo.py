"""SNMP driver on gufo-snmp (Rust BER/USM core, asyncio API ``gufo.snmp.aio.client``).

Supported: v2c; v3 noAuthNoPriv/authNoPriv/authPriv with MD5, SHA, SHA-224/256/384/512 and
DES, AES-128/192/256 (AES-192/256 with the Blumenthal key extension, like net-snmp).

Gaps, reported as status ``error`` without sending anything:

* SNMPv3 **context names**: gufo-snmp 0.13 always sends an empty contextName, so a target
  whose ``SnmpV3.context`` is not empty needs the pysnmp driver.

Behaviour worth knowing (asserted by the contract tests):

* gufo-snmp raises one ``SnmpAuthError`` for every USM report (usmStatsUnknownUserNames,
  usmStatsWrongDigests, usmStatsDecryptionErrors): all become ``auth_failed``.
* A closed UDP port gives ``timeout``, not ``refused``: the socket does not surface ICMP
  port-unreachable.
* A garbage datagram in reply gives ``parse_error`` (gufo-snmp raises ``SnmpDecodeError``).
* v3 costs two extra round trips per poll (engine discovery and time sync) the first time
  and one (time sync) afterwards: the engine id is cached per address.
"""

from __future__ import annotations

import asyncio
import time

from gufo.snmp import (
    Aes128Key,
    Aes192Key,
    Aes256Key,
    BaseAuthKey,
    BasePrivKey,
    DesKey,
    Md5Key,
    Sha1Key,
    Sha224Key,
    Sha256Key,
    Sha384Key,
    Sha512Key,
    SnmpAuthError,
    SnmpDecodeError,
    SnmpError,
    User,
)
from gufo.snmp.aio.client import SnmpSession

from fleet.probes import snmp
from fleet.probes.base import failed, short_reason
from fleet.probes.types import (
    ProbeConfigError,
    ProbeStatus,
    ProbeTarget,
    Reading,
    SnmpV2c,
    SnmpV3,
    Value,
    utcnow,
)

_AUTH_KEYS: dict[str, type[BaseAuthKey]] = {
    "MD5": Md5Key,
    "SHA": Sha1Key,
    "SHA224": Sha224Key,
    "SHA256": Sha256Key,
    "SHA384": Sha384Key,
    "SHA512": Sha512Key,
}
_PRIV_KEYS: dict[str, type[BasePrivKey]] = {
    "DES": DesKey,
    "AES": Aes128Key,
    "AES192": Aes192Key,
    "AES256": Aes256Key,
}

AUTH_FAILED_REASON = (
    "SNMPv3 authentication failed (unknown user name, wrong digest or decryption error)"
)


def make_user(cred: SnmpV3) -> User:
    if cred.context:
        raise ProbeConfigError(
            "gufo-snmp cannot send an SNMPv3 context name; use the pysnmp driver for this target"
        )
    auth = priv = None
    if cred.auth_protocol is not None:
        auth = _AUTH_KEYS[cred.auth_protocol]((cred.auth_key or "").encode())
    if cred.priv_protocol is not None:
        if auth is None:
            raise ProbeConfigError("SNMPv3 privacy needs an authentication protocol")
        priv = _PRIV_KEYS[cred.priv_protocol]((cred.priv_key or "").encode())
    return User(cred.user, auth_key=auth, priv_key=priv)


class GufoProbe:
    kind = "snmp"
    driver = "gufo"

    def __init__(self) -> None:
        self._users: dict[SnmpV3, User] = {}
        self._engine_ids: dict[tuple[str, int], bytes] = {}

    def _user(self, cred: SnmpV3) -> User:
        user = self._users.get(cred)
        if user is None:
            user = self._users[cred] = make_user(cred)
        return user

    async def collect(self, target: ProbeTarget, timeout: float) -> Reading:  # noqa: ASYNC109
        started_at = utcnow()
        t0 = time.perf_counter()
        deadline = asyncio.get_running_loop().time() + timeout
        opts = snmp.options(target)
        oids = snmp.get_oids(target)
        port = target.port_for("snmp")
        cred = opts.credentials
        key = (target.address, port)
        try:
            async with asyncio.timeout_at(deadline):
                if isinstance(cred, SnmpV2c):
                    session = SnmpSession(
                        target.address,
                        port,
                        community=cred.community,
                        timeout=timeout,
                        max_repetitions=opts.max_repetitions,
                    )
                else:
                    session = SnmpSession(
                        target.address,
                        port,
                        user=self._user(cred),
                        engine_id=self._engine_ids.get(key),
                        timeout=timeout,
                        max_repetitions=opts.max_repetitions,
                    )
                    await session.refresh()
                    self._engine_ids[key] = session.get_engine_id()
                got: dict[str, Value | bytes | None] = dict(await session.get_many(oids))
                walk: list[tuple[str, Value | bytes | None]] = []
                limit = snmp.MAX_WALK_REQUESTS * opts.max_repetitions
                async for oid, value in session.getbulk(snmp.IF_OPER_STATUS):
                    walk.append((oid, value))
                    if len(walk) > limit:
                        raise snmp.SnmpParseError("ifOperStatus walk does not end")
            base = Reading(
                kind=self.kind,
                device_id=target.device_id,
                status=ProbeStatus.ERROR,
                started_at=started_at,
            )
            reading = snmp.build_reading(target, got, walk, base)
        except TimeoutError:
            return failed(
                self.kind, target, ProbeStatus.TIMEOUT, snmp.timeout_reason(target), started_at, t0
            )
        except SnmpAuthError:
            self._engine_ids.pop(key, None)
            return failed(
                self.kind, target, ProbeStatus.AUTH_FAILED, AUTH_FAILED_REASON, started_at, t0
            )
        except (SnmpDecodeError, snmp.SnmpParseError, UnicodeDecodeError) as exc:
            return failed(
                self.kind,
                target,
                ProbeStatus.PARSE_ERROR,
                f"malformed SNMP reply: {short_reason(exc)}",
                started_at,
                t0,
            )
        except ConnectionRefusedError:
            return failed(
                self.kind, target, ProbeStatus.REFUSED, "port unreachable (ICMP)", started_at, t0
            )
        except (SnmpError, OSError) as exc:
            return failed(self.kind, target, ProbeStatus.ERROR, short_reason(exc), started_at, t0)
        reading.duration_ms = (time.perf_counter() - t0) * 1000
        return reading
