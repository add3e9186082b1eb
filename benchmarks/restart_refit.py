"""A restarted service's first lexical refit (what a large import triggers), with and without
the text analyses the last save stored beside the lexical rows.

    .venv/bin/python -m benchmarks.restart_refit [--data-dir DIR]

Each variant is a fresh process: a restart (``MatcherService.build()``), then the refit
(``build(refit_lexical=True)``), timed. Baseline in the same run: the same with the stored
analyses moved away, as a process had to do before they were saved. Without ``--data-dir`` the
demo (seed 42) is loaded into a temporary folder and built once first.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.cli_recommend import prepare
from embeddings.lexical import COUNTS_FILE, COUNTS_MANIFEST
from matcher.channels import LEXICAL_DIR
from models.settings import DEFAULT_SECRET, Settings


def _refit() -> None:
    from api.matcher_service import MatcherService
    from models.db import open_database

    settings = Settings()
    service = MatcherService(settings, open_database(settings).sessions)
    service.build()
    start, before = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
    service.build(refit_lexical=True)
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    print(f"{time.perf_counter() - start:.1f} s wall, {cpu:.1f} s CPU")


def timed(data_dir: Path) -> str:
    environment = os.environ | {"MATCHER_DATA_DIR": str(data_dir), "MATCHER_SECRET_KEY": DEFAULT_SECRET}
    command = [sys.executable, "-m", "benchmarks.restart_refit", "--child"]
    return subprocess.run(command, env=environment, check=True, capture_output=True, text=True).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-dir", type=Path, help="a data dir already holding the demo and its indexes")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _refit()
        return
    with tempfile.TemporaryDirectory() as folder:
        data_dir = args.data_dir or Path(folder)
        if args.data_dir is None:
            prepare(data_dir)
        timed(data_dir)  # its refit stores every text's analysis
        print(f"first refit with the stored analyses: {timed(data_dir)}", flush=True)
        settings = Settings(data_dir=data_dir, database_url=None, secret_key=DEFAULT_SECRET)
        lexical = settings.index_dir / LEXICAL_DIR
        kept = {name: (lexical / name).read_bytes() for name in (COUNTS_FILE, COUNTS_MANIFEST)}
        try:
            for name in kept:
                (lexical / name).unlink()
            print(f"baseline, none stored: {timed(data_dir)}", flush=True)
        finally:
            for name, content in kept.items():
                (lexical / name).write_bytes(content)


if __name__ == "__main__":
    main()
