"""Delivering the outbox: claim due mails, send each over SMTP (or, with no ``MATCHER_SMTP_URL``
in development, write it to the log), mark it sent or schedule a retry.

Each worker process runs :func:`deliver_forever`; claims keep two processes off the same mail.
A mail is marked sent only after the SMTP server accepted it, so none is lost; its Message-ID is
fixed by its outbox id, so in the one case where a crash falls between the server's acceptance
and the mark, the receiving side sees the same message again, not a new one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import smtplib
from email.message import EmailMessage
from email.utils import make_msgid
from urllib.parse import urlsplit

from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from models.db import transaction
from models.notifications import OutboxMail, claim_due, mark_failed, mark_sent
from models.settings import Settings

logger = logging.getLogger(__name__)
POLL_S = 2.0
SENDER = "City Partner portal <noreply@citypartner.example>"


def _message(mail: OutboxMail) -> EmailMessage:
    message = EmailMessage()
    message["From"] = SENDER
    message["To"] = mail.to_address
    message["Subject"] = mail.subject
    message["Message-ID"] = make_msgid(idstring=f"outbox-{mail.id}", domain="citypartner.example")
    message.set_content(mail.body)
    return message


def _send(smtp_url: str | None, mail: OutboxMail) -> None:
    if smtp_url is None:
        logger.info("mail (no MATCHER_SMTP_URL set) to %s: %s\n%s", mail.to_address, mail.subject, mail.body)
        return
    address = urlsplit(smtp_url)
    client = smtplib.SMTP_SSL if address.scheme == "smtps" else smtplib.SMTP
    with client(address.hostname or "127.0.0.1", address.port or 25, timeout=10) as smtp:
        if address.username:
            smtp.login(address.username, address.password or "")
        smtp.send_message(_message(mail))


def deliver_due(factory: sessionmaker[Session], smtp_url: str | None) -> int:
    """One pass over the due mails; returns how many were sent."""
    with transaction(factory) as session:
        claimed = [mail.id for mail in claim_due(session)]
    sent = 0
    for mail_id in claimed:
        with transaction(factory) as session:
            mail = session.get(OutboxMail, mail_id)
            if mail is None or mail.sent_at is not None:
                continue
            try:
                _send(smtp_url, mail)
            except (OSError, smtplib.SMTPException) as error:
                mark_failed(session, mail, f"{type(error).__name__}: {error}")
                continue
            mark_sent(session, mail)
            sent += 1
    return sent


async def deliver_forever(factory: sessionmaker[Session], settings: Settings) -> None:
    while True:
        try:
            await run_in_threadpool(deliver_due, factory, settings.smtp_url)
        except Exception:  # a database hiccup must not end the worker; the next pass retries
            logger.exception("outbox delivery pass failed")
        await asyncio.sleep(POLL_S)


def start_outbox_worker(factory: sessionmaker[Session], settings: Settings) -> asyncio.Task[None]:
    return asyncio.get_running_loop().create_task(deliver_forever(factory, settings))


async def stop_outbox_worker(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
