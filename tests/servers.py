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
from dataclasses import dataclass, field
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
    data_dir: Path
    log: Path
    headers: dict[str, str] = field(default_factory=dict)

    def kill(self) -> None:
        """SIGKILL: no shutdown handler, no flush, as a crash or an OOM kill would end it."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def wait_until_ready(self) -> None:
        """Until /health answers; then :attr:`headers` carry the development admin key."""
        deadline = time.monotonic() + STARTUP_LIMIT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"matcher serve exited with {self.process.returncode}:\n{self.log.read_text()}"
                )
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    key = (self.data_dir / DEV_KEY_FILE).read_text().strip()
                    self.headers = {"Authorization": f"Bearer {key}"}
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        raise TimeoutError(f"no answer from {self.url}/health within {STARTUP_LIMIT_S} s")


@contextmanager
def launched(
    data_dir: Path,
    *,
    database_url: str | None = None,
    log: Path | None = None,
    host: str = "127.0.0.1",
    namespace: str | None = None,
    **extra_env: str,
) -> Iterator[Server]:
    """Start ``matcher serve`` on ``host`` (within the network namespace ``namespace``, if given)
    without waiting for it; stop it (if still alive) on exit."""
    port = 8000 if namespace is not None else free_port()  # a namespace of its own has every port free
    log_path = log or data_dir.parent / f"serve-{port}.log"
    within = [] if namespace is None else ["ip", "netns", "exec", namespace]
    with log_path.open("ab") as output:
        process = subprocess.Popen(
            [*within, str(MATCHER), "serve", "--host", host, "--port", str(port)],
            env=matcher_env(data_dir, database_url, **extra_env),
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield Server(f"http://{host}:{port}", process, data_dir, log_path)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=60)


@contextmanager
def serving(
    data_dir: Path, *, database_url: str | None = None, log: Path | None = None, **extra_env: str
) -> Iterator[Server]:
    """Start ``matcher serve`` and wait until /health answers; stop it (if still alive) on exit."""
    with launched(data_dir, database_url=database_url, log=log, **extra_env) as server:
        server.wait_until_ready()
        yield server
