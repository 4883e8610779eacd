"""Configuration as code: read ``site_configs/`` (YAML) into validated objects, or fail with the
file, the line and the reason of every problem found.

Layout: ``countries.yaml`` and ``device_models.yaml`` (lists), and ``sites/<CODE>.yaml``, one per
site: the site's fields, then ``devices:`` and ``links:``. Devices name their ``parent`` and links
their ``terminating_device`` by serial; sites, models and countries are named by their codes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError, create_model

from fleet.inventory import schemas
from fleet.inventory.files import BadEncoding, Limits, Unreadable, read_config_file
from fleet.progress import SILENT, Progress

Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    file: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}"


class ConfigError(Exception):
    """Every problem found in the configuration; nothing was written."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


def _config_schema(
    schema: type[schemas.Strict], name: str, drop: tuple[str, ...], add: dict[str, Any]
) -> type[schemas.Strict]:
    fields: dict[str, Any] = {
        n: (info.annotation, info) for n, info in schema.model_fields.items() if n not in drop
    }
    fields.update(add)
    model: type[schemas.Strict] = create_model(name, __base__=schemas.Strict, **fields)
    return model


DeviceConfig = _config_schema(
    schemas.DeviceCreate,
    "DeviceConfig",
    ("site", "parent_id", "ssh_host_key"),
    {"parent": (schemas.Serial | None, None)},
)
LinkConfig = _config_schema(
    schemas.LinkCreate,
    "LinkConfig",
    ("site", "terminating_device_id"),
    {"terminating_device": (schemas.Serial | None, None)},
)
SiteConfig = schemas.SiteCreate


@dataclass
class Located:
    """A validated object and where it was written."""

    value: Any  # a validated config schema instance
    file: str
    line: int
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. the site of a device


@dataclass
class Desired:
    """The whole fleet as the files describe it, keyed by each object's natural key."""

    countries: dict[str, Located] = field(default_factory=dict)
    device_models: dict[str, Located] = field(default_factory=dict)
    sites: dict[str, Located] = field(default_factory=dict)
    devices: dict[str, Located] = field(default_factory=dict)
    links: dict[str, Located] = field(default_factory=dict)


MAP_TAG = "tag:yaml.org,2002:map"
SEQ_TAG = "tag:yaml.org,2002:seq"
MAX_DEPTH = 64


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing to nest deeper than ``MAX_DEPTH`` (its scanner slows down
    with the square of the depth and its composer recurses)."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise _Fail(mark.line + 1, f"nested too deeply (more than {MAX_DEPTH} levels)")
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


class _Document:
    """One YAML file as plain data, with the line of every key and item.

    Aliases are expanded while walking, so the walk counts every value it makes and stops at
    ``limits.max_values`` (a few kilobytes of nested aliases would otherwise expand to
    billions); a tag the plain YAML types do not have, on any node, is refused."""

    def __init__(self, path: Path, root: Path, limits: Limits) -> None:
        self.name = str(path.relative_to(root.parent)) if root.parent != path else path.name
        self.lines: dict[Path_, int] = {}
        self.limits = limits
        self.values = 0
        text = read_config_file(path, root, limits)
        loader = _BoundedLoader(text)
        try:
            node = loader.get_single_node()
            self.data = None if node is None else self._walk(loader, node, ())
        except yaml.reader.ReaderError as exc:
            line = text.count("\n", 0, exc.position) + 1
            raise _Fail(line, f"bad YAML: character {exc.character!r} is not allowed") from None
        finally:
            loader.dispose()

    def _count(self, node: yaml.Node) -> None:
        self.values += 1
        if self.values > self.limits.max_values:
            raise _Fail(
                node.start_mark.line + 1,
                f"more than {self.limits.max_values} values once aliases are expanded "
                "(FLEET_SITE_CONFIG_MAX_VALUES)",
            )
        expected = MAP_TAG if isinstance(node, yaml.MappingNode) else SEQ_TAG
        if isinstance(node, yaml.CollectionNode) and node.tag != expected:
            raise _Fail(node.start_mark.line + 1, f"unknown tag {node.tag!r}")

    def _scalar(self, loader: yaml.SafeLoader, node: yaml.Node) -> Any:
        value = loader.construct_object(node)
        if isinstance(value, str) and "\x00" in value:
            raise _Fail(node.start_mark.line + 1, "a NUL character is not allowed in text")
        return value

    def _walk(self, loader: yaml.SafeLoader, node: yaml.Node, path: Path_) -> Any:
        self._count(node)
        self.lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            result: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    raise _Fail(key_node.start_mark.line + 1, "a key must be text")
                self._count(key_node)
                key = self._scalar(loader, key_node)
                if not isinstance(key, str):
                    raise _Fail(key_node.start_mark.line + 1, f"key {key!r} is not text")
                if key in result:
                    raise _Fail(key_node.start_mark.line + 1, f"key {key!r} appears twice")
                self.lines[(*path, key)] = key_node.start_mark.line + 1
                result[key] = self._walk(loader, value_node, (*path, key))
            return result
        if isinstance(node, yaml.SequenceNode):
            return [self._walk(loader, item, (*path, i)) for i, item in enumerate(node.value)]
        return self._scalar(loader, node)

    def line(self, path: Path_) -> int:
        while path and path not in self.lines:
            path = path[:-1]
        return self.lines.get(path, 1)


