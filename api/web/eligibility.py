"""A profile edit that makes the profile eligible for a policy tells the profile's accounts: an
inbox notice and an e-mail, written in the edit's own transaction.

Before the edit the profile's policies are checked on the record the matcher holds; after it,
on the flushed row, so the notice commits (or rolls back) with the edit itself. A command-line
import, which serves no matcher, reads "before" from a catalogue it loads before writing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from sqlalchemy.orm import Session

from api.matcher_service import MatcherService
from api.web.notices import LINKS, accounts_reaching, tell
from matcher.catalog import Catalog, row_record
from matcher.policies import check_record, today_in_wuhan
from models.enums import EntityKind
from models.policies import Policy, PolicyRegistry, PolicySet

# Lends the catalogue the "before" state is read from, for as long as the check needs it.
CatalogReader = Callable[[], AbstractContextManager[Catalog]]


def served_catalog(service: MatcherService) -> CatalogReader:
    """The serving matcher's catalogue, read under its lock."""

    @contextmanager
    def reading() -> Iterator[Catalog]:
        with service.reading() as matcher:
            yield matcher.catalog_

    return reading


def fixed_catalog(catalog: Catalog) -> CatalogReader:
    """A catalogue no one else changes (a command's own, loaded before its import)."""
    return lambda: nullcontext(catalog)


def _eligible(
    policies: PolicySet, catalog: CatalogReader, kind: EntityKind, record: Any
) -> dict[str, Policy]:
    with catalog() as held:
        checks = check_record(policies.policies.values(), held, kind, record, today_in_wuhan())
    return {check.policy.id: check.policy for check in checks if check.status == "eligible"}


def _link(kind: EntityKind) -> str:
    # Founders and young talent see their policies on a page; other accounts read the notice.
    return LINKS["policy_eligible"] if kind in {EntityKind.startup, EntityKind.person} else "/inbox"


@dataclass
class EligibilityWatch:
    """Made before an edit (``row_id`` None for a profile not created yet); :meth:`announce`
    after the edit's flush, before its commit."""

    policies: PolicySet
    catalog: CatalogReader
    kind: EntityKind
    before: frozenset[str]

    @classmethod
    def of(cls, request: Request, kind: EntityKind, row_id: int | None) -> EligibilityWatch:
        registry: PolicyRegistry = request.app.state.policies
        service: MatcherService = request.app.state.matcher_service
        return cls.of_held(registry.current(), served_catalog(service), kind, row_id)

    @classmethod
    def of_held(
        cls, policies: PolicySet, catalog: CatalogReader, kind: EntityKind, row_id: int | None
    ) -> EligibilityWatch:
        """``before`` is the row as the catalogue holds it."""
        before: frozenset[str] = frozenset()
        if row_id is not None:
            with catalog() as held:
                table = held.tables[kind]
                record = table.record(row_id) if table.has_slot(row_id) else None
            if record is not None:
                before = frozenset(_eligible(policies, catalog, kind, record))
        return cls(policies, catalog, kind, before)

    def announce(self, session: Session, row: Any) -> list[str]:
        """Tell the accounts behind ``row`` of each policy it has become eligible for; returns their ids."""
        now = _eligible(self.policies, self.catalog, self.kind, row_record(row))
        newly = [policy for policy_id, policy in sorted(now.items()) if policy_id not in self.before]
        if newly:
            accounts = accounts_reaching(session, (self.kind, int(row.id)))
            for policy in newly:
                params = {"policy": policy.title.zh, "policy_en": policy.title.en, "profile": str(row.name)}
                tell(session, accounts, "policy_eligible", params, _link(self.kind))
        return [policy.id for policy in newly]


@dataclass
class ImportWatch:
    """A bulk import's :class:`EligibilityWatch`, passed to the import as its ``before_commit``.

    Until the import commits, the matcher still holds each row as it was before (or not at all,
    for a new one), so "before" is read there for the rows now eligible for something; a
    command-line import passes a catalogue it loaded before writing instead."""

    policies: PolicySet
    catalog: CatalogReader
    kind: EntityKind

    @classmethod
    def of(cls, request: Request, kind: EntityKind) -> ImportWatch:
        registry: PolicyRegistry = request.app.state.policies
        service: MatcherService = request.app.state.matcher_service
        return cls(registry.current(), served_catalog(service), kind)

    def __call__(self, session: Session, rows: Sequence[Any]) -> None:
        if not any(policy.audience is self.kind for policy in self.policies.policies.values()):
            return
        for row in rows:
            if _eligible(self.policies, self.catalog, self.kind, row_record(row)):
                watch = EligibilityWatch.of_held(self.policies, self.catalog, self.kind, int(row.id))
                watch.announce(session, row)
