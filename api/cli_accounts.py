"""``matcher account …``: create accounts and issue or revoke their API keys.

A key is printed once, when issued; only its keyed hash is stored.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import select
from sqlalchemy.orm import Session

from models.accounts import Profile, account_for_key, create_account, issue_key, revoke_key
from models.db import open_database, transaction
from models.enums import AccountRole, EntityKind
from models.refs import ExternalIds, ReferenceCheckError
from models.settings import Settings
from models.tables import Account

app = typer.Typer(help="Accounts and their API keys.", no_args_is_help=True)
EXIT_BAD_INPUT = 2
DEV_KEY_FILE = "dev-admin.key"

ProfileOption = Annotated[
    list[str] | None,
    typer.Option(
        "--profile",
        help="KIND:EXTERNAL_ID of a profile the account acts for, e.g. investor:I-0001 or post:RD-7 "
        "(repeatable). The person's own startups, spaces, bases, mentor and investor profiles need none.",
    ),
]


@app.command("create")
def create(
    role: Annotated[AccountRole, typer.Option(help="What the account may do (see SECURITY.md).")],
    name: Annotated[str, typer.Option(help="Who holds it, for the programme's records.")],
    person: Annotated[
        str | None, typer.Option(help="External id of the person the account belongs to.")
    ] = None,
    profile: ProfileOption = None,
) -> None:
    """Create an account and print its first API key (shown this once only)."""
    settings = Settings()
    factory = open_database(settings).sessions
    try:
        with transaction(factory) as session:
            refs = ExternalIds(session)
            person_id = None if person is None else refs.row_id(EntityKind.person, person, field="--person")
            profiles = [_profile(refs, text) for text in profile or []]
            account = create_account(session, name=name, role=role, person_id=person_id, profiles=profiles)
            issued = issue_key(session, account, secret=settings.secret_key)
    except (ReferenceCheckError, ValueError) as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    typer.echo(f"account {issued.account_id} ({role.value}) created; its API key, shown once:")
    typer.echo(issued.key)


def _profile(refs: ExternalIds, text: str) -> Profile:
    kind_text, _, external_id = text.partition(":")
    try:
        kind = EntityKind(kind_text.strip().replace("-", "_"))
    except ValueError:
        raise ValueError(f"--profile '{text}': KIND must be one of {', '.join(EntityKind)}") from None
    return kind, refs.row_id(kind, external_id.strip(), field="--profile")


@app.command("issue-key")
def issue(account_id: Annotated[int, typer.Argument(help="The account's id.")]) -> None:
    """Issue another API key for an account (shown this once only)."""
    settings = Settings()
    with transaction(open_database(settings).sessions) as session:
        account = session.get(Account, account_id)
        if account is None:
            typer.echo(f"ACCOUNT_ID: no account {account_id}", err=True)
            raise typer.Exit(EXIT_BAD_INPUT)
        typer.echo(issue_key(session, account, secret=settings.secret_key).key)


@app.command("revoke-key")
def revoke(prefix: Annotated[str, typer.Argument(help="The key's first 12 characters.")]) -> None:
    """Revoke a key at once: the next request with it is refused."""
    with transaction(open_database(Settings()).sessions) as session:
        count = revoke_key(session, prefix)
    typer.echo(f"{count} key(s) revoked")
    if not count:
        raise typer.Exit(EXIT_BAD_INPUT)


@app.command("disable")
def disable(account_id: Annotated[int, typer.Argument(help="The account's id.")]) -> None:
    """Disable an account: every key of it is refused from the next request on."""
    with transaction(open_database(Settings()).sessions) as session:
        account = session.get(Account, account_id)
        if account is None:
            typer.echo(f"ACCOUNT_ID: no account {account_id}", err=True)
            raise typer.Exit(EXIT_BAD_INPUT)
        account.active = False
    typer.echo(f"account {account_id} disabled")


@app.command("list")
def list_accounts() -> None:
    """Every account: id, role, name and the person it belongs to."""
    with transaction(open_database(Settings()).sessions) as session:
        for account in session.scalars(select(Account).order_by(Account.id)):
            person = "" if account.person_id is None else f" person {account.person_id}"
            state = "" if account.active else " (disabled)"
            typer.echo(f"{account.id}\t{account.role.value}\t{account.name}{person}{state}")


def development_admin_key(settings: Settings, session: Session) -> str:
    """In development only: the admin key kept in ``$MATCHER_DATA_DIR/dev-admin.key``, issued
    on first use, so ``make run`` can be tried at once. Any other environment is refused."""
    if settings.environment != "development":
        raise ValueError("a development admin key exists only when MATCHER_ENVIRONMENT=development")
    path = settings.data_dir.resolve() / DEV_KEY_FILE
    if path.exists():
        key = path.read_text().strip()
        if account_for_key(session, key, secret=settings.secret_key) is not None:
            return key
    account = create_account(session, name="development admin", role=AccountRole.admin)
    key = issue_key(session, account, secret=settings.secret_key).key
    _write_private(path, key)
    return key


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as stream:
        stream.write(text + "\n")
