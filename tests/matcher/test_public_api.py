"""Every class the public API exports documents each constructor argument (scikit-learn's way)."""

from __future__ import annotations

import enum
import inspect
import re

import pytest

import matcher


def _exported_classes() -> list[type]:
    return [
        value
        for name in matcher.__all__
        if inspect.isclass(value := getattr(matcher, name)) and not issubclass(value, enum.Enum)
    ]


def _documented(doc: str) -> set[str]:
    """The names a numpydoc "Parameters" section lists (``name : type`` lines)."""
    section = re.search(r"Parameters\n\s*-+\n(.*?)(?:\n\s*\n\s*[A-Z][a-z]+\n\s*-+\n|\Z)", doc, re.S)
    if section is None:
        return set()
    return set(re.findall(r"^\s*(\w+)\s*:", section.group(1), re.M))


def _parameters(cls: type) -> set[str]:
    signature = inspect.signature(cls)
    return {
        name
        for name, parameter in signature.parameters.items()
        if parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD)
    }


@pytest.mark.parametrize("cls", _exported_classes(), ids=lambda cls: cls.__name__)
def test_every_constructor_argument_is_documented_in_a_parameters_section(cls: type) -> None:
    missing = _parameters(cls) - _documented(inspect.getdoc(cls) or "")
    assert not missing, f"{cls.__name__}: document {sorted(missing)} in its 'Parameters' section"
