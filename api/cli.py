"""The ``matcher`` command line: a second door beside the HTTP API, over the same layers."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from api.cli_accounts import DEV_KEY_FILE, development_admin_key
from api.cli_accounts import app as accounts_app
from api.cli_batch import app as batch_app
from api.cli_evaluate import evaluate, train
from api.cli_policies import app as policies_app
from api.cli_rounds import app as rounds_app
from models.db import is_empty, open_database, transaction
from models.kinds import KINDS, kind_spec
from models.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from models.transfer import BeforeCommit

WORKER_HEALTHCHECK_S = 600

app = typer.Typer(
    help="City Partner Matcher (城市合伙人匹配): matchmaking for Wuhan's City Partner plan.",
    no_args_is_help=True,
    add_completion=False,
)

app.add_typer(accounts_app, name="account")
app.add_typer(rounds_app, name="round")
app.add_typer(policies_app, name="policy")
app.add_typer(batch_app, name="batch")
app.command()(evaluate)
app.command()(train)

KindArgument = Annotated[str, typer.Argument(help=f"One of: {', '.join(KINDS)}.")]
EXIT_BAD_INPUT = 2


def progress(items: Iterable[Any], total: int, label: str) -> Iterable[Any]:
    from tqdm import tqdm

    # delay: a bar appears only for work that takes more than a second.
    return tqdm(items, total=total, desc=label, delay=1.0, unit="row")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[
        int | None,
        typer.Option(min=1, help="Worker processes (default: the MATCHER_WORKERS setting, else 1)."),
    ] = None,
) -> None:
    """Start the HTTP API (migrating the database first).

    Each worker process holds its own matcher and follows the others' writes through the
    change feed; more workers serve more recommendations at once, one per core.
    """
    import uvicorn

    from api.app import create_app
    from api.http_protocol import PROTOCOL_PATH
    from models.portal import ensure_demo_logins

    settings = Settings() if workers is None else Settings(workers=workers)
    engine, factory = open_database(settings)
    if settings.environment == "development":
        with transaction(factory) as session:
            key = development_admin_key(settings, session)
            demo = ensure_demo_logins(session)
        typer.echo(f"development admin key (also in {settings.data_dir / DEV_KEY_FILE}): {key}")
        for login in demo:
            typer.echo(f"portal demo login ({login.role}): {login.identifier} / {login.password}")
    engine.dispose()
    typer.echo(f"City Partner Matcher on http://{host}:{port} — OpenAPI docs at http://{host}:{port}/docs")
    if settings.workers == 1:
        uvicorn.run(create_app(settings), host=host, port=port, log_level="info", http=PROTOCOL_PATH)
        return
    # Worker processes build the app themselves, from the same settings passed as environment.
    os.environ["MATCHER_WORKERS"] = str(settings.workers)
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=host,
        port=port,
        log_level="info",
        http=PROTOCOL_PATH,
        workers=settings.workers,
        # A worker building its matcher holds the GIL for many seconds and answers the
        # supervisor's ping late; the default 5 s would have it killed and restarted forever.
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_S,
    )


@app.command("migrate")
def migrate_db() -> None:
    """Create or upgrade the database schema to the newest migration."""
    engine, _ = open_database(Settings())
    typer.echo(f"database at {engine.url.render_as_string(hide_password=True)} is up to date")


@app.command("import")
def import_command(
    kind: KindArgument, file: Annotated[Path, typer.Argument(exists=True, dir_okay=False)]
) -> None:
    """Upsert rows of KIND from a CSV (UTF-8, GB18030/GBK or UTF-16), .xlsx, JSON or Parquet FILE
    by external_id; all or nothing."""
    from models.transfer import ImportRowsError, import_file

    spec = _spec_or_exit(kind)
    settings = Settings()
    _, factory = open_database(settings)
    watch = None if spec.entity is None else _import_watch(settings, factory, spec.entity)
    try:
        report = import_file(
            factory, spec, file, secret=settings.secret_key, progress=progress, before_commit=watch
        )
    except ImportRowsError as error:
        for line in error.lines():
            typer.echo(line, err=True)
        typer.echo(error.summary(), err=True)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    for normalisation in report.normalised:
        typer.echo(f"normalised / 已规范: {normalisation}")
    typer.echo(f"{report.kind}: {report.created} created, {report.updated} updated")


def _import_watch(settings: Settings, factory: sessionmaker[Session], entity: str) -> BeforeCommit | None:
    """The API import's policy notices, with "before" read from a catalogue loaded now, before
    the import writes: only the imported kind's profiles (and the startups some criteria count)."""
    from api.web.eligibility import ImportWatch, fixed_catalog
    from matcher.catalog import Catalog
    from models.enums import EntityKind
    from models.policies import open_policies

    kind = EntityKind(entity)
    policies = open_policies(factory, settings).current()
    if not any(policy.audience is kind for policy in policies.policies.values()):
        return None
    with factory() as session:
        catalog = Catalog.from_database(session, kinds={kind, EntityKind.startup})
    return ImportWatch(policies, fixed_catalog(catalog), kind)


@app.command()
def export(kind: KindArgument, file: Annotated[Path, typer.Argument(dir_okay=False)]) -> None:
    """Write every row of KIND to FILE (.csv with a BOM for Excel, .xlsx, .json, .jsonl or .parquet).

    Personal contact data is never exported.
    """
    from models.transfer import export_file

    spec = _spec_or_exit(kind)
    settings = Settings()
    _, factory = open_database(settings)
    try:
        count = export_file(factory, spec, file, secret=settings.secret_key)
    except ValueError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    typer.echo(f"{spec.slug}: {count} rows written to {file}")


