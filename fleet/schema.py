"""Imports every table module so that ``SQLModel.metadata`` holds the whole schema."""

from fleet import changelog
from fleet.access import models as access_models
from fleet.alerts import models as alert_models
from fleet.attachments import models as attachment_models
from fleet.inventory import models as inventory_models
from fleet.probes import models as probe_models
from fleet.upgrades import models as upgrade_models

__all__ = [
    "access_models",
    "alert_models",
    "attachment_models",
    "changelog",
    "inventory_models",
    "probe_models",
    "upgrade_models",
]
