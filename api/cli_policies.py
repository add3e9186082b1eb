"""``matcher policy …``: the plan's policies from the command line (programme staff and founders)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from models.enums import EntityKind

app = typer.Typer(
    help="Policy matching (政策匹配): list, check, eligible, apply, import.", no_args_is_help=True
)
EXIT_BAD_INPUT = 2
PREFIXES = {"P": EntityKind.person, "S": EntityKind.startup, "I": EntityKind.investor, "SP": EntityKind.space}
KindOption = Annotated[
    str | None,
    typer.Option("--kind", help="Kind of the profile (default: from its id, S-… a startup, P-… a person)."),
]


def _context() -> tuple[Any, Any]:
    """The policy set in force and a session factory on a migrated database."""
    from models.db import open_database
    from models.policies import open_policies
    from models.settings import Settings

    settings = Settings()
    database = open_database(settings)
    registry = open_policies(database.sessions, settings)
    if registry.last_error is not None:
        typer.echo(f"warning: {registry.last_error} (serving the shipped set)", err=True)
    return registry.current(), database.sessions


def _fail(message: str) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(EXIT_BAD_INPUT)


def _profile(factory: Any, query: str, kind: str | None) -> tuple[EntityKind, int]:
    from models.kinds import KIND_OF_ENTITY
    from models.repository import Repository

    if kind is not None:
        try:
            entity = EntityKind(kind.replace("-", "_"))
        except ValueError:
            raise _fail(f"KIND: unknown kind '{kind}'") from None
    else:
        entity = PREFIXES.get(query.split("-")[0], EntityKind.startup)
    if query.isdigit():
        return entity, int(query)
    with factory() as session:
        found = Repository(session, secret="").by_external_ids(KIND_OF_ENTITY[entity], [query])
    if not found:
        raise _fail(f"ID: no {entity.value} with external_id '{query}'")
    return entity, int(found[query].id)


def _catalog(factory: Any) -> Any:
    from matcher.catalog import Catalog

    with factory() as session:
        return Catalog.from_database(session)


@app.command("list")
def list_policies(
    audience: Annotated[str | None, typer.Option(help="Only policies for this kind.")] = None,
) -> None:
    """Every policy in force: id, version, audience, the plan's section and the title."""
    policies, _ = _context()
    for policy in sorted(policies.policies.values(), key=lambda p: p.id):
        if audience is not None and policy.audience.value != audience:
            continue
        amount = "（金额可配置 configurable）" if policy.configurable else ""
        typer.echo(
            f"{policy.id:28} v{policy.version}  {policy.audience.value:8} {policy.section.ref:8} "
            f"{policy.title.zh} / {policy.title.en}{amount}"
        )


@app.command()
def check(
    query: Annotated[str, typer.Argument(help="Row id or external id of the profile (S-00001).")],
    kind: KindOption = None,
    show_all: Annotated[bool, typer.Option("--all", help="Also list the policies out of reach.")] = False,
) -> None:
    """The profile's eligible and almost-eligible policies, with reasons in Chinese and English."""
    from api.policies import policies_for_profile

    policies, factory = _context()
    entity, row_id = _profile(factory, query, kind)
    try:
        checks = policies_for_profile(policies, _catalog(factory), entity, row_id)
    except LookupError as error:
        raise _fail(str(error)) from None
    sections = [
        ("eligible", "可申请 / Eligible"),
        ("almost", "差一点 / Almost eligible"),
        *([("not_eligible", "暂不符合 / Not eligible")] if show_all else []),
    ]
    for status, heading in sections:
        chosen = [c for c in checks if c.status == status]
        typer.echo(f"\n{heading} ({len(chosen)})")
        for item in chosen:
            _print_check(item)
    hidden = sum(c.status == "not_eligible" for c in checks)
    if not show_all and hidden:
        typer.echo(f"\n暂不符合 / not eligible: {hidden} (--all lists them)")


def _print_check(item: Any) -> None:
    policy = item.policy
    typer.echo(
        f"  · {policy.title.zh} / {policy.title.en}  [{policy.id} v{policy.version}, {policy.section.ref}]"
    )
    for criterion in item.criteria:
        mark = "✓" if criterion.met else "✗"
        value = f"（{criterion.value.zh} / {criterion.value.en}）" if criterion.value is not None else ""
        typer.echo(f"      {mark} {criterion.label.zh} / {criterion.label.en}{value}")
        if not criterion.met and criterion.hint is not None:
            typer.echo(f"        → {criterion.hint.zh} / {criterion.hint.en}")


@app.command()
def eligible(
    policy_id: Annotated[str, typer.Argument(help="The policy's id.")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write .csv or .xlsx for staff.")
    ] = None,
) -> None:
    """免申即享: every profile eligible for the policy that has not applied yet."""
    from api.policies import eligible_not_applied, export_eligible

    policies, factory = _context()
    try:
        policy = policies.get(policy_id)
    except LookupError as error:
        raise _fail(str(error)) from None
    catalog = _catalog(factory)
    with factory() as session:
        profiles = eligible_not_applied(policy, catalog, session)
    if output is not None:
        content, _ = export_eligible(profiles, "xlsx" if output.suffix == ".xlsx" else "csv")
        output.write_bytes(content)
        typer.echo(f"{len(profiles)} eligible, not applied: written to {output}")
        return
    typer.echo(f"{policy.title.zh} / {policy.title.en}: {len(profiles)} eligible, not applied")
    for profile in profiles:
        typer.echo(f"  {profile.external_id:12} {profile.name}  {profile.district or ''}")


@app.command()
def apply(
    policy_id: Annotated[str, typer.Argument(help="The policy's id.")],
    query: Annotated[str, typer.Argument(help="Row id or external id of the applicant.")],
    kind: KindOption = None,
    note: Annotated[str, typer.Option(help="A note for the reviewers.")] = "",
) -> None:
    """Apply on a profile's behalf; refused (exit 2) with the unmet criteria when not eligible."""
    from api.policies import ApplicationCreate, apply_for, unmet_message
    from models.policy_applications import ApplicationConflictError

    policies, factory = _context()
    entity, row_id = _profile(factory, query, kind)
    catalog = _catalog(factory)
    body = ApplicationCreate(applicant_kind=entity, applicant_id=row_id, note=note)
    with factory() as session:
        try:
            checked, application = apply_for(policies, catalog, session, policy_id, body, account_id=None)
        except (LookupError, ValueError, ApplicationConflictError) as error:
            raise _fail(str(error)) from None
        if application is None:
            raise _fail(unmet_message(checked))
        session.commit()
        typer.echo(f"application {application.id}: submitted for {policy_id} v{application.policy_version}")


@app.command("import")
def import_policy(
    path: Annotated[Path, typer.Argument(help="A policy file (.toml).", exists=True, dir_okay=False)],
) -> None:
    """Validate a policy file and add it to (or replace it in) the set in force."""
    from models.db import open_database
    from models.policies import SUBMITTED, PolicyLoadError, write_policy
    from models.settings import Settings

    database = open_database(Settings())
    try:
        policy = write_policy(
            database.sessions, path.read_text(encoding="utf-8"), author=f"matcher policy import {path.name}"
        )
    except PolicyLoadError as error:
        raise _fail(str(error).replace(SUBMITTED, str(path), 1)) from None
    finally:
        database.engine.dispose()
    typer.echo(f"{policy.id} v{policy.version}: stored in the database, for every host")
