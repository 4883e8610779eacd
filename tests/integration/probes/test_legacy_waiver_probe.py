"""A device whose SNMPv3 profile runs under a legacy waiver is probed with MD5/DES against
the real snmpsim agent; take the waiver away behind the API's back and the probe refuses."""

from __future__ import annotations

import asyncio
from typing import Any

import sqlalchemy as sa
from litestar.testing import TestClient
from probe_peers import SnmpAgent

from fleet.database import Database
from fleet.inventory.models import CredentialProfile
from tests import factories

REASON = "Gilat modems speak only MD5/DES until the 2027 refresh"


async def _drop_waiver(url: str) -> None:
    db = Database(url)
    try:
        async with db.session(write=True) as session:
            await session.execute(sa.update(CredentialProfile).values(legacy_waiver_reason=None))
            await session.commit()
    finally:
        await db.dispose()


def test_waived_md5_des_profile_probes_a_real_agent(
    client: TestClient[Any], snmp_agent: SnmpAgent, db_url: str
) -> None:
    auth, auth_key, priv, priv_key = snmp_agent.users["fleet-md5"]
    assert (auth, priv) == ("MD5", "DES")
    made = client.post(
        "/api/v1/credential-profiles",
        json={
            "name": "old-kit",
            "kind": "snmp_v3",
            "username": "fleet-md5",
            "auth_protocol": auth,
            "priv_protocol": priv,
            "legacy_waiver_reason": REASON,
            "secret": {"auth_key": auth_key, "priv_key": priv_key},
        },
    )
    assert made.status_code == 201, made.text
    factories.country(client)
    site = factories.site(client)
    model = factories.device_model(client, kind="switch")
    device = factories.device(
        client,
        site=site["code"],
        model=model["slug"],
        management_address=snmp_agent.host,
        probe_port=snmp_agent.port,
        probes=["snmp"],
        snmp_profile="old-kit",
    )
    probed = client.post(f"/api/v1/devices/{device['id']}/probe")
    assert probed.status_code == 200, probed.text
    (result,) = probed.json()["results"]
    assert result["status"] == "ok", result["reason"]

    asyncio.run(_drop_waiver(db_url))
    refused = client.post(f"/api/v1/devices/{device['id']}/probe")
    assert refused.status_code == 422, refused.text
    assert "old-kit uses legacy protocols without a waiver" in refused.text
