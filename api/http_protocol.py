"""uvicorn's HTTP/1.1 protocol, answering a request it cannot parse in the documented error shape.

Both of uvicorn's parsers (httptools and h11) refuse a request line holding raw non-ASCII bytes,
such as ``?q=光谷`` typed into curl, before any application code runs; uvicorn then writes a
plain-text "Invalid HTTP request received.". This subclass writes the same 400 as a JSON
:class:`api.errors.ErrorBody` that says how to fix the request.
"""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from api.errors import unparsable_request_body

# What `matcher serve` passes to uvicorn; a string, so worker processes import it themselves.
PROTOCOL_PATH = "api.http_protocol:JsonErrorHttpToolsProtocol"


class JsonErrorHttpToolsProtocol(HttpToolsProtocol):
    def send_400_response(self, msg: str) -> None:
        body = unparsable_request_body()
        head = [STATUS_LINE[400]]
        for name, value in self.server_state.default_headers:
            head.extend([name, b": ", value, b"\r\n"])
        head.extend(
            [
                b"content-type: application/json\r\n",
                b"content-length: " + str(len(body)).encode("ascii") + b"\r\n",
                b"connection: close\r\n",
                b"\r\n",
            ]
        )
        self.transport.write(b"".join(head) + body)
        self.transport.close()
