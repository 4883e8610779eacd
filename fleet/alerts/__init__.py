"""Alerts: rules over the live status, the support dates and the work orders; incidents (one
per rule and object) and their delivery by webhook and e-mail."""
