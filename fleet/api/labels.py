"""The words the pages show for the values of fleet's choices (states, kinds, roles, media,
lifecycles, ...), marked for translation; a value without a label is shown as it is."""

from __future__ import annotations

from fleet.api.locales import N_

STATE_LABELS = {
    "connected": N_("Connected"),
    "degraded": N_("Degraded"),
    "disconnected": N_("Disconnected"),
    "maintenance": N_("Maintenance"),
    "unknown": N_("Unknown"),
    "up": N_("Up"),
    "down": N_("Down"),
    "unreachable": N_("Unreachable"),
}
#: Device counts by state, as in "3 up · 1 down" (no plural: the number comes after a colon).
DEVICE_COUNT_LABELS = {
    "up": N_("up: %(n)s"),
    "degraded": N_("degraded: %(n)s"),
    "down": N_("down: %(n)s"),
    "unreachable": N_("unreachable: %(n)s"),
    "maintenance": N_("maintenance: %(n)s"),
    "unknown": N_("unknown: %(n)s"),
}
KIND_LABELS = {
    "hq": N_("Headquarters"),
    "national_bureau": N_("National bureau"),
    "regional_bureau": N_("Regional bureau"),
    "border_crossing_land": N_("Land border crossing"),
    "border_crossing_air": N_("Airport border crossing"),
    "border_crossing_sea": N_("Seaport border crossing"),
}
CHOICE_LABELS: dict[str, dict[str, str]] = {
    "device_kind": {
        "camera": N_("camera"),
        "fingerprint_scanner": N_("fingerprint scanner"),
        "document_reader": N_("document reader"),
        "forensic_kit": N_("forensic kit"),
        "router": N_("router"),
        "switch": N_("switch"),
        "firewall": N_("firewall"),
        "vpn_gateway": N_("VPN gateway"),
        "satellite_modem": N_("satellite modem"),
        "lte_modem": N_("LTE modem"),
        "workstation": N_("workstation"),
        "ups": N_("UPS"),
    },
    "lifecycle": {
        "planned": N_("planned"),
        "installed": N_("installed"),
        "active": N_("active"),
        "faulty": N_("faulty"),
        "retired": N_("retired"),
        "decommissioned": N_("decommissioned"),
    },
    "medium": {
        "fibre": N_("fibre"),
        "dsl": N_("DSL"),
        "lte": N_("LTE"),
        "satellite": N_("satellite"),
        "microwave": N_("microwave"),
    },
    "role": {"primary": N_("primary"), "backup": N_("backup")},
    "object": {"site": N_("site"), "device": N_("device"), "link": N_("link")},
    "result": {
        "ok": N_("ok"),
        "timeout": N_("timeout"),
        "auth_failed": N_("authentication failed"),
        "refused": N_("refused"),
        "host_key_mismatch": N_("host key mismatch"),
        "parse_error": N_("unreadable answer"),
        "error": N_("error"),
    },
    "severity": {
        "low": N_("low"),
        "medium": N_("medium"),
        "high": N_("high"),
        "critical": N_("critical"),
    },
    "work_order": {
        "proposed": N_("proposed"),
        "approved": N_("approved"),
        "scheduled": N_("scheduled"),
        "in_progress": N_("in progress"),
        "completed": N_("completed"),
        "verified": N_("verified"),
        "rejected": N_("rejected"),
        "cancelled": N_("cancelled"),
    },
    "rule_type": {
        "min_devices": N_("devices required"),
        "min_links": N_("links required"),
        "firmware_minimum": N_("minimum firmware"),
        "end_of_support": N_("end of support"),
        "availability": N_("availability"),
        "recently_probed": N_("recent probing"),
    },
    "work": {
        "install": N_("install"),
        "replace": N_("replace"),
        "firmware_upgrade": N_("firmware upgrade"),
        "link_upgrade": N_("link upgrade"),
        "repair": N_("repair"),
    },
    "plan_action": {
        "approve": N_("approve"),
        "reject": N_("reject"),
        "schedule": N_("schedule"),
        "assign": N_("assign"),
        "cancel": N_("cancel"),
    },
    "plan_sort": {
        "priority": N_("priority"),
        "due_on": N_("due date"),
        "cost": N_("cost"),
        "assignee": N_("assignee"),
        "age": N_("age"),
    },
    #: The steps of an assessment started from the planner's page, as its progress names them.
    "progress": {"Waiting": N_("Waiting"), "Assessing": N_("Assessing")},
}
