"""Shapes and helpers shared by the probe integration tests and their fixtures."""

from __future__ import annotations

import socket
from dataclasses import dataclass

UPTIME_INITIAL = 4_242_400  # hundredths of a second, as served by snmpsim at start


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class SnmpAgent:
    host: str
    port: int
    community: str
    users: dict[str, tuple[str, str, str, str]]
    context: str


@dataclass(frozen=True)
class SshLab:
    host: str
    ports: dict[str, int]
    username: str
    password: str
    closed_port: int
    #: "<type> <base64>" of the key each server presents
    host_keys: dict[str, str]
