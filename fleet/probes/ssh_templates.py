# ruff: noqa: E501 (TextFSM rules are one line each)
"""TextFSM templates fleet ships for commands ntc-templates does not cover.

Kept as Python strings (not files) so they travel with the package without package-data.
Looked up before ntc-templates, by (netmiko platform, exact command).
A template ending in ``^. -> Error`` rejects output it does not understand: the probe then
reports ``parse_error`` instead of guessing.
"""

from __future__ import annotations

LINUX_UNAME_A = r"""Value KERNEL_NAME (\S+)
Value HOSTNAME (\S+)
Value VERSION (\S+)
Value KERNEL_BUILD (.+?)
Value MACHINE (\S+)

Start
  ^${KERNEL_NAME}\s+${HOSTNAME}\s+${VERSION}\s+${KERNEL_BUILD}\s+${MACHINE}\s+(GNU/)?Linux\s*$$ -> Record
  ^\s*$$
  ^. -> Error
"""

LINUX_OS_RELEASE = r"""Value PRETTY_NAME (.+?)
Value OS_ID ([^"\s]+)
Value VERSION_ID ([^"\s]+)

Start
  ^PRETTY_NAME="?${PRETTY_NAME}"?\s*$$
  ^ID="?${OS_ID}"?\s*$$
  ^VERSION_ID="?${VERSION_ID}"?\s*$$
  ^[A-Z_]+=.*$$
  ^\s*$$
  ^#
  ^. -> Error
"""

LINUX_UPTIME = r"""Value UPTIME_DAYS (\d+)
Value UPTIME_HOURS (\d+)
Value UPTIME_MINUTES (\d+)
Value USERS (\d+)
Value LOAD_1 (\d+\.\d+)
Value LOAD_5 (\d+\.\d+)
Value LOAD_15 (\d+\.\d+)

Start
  ^\s*\S+\s+up\s+(${UPTIME_DAYS}\s+days?,\s+)?${UPTIME_HOURS}:${UPTIME_MINUTES},\s+(${USERS}\s+users?,\s+)?load\s+average:\s+${LOAD_1},\s+${LOAD_5},\s+${LOAD_15}\s*$$ -> Record
  ^\s*\S+\s+up\s+(${UPTIME_DAYS}\s+days?,\s+)?(${UPTIME_MINUTES}\s+min,\s+)?(${USERS}\s+users?,\s+)?load\s+average:\s+${LOAD_1},\s+${LOAD_5},\s+${LOAD_15}\s*$$ -> Record
  ^\s*$$
  ^. -> Error
"""

#: (platform, command) -> template text
TEMPLATES: dict[tuple[str, str], str] = {
    ("linux", "uname -a"): LINUX_UNAME_A,
    ("linux", "cat /etc/os-release"): LINUX_OS_RELEASE,
    ("linux", "uptime"): LINUX_UPTIME,
}
