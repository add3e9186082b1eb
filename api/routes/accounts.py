"""The caller's own account, and contact data where an accepted introduction allows it."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, status
from pydantic import BaseModel, Field

from api.deps import RepositoryDep
from api.errors import ApiError
from api.ids import RowId
from api.security import EVERYONE, KIND_POLICIES, Authorized, Principal, not_theirs
from models.accounts import introduced_sides, introductions_accepted
from models.enums import AccountRole, EntityKind
from models.kinds import KIND_OF_ENTITY
from models.tables import Person

router = APIRouter(tags=["accounts"])
AnyAccount = Annotated[Principal, Depends(Authorized(*EVERYONE))]


class ProfileRef(BaseModel):
    kind: EntityKind
    id: int


class AccountPublic(BaseModel):
    id: int
    role: AccountRole
    person_id: int | None
    profiles: list[ProfileRef] = Field(description="Every profile this account acts for.")


class ContactPublic(BaseModel):
    """A person's contact data: shown only to the person, and to the other side of an
    introduction both sides accepted (each recorded `contacted` or `meeting` towards the other)."""

    person_id: int
    phone: str | None
    email: str | None
    id_number_masked: str | None = Field(description="Shown to the person only; null for anyone else.")


@router.get(
    "/v1/me", response_model=AccountPublic, summary="The calling account and the profiles it acts for"
)
def me(principal: AnyAccount) -> Any:
    profiles = [ProfileRef(kind=kind, id=row_id) for kind, row_id in sorted(principal.owned)]
    return AccountPublic(
        id=principal.account_id, role=principal.role, person_id=principal.person_id, profiles=profiles
    )


@router.get(
    "/v1/persons/{row_id}/contact",
    response_model=ContactPublic,
    summary="A person's contact data, for the person or an introduced counterpart",
)
def contact(principal: AnyAccount, repository: RepositoryDep, row_id: RowId) -> Any:
    spec = KIND_OF_ENTITY[EntityKind.person]
    person: Person = repository.get(spec, row_id)
    own = principal.person_id == row_id
    if not own and not introductions_accepted(
        repository.session, principal.owned, introduced_sides(repository.session, row_id)
    ):
        if not KIND_POLICIES[spec.slug].readable(principal, spec, person):
            raise not_theirs(spec, row_id, visible=False)
        raise ApiError(
            status.HTTP_403_FORBIDDEN,
            "contact data is shown only after both sides accepted an introduction",
            field="path.row_id",
        )
    stored = person.contact
    return ContactPublic(
        person_id=row_id,
        phone=stored.phone if stored else None,
        email=stored.email if stored else None,
        id_number_masked=stored.id_number_masked if stored and own else None,
    )
