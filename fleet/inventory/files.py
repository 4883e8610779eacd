"""Reading one configuration file safely: a regular file inside the folder, of bounded size,
in UTF-8, or a one-line reason naming what is wrong (and, for bad UTF-8, the line)."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from fleet.settings import Settings

#: Defaults of ``FLEET_SITE_CONFIG_MAX_BYTES`` and ``FLEET_SITE_CONFIG_MAX_VALUES``.
MAX_FILE_BYTES = 1_048_576
MAX_VALUES = 100_000


@dataclass(frozen=True)
class Limits:
    """How large one configuration file may be: in bytes, and in values (keys, items and
    scalars, counted with every alias expanded)."""

    max_bytes: int = MAX_FILE_BYTES
    max_values: int = MAX_VALUES

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        """The limits the settings ask for."""
        return cls(settings.site_config_max_bytes, settings.site_config_max_values)


class Unreadable(OSError):
    """A file that is not read: its reason is one line."""


def read_config_file(path: Path, root: Path, limits: Limits) -> str:
    """The text of ``path``, which must be a regular file whose real place is inside ``root``."""
    real = path.resolve()
    if not real.is_relative_to(root.resolve()):
        raise Unreadable("refused: a link to a place outside the configuration folder")
    info = os.stat(real)
    if not stat.S_ISREG(info.st_mode):
        raise Unreadable("refused: not a regular file (a device, a pipe or a folder)")
    if info.st_size > limits.max_bytes:
        raise Unreadable(
            f"refused: {info.st_size} bytes, more than {limits.max_bytes} "
            "(FLEET_SITE_CONFIG_MAX_BYTES)"
        )
    fd = os.open(real, os.O_RDONLY | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(limits.max_bytes + 1)
    if len(data) > limits.max_bytes:
        raise Unreadable(
            f"refused: more than {limits.max_bytes} bytes (FLEET_SITE_CONFIG_MAX_BYTES)"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise BadEncoding(line, f"not UTF-8: byte 0x{data[exc.start]:02x} on line {line}") from None


class BadEncoding(Exception):
    def __init__(self, line: int, reason: str) -> None:
        super().__init__(reason)
        self.line = line
        self.reason = reason
