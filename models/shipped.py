"""The data files shipped inside the package: vocabularies, gazetteer, rates, demo phrases."""

from __future__ import annotations

import tomllib
from importlib import resources
from typing import Any


def shipped_toml(name: str) -> dict[str, Any]:
    """One of models/data/*.toml, read through importlib.resources so an installed wheel works too."""
    return tomllib.loads(resources.files("models").joinpath("data", name).read_text(encoding="utf-8"))
