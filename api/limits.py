"""What one request, one account and one client address may ask: body sizes, ids, request rates."""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from typing import Any, Literal

from fastapi import Depends, FastAPI, Request, status
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import ApiError, error_response
from models.settings import Settings

IMPORT_PATH_SUFFIX = "/import"
# Bounds the memory of the limiter: the least recently seen key is forgotten first.
MAX_TRACKED_KEYS = 100_000
LimitClass = Literal["recommend", "heavy"]


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(status.HTTP_413_CONTENT_TOO_LARGE, f"the body is larger than {limit} bytes")


class BodySizeLimit:
    """Refuses a request body over the limit with 413 before the application reads it whole.

    A declared ``Content-Length`` over the limit is refused at once; otherwise bytes are counted
    as they arrive, so a chunked body without a length is cut off at the limit too. Bulk
    imports (paths ending in ``/import``) have their own, higher limit.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int, max_import_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_import_bytes = max_import_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_import_bytes if scope["path"].endswith(IMPORT_PATH_SUFFIX) else self.max_bytes
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            too_large = BodyTooLarge(limit)
            response = error_response(too_large.status_code, too_large.detail, field="body")
            await response(scope, receive, send)
            return
        received = 0

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # An HTTPException, so FastAPI's body reader passes it on to the error handlers.
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, counted_receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class RateLimiter:
    """Token buckets for one class of endpoints, one per account and one per client address.

    Each bucket holds at most its quota and refills at the quota per minute. A request takes a
    token from every bucket that applies to it, or from none when one is empty.
    """

    def __init__(self, *, per_account: int, per_ip: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.quota = {"account": per_account, "ip": per_ip}
        self.clock = clock
        self._buckets: OrderedDict[tuple[str, str], tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def wait_for(self, *, account: str | None, ip: str) -> float:
        """0 when the request may go (its tokens taken); else seconds until it may."""
        keys = [("ip", ip)] if account is None else [("account", account), ("ip", ip)]
        with self._lock:
            now = self.clock()
            tokens = {key: self._refilled(key, now) for key in keys}
            waits = [(1 - left) * 60 / self.quota[key[0]] for key, left in tokens.items() if left < 1]
            wait = max(waits, default=0.0)
            for key, left in tokens.items():
                self._buckets[key] = (left if wait else left - 1, now)
                self._buckets.move_to_end(key)
            while len(self._buckets) > MAX_TRACKED_KEYS:
                self._buckets.popitem(last=False)
        return wait

    def _refilled(self, key: tuple[str, str], now: float) -> float:
        quota = self.quota[key[0]]
        left, at = self._buckets.get(key, (float(quota), now))
        return min(float(quota), left + (now - at) * quota / 60)


def rate_limiters(settings: Settings) -> dict[LimitClass, RateLimiter]:
    """Each worker process counts on its own, so each gets its share of the quotas: together
    they never admit more than the settings say (a client served by one worker gets less)."""

    def share(quota: int) -> int:
        return max(1, quota // settings.workers)

    return {
        "recommend": RateLimiter(
            per_account=share(settings.recommend_limit_per_account),
            per_ip=share(settings.recommend_limit_per_ip),
        ),
        "heavy": RateLimiter(
            per_account=share(settings.heavy_limit_per_account), per_ip=share(settings.heavy_limit_per_ip)
        ),
    }


def _rate_limit(limit_class: LimitClass) -> Callable[[Request], Coroutine[Any, Any, None]]:
    async def check(request: Request) -> None:
        limiter: RateLimiter = request.app.state.rate_limiters[limit_class]
        # Set by authentication when it ran first; anonymous requests count against their address.
        account = getattr(request.state, "account_id", None)
        ip = request.client.host if request.client else "unknown"
        wait = limiter.wait_for(account=None if account is None else str(account), ip=ip)
        if wait:
            seconds = math.ceil(wait)
            raise ApiError(
                status.HTTP_429_TOO_MANY_REQUESTS,
                f"too many requests; retry in {seconds} s",
                headers={"Retry-After": str(seconds)},
            )

    return check


RecommendRateLimit = Depends(_rate_limit("recommend"))
HeavyRateLimit = Depends(_rate_limit("heavy"))


def install_limits(app: FastAPI, settings: Settings) -> None:
    app.state.rate_limiters = rate_limiters(settings)
    app.add_middleware(
        BodySizeLimit, max_bytes=settings.max_body_bytes, max_import_bytes=settings.max_import_bytes
    )
