"""A lean HTTP/1.1 keep-alive client for load runs: a pool of persistent loopback connections.

A load client shares the machine with the server it measures, so what it spends per request is
taken from the server. httpx costs ~3 ms of CPU per request on the 2-core benchmark box; this
client writes a pre-built request straight to an :class:`asyncio.Protocol` and parses the
answer with httptools (llhttp, the parser uvicorn itself uses). It is driven by callbacks, not
tasks: a request is written as soon as a connection is free (from the callback that freed it)
and its response resolves a future, so a request costs few event-loop turns; on this virtual
machine each turn is a system call or two, the largest cost left.

Scope, on purpose: one request at a time per connection (no pipelining), GET/POST with an
optional JSON body, fixed headers for the whole pool, responses delimited by Content-Length or
chunked encoding (what uvicorn sends). Anything that goes wrong below HTTP (refused connection,
connection lost mid-answer, malformed answer, timeout) fails the request with
:class:`RequestError`.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast

import httptools


class RequestError(Exception):
    """No complete HTTP response: the connection failed, closed early, sent garbage or timed out."""


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes

    @property
    def is_success(self) -> bool:
        return 200 <= self.status < 300

    def json(self) -> object:
        return json.loads(self.body)


_Waiting = tuple[bytes, "asyncio.Future[Response]"]  # a request not yet sent, and its response


class _Connection(asyncio.Protocol):
    """One persistent connection; httptools calls the ``on_*`` methods while parsing."""

    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        self._pending: asyncio.Future[Response] | None = None
        self._deadline: asyncio.TimerHandle | None = None
        self._body: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass, but alike

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._fail(RequestError(f"connection closed before the response ended ({exc!r})"))
        self._pool._lost(self)

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as error:
            self._fail(RequestError(f"malformed response: {error}"))
            self.close()

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        response = Response(self._parser.get_status_code(), b"".join(self._body))
        self._body = []
        pending, self._pending = self._pending, None
        if self._deadline is not None:
            self._deadline.cancel()
        if pending is None:  # an answer nobody asked for (say, a 408 on an idle connection)
            self.close()
            return
        if not pending.done():  # done: cancelled by the caller, who no longer wants it
            pending.set_result(response)
        if self._parser.should_keep_alive():
            self._pool._free(self)
        else:
            self.close()

    @property
    def is_open(self) -> bool:
        return self._transport is not None and not self._transport.is_closing()

    def send(self, message: bytes, response: asyncio.Future[Response], timeout: float) -> None:
        assert self._transport is not None
        assert self._pending is None, "one request at a time"
        self._pending = response
        self._deadline = asyncio.get_running_loop().call_later(timeout, self._time_out, timeout)
        self._transport.write(message)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def _time_out(self, timeout: float) -> None:
        self._fail(RequestError(f"no response within {timeout} s"))
        self.close()

    def _fail(self, error: RequestError) -> None:
        pending, self._pending = self._pending, None
        if self._deadline is not None:
            self._deadline.cancel()
        if pending is not None and not pending.done():
            pending.set_exception(error)


class ConnectionPool:
    """Up to ``size`` keep-alive connections to ``host:port``; requests beyond wait in line.

    Connections open only when a request finds none free, and free ones are reused
    round-robin, which keeps each busy often enough not to reach the server's keep-alive timeout.
    """

    def __init__(
        self, host: str, port: int, *, size: int, headers: Mapping[str, str], timeout: float = 30.0
    ) -> None:
        self._host, self._port, self._size, self._timeout = host, port, size, timeout
        fixed = {"Host": f"{host}:{port}", **headers}
        self._fixed_headers = "".join(f"{name}: {value}\r\n" for name, value in fixed.items())
        self._idle: deque[_Connection] = deque()
        self._waiting: deque[_Waiting] = deque()
        self._connections: set[_Connection] = set()
        self._opening: set[asyncio.Task[None]] = set()
        self.connections_opened = 0

    def submit(
        self, method: str, path: str, json_body: object = None, headers: Mapping[str, str] | None = None
    ) -> asyncio.Future[Response]:
        """Send a request as soon as a connection is free; the future holds its response.

        ``headers`` are sent with this request only, beside the pool's fixed ones (a page's
        session cookie). Cancelling the future drops the request if still waiting, or its
        response if sent.
        """
        response: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        message = self._message(method, path, json_body, headers)
        while self._idle:
            connection = self._idle.popleft()
            if connection.is_open:  # the server may have closed it while idle
                connection.send(message, response, self._timeout)
                return response
        self._waiting.append((message, response))
        if len(self._connections) + len(self._opening) < self._size:
            self._open()
        return response

    async def request(self, method: str, path: str, json_body: object = None) -> Response:
        """One request; raises :class:`RequestError` when no complete response comes back."""
        return await self.submit(method, path, json_body)

    def close(self) -> None:
        for connection in list(self._connections):
            connection.close()
        while self._waiting:
            self._waiting.popleft()[1].cancel()

    async def __aenter__(self) -> ConnectionPool:
        return self

    async def __aexit__(self, *_: object) -> None:
        self.close()

    def _free(self, connection: _Connection) -> None:
        while self._waiting:
            message, response = self._waiting.popleft()
            if not response.done():
                connection.send(message, response, self._timeout)
                return
        self._idle.append(connection)

    def _lost(self, connection: _Connection) -> None:
        self._connections.discard(connection)
        if self._waiting and len(self._connections) + len(self._opening) < self._size:
            self._open()

    def _open(self) -> None:
        connecting = asyncio.get_running_loop().create_task(self._connect())
        self._opening.add(connecting)  # the event loop holds tasks only weakly

    async def _connect(self) -> None:
        loop, this = asyncio.get_running_loop(), asyncio.current_task()
        try:
            _, connection = await loop.create_connection(lambda: _Connection(self), self._host, self._port)
        except OSError as error:
            self._opening.discard(cast(asyncio.Task[None], this))
            self._refused(RequestError(f"cannot connect to {self._host}:{self._port}: {error!r}"))
            return
        self._opening.discard(cast(asyncio.Task[None], this))
        self._connections.add(connection)
        self.connections_opened += 1
        self._free(connection)

    def _refused(self, error: RequestError) -> None:
        """The request that asked for the connection fails; the next one in line tries again."""
        while self._waiting:
            _, response = self._waiting.popleft()
            if not response.done():
                response.set_exception(error)
                break
        if self._waiting and not self._connections and not self._opening:
            self._open()

    def _message(
        self, method: str, path: str, json_body: object, headers: Mapping[str, str] | None = None
    ) -> bytes:
        extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
        head = f"{method} {path} HTTP/1.1\r\n{self._fixed_headers}{extra}"
        if json_body is None:
            return f"{head}\r\n".encode() if method == "GET" else f"{head}Content-Length: 0\r\n\r\n".encode()
        body = json.dumps(json_body, separators=(",", ":")).encode()
        content = f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        return f"{head}{content}".encode() + body
