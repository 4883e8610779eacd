"""structlog set-up: readable lines on a terminal, JSON otherwise; the request id and actor are
bound from context variables onto every line."""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from fleet import context


def _add_context(
    _logger: Any, _name: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    request = context.request_id.get()
    if request is not None:
        event.setdefault("request_id", request)
    return event


def configure(log_format: str = "auto", level: str = "INFO") -> None:
    json = log_format == "json" or (log_format == "auto" and not sys.stderr.isatty())
    renderer: Any = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            _add_context,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info
            if json
            else structlog.processors.StackInfoRenderer(),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
        ),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    quiet_libraries()


class _ToStructlog(logging.Handler):
    """Hands a library's standard-logging records to structlog, one structured line each, at
    most at ``ceiling``: paramiko logs a failed handshake (a key-type mismatch, a banner that
    never came) as an error and its traceback line by line, while the probe's result already
    says what failed."""

    def __init__(self, ceiling: int) -> None:
        super().__init__()
        self.ceiling = ceiling

    def emit(self, record: logging.LogRecord) -> None:
        level = min(record.levelno, self.ceiling)
        structlog.get_logger(record.name).log(level, "library_log", message=record.getMessage())


def quiet_libraries() -> None:
    """Libraries that log every job run or request at INFO through the standard logging, and
    SSH libraries whose errors are the probe's results (sent to structlog at DEBUG)."""
    for name in ("apscheduler", "httpx"):
        logging.getLogger(name).setLevel(logging.WARNING)
    for name in ("paramiko", "netmiko"):
        library = logging.getLogger(name)
        library.setLevel(logging.WARNING)
        library.handlers = [_ToStructlog(logging.DEBUG)]
        library.propagate = False


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
