"""The HTTP API: controllers that parse, call a domain service and return."""
