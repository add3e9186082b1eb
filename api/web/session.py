"""The portal's session: a signed, HttpOnly, SameSite=Lax cookie naming the signed-in account,
a per-session CSRF token, and the security headers every page carries.

The cookie holds only a random nonce and the account id, signed with the settings secret
(itsdangerous); it expires after :data:`SESSION_MAX_AGE_S`. Signing in or out draws a new
nonce, so a session planted before sign-in is worthless after it. The CSRF token is an HMAC of
the nonce: a form posted from another site cannot know it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.web.i18n import pick_language

SESSION_COOKIE = "cpm_session"
LANGUAGE_COOKIE = "cpm_lang"
SESSION_MAX_AGE_S = 12 * 3600
LANGUAGE_MAX_AGE_S = 365 * 24 * 3600
# The API and its documentation keep their own headers (Swagger UI needs inline script).
API_PREFIXES = ("/v1/", "/docs", "/redoc", "/openapi.json", "/health")
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
    ),
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "x-content-type-options": "nosniff",
}


@dataclass
class WebSession:
    nonce: str
    account_id: int | None = None
    language: str = "zh"
    changed: bool = False
    language_changed: bool = field(default=False)

    def sign_in(self, account_id: int) -> None:
        self.nonce, self.account_id, self.changed = secrets.token_urlsafe(16), account_id, True

    def sign_out(self) -> None:
        self.nonce, self.account_id, self.changed = secrets.token_urlsafe(16), None, True

    def switch_language(self, language: str) -> None:
        self.language, self.language_changed = pick_language(language), True


class SessionCodec:
    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.serializer = URLSafeTimedSerializer(secret, salt="portal-session")

    def read(self, cookie: str | None) -> WebSession:
        if cookie:
            try:
                data = self.serializer.loads(cookie, max_age=SESSION_MAX_AGE_S)
                account = data.get("a")
                return WebSession(nonce=str(data["n"]), account_id=int(account) if account else None)
            except (BadSignature, KeyError, TypeError, ValueError):
                pass
        return WebSession(nonce=secrets.token_urlsafe(16), changed=True)

    def write(self, session: WebSession) -> str:
        return str(self.serializer.dumps({"n": session.nonce, "a": session.account_id}))

    def csrf_token(self, session: WebSession) -> str:
        return hmac.new(self.secret.encode(), f"csrf:{session.nonce}".encode(), hashlib.sha256).hexdigest()

    def csrf_valid(self, session: WebSession, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf_token(session), token or "")


def is_portal_path(path: str) -> bool:
    return not path.startswith(API_PREFIXES)


class PortalSessions:
    """ASGI middleware: reads the session for portal paths, and on the way out sets its cookie
    (when new or changed) and the security headers."""

    def __init__(self, app: ASGIApp, *, secret: str, secure_cookie: bool) -> None:
        self.app = app
        self.codec = SessionCodec(secret)
        self.secure = "; Secure" if secure_cookie else ""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_portal_path(scope["path"]):
            await self.app(scope, receive, send)
            return
        cookies = HTTPConnection(scope).cookies
        session = self.codec.read(cookies.get(SESSION_COOKIE))
        session.language = pick_language(cookies.get(LANGUAGE_COOKIE))
        scope.setdefault("state", {})["web_session"] = session
        scope["state"]["session_codec"] = self.codec

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
                if session.changed:
                    headers.append(
                        "set-cookie",
                        f"{SESSION_COOKIE}={self.codec.write(session)}; Path=/; Max-Age={SESSION_MAX_AGE_S}; "
                        f"HttpOnly; SameSite=Lax{self.secure}",
                    )
                if session.language_changed:
                    headers.append(
                        "set-cookie",
                        f"{LANGUAGE_COOKIE}={session.language}; Path=/; Max-Age={LANGUAGE_MAX_AGE_S}; "
                        f"SameSite=Lax{self.secure}",
                    )
            await send(message)

        await self.app(scope, receive, send_with_headers)
