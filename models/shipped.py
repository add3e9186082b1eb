"""The data files shipped inside the package: vocabularies, gazetteer, rates, demo phrases."""

from __future__ import annotations

import tomllib
from importlib import resources
from typing import Any


def shipped_toml(name: str, *, package: str = "models") -> dict[str, Any]:
    """One of ``package``/data/*.toml, read through importlib.resources so an installed wheel
    works too (pyproject's package-data ships them)."""
    return tomllib.loads(resources.files(package).joinpath("data", name).read_text(encoding="utf-8"))
