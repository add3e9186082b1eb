"""Who may do what: API-key authentication, the roles each endpoint admits, and which
profiles an account owns. SECURITY.md states the same policy in prose.

Every route under ``/v1`` declares its roles with one dependency, :class:`Authorized` (or
:class:`OwnProfile` where the path names a profile that must be the caller's), and
:func:`document_policies` copies them into the OpenAPI description. Admin is admitted
everywhere except to other people's contact data.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request, status
from fastapi.routing import iter_route_contexts
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from sqlalchemy import ColumnElement, and_, false, or_
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from api.deps import SessionFactoryDep
from api.errors import ApiError, ErrorBody
from api.ids import RowId
from api.matcher_service import MatcherService
from models.accounts import Profile, account_for_key, interaction_end_is_one_of, key_hash, owned_profiles
from models.changes import FeedEntry, Topic
from models.enums import AccountRole, EntityKind
from models.kinds import KIND_OF_ENTITY, KindSpec
from models.tables import PROFILE_TABLES, Account

EVERYONE = frozenset(AccountRole)

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="An account's API key: `Authorization: Bearer cpm_…` (issued by `matcher account create`).",
)


@dataclass(frozen=True)
class Principal:
    """The account behind a request and every profile it may act for."""

    account_id: int
    role: AccountRole
    person_id: int | None
    owned: frozenset[Profile]

    @classmethod
    def of(cls, session: Session, account: Account) -> Principal:
        owned = frozenset() if account.role is AccountRole.admin else owned_profiles(session, account)
        return cls(account.id, account.role, account.person_id, owned)

    @property
    def is_admin(self) -> bool:
        return self.role is AccountRole.admin

    def owns(self, kind: EntityKind, row_id: int) -> bool:
        return self.is_admin or (kind, row_id) in self.owned

    def reload(self, session: Session) -> Principal:
        """Ownership as it is now, after a write in this transaction changed it."""
        account = session.get(Account, self.account_id)
        assert account is not None
        return Principal.of(session, account)


class PrincipalCache:
    """Who holds each API key, remembered until the change feed reports a change that could
    alter it: any write to accounts, keys or profiles (ownership follows teams and operators).

    A lookup that raced such a change is not kept: its generation is stale by then.
    """

    def __init__(self, factory: sessionmaker[Session], *, secret: str, max_size: int = 10_000) -> None:
        self.factory = factory
        self.secret = secret
        self.max_size = max_size
        self._known: dict[str, Principal] = {}
        self._generation = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> Principal | None:
        return self._known.get(key_hash(key, self.secret))

    def load(self, key: str) -> Principal | None:
        """From the database; None for an unknown, revoked or disabled key (never remembered)."""
        generation = self._generation
        with self.factory() as session:
            account = account_for_key(session, key, secret=self.secret)
            principal = None if account is None else Principal.of(session, account)
        with self._lock:
            if principal is not None and generation == self._generation:
                if len(self._known) >= self.max_size:
                    self._known.clear()
                self._known[key_hash(key, self.secret)] = principal
        return principal

    def changed(self, entries: Sequence[FeedEntry]) -> None:
        if any(entry.topic != Topic.interactions for entry in entries):
            with self._lock:
                self._generation += 1
                self._known.clear()


async def authenticate(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """The calling account, from its API key; 401 without a valid one.

    The matcher and the key cache are brought up to the change feed first (a cheap check on
    the event loop; a thread only when there is something to apply), so a key revoked or a
    profile written by another process or host counts at once (``catch_up_for_read``). Sets
    ``request.state.account_id`` so per-account rate limits can count the request.
    """
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise _unauthenticated("an API key is required: send 'Authorization: Bearer <key>'")
    service: MatcherService = request.app.state.matcher_service
    if service.behind():
        await run_in_threadpool(service.catch_up_for_read)
    principals: PrincipalCache = request.app.state.principals
    principal = principals.get(credentials.credentials)
    if principal is None:
        principal = await run_in_threadpool(principals.load, credentials.credentials)
    if principal is None:
        raise _unauthenticated("the API key is unknown, revoked, or its account is disabled")
    request.state.account_id = principal.account_id
    return principal


def _unauthenticated(message: str) -> ApiError:
    return ApiError(status.HTTP_401_UNAUTHORIZED, message, headers={"WWW-Authenticate": "Bearer"})


AuthenticatedDep = Annotated[Principal, Depends(authenticate)]
# For routers whose other dependencies (rate limits) need the account first.
Authenticated = Depends(authenticate)


class Authorized:
    """Admits admin and the given roles; any other role gets 403."""

    def __init__(self, *roles: AccountRole) -> None:
        self.roles = frozenset({AccountRole.admin, *roles})

    async def __call__(self, principal: AuthenticatedDep) -> Principal:
        self.admit(principal)
        return principal

    def admit(self, principal: Principal) -> None:
        if principal.role not in self.roles:
            raise ApiError(
                status.HTTP_403_FORBIDDEN,
                f"the '{principal.role.value}' role may not call this endpoint; it admits {self.describe()}",
            )

    def describe(self) -> str:
        return ", ".join(sorted(role.value for role in self.roles))


class OwnProfile:
    """Admits the given roles for a profile of ``kind`` the caller owns (the path's ``row_id``);
    403 for someone else's visible profile, 404 where its very existence is not theirs to know."""

    def __init__(self, kind: EntityKind, *roles: AccountRole) -> None:
        self.kind = kind
        self.authorized = Authorized(*roles)

    async def __call__(
        self, principal: AuthenticatedDep, factory: SessionFactoryDep, row_id: RowId
    ) -> Principal:
        self.authorized.admit(principal)
        if not principal.owns(self.kind, row_id):
            raise await run_in_threadpool(self._refusal, principal, factory, row_id)
        return principal

    def _refusal(self, principal: Principal, factory: sessionmaker[Session], row_id: int) -> ApiError:
        spec = KIND_OF_ENTITY[self.kind]
        with factory() as session:
            row = session.get(PROFILE_TABLES[self.kind], row_id)
            visible = row is not None and KIND_POLICIES[spec.slug].readable(principal, spec, row)
        return not_theirs(spec, row_id, visible=visible)

    def describe(self) -> str:
        return f"{self.authorized.describe()}; non-admin only for a {self.kind.value} they own"


def not_theirs(spec: KindSpec, row_id: int, *, visible: bool) -> ApiError:
    if visible:
        return ApiError(status.HTTP_403_FORBIDDEN, f"{spec.slug} {row_id} is not yours", field="path.row_id")
    return ApiError(status.HTTP_404_NOT_FOUND, f"no {spec.slug} with id {row_id}", field="path.row_id")


def _visible(row: Any) -> bool:
    """Shown to counterparts: active and consenting to matching (PIPL Art. 29)."""
    return bool(row.active and row.consent_matching)


# --- the policy of each kind's CRUD routes ---------------------------------------------


@dataclass(frozen=True)
class KindPolicy:
    """Who may do what with one kind, beside admin (who may do everything)."""

    readers: frozenset[AccountRole]  # may read the visible rows of others
    creators: frozenset[AccountRole]  # may create rows they will own
    owners: frozenset[AccountRole]  # may update and delete the rows they own
    admin_fields: frozenset[str] = frozenset()  # fields only admin may set (mass assignment)
    link_created: bool = False  # a created row becomes the creator's by an explicit link
    ownership_field: str = ""  # the field through which a created row is the creator's

    def readable(self, principal: Principal, spec: KindSpec, row: Any) -> bool:
        if principal.is_admin:
            return True
        if spec.entity is None:
            return not _interaction_ends(row).isdisjoint(principal.owned)
        return principal.owns(spec.entity, row.id) or (principal.role in self.readers and _visible(row))

    def writable(self, principal: Principal, spec: KindSpec, row: Any) -> bool:
        if spec.entity is None:
            return principal.owns(row.actor_kind, row.actor_id)
        return principal.owns(spec.entity, row.id)

    def scope(self, principal: Principal, spec: KindSpec) -> list[ColumnElement[bool]]:
        """SQL conditions limiting a list to the rows ``readable`` admits."""
        if principal.is_admin:
            return []
        if spec.entity is None:
            owned = sorted(principal.owned)
            return [
                or_(interaction_end_is_one_of(owned, "actor"), interaction_end_is_one_of(owned, "target"))
            ]
        table: Any = spec.table
        mine = [row_id for kind, row_id in principal.owned if kind is spec.entity]
        others = and_(table.active, table.consent_matching) if principal.role in self.readers else false()
        return [or_(others, table.id.in_(mine))]


def _interaction_ends(row: Any) -> set[Profile]:
    return {(row.actor_kind, row.actor_id), (row.target_kind, row.target_id)}


_A = AccountRole
KIND_POLICIES: dict[str, KindPolicy] = {
    # People are shown only to those they are recommended to; their role and City Partner card
    # are granted by the programme.
    "persons": KindPolicy(
        readers=frozenset({_A.enterprise, _A.operator, _A.mentor}),
        creators=frozenset(),
        owners=EVERYONE,
        admin_fields=frozenset({"role", "card_tier"}),
    ),
    "startups": KindPolicy(
        readers=EVERYONE,
        creators=frozenset({_A.founder}),
        owners=frozenset({_A.founder}),
        ownership_field="team",
    ),
    # Fields naming a person decide who owns the profile: only admin assigns them.
    "investors": KindPolicy(
        readers=EVERYONE,
        creators=frozenset(),
        owners=frozenset({_A.investor}),
        admin_fields=frozenset({"partner_external_id"}),
    ),
    "mentors": KindPolicy(
        readers=EVERYONE,
        creators=frozenset(),
        owners=frozenset({_A.mentor}),
        admin_fields=frozenset({"person_external_id"}),
    ),
    "spaces": KindPolicy(
        readers=EVERYONE,
        creators=frozenset(),
        owners=frozenset({_A.operator}),
        admin_fields=frozenset({"operator_external_id"}),
    ),
    "practice-bases": KindPolicy(
        readers=EVERYONE,
        creators=frozenset(),
        owners=frozenset({_A.operator, _A.enterprise}),
        admin_fields=frozenset({"operator_external_id"}),
    ),
    "posts": KindPolicy(
        readers=EVERYONE,
        creators=frozenset({_A.enterprise}),
        owners=frozenset({_A.enterprise}),
        link_created=True,
    ),
    # Interactions are read by the profiles at either end and written by the actor's owner.
    "interactions": KindPolicy(
        readers=frozenset(), creators=EVERYONE, owners=EVERYONE, ownership_field="actor_external_id"
    ),
}


def refuse_admin_fields(principal: Principal, policy: KindPolicy, body: BaseModel) -> None:
    """403 naming the first field of ``body`` that only admin may set."""
    if principal.is_admin:
        return
    for name in sorted(body.model_fields_set & policy.admin_fields):
        raise ApiError(
            status.HTTP_403_FORBIDDEN,
            f"only admin may set '{name}'",
            field=f"body.{name}",
            code="forbidden_field",
        )


def refuse_unless_owned(
    principal: Principal, policy: KindPolicy, spec: KindSpec, row: Any, session: Session
) -> None:
    """After a non-admin's write (not yet committed): the row must be theirs, or nothing is kept."""
    if principal.is_admin or policy.writable(principal.reload(session), spec, row):
        return
    field = f"body.{policy.ownership_field}" if policy.ownership_field else None
    raise ApiError(
        status.HTTP_403_FORBIDDEN,
        f"you may only write {spec.slug} that are yours"
        + (f": '{policy.ownership_field}' must name a profile of yours" if field else ""),
        field=field,
    )


# --- making the policy visible --------------------------------------------------------

Policy = Authorized | OwnProfile


@dataclass(frozen=True)
class RoutePolicy:
    """One route and the role policies its dependencies declare (one for every ``/v1`` route)."""

    path: str  # as OpenAPI writes it: `{row_id}`, without the `:ref` convertor
    methods: frozenset[str]
    policies: tuple[Policy, ...]

    @property
    def roles(self) -> frozenset[AccountRole]:
        """The roles every policy of the route admits."""
        admitted = [p.roles if isinstance(p, Authorized) else p.authorized.roles for p in self.policies]
        return frozenset.intersection(*admitted) if admitted else frozenset()

    def describe(self) -> str:
        return "; ".join(policy.describe() for policy in self.policies)


def route_policies(app: FastAPI) -> list[RoutePolicy]:
    """Every API route of ``app`` with its policies, read from its dependencies."""
    found = []
    for context in iter_route_contexts(app.routes):
        dependant = getattr(context, "dependant", None)
        if dependant is None:  # documentation pages, not API operations
            continue
        calls = _calls(dependant.dependencies)
        policies = tuple(call for call in calls if isinstance(call, Authorized | OwnProfile))
        found.append(RoutePolicy(str(context.path_format), frozenset(context.methods or ()), policies))
    return found


def _calls(dependants: Iterable[Any]) -> Iterator[Any]:
    for dependant in dependants:
        yield dependant.call
        yield from _calls(dependant.dependencies)


def document_policies(app: FastAPI) -> None:
    """State each operation's roles in its OpenAPI description and as ``x-roles``."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _with_roles(generate(), route_policies(app))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _with_roles(schema: dict[str, Any], routes: list[RoutePolicy]) -> dict[str, Any]:
    for route in routes:
        for method in route.methods:
            operation = schema["paths"].get(route.path, {}).get(method.lower())
            if operation is None or not route.policies:
                continue
            text = operation.get("description", "")
            operation["description"] = f"{text}\n\n**Roles:** {route.describe()}.".strip()
            operation["x-roles"] = sorted(role.value for role in route.roles)
    return schema


def readable_row(principal: Principal, spec: KindSpec, session: Session, row_id: int) -> Any:
    """The row, or 404 when it does not exist or is not the caller's to see."""
    row = session.get(spec.table, row_id)
    if row is None or not KIND_POLICIES[spec.slug].readable(principal, spec, row):
        raise not_theirs(spec, row_id, visible=False)
    return row


def writable_row(principal: Principal, spec: KindSpec, session: Session, row_id: int) -> Any:
    """The row, or 403 (someone else's, visible) or 404 (absent, or not the caller's to see)."""
    row = readable_row(principal, spec, session, row_id)
    if not KIND_POLICIES[spec.slug].writable(principal, spec, row):
        raise not_theirs(spec, row_id, visible=True)
    return row


# Documented on every secured operation, beside the errors every route may answer.
AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    status.HTTP_401_UNAUTHORIZED: {"model": ErrorBody, "description": "No valid API key."},
    status.HTTP_403_FORBIDDEN: {"model": ErrorBody, "description": "The role or the profile is not yours."},
}


class RedactQueryStrings(logging.Filter):
    """Access-log lines keep the path (ids only) but drop the query string, where a name
    search (``?q=张伟``) would put personal data into the log."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3:
            path = args[2]
            if isinstance(path, str):
                record.args = (*args[:2], path.partition("?")[0], *args[3:])
        return True


def redact_access_log() -> None:
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactQueryStrings) for f in access.filters):
        access.addFilter(RedactQueryStrings())
