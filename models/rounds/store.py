"""Rounds stored and changed in one unit of work: create, rank, pin or forbid, keep a proposal,
review and publish.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.enums import EntityKind
from models.kinds import KIND_OF_ENTITY, KINDS
from models.refs import ReferenceCheckError
from models.repository import ConflictError, NotFoundError, Repository
from models.rounds.kinds import ROUND_KINDS, PairDecision, RoundKind, RoundKindSpec, RoundStatus, Side
from models.rounds.schemas import (
    ApplicantEntry,
    AssignmentPublic,
    CounterpartEntry,
    CounterpartFill,
    PairPublic,
    PairRequest,
    ProfileRef,
    ProposalPublic,
    ProposedMatch,
    Published,
    ReasonPublic,
    RoundCreate,
    RoundInputs,
    RoundPublic,
    RoundSummary,
    UnmatchedPublic,
)
from models.rounds.tables import AllocationRound, RoundAssignment, RoundPairDecision, RoundParticipant
from models.tables import Interaction


class RoundNotFoundError(NotFoundError):
    def __init__(self, message: str) -> None:
        LookupError.__init__(self, message)


class RoundStore:
    """Rounds in one unit of work; the caller owns the transaction (as with :class:`Repository`)."""

    def __init__(self, repository: Repository) -> None:
        self.repository = repository
        self.session: Session = repository.session
        self._known: dict[EntityKind, set[int]] = {}

    # reading

    def get(self, round_id: int) -> AllocationRound:
        row = self.session.get(AllocationRound, round_id)
        if row is None:
            raise RoundNotFoundError(f"no round with id {round_id}")
        return row

    def list_rows(
        self,
        *,
        status: RoundStatus | None,
        kind: RoundKind | None,
        limit: int,
        offset: int,
        name_contains: str = "",
    ) -> tuple[list[AllocationRound], int]:
        conditions = [
            column == value
            for column, value in ((AllocationRound.status, status), (AllocationRound.kind, kind))
            if value is not None
        ]
        if name_contains:
            # Escaped, so a % or _ typed into the search is a character, not a wildcard.
            escaped = name_contains.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            conditions.append(AllocationRound.name.ilike(f"%{escaped}%", escape="\\"))
        total = self.session.scalar(select(func.count()).select_from(AllocationRound).where(*conditions))
        rows = self.session.scalars(
            select(AllocationRound)
            .where(*conditions)
            .order_by(AllocationRound.id)
            .limit(limit)
            .offset(offset)
        ).all()
        return list(rows), total or 0

    def public(self, row: AllocationRound) -> RoundPublic:
        spec = ROUND_KINDS[row.kind]
        refs = self.repository.refs
        applicant_of, counterpart_of = _external(refs, spec.applicant), _external(refs, spec.counterpart)
        applicants, counterparts = self._side(row, Side.applicant), self._side(row, Side.counterpart)
        return RoundPublic(
            id=row.id,
            external_id=row.external_id,
            created_at=row.created_at,
            updated_at=row.updated_at,
            name=row.name,
            kind=row.kind,
            deadline=row.deadline,
            preference_depth=row.preference_depth,
            status=row.status,
            applicants=[
                ApplicantEntry(
                    external_id=applicant_of(p.profile_id),
                    ranking=list(map(counterpart_of, self._ranking(row, p))),
                )
                for p in applicants
            ],
            counterparts=[
                CounterpartEntry(
                    external_id=counterpart_of(p.profile_id),
                    capacity=p.capacity,
                    ranking=list(map(applicant_of, self._ranking(row, p))),
                )
                for p in counterparts
            ],
            decisions=[
                PairPublic(
                    applicant=applicant_of(d.applicant_id),
                    counterpart=counterpart_of(d.counterpart_id),
                    decision=d.decision,
                )
                for d in sorted(self._decisions(row), key=lambda d: (d.applicant_id, d.counterpart_id))
            ],
            solved=row.report is not None,
            published_at=row.published_at,
        )

    def summary(self, row: AllocationRound) -> RoundSummary:
        return RoundSummary(
            id=row.id,
            external_id=row.external_id,
            created_at=row.created_at,
            updated_at=row.updated_at,
            name=row.name,
            kind=row.kind,
            status=row.status,
            deadline=row.deadline,
            applicants=len(self._side(row, Side.applicant)),
            counterparts=len(self._side(row, Side.counterpart)),
            solved=row.report is not None,
        )

    def inputs(self, round_id: int) -> RoundInputs:
        row = self.get(round_id)
        self._refuse_if_published(row, "solve")
        applicants, counterparts = self._side(row, Side.applicant), self._side(row, Side.counterpart)
        decided: dict[PairDecision, list[tuple[int, int]]] = {decision: [] for decision in PairDecision}
        for d in self._decisions(row):
            decided[d.decision].append((d.applicant_id, d.counterpart_id))
        return RoundInputs(
            round_id=row.id,
            kind=row.kind,
            depth=row.preference_depth,
            applicants=[p.profile_id for p in applicants],
            counterparts=[p.profile_id for p in counterparts],
            capacities=[int(p.capacity or 0) for p in counterparts],
            applicant_rankings={p.profile_id: self._ranking(row, p) for p in applicants if p.ranking},
            counterpart_rankings={p.profile_id: self._ranking(row, p) for p in counterparts if p.ranking},
            pinned=decided[PairDecision.pin],
            forbidden=decided[PairDecision.forbid],
        )

    def proposal(self, round_id: int) -> ProposalPublic:
        row = self.get(round_id)
        if row.report is None:
            raise RoundNotFoundError(f"round {round_id} has no proposal yet; solve it first")
        spec = ROUND_KINDS[row.kind]
        applicant, counterpart = self._profiles(spec.applicant), self._profiles(spec.counterpart)
        report = row.report
        return ProposalPublic(
            round_id=row.id,
            status=row.status,
            settings=report["settings"],
            metrics=report["metrics"],
            fill=[
                CounterpartFill(
                    counterpart=counterpart(fill["id"]), **{k: v for k, v in fill.items() if k != "id"}
                )
                for fill in report["fill"]
            ],
            assignments=[
                AssignmentPublic(
                    applicant=applicant(a.applicant_id),
                    counterpart=counterpart(a.counterpart_id),
                    score=a.score,
                    applicant_rank=a.applicant_rank,
                    counterpart_rank=a.counterpart_rank,
                    pinned=a.pinned,
                    reasons=[ReasonPublic.model_validate(r) for r in a.reasons],
                )
                for a in row.assignments
            ],
            unmatched=[
                UnmatchedPublic(applicant=applicant(u["id"]), reason=u["reason"], options=u["options"])
                for u in report["unmatched"]
            ],
        )

    def _profiles(self, kind: EntityKind) -> Callable[[int], ProfileRef]:
        table: Any = KIND_OF_ENTITY[kind].table
        cache: dict[int, ProfileRef] = {}

        def ref(row_id: int) -> ProfileRef:
            if row_id not in cache:
                found = self.session.get(table, row_id)
                name = found.name if found is not None else "(deleted)"
                external = found.external_id if found is not None else ""
                cache[row_id] = ProfileRef(id=row_id, external_id=external, name=name)
            return cache[row_id]

        return ref

    # writing

    def create(self, model: RoundCreate) -> AllocationRound:
        if model.external_id is not None and self.session.scalar(
            select(AllocationRound.id).where(AllocationRound.external_id == model.external_id)
        ):
            raise ConflictError("external_id", f"a round with external_id '{model.external_id}' exists")
        row = AllocationRound(status=RoundStatus.draft)
        self._write(row, model)
        self.session.add(row)
        self.session.flush()
        return row

    def update(self, round_id: int, patch: BaseModel) -> AllocationRound:
        row = self.get(round_id)
        self._refuse_if_published(row, "change")
        current = self.public(row).model_dump(include=set(RoundCreate.model_fields))
        model = RoundCreate.model_validate(current | patch.model_dump(exclude_unset=True))
        if model.kind is not row.kind:
            row.decisions = []
        self._write(row, model)
        self._check_pins_fit(row)
        self._back_to_draft(row)
        self.session.flush()
        return row

    def delete(self, round_id: int) -> None:
        row = self.get(round_id)
        self._refuse_if_published(row, "delete")
        self.session.delete(row)
        self.session.flush()

    def _write(self, row: AllocationRound, model: RoundCreate) -> None:
        spec = ROUND_KINDS[model.kind]
        refs = self.repository.refs
        applicant_ids = [
            refs.row_id(spec.applicant, a.external_id, field=f"applicants.{i}.external_id")
            for i, a in enumerate(model.applicants)
        ]
        counterpart_ids = [
            refs.row_id(spec.counterpart, c.external_id, field=f"counterparts.{i}.external_id")
            for i, c in enumerate(model.counterparts)
        ]
        counterpart_index = dict(
            zip((c.external_id for c in model.counterparts), counterpart_ids, strict=True)
        )
        applicant_index = dict(zip((a.external_id for a in model.applicants), applicant_ids, strict=True))
        profiles = self.repository.by_external_ids(
            KIND_OF_ENTITY[spec.counterpart], [c.external_id for c in model.counterparts]
        )
        participants = [
            RoundParticipant(
                side=Side.applicant,
                profile_id=row_id,
                position=i,
                ranking=_ranking_ids(
                    entry.ranking, counterpart_index, f"applicants.{i}.ranking", Side.counterpart
                ),
            )
            for i, (entry, row_id) in enumerate(zip(model.applicants, applicant_ids, strict=True))
        ] + [
            RoundParticipant(
                side=Side.counterpart,
                profile_id=row_id,
                position=i,
                capacity=spec.places_left(profiles[entry.external_id])
                if entry.capacity is None
                else entry.capacity,
                ranking=_ranking_ids(
                    entry.ranking, applicant_index, f"counterparts.{i}.ranking", Side.applicant
                ),
            )
            for i, (entry, row_id) in enumerate(zip(model.counterparts, counterpart_ids, strict=True))
        ]
        if row.id is not None:
            # The old rows go first: the new ones may have the same keys.
            row.participants = []
            self.session.flush()
        row.participants = participants
        if model.external_id is not None:
            row.external_id = model.external_id
        elif row.external_id is None:
            row.external_id = f"R-{uuid.uuid4().hex[:16]}"
        row.name, row.kind, row.deadline = model.name, model.kind, model.deadline
        row.preference_depth = model.preference_depth
        kept = set(applicant_ids), set(counterpart_ids)
        row.decisions = [
            d for d in row.decisions if d.applicant_id in kept[0] and d.counterpart_id in kept[1]
        ]

    def submit_ranking(
        self, round_id: int, external_id: str, ranking: list[str], *, now: dt.datetime
    ) -> None:
        """A participant's own ranked choices (an applicant's counterparts, or an operator's applicants)."""
        row = self.get(round_id)
        self._refuse_if_published(row, "take rankings for")
        if now > row.deadline:
            raise ConflictError("deadline", f"rankings closed at {row.deadline.isoformat()}")
        participant, other = self._participant(row, external_id)
        index = self._ids_of_side(row, other)
        participant.ranking = _ranking_ids(ranking, index, "ranking", other)
        self._back_to_draft(row)
        self.session.flush()

    def decide(self, round_id: int, request: PairRequest) -> None:
        row = self.get(round_id)
        self._refuse_if_published(row, "change")
        applicant_id, counterpart_id = self._pair_ids(row, request.applicant, request.counterpart)
        others = [
            d for d in row.decisions if (d.applicant_id, d.counterpart_id) != (applicant_id, counterpart_id)
        ]
        if request.decision is PairDecision.pin:
            self._check_pin(row, others, applicant_id, counterpart_id)
        existing = next(
            (
                d
                for d in row.decisions
                if (d.applicant_id, d.counterpart_id) == (applicant_id, counterpart_id)
            ),
            None,
        )
        if existing is None:
            row.decisions.append(
                RoundPairDecision(
                    applicant_id=applicant_id, counterpart_id=counterpart_id, decision=request.decision
                )
            )
        else:
            existing.decision = request.decision
        self._back_to_draft(row)
        self.session.flush()

    def _check_pin(
        self, row: AllocationRound, others: list[RoundPairDecision], applicant_id: int, counterpart_id: int
    ) -> None:
        pins = [d for d in others if d.decision is PairDecision.pin]
        if any(d.applicant_id == applicant_id for d in pins):
            raise ConflictError("applicant", "this applicant is already pinned to another counterpart")
        capacity = next(
            int(p.capacity or 0)
            for p in row.participants
            if p.side is Side.counterpart and p.profile_id == counterpart_id
        )
        if sum(d.counterpart_id == counterpart_id for d in pins) >= capacity:
            raise ConflictError("counterpart", f"every one of its {capacity} places is already pinned")

    def _check_pins_fit(self, row: AllocationRound) -> None:
        pins = Counter(d.counterpart_id for d in row.decisions if d.decision is PairDecision.pin)
        external_id = _external(self.repository.refs, _kind_of(row, Side.counterpart))
        for p in self._side(row, Side.counterpart):
            if pins[p.profile_id] > int(p.capacity or 0):
                raise ConflictError(
                    "counterparts",
                    f"{external_id(p.profile_id)} has {pins[p.profile_id]} pinned applicant(s) but "
                    f"{p.capacity} place(s); unpin first",
                )

    def undecide(self, round_id: int, applicant: str, counterpart: str) -> None:
        row = self.get(round_id)
        self._refuse_if_published(row, "change")
        pair = self._pair_ids(row, applicant, counterpart)
        kept = [d for d in row.decisions if (d.applicant_id, d.counterpart_id) != pair]
        if len(kept) == len(row.decisions):
            raise RoundNotFoundError(f"no decision on {applicant} and {counterpart} in round {round_id}")
        row.decisions = kept
        self._back_to_draft(row)
        self.session.flush()

    def save_proposal(self, round_id: int, matches: Sequence[ProposedMatch], report: dict[str, Any]) -> None:
        row = self.get(round_id)
        self._refuse_if_published(row, "solve")
        row.assignments = []
        self.session.flush()
        row.assignments = [
            RoundAssignment(
                applicant_id=m.applicant_id,
                counterpart_id=m.counterpart_id,
                score=m.score,
                applicant_rank=m.applicant_rank,
                counterpart_rank=m.counterpart_rank,
                pinned=m.pinned,
                reasons=m.reasons,
            )
            for m in matches
        ]
        row.report = report
        row.status = RoundStatus.draft
        self.session.flush()

    def review(self, round_id: int) -> AllocationRound:
        row = self.get(round_id)
        if row.status is not RoundStatus.draft:
            raise ConflictError(
                "status", f"only a draft round can be reviewed; this one is {row.status.value}"
            )
        if row.report is None:
            raise ConflictError("status", "the round has no proposal to review; solve it first")
        row.status = RoundStatus.reviewed
        self.session.flush()
        return row

    def publish(self, round_id: int, *, now: dt.datetime) -> Published:
        """Write every match as an interaction and take the places, all in the caller's transaction.

        Places are checked against the profiles as they are now: if others took them since the
        round was solved, nothing is written.
        """
        row = self.get(round_id)
        if row.status is not RoundStatus.reviewed:
            raise ConflictError(
                "status", f"only a reviewed round can be published; this one is {row.status.value}"
            )
        spec = ROUND_KINDS[row.kind]
        gone = [
            a
            for a in row.assignments
            if a.applicant_id not in self._exists(spec.applicant)
            or a.counterpart_id not in self._exists(spec.counterpart)
        ]
        if gone:
            raise ConflictError(
                "status",
                f"{len(gone)} matched profile(s) were deleted since the round was solved; solve again",
            )
        interactions = self._write_outcomes(row, spec, now)
        profiles = self._take_places(row, spec)
        row.status = RoundStatus.published
        row.published_at = now
        self.session.flush()
        return Published(interactions, profiles)

    def _write_outcomes(
        self, row: AllocationRound, spec: RoundKindSpec, now: dt.datetime
    ) -> list[Interaction]:
        refs = self.repository.refs
        interactions_spec = KINDS["interactions"]
        written = []
        for match in row.assignments:
            model = interactions_spec.create.model_validate(
                {
                    "external_id": f"{row.external_id}:{match.counterpart_id}:{match.applicant_id}"[:64],
                    "actor_kind": spec.counterpart,
                    "actor_external_id": refs.external_id(spec.counterpart, match.counterpart_id),
                    "target_kind": spec.applicant,
                    "target_external_id": refs.external_id(spec.applicant, match.applicant_id),
                    "kind": spec.outcome,
                    "occurred_at": now,
                    "note": f"round {row.external_id}: {row.name}",
                }
            )
            written.append(self.repository.save(interactions_spec, None, model, flush=False))
        self.session.flush()
        return written

    def _take_places(self, row: AllocationRound, spec: RoundKindSpec) -> list[tuple[EntityKind, Any]]:
        if spec.take_places is None:
            return []
        kind_spec = KIND_OF_ENTITY[spec.counterpart]
        taken = Counter(match.counterpart_id for match in row.assignments)
        updated = []
        for counterpart_id, n in sorted(taken.items()):
            profile = self.repository.get(kind_spec, counterpart_id)
            left = spec.places_left(profile)
            if left < n:
                raise ConflictError(
                    "counterparts",
                    f"{profile.external_id} has {left} place(s) left but the round gives it {n}; re-solve",
                )
            changes = kind_spec.update.model_validate(spec.take_places(profile, n))
            updated.append((spec.counterpart, self.repository.update(kind_spec, counterpart_id, changes)))
        return updated

    # helpers

    @staticmethod
    def _refuse_if_published(row: AllocationRound, action: str) -> None:
        if row.status is RoundStatus.published:
            raise ConflictError("status", f"round {row.id} is published; cannot {action} it")

    def _back_to_draft(self, row: AllocationRound) -> None:
        # Anything that changes the inputs makes the proposal stale: it must be solved and reviewed again.
        row.status = RoundStatus.draft
        row.report = None
        row.assignments = []

    def _ids_of_side(self, row: AllocationRound, side: Side) -> dict[str, int]:
        external_id = _external(self.repository.refs, _kind_of(row, side))
        return {external_id(p.profile_id): p.profile_id for p in self._side(row, side)}

    # A deleted profile leaves its rounds: its entries, rankings and decisions are skipped.

    def _exists(self, kind: EntityKind) -> set[int]:
        if kind not in self._known:
            table: Any = KIND_OF_ENTITY[kind].table
            self._known[kind] = set(self.session.scalars(select(table.id)))
        return self._known[kind]

    def _side(self, row: AllocationRound, side: Side) -> list[RoundParticipant]:
        present = self._exists(_kind_of(row, side))
        return [p for p in row.participants if p.side is side and p.profile_id in present]

    def _ranking(self, row: AllocationRound, participant: RoundParticipant) -> list[int]:
        other = Side.counterpart if participant.side is Side.applicant else Side.applicant
        present = self._exists(_kind_of(row, other))
        return [row_id for row_id in participant.ranking if row_id in present]

    def _decisions(self, row: AllocationRound) -> list[RoundPairDecision]:
        applicants = self._exists(_kind_of(row, Side.applicant))
        counterparts = self._exists(_kind_of(row, Side.counterpart))
        return [d for d in row.decisions if d.applicant_id in applicants and d.counterpart_id in counterparts]

    def _participant(self, row: AllocationRound, external_id: str) -> tuple[RoundParticipant, Side]:
        for side, other in ((Side.applicant, Side.counterpart), (Side.counterpart, Side.applicant)):
            row_id = self._ids_of_side(row, side).get(external_id)
            if row_id is not None:
                found = next(p for p in row.participants if p.side is side and p.profile_id == row_id)
                return found, other
        raise RoundNotFoundError(f"{external_id} takes no part in round {row.id}")

    def _pair_ids(self, row: AllocationRound, applicant: str, counterpart: str) -> tuple[int, int]:
        applicants, counterparts = (
            self._ids_of_side(row, Side.applicant),
            self._ids_of_side(row, Side.counterpart),
        )
        if applicant not in applicants:
            raise ReferenceCheckError("applicant", f"{applicant} is not an applicant of round {row.id}")
        if counterpart not in counterparts:
            raise ReferenceCheckError("counterpart", f"{counterpart} is not a counterpart of round {row.id}")
        return applicants[applicant], counterparts[counterpart]


def _kind_of(row: AllocationRound, side: Side) -> EntityKind:
    spec = ROUND_KINDS[row.kind]
    return spec.applicant if side is Side.applicant else spec.counterpart


def _external(refs: Any, kind: EntityKind) -> Callable[[int], str]:
    return lambda row_id: str(refs.external_id(kind, row_id))


def _ranking_ids(ranking: Sequence[str], index: dict[str, int], field: str, side: Side) -> list[int]:
    ids = []
    for i, external_id in enumerate(ranking):
        if external_id not in index:
            article = "an" if side == Side.applicant else "a"
            raise ReferenceCheckError(
                f"{field}.{i}", f"'{external_id}' is not {article} {side.value} of this round"
            )
        ids.append(index[external_id])
    return ids
