"""A profile edit that makes the profile eligible for a policy tells the profile's accounts: an
inbox notice and an e-mail, written in the edit's own transaction.

Before the edit the profile's policies are checked on the record the matcher holds; after it,
on the flushed row, so the notice commits (or rolls back) with the edit itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from sqlalchemy.orm import Session

from api.matcher_service import MatcherService
from api.web.notices import LINKS, accounts_reaching, tell
from matcher.catalog import row_record
from matcher.policies import check_record, today_in_wuhan
from models.enums import EntityKind
from models.policies import Policy, PolicyRegistry, PolicySet


def _eligible(
    policies: PolicySet, service: MatcherService, kind: EntityKind, record: Any
) -> dict[str, Policy]:
    with service.reading() as matcher:
        checks = check_record(policies.policies.values(), matcher.catalog_, kind, record, today_in_wuhan())
    return {check.policy.id: check.policy for check in checks if check.status == "eligible"}


def _link(kind: EntityKind) -> str:
    # Founders and young talent see their policies on a page; other accounts read the notice.
    return LINKS["policy_eligible"] if kind in {EntityKind.startup, EntityKind.person} else "/inbox"


@dataclass
class EligibilityWatch:
    """Made before an edit (``row_id`` None for a profile not created yet); :meth:`announce`
    after the edit's flush, before its commit."""

    policies: PolicySet
    service: MatcherService
    kind: EntityKind
    before: frozenset[str]

    @classmethod
    def of(cls, request: Request, kind: EntityKind, row_id: int | None) -> EligibilityWatch:
        registry: PolicyRegistry = request.app.state.policies
        return cls.of_held(registry.current(), request.app.state.matcher_service, kind, row_id)

    @classmethod
    def of_held(
        cls, policies: PolicySet, service: MatcherService, kind: EntityKind, row_id: int | None
    ) -> EligibilityWatch:
        """``before`` is the row as the matcher holds it."""
        before: frozenset[str] = frozenset()
        if row_id is not None:
            with service.reading() as matcher:
                table = matcher.catalog_.tables[kind]
                record = table.record(row_id) if table.has_slot(row_id) else None
            if record is not None:
                before = frozenset(_eligible(policies, service, kind, record))
        return cls(policies, service, kind, before)

    def announce(self, session: Session, row: Any) -> list[str]:
        """Tell the accounts behind ``row`` of each policy it has become eligible for; returns their ids."""
        now = _eligible(self.policies, self.service, self.kind, row_record(row))
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
    for a new one), so "before" is read there for the rows now eligible for something."""

    policies: PolicySet
    service: MatcherService
    kind: EntityKind

    @classmethod
    def of(cls, request: Request, kind: EntityKind) -> ImportWatch:
        registry: PolicyRegistry = request.app.state.policies
        return cls(registry.current(), request.app.state.matcher_service, kind)

    def __call__(self, session: Session, rows: Sequence[Any]) -> None:
        if not any(policy.audience is self.kind for policy in self.policies.policies.values()):
            return
        for row in rows:
            if _eligible(self.policies, self.service, self.kind, row_record(row)):
                watch = EligibilityWatch.of_held(self.policies, self.service, self.kind, int(row.id))
                watch.announce(session, row)
