"""Site profiles, needs assessment and upgrade work orders."""
