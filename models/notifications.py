"""Notifications: an in-app inbox row per account and event, and an outbox of e-mails written in
the same transaction as the event, so no mail is lost when the event is kept and none is sent
for an event rolled back. A worker (:mod:`api.web.mail`) delivers the outbox with retries; a row
is claimed by one sender at a time and marked sent once the SMTP server took it.

Password resets live here too: a random token e-mailed as a link, kept only as its SHA-256,
valid for an hour and for one use.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.tables import Base, UtcDateTime

RESET_VALID_FOR = dt.timedelta(hours=1)
CLAIM_LEASE = dt.timedelta(minutes=2)
MAX_BACKOFF = dt.timedelta(hours=1)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Notification(Base):
    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    link: Mapped[str] = mapped_column(String(300), default="/")
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=_now)
    read_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())


class OutboxMail(Base):
    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    to_address: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=_now)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=_now, index=True)
    claimed_until: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    sent_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime(), index=True)
    last_error: Mapped[str] = mapped_column(Text, default="")


class PasswordReset(Base):
    __tablename__ = "password_resets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    used_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())


def notify(
    session: Session,
    account_id: int,
    kind: str,
    *,
    link: str,
    params: dict[str, Any],
    mail: tuple[str, str, str] | None,
) -> None:
    """An inbox row, and (when ``mail`` is (address, subject, body)) an outbox row, in the
    caller's transaction."""
    session.add(Notification(account_id=account_id, kind=kind, params=params, link=link))
    if mail is not None:
        address, subject, body = mail
        session.add(OutboxMail(to_address=address, subject=subject, body=body))


def claim_due(session: Session, *, limit: int = 20, now: dt.datetime | None = None) -> list[OutboxMail]:
    """Unsent mails due now, each claimed for :data:`CLAIM_LEASE` by a compare-and-set, so two
    senders (two worker processes) never take the same row; the caller commits the claim first."""
    moment = now or _now()
    candidates = session.scalars(
        select(OutboxMail.id)
        .where(OutboxMail.sent_at.is_(None), OutboxMail.next_attempt_at <= moment)
        .order_by(OutboxMail.id)
        .limit(limit)
    ).all()
    claimed = []
    for mail_id in candidates:
        taken = session.execute(
            update(OutboxMail)
            .where(
                OutboxMail.id == mail_id,
                OutboxMail.sent_at.is_(None),
                (OutboxMail.claimed_until.is_(None)) | (OutboxMail.claimed_until < moment),
            )
            .values(claimed_until=moment + CLAIM_LEASE)
        )
        if getattr(taken, "rowcount", 0) == 1:
            claimed.append(mail_id)
    return [row for row in (session.get(OutboxMail, mail_id) for mail_id in claimed) if row is not None]


def mark_sent(session: Session, mail: OutboxMail) -> None:
    mail.sent_at, mail.claimed_until = _now(), None


def mark_failed(session: Session, mail: OutboxMail, error: str) -> None:
    """Kept for a later attempt, waiting twice as long each time (30 s, 1 min, … up to an hour)."""
    mail.attempts += 1
    mail.last_error = error[:500]
    mail.claimed_until = None
    mail.next_attempt_at = _now() + min(MAX_BACKOFF, dt.timedelta(seconds=30 * 2 ** (mail.attempts - 1)))


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_reset(session: Session, account_id: int) -> str:
    token = secrets.token_urlsafe(32)
    session.add(
        PasswordReset(account_id=account_id, token_hash=_digest(token), expires_at=_now() + RESET_VALID_FOR)
    )
    return token


def redeem_reset(session: Session, token: str) -> int | None:
    """The account the token resets, once: None for an unknown, expired or used token."""
    reset = session.scalar(select(PasswordReset).where(PasswordReset.token_hash == _digest(token)))
    if reset is None or reset.used_at is not None or reset.expires_at <= _now():
        return None
    reset.used_at = _now()
    return reset.account_id


def reset_is_valid(session: Session, token: str) -> bool:
    reset = session.scalar(select(PasswordReset).where(PasswordReset.token_hash == _digest(token)))
    return reset is not None and reset.used_at is None and reset.expires_at > _now()
