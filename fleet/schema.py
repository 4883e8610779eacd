"""Imports every table module so that ``SQLModel.metadata`` holds the whole schema."""

from fleet.inventory import models as inventory_models

__all__ = ["inventory_models"]
