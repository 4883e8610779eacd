"""What the simulated SSH servers answer: fakenos NOS definitions and per-device commands.

Routers use fakenos' bundled ``cisco_ios`` with ``show version`` replaced by one carrying the
device's model, firmware and uptime (still only in enable mode, as on the bundled platform).
Workstations use :func:`linux_nos`, a small Debian-like shell answering the commands fleet's
``linux`` SSH platform runs. Everything here is plain data (JSON-serialisable), so it can be
handed to a simulator process.
"""

from __future__ import annotations

from typing import Any

CommandSet = dict[str, dict[str, Any]]

IOS_ENABLE_PROMPT = "{base_prompt}#"
LINUX_PROMPT = "{base_prompt}$"
LINUX_NOS_NAME = "fleet_linux"

LINUX_UNAME = (
    "Linux {host} 6.1.0-28-amd64 #1 SMP PREEMPT_DYNAMIC Debian 6.1.119-1 (2024-11-22) "
    "x86_64 GNU/Linux"
)
LINUX_OS_RELEASE = (
    'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\n'
    'VERSION_ID="12"\nVERSION="12 (bookworm)"\nVERSION_CODENAME=bookworm\nID=debian\n'
)
LINUX_UPTIME = " 10:15:01 up 3 days,  4:05,  2 users,  load average: 0.15, 0.10, 0.05"


def command(output: str, prompt: str | list[str], help_text: str = "") -> dict[str, Any]:
    return {"output": output, "help": help_text, "prompt": prompt}


def linux_commands(
    hostname: str = "gw-linux", uptime_output: str = LINUX_UPTIME, prompt: str = LINUX_PROMPT
) -> CommandSet:
    return {
        "uname -a": command(LINUX_UNAME.format(host=hostname), prompt),
        "cat /etc/os-release": command(LINUX_OS_RELEASE, prompt),
        "uptime": command(uptime_output, prompt),
        "terminal length 0": command("", prompt),
        "terminal width 511": command("", prompt),
    }


def linux_nos(
    name: str = LINUX_NOS_NAME, uptime_output: str = LINUX_UPTIME, hostname: str = "gw-linux"
) -> dict[str, Any]:
    """A fakenos NOS plugin (as a dict) for a Debian host with a ``$`` prompt."""
    return {
        "name": name,
        "initial_prompt": LINUX_PROMPT,
        "commands": linux_commands(hostname, uptime_output),
    }


def _split(seconds: int) -> tuple[int, int, int, int]:
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    return days // 7, days % 7, hours, rest // 60


def _plural(n: int, unit: str) -> str:
    return f"{n} {unit}" + ("" if n == 1 else "s")


def ios_uptime(seconds: int) -> str:
    """``12 weeks, 3 days, 4 hours, 5 minutes``, as IOS prints it (zero parts left out)."""
    weeks, days, hours, minutes = _split(seconds)
    parts = [_plural(n, unit) for n, unit in ((weeks, "week"), (days, "day"), (hours, "hour")) if n]
    return ", ".join([*parts, _plural(minutes, "minute")])


def linux_uptime(seconds: int) -> str:
    """An ``uptime`` line for a host up for ``seconds``."""
    days, rest = divmod(seconds, 86400)
    hours, minutes = rest // 3600, (rest % 3600) // 60
    up = f"{_plural(days, 'day')}, {hours:2d}:{minutes:02d}" if days else f"{hours}:{minutes:02d}"
    return f" 10:15:01 up {up},  1 user,  load average: 0.08, 0.12, 0.09"


def ios_show_version(
    hostname: str, model: str, firmware: str | None, uptime_s: int, serial: str
) -> str:
    """``show version`` of an IOS router: the first line carries ``Version <firmware>``."""
    version = firmware or "unknown"
    return "\n".join(
        [
            "Cisco IOS Software, ISR Software (X86_64_LINUX_IOSD-UNIVERSALK9-M), "
            f"Version {version}, RELEASE SOFTWARE (fc1)",
            "Technical Support: http://www.cisco.com/techsupport",
            "Copyright (c) 1986-2024 by Cisco Systems, Inc.",
            "Compiled Thu 30-May-24 10:21 by mcpre",
            "",
            "ROM: IOS-XE ROMMON",
            f"{hostname} uptime is {ios_uptime(uptime_s)}",
            "System returned to ROM by reload",
            'System image file is "bootflash:packages.conf"',
            "Last reload reason: Reload Command",
            "",
            f"cisco {model} (1RU) processor with 1795979K/6147K bytes of memory.",
            f"Processor board ID {serial}",
            "4 Gigabit Ethernet interfaces",
            "32768K bytes of non-volatile configuration memory.",
            "4194304K bytes of physical memory.",
            "",
            "Configuration register is 0x2102",
            "",
        ]
    )


def ios_commands(
    hostname: str, model: str, firmware: str | None, uptime_s: int, serial: str
) -> CommandSet:
    """Per-device overrides of fakenos' ``cisco_ios`` commands."""
    text = ios_show_version(hostname, model, firmware, uptime_s, serial)
    return {"show version": command(text, IOS_ENABLE_PROMPT, "System hardware and software")}
