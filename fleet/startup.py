"""Checks shared by every entry point that serves or probes (the app, ``serve``, ``worker``)."""

from __future__ import annotations

from fleet.database import Database
from fleet.inventory import credentials
from fleet.inventory.credentials import Cipher, NoKey

MISSING_KEY = (
    "the database holds credential secrets but FLEET_CREDENTIAL_KEYS is not set; refusing to "
    "start (set it to the keys they were stored with; `fleet credentials new-key` makes one)"
)


async def check_keys(db: Database, cipher: Cipher) -> None:
    """Raise :class:`NoKey` when stored credential secrets could not be read with ``cipher``."""
    if cipher.ready:
        return
    async with db.session() as session:
        if await credentials.stored_secrets(session):
            raise NoKey(MISSING_KEY)