@app.command("demo-data")
def demo_data(
    seed: Annotated[int, typer.Option(help="The same seed always gives the same ecosystem.")] = 42,
    if_empty: Annotated[
        bool, typer.Option("--if-empty", help="Do nothing when the database holds profiles.")
    ] = False,
) -> None:
    """Generate and load a deterministic demo Wuhan ecosystem."""
    from models.demo import generate_ecosystem, load_ecosystem

    settings = Settings()
    engine, factory = open_database(settings)
    if if_empty and not is_empty(engine):
        typer.echo("database already holds profiles; demo data not loaded")
        return
    typer.echo(f"generating the demo ecosystem (seed {seed}) …")
    from models.portal import ensure_demo_logins

    counts = load_ecosystem(factory, generate_ecosystem(seed), secret=settings.secret_key, progress=progress)
    typer.echo(", ".join(f"{count} {kind}" for kind, count in counts.items()))
    # The portal's demo logins come with the data (not only at `serve`), so a newcomer has them
    # whichever command they ran first; in development only, as at `serve`: their password is
    # public.
    if settings.environment == "development":
        with transaction(factory) as session:
            demo = ensure_demo_logins(session)
        for login in demo:
            typer.echo(f"portal demo login ({login.role}): {login.identifier} / {login.password}")


def _spec_or_exit(kind: str) -> Any:
    try:
        return kind_spec(kind)
    except ValueError as error:
        typer.echo(f"KIND: {error}", err=True)
        raise typer.Exit(EXIT_BAD_INPUT) from None


@app.command()
def vocab(
    name: Annotated[str | None, typer.Argument(help="industries, stages, areas, degrees, …")] = None,
) -> None:
    """List the vocabularies, or one vocabulary's codes with Chinese and English labels and synonyms."""
    from rich.console import Console
    from rich.table import Table

    from models.vocabularies import VOCABULARIES

    if name is None:
        for vocabulary, terms in VOCABULARIES.items():
            typer.echo(f"{vocabulary} ({len(terms)})")
        return
    if name not in VOCABULARIES:
        typer.echo(f"NAME: no vocabulary '{name}'; there are {', '.join(VOCABULARIES)}", err=True)
        raise typer.Exit(EXIT_BAD_INPUT)
    table = Table("code", "中文", "English", "synonyms / 同义词")
    for term in VOCABULARIES[name]:
        table.add_row(term.code, term.zh, term.en, ", ".join(term.synonyms))
    Console(width=None if sys.stdout.isatty() else 200).print(table)


@app.command()
def recommend(
    query: Annotated[str, typer.Argument(help="Row id or external id of the profile asking.")],
    kind: Annotated[str, typer.Option("--kind", help="What to recommend: investor, mentor, space, …")],
    source: Annotated[str, typer.Option("--from", help="Kind of the profile asking.")] = "startup",
    k: Annotated[int, typer.Option("-k", min=1, max=100, help="How many matches.")] = 10,
    english: Annotated[bool, typer.Option("--en", help="Reasons in English.")] = False,
) -> None:
    """Print ranked matches for one profile, with each side's score and the reasons."""
    from api.matcher_service import MatcherService
    from models.enums import EntityKind

    settings = Settings()
    _, factory = open_database(settings)
    source_spec, target_spec = _spec_or_exit(source), _spec_or_exit(kind)
    if source_spec.entity is None or target_spec.entity is None:
        typer.echo("KIND: interactions are not recommended", err=True)
        raise typer.Exit(EXIT_BAD_INPUT)
    row_id = _row_id(factory, source_spec, query)
    service = MatcherService(settings, factory)
    # Only the two kinds' stored channels (and the startups', for a founder asking as their
    # startup): a full build read every kind's indexes and wrote them back, 8-20 s a call.
    service.build(kinds={EntityKind(source_spec.entity), EntityKind(target_spec.entity), EntityKind.startup})
    try:
        with service.reading() as matcher:
            asker, target = EntityKind(source_spec.entity), EntityKind(target_spec.entity)
            matches = matcher.recommend(asker, row_id, target, k=k)
            why = None if matches else matcher.why_empty(asker, row_id, target)
    except (LookupError, ValueError) as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    if why is not None:
        typer.echo(f"no match: {why.en if english else why.zh}")
        return
    _print_matches(matches, english=english)


def _row_id(factory: Any, spec: Any, query: str) -> int:
    from models.repository import Repository

    if query.isdigit():
        return int(query)
    with factory() as session:
        found = Repository(session, secret="").by_external_ids(spec, [query])
    if not found:
        typer.echo(f"ID: no {spec.slug} with external_id '{query}'", err=True)
        raise typer.Exit(EXIT_BAD_INPUT)
    return int(found[query].id)


def _print_matches(matches: Any, *, english: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table("#", "name", "score (0-100)", "mutual", "asker's side", "their side", "reasons")
    for match in matches:
        reasons = "; ".join(r.en if english else r.zh for r in match.reasons)
        moved = f" ↕ {match.moved_by} (by score #{match.score_rank})" if match.moved_by else ""
        table.add_row(
            str(match.rank),
            f"{match.name} ({match.external_id})",
            f"{match.display_score:.0f}{moved}",
            f"{match.score:.3f}",
            f"{match.asker_score:.3f}",
            f"{match.candidate_score:.3f}",
            reasons,
        )
    # Piped output has no terminal width; keep reasons readable instead of folding them to 80.
    Console(width=None if sys.stdout.isatty() else 200).print(table)


if __name__ == "__main__":  # python -m api.cli …, as `matcher …`
    app()
