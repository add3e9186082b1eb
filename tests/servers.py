"""A real ``matcher serve`` process on loopback, for crash, concurrency and load tests.

It runs in the development environment, so it writes an admin key into its data dir on start
(``api.cli_accounts.DEV_KEY_FILE``); :attr:`Server.headers` carries it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from api.cli_accounts import DEV_KEY_FILE

MATCHER = Path(sys.executable).parent / "matcher"
STARTUP_LIMIT_S = 300.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def matcher_env(data_dir: Path, database_url: str | None, **extra: str) -> dict[str, str]:
    """The environment of a ``matcher`` command on ``data_dir`` (and ``database_url``, if given)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MATCHER_") and k != "DATABASE_URL"}
    env |= {"MATCHER_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1"}
    if database_url is not None:
        env["DATABASE_URL"] = database_url
    return env | extra


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    headers: dict[str, str]

    def kill(self) -> None:
        """SIGKILL: no shutdown handler, no flush, as a crash or an OOM kill would end it."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)


@contextmanager
def serving(
    data_dir: Path, *, database_url: str | None = None, log: Path | None = None, **extra_env: str
) -> Iterator[Server]:
    """Start ``matcher serve`` and wait until /health answers; stop it (if still alive) on exit."""
    port = free_port()
    log_path = log or data_dir.parent / f"serve-{port}.log"
    with log_path.open("ab") as output:
        process = subprocess.Popen(
            [str(MATCHER), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=matcher_env(data_dir, database_url, **extra_env),
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(f"http://127.0.0.1:{port}", process, {})
    try:
        _wait_for_health(server, log_path)
        key = (data_dir / DEV_KEY_FILE).read_text().strip()
        server.headers = {"Authorization": f"Bearer {key}"}
        yield server
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=60)


def _wait_for_health(server: Server, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_LIMIT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"matcher serve exited with {server.process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{server.url}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"no answer from {server.url}/health within {STARTUP_LIMIT_S} s")
