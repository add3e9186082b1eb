"""Two `matcher serve` hosts on one PostgreSQL database, each in a network namespace of its own.

Each host is a namespace joined to the root namespace by a veth pair, as two machines on one
network would be. PostgreSQL listens on the root namespace's loopback only, so a forwarder in
this process relays each host's database connections from the root end of its veth pair, as
the database machine's network address would. A write through one host must be in the other
host's next answer, and a host killed outright must lose no write it acknowledged.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import subprocess
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from models.db import create_db_engine, session_factory
from models.tables import Interaction, Startup
from tests.conftest import PostgresDatabases
from tests.factories import load_small_demo, samples
from tests.servers import Server, launched

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

SECRET = "dev-only-change-me"  # the development placeholder: `matcher serve` runs as development
INVESTOR = 1
POLICY = "series-a-talent-pay"
BURST = 16
BURST_WORKERS = 6


def _root_with_ip_or_skip() -> None:
    missing = [
        need
        for need, present in (("root", os.geteuid() == 0), ("the ip command (iproute2)", shutil.which("ip")))
        if not present
    ]
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"network namespaces need {' and '.join(missing)}, and CI must run this test")
        pytest.skip(f"network namespaces need {' and '.join(missing)}")


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


@dataclass(frozen=True)
class Host:
    namespace: str
    address: str  # within the namespace
    gateway: str  # the root namespace's end of the veth pair


def _unused_prefix() -> str:
    """A 10.x.y.0/24 no interface of this machine is on (another run of this test included)."""
    routes = subprocess.run(
        ["ip", "-4", "route", "show", "table", "all"], capture_output=True, text=True
    ).stdout
    draw = random.Random()
    while True:
        prefix = f"10.{draw.randrange(200, 250)}.{draw.randrange(256)}"
        if f"{prefix}." not in routes:
            return prefix


@contextmanager
def _namespaces(count: int) -> Iterator[list[Host]]:
    """``count`` network namespaces, each on a /30 of its own with the root namespace; names
    unique to this run, all removed on exit whatever happened."""
    tag, prefix = uuid.uuid4().hex[:6], _unused_prefix()
    made: list[tuple[str, str]] = []
    try:
        hosts = []
        for n in range(count):
            namespace, root_end, host_end = f"cpm-{tag}-{n}", f"cpm{tag}r{n}", f"cpm{tag}h{n}"
            host = Host(namespace, address=f"{prefix}.{4 * n + 2}", gateway=f"{prefix}.{4 * n + 1}")
            _ip("netns", "add", namespace)
            made.append((namespace, root_end))
            _ip("link", "add", root_end, "type", "veth", "peer", "name", host_end, "netns", namespace)
            _ip("addr", "add", f"{host.gateway}/30", "dev", root_end)
            _ip("link", "set", root_end, "up")
            _ip("-n", namespace, "addr", "add", f"{host.address}/30", "dev", host_end)
            _ip("-n", namespace, "link", "set", host_end, "up")
            _ip("-n", namespace, "link", "set", "lo", "up")
            hosts.append(host)
        yield hosts
    finally:
        for namespace, root_end in made:
            # Deleting one end of a veth pair deletes the other.
            subprocess.run(["ip", "link", "delete", root_end], capture_output=True)
            subprocess.run(["ip", "netns", "delete", namespace], capture_output=True)


class Forwarder:
    """Relays TCP connections made to any of ``addresses`` to ``target``, on an event loop in a
    thread of its own. Pure Python: CI machines need not have socat."""

    def __init__(self, addresses: list[str], target: tuple[str, int]) -> None:
        self.target = target
        self.ports: dict[str, int] = {}
        self._addresses = addresses
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._servers: list[asyncio.Server] = []
        self._relays: set[asyncio.Task[Any]] = set()

    def __enter__(self) -> Forwarder:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(timeout=30)
        return self

    def __exit__(self, *_exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop.close()

    async def _listen(self) -> None:
        for address in self._addresses:
            server = await asyncio.start_server(self._connect, address, 0)
            self._servers.append(server)
            self.ports[address] = server.sockets[0].getsockname()[1]

    async def _connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._relays.add(task)
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
            await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))
        finally:
            writer.close()
            self._relays.discard(task)

    async def _close(self) -> None:
        for server in self._servers:
            server.close()
        for relay in list(self._relays):
            relay.cancel()
        await asyncio.gather(*self._relays, return_exceptions=True)


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    """Copies until either side closes (a killed host's connections reset), then closes ``sink``."""
    try:
        while chunk := await source.read(65536):
            sink.write(chunk)
            await sink.drain()
    except ConnectionError:
        pass
    finally:
        sink.close()


@dataclass
class TwoHosts:
    first: Server
    second: Server
    database_url: str  # as this process reaches it


@pytest.fixture
def two_hosts(postgres_databases: PostgresDatabases, tmp_path: Path) -> Iterator[TwoHosts]:
    """Hosts A and B serving one fresh database holding the small demo, each with a data dir
    (indexes, embedding cache, admin key) of its own, as separate machines have."""
    _root_with_ip_or_skip()
    name = postgres_databases.create(migrated=True)
    database_url = postgres_databases.url(name)
    load_small_demo(database_url, seed=5, secret=SECRET)
    server_url = make_url(database_url)
    try:
        with (
            _namespaces(2) as hosts,
            Forwarder(
                [h.gateway for h in hosts], (str(server_url.host), server_url.port or 5432)
            ) as forwarder,
            ExitStack() as servers,
        ):
            started = [
                servers.enter_context(
                    launched(
                        tmp_path / host.namespace,
                        database_url=server_url.set(
                            host=host.gateway, port=forwarder.ports[host.gateway]
                        ).render_as_string(hide_password=False),
                        host=host.address,
                        namespace=host.namespace,
                        log=tmp_path / f"{host.namespace}.log",
                    )
                )
                for host in hosts
            ]
            for server in started:
                server.wait_until_ready()
            first, second = started
            yield TwoHosts(first, second, database_url)
    finally:
        postgres_databases.drop(name)


def _get(server: Server, path: str, **params: Any) -> Any:
    response = httpx.get(f"{server.url}{path}", params=params, headers=server.headers, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()


def _write(server: Server, method: str, path: str, body: dict[str, Any]) -> Any:
    response = httpx.request(method, f"{server.url}{path}", json=body, headers=server.headers, timeout=60)
    assert response.status_code in (200, 201), response.text
    return response.json()


def _deal_flow(server: Server, k: int = 10) -> list[int]:
    return [item["id"] for item in _get(server, f"/v1/investors/{INVESTOR}/deal-flow", k=k)["items"]]


def _declined(investor: str, startup: str, external_id: str) -> dict[str, Any]:
    return {
        "external_id": external_id,
        "actor_kind": "investor",
        "actor_external_id": investor,
        "target_kind": "startup",
        "target_external_id": startup,
        "kind": "declined",
    }


def test_two_hosts_share_every_acknowledged_write(two_hosts: TwoHosts) -> None:
    """One test, as starting the two hosts is most of its cost; the kill comes last."""
    a, b = two_hosts.first, two_hosts.second
    investor = _get(b, f"/v1/investors/{INVESTOR}")["external_id"]
    _a_write_through_one_host_is_in_the_next_answer_of_the_other(a, b, investor)
    _a_host_killed_after_acknowledging_writes_loses_none(a, b, investor, two_hosts.database_url)


def _a_write_through_one_host_is_in_the_next_answer_of_the_other(a: Server, b: Server, investor: str) -> None:
    first, second, *_ = _deal_flow(b)

    startup = {k: v for k, v in samples()["startups"][0].items() if k != "team"}
    created = _write(a, "POST", "/v1/startups", startup | {"external_id": "S-HOST-A", "name": "光谷两地科技"})
    # B's matcher holds the new startup: it recommends for it (an unknown one is a 404).
    assert _get(b, f"/v1/startups/{created['id']}/recommendations", target="investor")["items"]

    _write(a, "PATCH", f"/v1/startups/{first}", {"active": False})
    assert first not in _deal_flow(b)

    startup_id = _get(b, f"/v1/startups/{second}")["external_id"]
    _write(a, "POST", "/v1/interactions", _declined(investor, startup_id, "X-HOST-A"))
    assert second not in _deal_flow(b)

    policy = httpx.get(f"{a.url}/v1/policies/{POLICY}/file", headers=a.headers, timeout=60).text
    _write(a, "PUT", f"/v1/policies/{POLICY}", {"toml": policy.replace("version = 1", "version = 2", 1)})
    assert _get(b, f"/v1/policies/{POLICY}")["version"] == 2


def _a_host_killed_after_acknowledging_writes_loses_none(
    a: Server, b: Server, investor: str, database_url: str
) -> None:
    """Host A takes a burst of writes (declines and deactivations, each taking a startup out of
    the investor's deal flow) and is SIGKILLed right after one is acknowledged, others in
    flight: every acknowledged write is in the database and in host B's answers."""
    targets = _deal_flow(b, k=BURST)
    assert len(targets) == BURST
    external_ids = {row_id: _get(b, f"/v1/startups/{row_id}")["external_id"] for row_id in targets}
    acknowledged: list[int] = []
    lock, killed = threading.Lock(), threading.Event()
    kill_after = random.Random(19).randrange(BURST // 3, BURST // 2)

    def write(n: int) -> None:
        row_id = targets[n]
        try:
            if n % 2:
                response = httpx.patch(
                    f"{a.url}/v1/startups/{row_id}", json={"active": False}, headers=a.headers, timeout=60
                )
            else:
                body = _declined(investor, external_ids[row_id], f"X-BURST-{n}")
                response = httpx.post(f"{a.url}/v1/interactions", json=body, headers=a.headers, timeout=60)
        except httpx.TransportError:
            return
        assert response.status_code in (200, 201), response.text
        with lock:
            acknowledged.append(n)
            if len(acknowledged) >= kill_after and not killed.is_set():
                killed.set()
                a.kill()

    with ThreadPoolExecutor(BURST_WORKERS) as pool:
        list(pool.map(write, range(BURST)))
    assert killed.is_set()
    assert a.process.poll() is not None
    assert len(acknowledged) < BURST, "killed with writes still to come"

    deactivated = {targets[n] for n in acknowledged if n % 2}
    declined = {f"X-BURST-{n}" for n in acknowledged if not n % 2}
    engine = create_db_engine(database_url)
    with session_factory(engine)() as session:
        inactive = set(session.scalars(select(Startup.id).where(Startup.active.is_(False))))
        stored = set(session.scalars(select(Interaction.external_id)))
    engine.dispose()
    assert deactivated <= inactive
    assert declined <= stored
    for external_id in declined:
        _get(b, f"/v1/interactions/{external_id}")
    remaining = set(_deal_flow(b, k=100))
    assert remaining.isdisjoint(targets[n] for n in acknowledged)
