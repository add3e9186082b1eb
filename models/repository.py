"""Create, read, update and delete for every kind, driven by :data:`models.kinds.KINDS`."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel
from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from models.accounts import forget_profile_links
from models.db import json_list_contains
from models.enums import EntityKind
from models.kinds import KindSpec, StoredIdNumbers, WriteContext
from models.refs import ExternalIds
from models.tables import Interaction, PolicyApplication


class NotFoundError(LookupError):
    def __init__(self, spec: KindSpec, key: object) -> None:
        super().__init__(f"no {spec.slug} with id {key}")


class ConflictError(ValueError):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class Repository:
    """One unit of work's view of the stored profiles; the caller owns the transaction."""

    def __init__(self, session: Session, *, secret: str) -> None:
        self.session = session
        self.refs = ExternalIds(session)
        self._context = WriteContext(self.refs, secret, StoredIdNumbers(session))

    # --- reading ---------------------------------------------------------------------

    def get(self, spec: KindSpec, row_id: int) -> Any:
        row = self.session.get(spec.table, row_id)
        if row is None:
            raise NotFoundError(spec, row_id)
        return row

    def by_external_ids(self, spec: KindSpec, external_ids: Sequence[str]) -> dict[str, Any]:
        table: Any = spec.table
        found: dict[str, Any] = {}
        for start in range(0, len(external_ids), 500):
            chunk = external_ids[start : start + 500]
            rows = self.session.scalars(select(table).where(table.external_id.in_(chunk)))
            found.update({row.external_id: row for row in rows})
        return found

    def list_rows(
        self, spec: KindSpec, filters: BaseModel, *, limit: int, offset: int, scope: Sequence[Any] = ()
    ) -> tuple[list[Any], int]:
        """One page of rows matching ``filters`` and the caller's ``scope`` (SQL conditions)."""
        table: Any = spec.table
        conditions = [
            *scope,
            *(
                self._condition(spec, name, value)
                for name, value in filters.model_dump(exclude_none=True).items()
            ),
        ]
        total = self.session.scalar(select(func.count()).select_from(table).where(*conditions)) or 0
        rows = self.session.scalars(
            select(table).where(*conditions).order_by(table.id).limit(limit).offset(offset)
        ).all()
        return list(rows), total

    @staticmethod
    def _condition(spec: KindSpec, name: str, value: Any) -> Any:
        filter_field = spec.filters[name]
        column = getattr(spec.table, filter_field.column)
        if filter_field.mode == "contains":
            return json_list_contains(column, value)
        if filter_field.mode == "search":
            return column.contains(value, autoescape=True)
        return column == value

    def fields_of(self, spec: KindSpec, row: Any) -> dict[str, Any]:
        """The stored row as a Create-shaped dict (external ids for references)."""
        data = {name: getattr(row, name) for name in spec.column_fields}
        for field_name, (kind, column) in spec.references.items():
            data[field_name] = self.refs.optional_external_id(kind, getattr(row, column))
        if spec.read_extra is not None:
            data.update(spec.read_extra(self.refs, row))
        return data

    def public(self, spec: KindSpec, rows: Sequence[Any]) -> list[BaseModel]:
        extras = spec.public_extra(self.session, rows) if spec.public_extra else {}
        columns = set(spec.table.__table__.columns.keys()) & set(spec.public.model_fields)
        return [
            spec.public.model_validate(
                {name: getattr(row, name) for name in columns}
                | self.fields_of(spec, row)
                | extras.get(row.id, {})
            )
            for row in rows
        ]

    # --- writing ---------------------------------------------------------------------

    def merged(self, spec: KindSpec, row: Any | None, changes: Mapping[str, Any]) -> BaseModel:
        """Validate ``changes`` on top of the stored row (or alone for a new one) as a Create.

        Raises pydantic's ValidationError naming every bad field.
        """
        base = self.fields_of(spec, row) if row is not None else {}
        # Lax: imported text cells ("3", "true") are read as the numbers and flags they spell.
        return spec.create.model_validate({**base, **changes}, strict=False)

    def create(self, spec: KindSpec, model: BaseModel) -> Any:
        external_id = getattr(model, "external_id", None)
        if external_id is not None and self.by_external_ids(spec, [external_id]):
            raise ConflictError("external_id", f"a {spec.slug} row with external_id '{external_id}' exists")
        return self.save(spec, None, model)

    def update(self, spec: KindSpec, row_id: int, patch: BaseModel) -> Any:
        row = self.get(spec, row_id)
        changes = patch.model_dump(exclude_unset=True)
        model = self.merged(spec, row, changes)
        return self.save(spec, row, model)

    def save(self, spec: KindSpec, row: Any | None, model: BaseModel, *, flush: bool = True) -> Any:
        """Write a validated Create model into ``row`` (a new row when None).

        ``flush=False`` lets a bulk import send all its rows in one round of batched inserts;
        the caller flushes before it needs their ids.
        """
        target: Any = row if row is not None else spec.table()
        fill_row(spec, target, model, self._context)
        if row is None:
            self.session.add(target)
        if flush:
            self.session.flush()
            if spec.entity is not None:
                self.refs.remember(spec.entity, target.id, target.external_id)
        return target

    def delete(self, spec: KindSpec, row_id: int) -> None:
        row = self.get(spec, row_id)
        if spec.entity is not None:
            self._delete_interactions_of(spec.entity, row_id)
            forget_profile_links(self.session, spec.entity, row_id)
            self.refs.forget(spec.entity, row_id)
        self.session.delete(row)
        self.session.flush()

    def _delete_interactions_of(self, kind: EntityKind, row_id: int) -> None:
        # Interactions refer to profiles polymorphically, so no foreign key can cascade for us.
        interactions = self.session.scalars(
            select(Interaction).where(
                or_(
                    (Interaction.actor_kind == kind) & (Interaction.actor_id == row_id),
                    (Interaction.target_kind == kind) & (Interaction.target_id == row_id),
                )
            )
        )
        for interaction in interactions:
            self.session.delete(interaction)
        # Policy applications name their applicant the same way; their trail goes with them.
        self.session.execute(
            delete(PolicyApplication).where(
                (PolicyApplication.applicant_kind == kind) & (PolicyApplication.applicant_id == row_id)
            )
        )


def fill_row(spec: KindSpec, target: Any, model: BaseModel, context: WriteContext) -> None:
    """Write a validated Create model into the row ``target``: its columns, its references as row
    ids and the kind's extra fields. Needs no session: ``context`` resolves the references.

    Raises :class:`models.refs.ReferenceCheckError` naming the field whose reference is unknown.
    """
    for name in spec.column_fields:
        setattr(target, name, getattr(model, name))
    if target.external_id is None:
        target.external_id = f"{spec.id_prefix}-{uuid.uuid4().hex[:16]}"
    for field_name, (kind, column) in spec.references.items():
        setattr(
            target, column, context.refs.optional_row_id(kind, getattr(model, field_name), field=field_name)
        )
    if spec.write_extra is not None:
        spec.write_extra(context, target, model)
