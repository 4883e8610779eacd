"""Health probes (SNMP, SSH, HTTP, TCP) and the live status derived from them."""
