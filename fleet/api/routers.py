"""The API's routes, one router per domain: what each domain serves under ``/api/v1``."""

from __future__ import annotations

from litestar import Router

from fleet.api import alerts as alert_routes
from fleet.api import attachments as attachment_routes
from fleet.api import edge as edge_routes
from fleet.api.batch import apply_batch
from fleet.api.changes import list_changes, site_history
from fleet.api.credentials import credential_router
from fleet.api.field import field_site, field_work_orders
from fleet.api.geo import status_sites_geojson
from fleet.api.inventory import inventory_routers, resource_router
from fleet.api.status import (
    availability,
    device_results,
    probe_device,
    site_status,
    status_events,
    status_sites,
)
from fleet.api.stream import status_stream
from fleet.api.tokens import list_audit_events, token_router
from fleet.api.upgrades import (
    add_journal_entry,
    evaluation,
    list_gaps,
    list_profiles,
    list_work_orders,
    plans,
    read_work_order,
    run_assessment,
    transition_work_order,
    update_work_order,
    work_order_journal,
)
from fleet.api.workers import list_probe_workers
from fleet.probes.windows import MAINTENANCE_WINDOW


def inventory() -> Router:
    """Countries, sites, device models, devices and links; their change log; offline batches."""
    return Router(
        path="/",
        route_handlers=[*inventory_routers(), list_changes, site_history, apply_batch],
    )


def probes() -> Router:
    """Live status, its stream and map, probe results, availability, maintenance windows."""
    return Router(
        path="/",
        route_handlers=[
            status_sites,
            status_sites_geojson,
            status_stream,
            site_status,
            device_results,
            status_events,
            availability,
            probe_device,
            list_probe_workers,
            resource_router(MAINTENANCE_WINDOW),
        ],
    )


def upgrades() -> Router:
    """Profiles, assessments, gaps, work orders and their journal, plans and evaluation."""
    return Router(
        path="/",
        route_handlers=[
            list_profiles,
            run_assessment,
            list_gaps,
            list_work_orders,
            read_work_order,
            update_work_order,
            transition_work_order,
            work_order_journal,
            add_journal_entry,
            plans,
            evaluation,
        ],
    )


def alerts() -> Router:
    """Alerts, their acknowledgement and messages, the rules and channels."""
    return Router(path="/", route_handlers=list(alert_routes.ROUTES))


def attachments() -> Router:
    """Photos and documents of sites, devices and work orders."""
    return Router(path="/", route_handlers=list(attachment_routes.ROUTES))


def access() -> Router:
    """Tokens, credential profiles and the audit events (administrators)."""
    return Router(path="/", route_handlers=[token_router, credential_router, list_audit_events])


def field() -> Router:
    """The field app's read of a site's whole record."""
    return Router(path="/", route_handlers=[field_site, field_work_orders])


def edge() -> Router:
    """The edge pollers' targets, rounds and heartbeats."""
    return Router(path="/", route_handlers=list(edge_routes.ROUTES))


def api() -> list[Router]:
    """Every domain's router, as ``/api/v1`` serves them."""
    return [
        inventory(),
        probes(),
        upgrades(),
        alerts(),
        field(),
        attachments(),
        access(),
        edge(),
    ]
