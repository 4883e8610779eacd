"""Errors a user can cause, told in one line (no traceback) with what to do."""

from __future__ import annotations

import threading
from typing import Any

import click
import pydantic
from sqlalchemy import exc as sa_exc

from fleet.inventory.credentials import NoKey

DATABASE_HINT = (
    "check FLEET_DATABASE_URL (or --database-url): e.g. sqlite+aiosqlite:///fleet.db or "
    "postgresql+asyncpg://user@host/db, and that its server runs"
)


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def explain(exc: Exception) -> str | None:
    """One line for an error the user caused, or None for a defect (shown in full)."""
    if isinstance(exc, pydantic.ValidationError):
        return "; ".join(
            f"FLEET_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in exc.errors()
        )
    if isinstance(exc, sa_exc.ArgumentError):
        return f"the database URL is not one fleet can use ({_first_line(exc)}); {DATABASE_HINT}"
    if isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError | ConnectionError):
        return f"cannot open the database ({_first_line(exc)}); {DATABASE_HINT}"
    if isinstance(exc, OSError) and exc.errno is not None:
        return f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else "")
    if isinstance(exc, NoKey):
        return str(exc)
    return None


def _closed_loop_quiet(args: threading.ExceptHookArgs) -> None:
    """After an explained error the process exits: a driver's worker thread (aiosqlite's) that
    still hands a result to the event loop ``asyncio.run`` has closed says nothing."""
    aiosqlite = args.thread is not None and "_connection_worker_thread" in args.thread.name
    closed = isinstance(args.exc_value, RuntimeError) and "loop is closed" in str(args.exc_value)
    if aiosqlite and closed:
        return
    threading.__excepthook__(args)


class FleetGroup(click.Group):
    """The top-level group: user-caused errors become one ``Error: ...`` line, exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:
            message = explain(exc)
            if message is None:
                raise
            threading.excepthook = _closed_loop_quiet
            raise click.ClickException(message) from None
