"""What the templates say in the page's language: gettext for ``{% trans %}`` and ``_()``, the
labels of fleet's choices, relative times, dates in a site's time zone (with its name), numbers
and money formatted for the locale (Babel), and the strings the pages' scripts need.

Every helper reads the page's :class:`~fleet.api.locales.Language` from the template context
(``language``), so one Jinja2 environment serves every language at once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from babel.dates import format_datetime as babel_datetime
from babel.dates import get_timezone
from babel.numbers import format_currency, format_decimal, format_percent
from jinja2 import Environment, pass_context
from jinja2.runtime import Context

from fleet.api.labels import CHOICE_LABELS, DEVICE_COUNT_LABELS, KIND_LABELS, STATE_LABELS
from fleet.api.locales import N_, Language
from fleet.models import utcnow
from fleet.probes.choices import DEVICE_STATES

#: The board script's strings; a page with a script of its own registers its table with
#: :func:`register_js_strings` and names it in its template's ``js_strings`` block.
BOARD_JS_STRINGS = (
    {
        "never": N_("never"),
        "just_now": N_("just now"),
        "ago_days": N_("%(days)s d %(hours)s h ago"),
        "ago_hours": N_("%(hours)s h %(minutes)s min ago"),
        "ago_minutes": N_("%(minutes)s min ago"),
        "live": N_("Live"),
        "stale": N_("Stale since %(time)s: %(why)s"),
        "stream_lost": N_("the status stream was lost; reconnecting"),
        "no_news": N_("no news from the server"),
        "no_link": N_("none"),
        "none_probed": N_("none probed"),
        "link_in_use": N_("%(kind)s · link in use: %(link)s"),
        "link": N_("%(role)s %(medium)s (%(circuit)s)"),
        "marker": N_("%(code)s %(name)s: %(state)s"),
    }
    | {f"state.{k}": v for k, v in STATE_LABELS.items()}
    | {f"devices.{k}": v for k, v in DEVICE_COUNT_LABELS.items()}
)
for _group in ("role", "medium", "object"):
    BOARD_JS_STRINGS |= {f"{_group}.{k}": v for k, v in CHOICE_LABELS[_group].items()}
JS_STRINGS: dict[str, Mapping[str, str]] = {"board": BOARD_JS_STRINGS}


def register_js_strings(name: str, strings: Mapping[str, str]) -> None:
    """Make a page script's table of strings (English, each marked with ``N_``) available to
    templates as ``js_strings(name)``."""
    JS_STRINGS[name] = strings


def language_of(context: Context) -> Language:
    language: Language = context["language"]
    return language


@pass_context
def _gettext(context: Context, message: str) -> str:
    return language_of(context).gettext(message)


@pass_context
def _ngettext(context: Context, singular: str, plural: str, n: int) -> str:
    return language_of(context).ngettext(singular, plural, n)


@pass_context
def js_strings(context: Context, *names: str) -> dict[str, str]:
    """The named tables of strings (default: the board's), translated, for a page's script."""
    language = language_of(context)
    merged: dict[str, str] = {}
    for name in names or ("board",):
        merged.update({key: language.gettext(text) for key, text in JS_STRINGS[name].items()})
    return merged


def label(language: Language, value: Any, group: str) -> str:
    table = {"state": STATE_LABELS, "kind": KIND_LABELS}.get(group) or CHOICE_LABELS[group]
    text = str(value if value is not None else "")
    return language.gettext(table[text]) if text in table else text.replace("_", " ")


def ago(language: Language, value: datetime | None) -> str:
    _ = language.gettext
    if value is None:
        return _("never")
    seconds = max(0, int((utcnow() - value).total_seconds()))
    if seconds < 60:
        return _("just now")
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if days:
        return _("%(days)s d %(hours)s h ago") % {"days": days, "hours": hours % 24}
    if hours:
        return _("%(hours)s h %(minutes)s min ago") % {"hours": hours, "minutes": minutes % 60}
    return _("%(minutes)s min ago") % {"minutes": minutes}


def when(language: Language, value: datetime | None, zone: str | None = None) -> str:
    """``value`` in the time zone ``zone`` (UTC without one), with the zone's name."""
    if value is None:
        return ""
    name = zone or "UTC"
    try:
        tzinfo = get_timezone(name)
    except LookupError:
        name, tzinfo = "UTC", get_timezone("UTC")
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return f"{babel_datetime(value, 'medium', tzinfo=tzinfo, locale=language.locale)} ({name})"


DEGREES = {
    ("lon", 1): N_("%(n)s°E"),
    ("lon", -1): N_("%(n)s°W"),
    ("lat", 1): N_("%(n)s°N"),
    ("lat", -1): N_("%(n)s°S"),
}


def degrees(language: Language, value: float, axis: str) -> str:
    """A graticule's label: ``5°W`` (``5°O`` in French), ``0°`` on the equator and meridian."""
    shown = number(language, abs(value))
    if not value:
        return f"{shown}°"
    return language.gettext(DEGREES[axis, 1 if value > 0 else -1]) % {"n": shown}


def territory(language: Language, code: str, name: str) -> str:
    """A country's name in the page's language (CLDR, through Babel), else ``name``."""
    found: str = language.locale.territories.get(str(code).upper(), name)
    return found


def link_text(language: Language, link: Mapping[str, Any] | None) -> str:
    if not link:
        return language.gettext("none")
    return language.gettext("%(role)s %(medium)s (%(circuit)s)") % {
        "role": label(language, link.get("role"), "role"),
        "medium": label(language, link.get("medium"), "medium"),
        "circuit": link.get("circuit_id"),
    }


def device_text(language: Language, devices: Mapping[str, int]) -> str:
    parts = [
        language.gettext(DEVICE_COUNT_LABELS[s]) % {"n": number(language, devices[s])}
        for s in DEVICE_STATES
        if devices.get(s) and s in DEVICE_COUNT_LABELS
    ]
    return " · ".join(parts) if parts else language.gettext("none probed")


def number(language: Language, value: float | int | None, pattern: str | None = None) -> str:
    if value is None:
        return ""
    return format_decimal(value, format=pattern, locale=language.locale)


def money(language: Language, value: float | None, currency: str) -> str:
    if value is None:
        return ""
    return format_currency(value, currency, locale=language.locale)


def percent(language: Language, value: float | None) -> str:
    if value is None:
        return ""
    return format_percent(value, locale=language.locale, decimal_quantization=False)


def percent1(language: Language, value: float | None) -> str:
    """A share with one decimal, as the locale writes a percentage: ``99.5%``, ``99,5 %``."""
    if value is None:
        return ""
    pattern = str(language.locale.percent_formats[None].pattern)
    return format_percent(value, re.sub(r"0(?!.*0)", "0.0", pattern, count=1), language.locale)


def _with_language(function: Any) -> Any:
    @pass_context
    def bound(context: Context, *args: Any) -> Any:
        return function(language_of(context), *args)

    return bound


def install(environment: Environment) -> None:
    """Give ``environment`` gettext (newstyle: ``_("%(n)s sites", n=3)``) and the filters."""
    environment.add_extension("jinja2.ext.i18n")
    environment.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=_gettext, ngettext=_ngettext, newstyle=True
    )
    environment.filters.update(
        label=_with_language(label),
        state_label=_with_language(lambda lang, s: label(lang, s, "state")),
        kind_label=_with_language(lambda lang, k: label(lang, k, "kind")),
        ago=_with_language(ago),
        when=_with_language(when),
        territory=_with_language(territory),
        degrees=_with_language(degrees),
        link_text=_with_language(link_text),
        device_text=_with_language(device_text),
        number=_with_language(number),
        money=_with_language(money),
        percent=_with_language(percent),
        percent1=_with_language(percent1),
    )
    environment.globals.update(js_strings=js_strings)
