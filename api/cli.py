"""The ``matcher`` command line: a second door beside the HTTP API, over the same layers."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any

import typer
import uvicorn
from tqdm import tqdm

from models.db import engine_for, is_empty, migrate, session_factory
from models.kinds import KINDS, kind_spec
from models.settings import Settings
from models.transfer import ImportRowsError, export_file, import_file

app = typer.Typer(
    help="City Partner Matcher (城市合伙人匹配): matchmaking for Wuhan's City Partner plan.",
    no_args_is_help=True,
    add_completion=False,
)

KindArgument = Annotated[str, typer.Argument(help=f"One of: {', '.join(KINDS)}.")]
EXIT_BAD_INPUT = 2


def progress(items: Iterable[Any], total: int, label: str) -> Iterable[Any]:
    # delay: a bar appears only for work that takes more than a second.
    return tqdm(items, total=total, desc=label, delay=1.0, unit="row")


def _ready_factory(settings: Settings) -> Any:
    engine = engine_for(settings)
    migrate(engine)
    return engine, session_factory(engine)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Start the HTTP API (migrating the database first)."""
    from api.app import create_app

    settings = Settings()
    _ready_factory(settings)[0].dispose()
    typer.echo(f"City Partner Matcher on http://{host}:{port} — OpenAPI docs at http://{host}:{port}/docs")
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info")


@app.command("migrate")
def migrate_db() -> None:
    """Create or upgrade the database schema to the newest migration."""
    engine, _ = _ready_factory(Settings())
    typer.echo(f"database at {engine.url.render_as_string(hide_password=True)} is up to date")


@app.command("import")
def import_command(
    kind: KindArgument, file: Annotated[Path, typer.Argument(exists=True, dir_okay=False)]
) -> None:
    """Upsert rows of KIND from a CSV, JSON or Parquet FILE by external_id; all or nothing."""
    spec = _spec_or_exit(kind)
    settings = Settings()
    _, factory = _ready_factory(settings)
    try:
        report = import_file(factory, spec, file, secret=settings.secret_key, progress=progress)
    except ImportRowsError as error:
        for problem in error.problems:
            typer.echo(str(problem), err=True)
        typer.echo(f"{len(error.problems)} bad row(s); nothing was imported", err=True)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    typer.echo(f"{report.kind}: {report.created} created, {report.updated} updated")


@app.command()
def export(kind: KindArgument, file: Annotated[Path, typer.Argument(dir_okay=False)]) -> None:
    """Write every row of KIND to FILE (.csv, .json, .jsonl or .parquet).

    Personal contact data is never exported.
    """
    spec = _spec_or_exit(kind)
    settings = Settings()
    _, factory = _ready_factory(settings)
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
    engine, factory = _ready_factory(settings)
    if if_empty and not is_empty(engine):
        typer.echo("database already holds profiles; demo data not loaded")
        return
    typer.echo(f"generating the demo ecosystem (seed {seed}) …")
    counts = load_ecosystem(factory, generate_ecosystem(seed), secret=settings.secret_key, progress=progress)
    typer.echo(", ".join(f"{count} {kind}" for kind, count in counts.items()))


def _spec_or_exit(kind: str) -> Any:
    try:
        return kind_spec(kind)
    except ValueError as error:
        typer.echo(f"KIND: {error}", err=True)
        raise typer.Exit(EXIT_BAD_INPUT) from None
