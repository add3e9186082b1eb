"""Chinese first, English on a switch: gettext catalogues read with Babel when the app starts.

Message ids are English, so English needs no catalogue; ``locales/zh`` holds the Chinese. The
``.po`` file is read directly (no compiled ``.mo``), so a clean checkout runs as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path

from babel.messages.pofile import read_po

LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"
LOCALES_DIR = Path(__file__).parent / "locales"
DOMAIN = "messages"

Gettext = Callable[[str], str]


@cache
def catalogue(language: str) -> dict[str, str]:
    """msgid → translation for ``language`` (empty for English, the source language)."""
    path = LOCALES_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not path.exists():
        return {}
    with path.open("rb") as stream:
        catalog = read_po(stream, locale=language)
    return {
        str(message.id): str(message.string)
        for message in catalog
        if message.id and message.string and not message.fuzzy
    }


def gettext_for(language: str) -> Gettext:
    messages = catalogue(language if language in LANGUAGES else DEFAULT_LANGUAGE)

    def gettext(message: str) -> str:
        return messages.get(message, message)

    return gettext


def pick_language(requested: str | None) -> str:
    return requested if requested in LANGUAGES else DEFAULT_LANGUAGE
