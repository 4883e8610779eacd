"""The edge poller: probes a site's devices where they are, buffers the rounds and sends them
to the central service when its uplink lets it (``fleet edge``)."""
