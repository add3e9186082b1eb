"""Signing in to the portal from tests, as a browser does: a session cookie and the CSRF token
its pages carry."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from models.portal import DEMO_PASSWORD

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "the page carries no CSRF token"
    return found.group(1)


class Browser:
    """One visitor: its own cookies, the CSRF token of the last page it opened."""

    def __init__(self, app: Any) -> None:
        self.client = TestClient(app, follow_redirects=False, headers={"Accept": "text/html,*/*"})
        self.token = ""

    def get(self, path: str, **kwargs: Any) -> Any:
        response = self.client.get(path, **kwargs)
        found = (
            CSRF.search(response.text)
            if response.headers.get("content-type", "").startswith("text/html")
            else None
        )
        if found:
            self.token = found.group(1)
        return response

    def post(self, path: str, data: dict[str, Any] | None = None, *, csrf: bool = True, **kwargs: Any) -> Any:
        if not self.token:
            self.get("/login")
        body = dict(data or {})
        if csrf:
            body["csrf_token"] = self.token
        return self.client.post(path, data=body, **kwargs)

    def sign_in(self, identifier: str, password: str = DEMO_PASSWORD) -> Browser:
        self.get("/login")
        response = self.post("/login", {"identifier": identifier, "password": password})
        assert response.status_code == 303, response.text
        self.get("/requests")  # a page every role may open: the token of the new session
        return self


def demo(app: Any, role: str) -> Browser:
    return Browser(app).sign_in(f"demo-{role}@citypartner.example")
