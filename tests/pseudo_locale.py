"""A test-only language: every message of the French catalogue wrapped in ⟦…⟧, under the code
``ar`` (a right-to-left locale), so a page rendered in it shows at a glance which text went
through the catalogues (marked) and which did not (data, or a string left untranslated)."""

from __future__ import annotations

import re
from pathlib import Path

from babel import Locale
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

from fleet.api.locales import LOCALE_DIR

CODE = "ar"
OPEN, CLOSE = "⟦", "⟧"
_INNERMOST = re.compile(f"{OPEN}[^{OPEN}{CLOSE}]*{CLOSE}")


def french() -> Catalog:
    with (LOCALE_DIR / "fr" / "LC_MESSAGES" / "messages.po").open("rb") as source:
        return read_po(source, locale="fr")


def write_pseudo(folder: Path) -> Path:
    """Write the pseudo catalogue under ``folder`` (a ``FLEET_LOCALE_DIR``) and return it. A
    French message left empty stays empty here, so it shows in English: unmarked."""
    forms = Locale.parse(CODE).plural_form
    pseudo = Catalog(locale=CODE, domain="messages")
    for message in french():
        if not message.id or message.fuzzy:
            continue
        if isinstance(message.id, tuple):
            translated = [s for s in message.string if s]
            other = translated[-1] if translated else ""
            strings = [f"{OPEN}{translated[0]}{CLOSE}" if translated else ""]
            strings += [f"{OPEN}{other}{CLOSE}" if other else ""] * (pseudo.num_plurals - 1)
            pseudo.add(message.id, tuple(strings), flags=message.flags)
        else:
            text = f"{OPEN}{message.string}{CLOSE}" if message.string else ""
            pseudo.add(message.id, text, flags=message.flags)
    assert forms is not None
    path = folder / CODE / "LC_MESSAGES" / "messages.po"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as target:
        write_po(target, pseudo)
    return folder


def strip_marked(text: str) -> str:
    """``text`` without its marked parts (nested marks included)."""
    while True:
        stripped = _INNERMOST.sub(" ", text)
        if stripped == text:
            return stripped
        text = stripped