class _Fail(Exception):
    def __init__(self, line: int, reason: str) -> None:
        super().__init__(reason)
        self.line = line
        self.reason = reason


def _data_path(data: Any, loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """The part of a validation error's location that names places in the data (pydantic adds
    the tag of a tagged union, e.g. ``rules.0.min_devices.kind``)."""
    found: list[Any] = []
    for part in loc:
        in_dict = isinstance(data, dict) and part in data
        in_list = isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data)
        if in_dict or in_list:
            data = data[part]
        elif isinstance(data, dict | list) and part != loc[-1]:
            continue  # a union's tag: not in the data
        found.append(part)
    return tuple(found)


def _describe(error: Any, loc_parts: tuple[Any, ...] | None = None) -> str:
    loc = ".".join(str(p) for p in (error["loc"] if loc_parts is None else loc_parts))
    if error["type"] == "extra_forbidden":
        return f"unknown key {loc!r}"
    if error["type"] == "missing":
        return f"missing key {loc!r}"
    return f"{loc}: {error['msg']}" if loc else str(error["msg"])


class Loader:
    """Reads a config folder; collects problems instead of stopping at the first."""

    def __init__(
        self, root: Path, limits: Limits | None = None, progress: Progress = SILENT
    ) -> None:
        self.root = root
        self.limits = limits or Limits()
        self.progress = progress
        self.problems: list[Problem] = []
        self.desired = Desired()

    def problem(self, doc: _Document | str, path: Path_ | int, reason: str) -> None:
        name = doc.name if isinstance(doc, _Document) else doc
        line = (
            path if isinstance(path, int) else (doc.line(path) if isinstance(doc, _Document) else 1)
        )
        self.problems.append(Problem(name, line, reason))

    def _open(self, path: Path) -> _Document | None:
        try:
            return _Document(path, self.root, self.limits)
        except (_Fail, BadEncoding) as fail:
            self.problem(str(path.relative_to(self.root.parent)), fail.line, fail.reason)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = mark.line + 1 if mark is not None else 1
            reason = getattr(exc, "problem", None) or str(exc)
            self.problem(str(path.relative_to(self.root.parent)), line, f"bad YAML: {reason}")
        except Unreadable as exc:
            self.problem(str(path.relative_to(self.root.parent)), 1, str(exc))
        except OSError as exc:
            self.problem(str(path.relative_to(self.root.parent)), 1, f"cannot read: {exc}")
        return None

    def _validate(self, doc: _Document, schema: type[BaseModel], data: Any, path: Path_) -> Any:
        if not isinstance(data, dict):
            self.problem(doc, path, f"expected a mapping of {schema.__name__} fields")
            return None
        try:
            return schema.model_validate(data)
        except ValidationError as exc:
            for error in exc.errors():
                loc = _data_path(data, tuple(error["loc"]))
                self.problem(doc, (*path, *loc), _describe(error, loc))
            return None

    def _list(self, doc: _Document, data: Any, path: Path_, what: str) -> list[Any]:
        if data is None:
            return []
        if not isinstance(data, list):
            self.problem(doc, path, f"{what} must be a list")
            return []
        return data

    def _keep(
        self,
        table: dict[str, Located],
        key: str,
        item: Located,
        doc: _Document,
        path: Path_,
        what: str,
    ) -> None:
        if key in table:
            first = table[key]
            self.problem(
                doc, path, f"duplicate {what} {key!r} (first in {first.file}:{first.line})"
            )
            return
        table[key] = item

    def load(self) -> Desired:
        if not self.root.is_dir():
            raise ConfigError([Problem(str(self.root), 1, "not a folder")])
        self._load_list(
            "countries.yaml", schemas.CountryCreate, self.desired.countries, "code", "country"
        )
        self._load_list(
            "device_models.yaml",
            schemas.DeviceModelCreate,
            self.desired.device_models,
            "slug",
            "device model",
        )
        sites_dir = self.root / "sites"
        site_files = sorted(sites_dir.glob("*.yaml")) if sites_dir.is_dir() else []
        self.progress.start("Reading site files", len(site_files))
        for path in site_files:
            doc = self._open(path)
            if doc is not None:
                self._load_site(doc, path.stem)
            self.progress.advance()
        unknown = sorted(
            p.name
            for p in self.root.iterdir()
            if p.suffix in (".yaml", ".yml")
            and p.name not in ("countries.yaml", "device_models.yaml", "prices.yaml", "alerts.yaml")
        )
        for name in unknown:
            self.problem(
                name,
                1,
                "unknown file (expected countries.yaml, device_models.yaml, prices.yaml, "
                "alerts.yaml)",
            )
        if not self.problems:
            self._check_references()
        if self.problems:
            raise ConfigError(self.problems)
        return self.desired

    def _load_list(
        self, name: str, schema: type[BaseModel], table: dict[str, Located], key: str, what: str
    ) -> None:
        path = self.root / name
        if not path.exists():
            self.problem(name, 1, "file is missing")
            return
        doc = self._open(path)
        if doc is None:
            return
        for i, data in enumerate(self._list(doc, doc.data, (), name)):
            value = self._validate(doc, schema, data, (i,))
            if value is not None:
                located = Located(value, doc.name, doc.line((i,)))
                self._keep(table, getattr(value, key), located, doc, (i,), what)

    def _load_site(self, doc: _Document, stem: str) -> None:
        data = doc.data
        if not isinstance(data, dict):
            self.problem(doc, (), "a site file is a mapping of the site's fields")
            return
        site_fields = {k: v for k, v in data.items() if k not in ("devices", "links")}
        site = self._validate(doc, SiteConfig, site_fields, ())
        if site is None:
            return
        code = site.code
        if code != stem:
            self.problem(doc, ("code",), f"site code {code!r} differs from the file name {stem!r}")
        self._keep(self.desired.sites, code, Located(site, doc.name, 1), doc, ("code",), "site")
        for i, item in enumerate(self._list(doc, data.get("devices"), ("devices",), "devices")):
            device = self._validate(doc, DeviceConfig, item, ("devices", i))
            if device is not None:
                located = Located(device, doc.name, doc.line(("devices", i)), {"site": code})
                key = device.serial
                self._keep(
                    self.desired.devices, key, located, doc, ("devices", i, "serial"), "serial"
                )
        for i, item in enumerate(self._list(doc, data.get("links"), ("links",), "links")):
            link = self._validate(doc, LinkConfig, item, ("links", i))
            if link is not None:
                located = Located(link, doc.name, doc.line(("links", i)), {"site": code})
                key = link.circuit_id
                self._keep(
                    self.desired.links, key, located, doc, ("links", i, "circuit_id"), "circuit id"
                )

    def _ref_problem(self, item: Located, reason: str) -> None:
        self.problems.append(Problem(item.file, item.line, reason))

    def _check_references(self) -> None:
        d = self.desired
        for code, site in d.sites.items():
            if site.value.country not in d.countries:
                self._ref_problem(site, f"site {code}: unknown country {site.value.country!r}")
        asset_tags: dict[str, Located] = {}
        for serial, device in d.devices.items():
            value: Any = device.value
            if value.model not in d.device_models:
                self._ref_problem(device, f"device {serial}: unknown model {value.model!r}")
            if value.parent is not None:
                parent = d.devices.get(value.parent)
                if parent is None:
                    self._ref_problem(device, f"device {serial}: unknown parent {value.parent!r}")
                elif parent.extra["site"] != device.extra["site"]:
                    self._ref_problem(
                        device, f"device {serial}: parent {value.parent} is at another site"
                    )
            if value.asset_tag is not None:
                if value.asset_tag in asset_tags:
                    first = asset_tags[value.asset_tag]
                    self._ref_problem(
                        device,
                        f"duplicate asset tag {value.asset_tag!r} "
                        f"(first in {first.file}:{first.line})",
                    )
                asset_tags[value.asset_tag] = device
        for serial in _parent_loops(d):
            self._ref_problem(d.devices[serial], f"device {serial}: its parents form a loop")
        for circuit, link in d.links.items():
            value = link.value
            terminating: Located | None
            if value.terminating_device is not None:
                terminating = d.devices.get(value.terminating_device)
                if terminating is None:
                    self._ref_problem(
                        link,
                        f"link {circuit}: unknown terminating device {value.terminating_device!r}",
                    )
                elif terminating.extra["site"] != link.extra["site"]:
                    self._ref_problem(
                        link, f"link {circuit}: terminating device is at another site"
                    )
            if value.far_end_site is not None:
                if value.far_end_site not in d.sites:
                    self._ref_problem(
                        link, f"link {circuit}: unknown far end site {value.far_end_site!r}"
                    )
                elif value.far_end_site == link.extra["site"]:
                    self._ref_problem(link, f"link {circuit}: the far end is the link's own site")


def _parent_loops(d: Desired) -> Iterable[str]:
    for serial in d.devices:
        seen = {serial}
        current: Any = d.devices[serial].value
        while current.parent is not None and current.parent in d.devices:
            if current.parent in seen:
                yield serial
                break
            seen.add(current.parent)
            current = d.devices[current.parent].value


def load(root: Path, limits: Limits | None = None, progress: Progress = SILENT) -> Desired:
    """Read and check ``root``; raises ``ConfigError`` naming every problem."""
    return Loader(root, limits, progress).load()
