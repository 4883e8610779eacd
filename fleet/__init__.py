"""fleet: hardware-fleet and connectivity inventory for a police network."""

__version__ = "0.1.0"
