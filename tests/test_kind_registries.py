"""Adding an entity kind: each layer keeps one registry of what it needs per kind, and this test
names the registry a kind is missing from (the README's Contributing section lists the steps)."""

from __future__ import annotations

import pytest

from api.security import KIND_POLICIES
from matcher.kinds import MATCHING
from models.enums import EntityKind
from models.kinds import KIND_OF_ENTITY, KINDS
from models.tables import PROFILE_TABLES

REGISTRIES: dict[str, set[EntityKind]] = {
    "models.tables.PROFILE_TABLES": set(PROFILE_TABLES),
    "models.kinds.KINDS (a KindSpec with entity=…)": set(KIND_OF_ENTITY),
    "matcher.kinds.MATCHING": set(MATCHING),
    "api.security.KIND_POLICIES (keyed by the kind's slug)": {
        spec.entity for slug, spec in KINDS.items() if spec.entity is not None and slug in KIND_POLICIES
    },
}


@pytest.mark.parametrize("kind", list(EntityKind), ids=str)
def test_every_entity_kind_is_in_every_registry(kind: EntityKind) -> None:
    missing = [name for name, kinds in REGISTRIES.items() if kind not in kinds]
    assert missing == [], f"EntityKind.{kind.name} has no entry in {', '.join(missing)}"


def test_no_registry_holds_a_kind_that_does_not_exist() -> None:
    extra = {name: kinds - set(EntityKind) for name, kinds in REGISTRIES.items() if kinds - set(EntityKind)}
    assert extra == {}
