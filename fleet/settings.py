"""The one settings object. Read from the environment (prefix ``FLEET_``) only when asked."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: The SNMP drivers a setting may name; the probes map the name to their driver.
SnmpDriverName = Literal["gufo", "pysnmp"]

SAMPLE_FOLDER = Path(__file__).resolve().parent.parent / "site_configs"


def default_site_configs() -> Path:
    """``./site_configs`` when the current folder has one, else the sample next to the package
    (so that ``fleet serve`` and ``fleet demo`` work from any folder)."""
    here = Path("site_configs")
    return here if here.is_dir() else SAMPLE_FOLDER


class Settings(BaseSettings):
    """Service settings; every field can be set as ``FLEET_<NAME>`` in the environment."""

    model_config = SettingsConfigDict(env_prefix="FLEET_", extra="ignore")

    database_url: str = Field(
        default="sqlite+aiosqlite:///fleet.db",
        description="SQLAlchemy URL: sqlite+aiosqlite:///FILE (default) or postgresql+asyncpg://...",
    )
    site_configs: Path = Field(
        default_factory=default_site_configs,
        description="Folder of YAML loaded into an empty database when `fleet serve` starts "
        "(default: ./site_configs, else the sample shipped with fleet).",
    )
    site_config_max_bytes: int = Field(
        default=1_048_576,
        ge=1024,
        description="Largest file read from `site_configs` (by `fleet sync` and at start-up).",
    )
    site_config_max_values: int = Field(
        default=100_000,
        ge=100,
        description="Most values (keys, items, scalars, with aliases expanded) in one such file.",
    )
    load_sample_when_empty: bool = Field(
        default=True, description="Load `site_configs` on start when the database has no sites."
    )
    migrate_on_start: bool = Field(
        default=True, description="Apply database migrations when the service starts."
    )
    log_format: Literal["auto", "json", "console"] = Field(
        default="auto", description="auto: readable on a terminal, JSON otherwise."
    )
    log_level: str = Field(default="INFO")
    page_size_default: int = Field(default=50, ge=1)
    page_size_max: int = Field(default=500, ge=1)
    max_body_bytes: int = Field(default=1_048_576, ge=1024, description="Largest request body.")
    body_read_timeout_s: float = Field(
        default=10, gt=0, description="Time a request body may take to arrive whole (408 after)."
    )
    attachment_max_bytes: int = Field(
        default=8 * 1024 * 1024,
        ge=1024,
        description="Largest photo or document uploaded (413 as soon as a body is larger).",
    )
    attachment_read_timeout_s: float = Field(
        default=3600,
        gt=0,
        description="Time an upload's body may take to arrive whole (408 after): 8 MiB over a "
        "32 kb/s link takes about 35 minutes.",
    )
    attachment_max_per_object: int = Field(
        default=50, ge=1, description="Most files attached to one site, device or work order."
    )
    attachment_max_pixels: int = Field(
        default=40_000_000,
        ge=1,
        description="Largest image decoded (width x height); larger ones are refused (422).",
    )
    rate_limit_per_minute: int = Field(
        default=600,
        ge=0,
        description="Requests a token may make per minute unless the token sets its own; 0: off.",
    )
    sqlite_busy_timeout_s: float = Field(
        default=30,
        gt=0,
        description="On SQLite, how long a write waits for another's lock before it gives up "
        "(the API then answers 503 with Retry-After).",
    )
    idempotency_ttl_hours: float = Field(
        default=24, gt=0, description="How long an Idempotency-Key's first response is replayed."
    )
    credential_keys: SecretStr | None = Field(
        default=None,
        description="Fernet keys for credential profiles, comma-separated, newest first "
        "(make one with `fleet credentials new-key`). Needed once any profile holds a secret.",
    )
    probe_interval_s: float = Field(default=60, gt=0, description="Default probe interval.")
    reconcile_interval_s: float = Field(
        default=3, gt=0, description="How often schedules are checked against the inventory."
    )
    probe_timeout_s: float = Field(default=5.0, gt=0, description="Timeout of one probe attempt.")
    probe_retries: int = Field(default=1, ge=0, le=5, description="Retries of a failed probe.")
    probe_jitter_s: float = Field(default=5.0, ge=0, description="Random delay added per run.")
    probe_concurrency: int = Field(default=200, ge=1, description="Probes in flight at once.")
    probe_site_concurrency: int = Field(
        default=8, ge=1, description="Probes in flight at once per site (slow links)."
    )
    probe_snmp_driver: SnmpDriverName = Field(
        default="gufo",
        description="SNMP driver of the scheduler and of probe-now: gufo (gufo-snmp, the cheaper) "
        "or pysnmp (needed for SNMPv3 context names).",
    )
    state_confirmations: int = Field(
        default=2, ge=1, description="Consecutive results needed before a state changes."
    )
    unreachable_backoff: int = Field(
        default=5, ge=1, description="Unreachable devices are probed this many times less often."
    )
    result_retention_days: float = Field(default=7, gt=0, description="Keep raw probe results.")
    scheduler: bool = Field(
        default=True, description="Run the probe scheduler inside `fleet serve`."
    )
    probe_leases: bool | None = Field(
        default=None,
        description="Share the probing between every scheduler on the database through site "
        "leases (PostgreSQL only); unset: on with PostgreSQL, off with SQLite.",
    )
    probe_lease_s: float = Field(
        default=30,
        ge=2,
        le=3600,
        description="How long a site's lease lasts unless renewed: a dead worker's sites are "
        "taken over this long after its last heartbeat.",
    )
    probe_heartbeat_s: float = Field(
        default=5,
        gt=0,
        le=600,
        description="How often a sharing scheduler renews its leases and rebalances the sites "
        "(at most a third of FLEET_PROBE_LEASE_S).",
    )
    worker_name: str | None = Field(
        default=None,
        min_length=1,
        max_length=120,
        description="This scheduler's name among those sharing the fleet (default: host-pid).",
    )
    simulated: bool = Field(
        default=False,
        description="The devices are simulated on this machine (`fleet demo`, `make run`); the "
        "board says so on every page.",
    )
    bootstrap_admin_token: bool = Field(
        default=True,
        description="On start, when no token exists, create an admin token and print it once.",
    )
    metrics_token: SecretStr | None = Field(
        default=None,
        description="When set, /metrics needs `Authorization: Bearer <this value>`; unset, it is "
        "open (it shows site codes and states, no secrets).",
    )
    cookie_secure: bool = Field(
        default=True,
        description="Mark the board's sign-in cookie Secure (sent over HTTPS only; browsers also "
        "send it to http://localhost). Turn off only on a trusted plain-HTTP network.",
    )
    signin_days: float = Field(
        default=30,
        gt=0,
        description="How long a board sign-in lasts (never past the token's expiry).",
    )
    locale_dir: Path | None = Field(
        default=None,
        description="A folder of more translations (<lang>/LC_MESSAGES/messages.po), added to "
        "the languages shipped with fleet (and taking over one of the same code).",
    )
    alerts: bool = Field(
        default=True,
        description="Evaluate the alert rules and deliver alerts in the process that runs the "
        "probe scheduler (`fleet serve` with the scheduler, or `fleet worker`).",
    )
    alert_interval_s: float = Field(
        default=15, gt=0, le=3600, description="How often the alert rules are evaluated."
    )
    alert_delivery_poll_s: float = Field(
        default=1, gt=0, le=60, description="How often the delivery outbox is read."
    )
    alert_delivery_max_s: float = Field(
        default=3600,
        gt=0,
        le=7 * 86_400,
        description="How long a message is retried (exponential backoff) before it is failed.",
    )
    alert_backoff_s: float = Field(
        default=2, gt=0, le=600, description="The first retry's delay; each next one doubles."
    )
    alert_backoff_max_s: float = Field(
        default=300, gt=0, le=3600, description="The longest delay between two attempts."
    )
    alert_delivery_concurrency: int = Field(
        default=16, ge=1, le=256, description="Messages being sent at once (one task each)."
    )
    smtp_host: str | None = Field(
        default=None, description="SMTP server of e-mail alert channels (unset: no e-mail)."
    )
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_starttls: bool = Field(default=False, description="Upgrade the connection with STARTTLS.")
    smtp_username: str | None = Field(default=None, description="SMTP login, when it needs one.")
    smtp_password: SecretStr | None = Field(default=None)
    smtp_from: str = Field(default="fleet@localhost", description="The alerts' From address.")
    stream_poll_interval_s: float = Field(
        default=0.5, gt=0, le=10, description="How often the status stream reads new state events."
    )
    stream_heartbeat_s: float = Field(
        default=15, gt=0, description="A quiet status stream sends a heartbeat this often."
    )
    stream_client_buffer: int = Field(
        default=256,
        ge=1,
        description="Events held per stream client; a client further behind is dropped.",
    )
    stream_max_clients: int = Field(
        default=1000, ge=1, description="Status stream clients one process serves at once."
    )
    stream_replay_max: int = Field(
        default=5000,
        ge=0,
        description="Missed events replayed to a client that reconnects with Last-Event-ID; "
        "further behind, it is told to reload.",
    )
    stream_max_seconds: float = Field(
        default=3600, gt=0, description="A stream ends after this long (clients reconnect)."
    )
    # the edge poller (`fleet edge`), at a site or a hub, for the sites of its edge token
    edge_central_url: str | None = Field(
        default=None, description="The central service's address, e.g. https://fleet.example"
    )
    edge_token: SecretStr | None = Field(
        default=None, description="The edge token (`fleet token create --role edge --site CODE`)."
    )
    edge_sites: list[str] = Field(
        default_factory=list,
        description="The site codes to probe, as a JSON list (default: every site of the token).",
    )
    edge_data: Path = Field(
        default=Path("fleet-edge.db"),
        description="The edge's SQLite file: its targets (encrypted) and its buffer of rounds.",
    )
    edge_key: SecretStr | None = Field(
        default=None,
        description="Fernet key(s) encrypting the targets' credentials in the edge's file, "
        "comma-separated, newest first (`fleet credentials new-key`). Required.",
    )
    edge_buffer_max_rows: int = Field(
        default=100_000,
        ge=10,
        description="Most rounds the edge buffers; beyond, the oldest are dropped and counted.",
    )
    edge_buffer_max_age_s: int = Field(
        default=86_400,
        ge=60,
        description="Oldest round the edge buffers (default a day: a border site's uplink can be "
        "down that long); older ones are dropped and counted.",
    )
    edge_batch_size: int = Field(
        default=500, ge=1, le=500, description="Rounds the edge sends in one request."
    )
    edge_heartbeat_s: float = Field(
        default=30, gt=0, description="Seconds between the edge's heartbeats."
    )
    edge_refresh_s: float = Field(
        default=300, gt=0, description="Seconds between the edge's reads of its targets."
    )
    edge_timeout_s: float = Field(
        default=5, gt=0, description="Timeout of each of the edge's requests to central."
    )
    edge_backoff_max_s: float = Field(
        default=30, gt=0, description="Longest wait between the edge's tries to reach central."
    )

    @model_validator(mode="after")
    def _leases_fit(self) -> Settings:
        if self.probe_heartbeat_s * 3 > self.probe_lease_s:
            raise ValueError(
                "FLEET_PROBE_HEARTBEAT_S must be at most a third of FLEET_PROBE_LEASE_S"
            )
        if self.probe_leases and self.database_url.startswith("sqlite"):
            raise ValueError("FLEET_PROBE_LEASES needs PostgreSQL (SQLite has one scheduler)")
        return self

    @property
    def shares_probes(self) -> bool:
        """Whether the probe scheduler shares the fleet through leases."""
        if self.probe_leases is None:
            return not self.database_url.startswith("sqlite")
        return self.probe_leases
