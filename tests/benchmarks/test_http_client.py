"""The load client (benchmarks.http_client) against local servers: a scripted asyncio one, whose
every answer and connection the test controls, and a real uvicorn one."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from benchmarks.http_client import ConnectionPool, RequestError

HEADERS = {"Authorization": "Bearer test-key"}
CHUNKS = [b'{"part": 1, ', b'"more": "', b'x" }']


@dataclass
class Scripted:
    """A loopback HTTP/1.1 server answering by path; it records requests and connections."""

    port: int = 0
    connections: int = 0
    requests: list[tuple[str, str, dict[str, str], bytes]] = field(default_factory=list)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode().split("\r\n")
                method, path, _ = head[0].split(" ")
                headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in head[1:] if line)}
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                self.requests.append((method, path, headers, body))
                if path == "/silent":
                    await asyncio.sleep(3600)
                writer.write(self.answer(method, path, headers, body))
                await writer.drain()
                if path in ("/close", "/hang-up"):
                    break
        except asyncio.IncompleteReadError:
            pass  # the client closed the connection
        finally:
            writer.close()

    def answer(self, method: str, path: str, headers: dict[str, str], body: bytes) -> bytes:
        if path == "/chunked":
            chunks = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for chunk in CHUNKS)
            return b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n"
        if path == "/hang-up":
            return b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"cut'
        status = b"404 Not Found" if path == "/missing" else b"200 OK"
        extra = b"Connection: close\r\n" if path == "/close" else b""
        echo = json.dumps(
            {"method": method, "path": path, "headers": headers, "body": body.decode()}
        ).encode()
        return b"HTTP/1.1 %s\r\n%sContent-Length: %d\r\n\r\n%s" % (status, extra, len(echo), echo)


@asynccontextmanager
async def scripted() -> AsyncIterator[Scripted]:
    server = Scripted()
    listening = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    server.port = listening.sockets[0].getsockname()[1]
    async with listening:
        yield server


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), timeout=30))


def test_requests_carry_method_path_headers_and_json_body() -> None:
    async def test() -> None:
        async with (
            scripted() as server,
            ConnectionPool("127.0.0.1", server.port, size=2, headers=HEADERS) as pool,
        ):
            got = await pool.request("GET", "/things/1?k=10")
            posted = await pool.request("POST", "/things", {"name": "北京", "n": 1})
        assert got.status == 200
        assert got.is_success
        echo = got.json()
        assert isinstance(echo, dict)
        assert echo["method"] == "GET"
        assert echo["path"] == "/things/1?k=10"
        assert echo["headers"]["authorization"] == "Bearer test-key"
        assert echo["headers"]["host"] == f"127.0.0.1:{server.port}"
        _, _, headers, body = server.requests[1]
        assert headers["content-type"] == "application/json"
        assert json.loads(body) == {"name": "北京", "n": 1}
        assert posted.is_success

    run(test)


def test_connections_are_kept_alive_and_bounded_by_the_pool_size() -> None:
    async def test() -> None:
        async with (
            scripted() as server,
            ConnectionPool("127.0.0.1", server.port, size=3, headers=HEADERS) as pool,
        ):
            for n in range(10):
                assert (await pool.request("GET", f"/one-by-one/{n}")).is_success
            assert server.connections == 1
            answers = await asyncio.gather(*(pool.request("GET", f"/together/{n}") for n in range(30)))
            assert all(answer.is_success for answer in answers)
            assert len(server.requests) == 40
            assert server.connections == pool.connections_opened <= 3

    run(test)


def test_chunked_responses_are_reassembled() -> None:
    async def test() -> None:
        async with (
            scripted() as server,
            ConnectionPool("127.0.0.1", server.port, size=1, headers=HEADERS) as pool,
        ):
            first, second = await pool.request("GET", "/chunked"), await pool.request("GET", "/chunked")
        assert first.body == second.body == b"".join(CHUNKS)
        assert server.connections == 1

    run(test)


def test_an_error_status_is_a_response_and_connection_close_is_honoured() -> None:
    async def test() -> None:
        async with (
            scripted() as server,
            ConnectionPool("127.0.0.1", server.port, size=1, headers=HEADERS) as pool,
        ):
            missing = await pool.request("GET", "/missing")
            closed = [await pool.request("GET", "/close") for _ in range(2)]
        assert missing.status == 404
        assert not missing.is_success
        assert all(answer.is_success for answer in closed)
        assert server.connections == 2

    run(test)


def test_a_refused_connection_is_reported() -> None:
    with socket.socket() as probe:  # a port nobody listens on, once the probe is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    async def test() -> None:
        async with ConnectionPool("127.0.0.1", port, size=2, headers=HEADERS) as pool:
            outcomes = await asyncio.gather(
                *(pool.request("GET", "/") for _ in range(3)), return_exceptions=True
            )
        assert all(isinstance(outcome, RequestError) for outcome in outcomes)
        assert "cannot connect" in str(outcomes[0])

    run(test)


def test_a_connection_lost_mid_response_is_reported_and_the_pool_recovers() -> None:
    async def test() -> None:
        async with (
            scripted() as server,
            ConnectionPool("127.0.0.1", server.port, size=1, headers=HEADERS) as pool,
        ):
            with pytest.raises(RequestError, match="connection closed"):
                await pool.request("GET", "/hang-up")
            assert (await pool.request("GET", "/after")).is_success
        assert server.connections == 2

    run(test)


def test_a_silent_server_times_out_and_a_cancelled_request_frees_its_place() -> None:
    async def test() -> None:
        async with scripted() as server:
            async with ConnectionPool("127.0.0.1", server.port, size=1, headers=HEADERS, timeout=0.2) as pool:
                with pytest.raises(RequestError, match="no response within"):
                    await pool.request("GET", "/silent")
            async with ConnectionPool("127.0.0.1", server.port, size=1, headers=HEADERS) as pool:
                first, waiting = pool.submit("GET", "/first"), pool.submit("GET", "/never-sent")
                waiting.cancel()
                assert (await first).is_success
                assert (await pool.request("GET", "/next")).is_success
        assert [path for _, path, _, _ in server.requests] == ["/silent", "/first", "/next"]

    run(test)


async def listed(request: Request) -> JSONResponse:
    return JSONResponse({"id": int(request.path_params["n"]), "items": list(range(500))})


async def streamed(_: Request) -> StreamingResponse:
    async def parts() -> AsyncIterator[bytes]:
        for chunk in CHUNKS:
            yield chunk

    return StreamingResponse(parts(), media_type="application/json")


def test_against_uvicorn() -> None:
    app = Starlette(routes=[Route("/items/{n}", listed), Route("/stream", streamed)])

    async def test() -> None:
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
        )
        serving = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        try:
            async with ConnectionPool("127.0.0.1", port, size=4, headers=HEADERS) as pool:
                answers = await asyncio.gather(*(pool.request("GET", f"/items/{n}") for n in range(20)))
                stream = await pool.request("GET", "/stream")
                opened = pool.connections_opened
        finally:
            server.should_exit = True
            await serving
        assert [answer.json() for answer in answers] == [
            {"id": n, "items": list(range(500))} for n in range(20)
        ]
        assert stream.body == b"".join(CHUNKS)
        assert opened <= 4

    run(test)
