"""Credential profiles: encrypted at rest, never shown, audited when read, rotatable."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from litestar.testing import TestClient
from pydantic import SecretStr

from fleet.api.app import create_app
from fleet.database import Database
from fleet.inventory import credentials
from fleet.settings import Settings

V3 = {
    "name": "sahel-v3",
    "kind": "snmp_v3",
    "username": "fleet-ro",
    "auth_protocol": "SHA256",
    "priv_protocol": "AES",
    "secret": {"auth_key": "auth-secret-1", "priv_key": "priv-secret-1"},
}
SECRETS = ("auth-secret-1", "priv-secret-1", "c0mmunity-X", "ssh-pass-Z")


async def _dump(url: str) -> str:
    db = Database(url)
    try:
        async with db.session() as session:
            rows: list[str] = []
            for table in (
                "credential_profile",
                "change_record",
                "audit_event",
                "idempotency_record",
            ):
                rows += [
                    str(tuple(r)) for r in await session.execute(sa.text(f"SELECT * FROM {table}"))
                ]
            return "\n".join(rows)
    finally:
        await db.dispose()


def test_secrets_never_come_back(client: TestClient[Any], db_url: str) -> None:
    made = [
        client.post("/api/v1/credential-profiles", json=V3),
        client.post(
            "/api/v1/credential-profiles",
            json={"name": "v2", "kind": "snmp_v2c", "secret": {"community": "c0mmunity-X"}},
        ),
        client.post(
            "/api/v1/credential-profiles",
            json={
                "name": "ssh",
                "kind": "ssh",
                "username": "ops",
                "secret": {"password": "ssh-pass-Z"},
            },
        ),
    ]
    assert [r.status_code for r in made] == [201, 201, 201]
    shown = [
        *[r.text for r in made],
        client.get("/api/v1/credential-profiles").text,
        client.get("/api/v1/credential-profiles/sahel-v3").text,
        client.get("/api/v1/changes", params={"limit": 500}).text,
        client.get("/api/v1/audit-events", params={"limit": 500}).text,
        client.get("/schema/openapi.json").text,
    ]
    stored = asyncio.run(_dump(db_url))
    assert "sahel-v3" in stored
    for secret in SECRETS:
        assert all(secret not in text for text in shown), secret
        assert secret not in stored, secret
    body = made[0].json()
    assert body["has_secret"] is True
    assert "secret" not in body
    reads = client.get("/api/v1/audit-events", params={"kind": "credential_read"}).json()["items"]
    assert reads[0]["detail"]["profiles"] == ["sahel-v3"]
    assert len(reads) == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "kind": "snmp_v2c", "secret": {}}, "secret.community"),
        ({**V3, "name": "y", "auth_protocol": None}, "auth_protocol"),
        ({**V3, "name": "y", "secret": {"auth_key": "auth-secret-1"}}, "secret"),
        (
            {**V3, "name": "y", "secret": {"auth_key": "short", "priv_key": "priv-secret-1"}},
            "secret.auth_key",
        ),
        ({**V3, "name": "y", "auth_protocol": "MD5"}, "auth_protocol"),
        ({"name": "z", "kind": "ssh", "secret": {"password": "p"}}, "username"),
        ({"name": "Bad Name", "kind": "http", "secret": {}}, "name"),
    ],
)
def test_incomplete_profiles_are_refused(
    client: TestClient[Any], body: dict[str, Any], field: str
) -> None:
    response = client.post("/api/v1/credential-profiles", json=body)
    assert response.status_code == 422, response.text
    assert field in [e["field"] for e in response.json()["errors"]]
    assert client.get("/api/v1/credential-profiles").json()["items"] == []


def test_update_replaces_secret_and_delete_refuses_when_used(client: TestClient[Any]) -> None:
    client.post("/api/v1/credential-profiles", json=V3)
    response = client.patch(
        "/api/v1/credential-profiles/sahel-v3",
        json={"secret": {"auth_key": "auth-secret-2", "priv_key": "priv-secret-2"}},
        headers={"If-Match": '"1"'},
    )
    assert response.status_code == 200
    assert response.json()["version"] == 2
    change = client.get(
        "/api/v1/changes", params={"object_type": "credential_profile", "action": "update"}
    ).json()["items"][0]
    assert change["changes"] == {"secret": {"before": "(hidden)", "after": "(replaced)"}}
    assert (
        client.delete(
            "/api/v1/credential-profiles/sahel-v3", headers={"If-Match": '"2"'}
        ).status_code
        == 204
    )


def test_service_refuses_to_start_without_key(settings: Settings, client: TestClient[Any]) -> None:
    client.post("/api/v1/credential-profiles", json=V3)
    keyless = settings.model_copy(update={"credential_keys": None})
    with pytest.raises(BaseException) as caught, TestClient(create_app(keyless)):  # noqa: PT011
        pass
    found = caught.value
    while isinstance(found, BaseExceptionGroup):
        found = found.exceptions[0]
    assert isinstance(found, credentials.NoKey)
    assert "refusing to start" in str(found)


def test_without_key_no_secret_is_stored(settings: Settings, admin_token: str) -> None:
    keyless = settings.model_copy(update={"credential_keys": None})
    with TestClient(create_app(keyless)) as client:
        client.headers["Authorization"] = f"Bearer {admin_token}"
        response = client.post("/api/v1/credential-profiles", json=V3)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "secret"


def test_rotation(settings: Settings, client: TestClient[Any], db_url: str) -> None:
    client.post("/api/v1/credential-profiles", json=V3)
    old = settings.credential_keys.get_secret_value() if settings.credential_keys else ""
    new = Fernet.generate_key().decode()

    async def rotate_and_read() -> dict[str, str]:
        db = Database(db_url)
        try:
            async with db.session(write=True) as session:
                assert (
                    await credentials.rotate_all(session, credentials.Cipher(f"{new},{old}")) == 1
                )
                await session.commit()
            async with db.session() as session:
                profile = await credentials.get(session, "sahel-v3")
                assert profile.secret is not None
                with pytest.raises(credentials.NoKey):
                    credentials.Cipher(old).decrypt(profile.secret)
                return credentials.Cipher(new).decrypt(profile.secret)
        finally:
            await db.dispose()

    assert asyncio.run(rotate_and_read()) == {
        "auth_key": "auth-secret-1",
        "priv_key": "priv-secret-1",
    }
    with TestClient(create_app(settings.model_copy(update={"credential_keys": SecretStr(new)}))):
        pass  # starts with the new key alone
