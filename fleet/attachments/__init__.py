"""Photos and documents attached to sites, devices and work orders."""
