"""``fleet demo`` ends through its cleanup on SIGTERM too, not only on Ctrl-C."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

from .sample_fleet import free_port

# uvicorn catches SIGTERM, shuts down, then raises it again: by default that kills the process
# before the demo's own ``finally`` (stopping the simulator) runs
CHILD = textwrap.dedent(
    """
    import asyncio, os, signal, sys
    import uvicorn
    from fleet.demo.run import _terminate_like_interrupt

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while (message := await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})

    class Server(uvicorn.Server):
        async def startup(self, sockets=None):
            await super().startup(sockets)
            os.kill(os.getpid(), signal.SIGTERM)

    async def main():
        with _terminate_like_interrupt():
            try:
                config = uvicorn.Config(app, port=int(sys.argv[1]), log_level="warning")
                await Server(config).serve()
            finally:
                print("cleaned up", flush=True)

    asyncio.run(main())
    """
)


def test_sigterm_runs_the_cleanup_and_exits_143() -> None:
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(free_port(socket.SOCK_STREAM))],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])},
    )
    assert child.stdout == "cleaned up\n", child.stderr
    assert child.returncode == 128 + signal.SIGTERM, child.stderr
