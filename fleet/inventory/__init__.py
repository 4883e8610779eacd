"""The inventory: countries, sites, device models, devices, links and credential profiles."""
