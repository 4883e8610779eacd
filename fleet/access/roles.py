"""Roles and what each may do: the one table the API's guards and the permission tests read.

Every route names one permission (``opt={"permission": ...}``); a token may use the route when
its role is in that permission's set. Country scope is applied on top of this, by the services.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    viewer = "viewer"
    field_engineer = "field_engineer"
    planner = "planner"
    admin = "admin"
    edge = "edge"  # an edge poller: reads its sites' targets, posts their results


#: The people's roles; an edge token holds none of their permissions.
PEOPLE = frozenset(Role) - {Role.edge}


ALL = PEOPLE
FIELD = frozenset({Role.field_engineer, Role.planner, Role.admin})
PLAN = frozenset({Role.planner, Role.admin})
ADMIN = frozenset({Role.admin})
EDGE = frozenset({Role.edge})

PERMISSIONS: dict[str, frozenset[Role]] = {
    # inventory
    "country:read": ALL,
    "country:create": ADMIN,
    "country:update": ADMIN,
    "country:delete": ADMIN,
    "device_model:read": ALL,
    "device_model:create": PLAN,
    "device_model:update": PLAN,
    "device_model:delete": PLAN,
    "site:read": ALL,
    "site:create": PLAN,
    "site:update": FIELD,
    "site:delete": PLAN,
    "device:read": ALL,
    "device:create": FIELD,
    "device:update": FIELD,
    "device:delete": PLAN,
    "link:read": ALL,
    "link:create": FIELD,
    "link:update": FIELD,
    "link:delete": PLAN,
    # the live view, probes and maintenance windows
    "status:read": ALL,
    "probe:run": FIELD,
    "worker:read": ALL,
    "maintenance_window:read": ALL,
    "maintenance_window:create": FIELD,
    "maintenance_window:update": FIELD,
    "maintenance_window:delete": FIELD,
    # upgrades: profiles, needs assessment, gaps, work orders, plans (moves are checked again
    # against the transition table in fleet/upgrades/workorders.py)
    "profile:read": ALL,
    "assessment:run": PLAN,
    "gap:read": ALL,
    "work_order:read": ALL,
    "work_order:update": PLAN,
    "work_order:transition": FIELD,
    "work_order:journal": FIELD,
    "plan:read": PLAN,
    # alerts: the duty officer reads them, whoever is on it acknowledges; messages and their
    # attempts are read by those who act, sent again by planners
    "alert:read": ALL,
    "alert:ack": FIELD,
    "alert_delivery:read": FIELD,
    "alert_delivery:resend": PLAN,
    "alert_rule:read": ALL,
    "alert_channel:read": PLAN,
    # photos and documents of sites, devices and work orders (scoped as their object)
    "attachment:read": ALL,
    "attachment:create": FIELD,
    "attachment:delete": PLAN,
    # the change log (scope-filtered; only admins see changes outside any country)
    "change:read": ALL,
    # a field engineer's queued changes; each change is checked again on its own
    "batch:apply": FIELD,
    # the field app: a site's whole record in one request, to work on it offline
    "field:read": FIELD,
    # credential profiles: secrets never leave; metadata reads are audited
    "credential:read": ADMIN,
    "credential:create": ADMIN,
    "credential:update": ADMIN,
    "credential:delete": ADMIN,
    # access control itself
    "token:read": ADMIN,
    "token:create": ADMIN,
    "token:update": ADMIN,
    "token:delete": ADMIN,
    "audit:read": ADMIN,
    # an edge poller, for the sites its token names: their targets (secrets included), and
    # the results and heartbeats it sends back
    "edge:read": EDGE,
    "edge:report": EDGE,
}


# Permissions over the whole service, not one country: a token limited to some countries never
# holds them, whatever its role (a country admin must not mint itself an unlimited token).
UNSCOPED_ONLY = frozenset(
    {
        "token:read",
        "token:create",
        "token:update",
        "token:delete",
        "audit:read",
        "credential:read",
        "credential:create",
        "credential:update",
        "credential:delete",
    }
)


def allowed(role: str, permission: str, *, scoped: bool = False) -> bool:
    """Whether ``role`` (limited to some countries when ``scoped``) holds ``permission``; an
    unknown permission is held by nobody."""
    if scoped and permission in UNSCOPED_ONLY:
        return False
    return role in PERMISSIONS.get(permission, frozenset())
