"""Who hears of what: each step of a request or a round becomes an inbox notice for the accounts
behind the profile it concerns, and an e-mail in the outbox, in the step's own transaction."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.web.forms import _marker
from api.web.i18n import gettext_for
from api.web.introductions import name_of, pair_status, people_of
from models.accounts import Profile
from models.enums import EntityKind, InteractionKind
from models.notifications import notify
from models.portal import Login
from models.tables import Account, AccountProfile, Contact

# English sources; the inbox shows them in the reader's language, the e-mail in both.
MESSAGES = {
    "intro_requested": _marker("{actor} asks for an introduction to {target}."),
    "intro_accepted": _marker(
        "{actor} accepted the introduction with {target}: contacts are now shown to both."
    ),
    "intro_declined": _marker("{actor} declined the introduction with {target}."),
    "application_received": _marker("{actor} applied to {target}."),
    "decision": _marker("{actor} admitted {target}."),
    "round_published": _marker("Allocation round {round} is published: {actor} and {target} are matched."),
    "policy_eligible": _marker(
        "{profile} is now eligible for the policy {policy_en}: see it and apply on the policies page."
    ),
    "password_reset": _marker("Reset your password with this link (valid for one hour, once): {link}"),
}
SUBJECT = _marker("City Partner portal")
LINKS = {
    "intro_requested": "/intros",
    "intro_accepted": "/requests",
    "intro_declined": "/requests",
    "application_received": "/intros",
    "decision": "/requests",
    "round_published": "/requests",
    "policy_eligible": "/founder/policies",
}


def text(kind: str, params: dict[str, str], language: str) -> str:
    return gettext_for(language)(MESSAGES[kind]).format(**params)


def both_languages(kind: str, params: dict[str, str]) -> tuple[str, str]:
    subject = f"{gettext_for('zh')(SUBJECT)} · {SUBJECT}"
    return subject, f"{text(kind, params, 'zh')}\n\n{text(kind, params, 'en')}\n"


def accounts_reaching(session: Session, profile: Profile) -> list[Account]:
    """The accounts acting for ``profile``: those of the persons it names, and explicit links."""
    persons = people_of(session, profile)
    linked = select(AccountProfile.account_id).where(
        AccountProfile.profile_kind == profile[0], AccountProfile.profile_id == profile[1]
    )
    query = select(Account).where(Account.active, (Account.person_id.in_(persons)) | (Account.id.in_(linked)))
    return list(session.scalars(query))


def address_of(session: Session, account: Account) -> str | None:
    login_email = session.scalar(select(Login.email).where(Login.account_id == account.id))
    if login_email:
        return login_email
    contact = session.get(Contact, account.person_id) if account.person_id else None
    return contact.email if contact and contact.email else None


def tell(session: Session, accounts: Iterable[Account], kind: str, params: dict[str, str], link: str) -> None:
    subject, body = both_languages(kind, params)
    for account in accounts:
        address = address_of(session, account)
        notify(
            session,
            account.id,
            kind,
            link=link,
            params=params,
            mail=None if address is None else (address, subject, body + f"\n{link}\n"),
        )


def announce(session: Session, actor: Profile, target: Profile, kind: InteractionKind) -> None:
    """Call right after recording ``kind`` from ``actor`` to ``target``, before the commit."""
    event = _event(session, actor, target, kind)
    if event is None:
        return
    params = {"actor": name_of(session, actor), "target": name_of(session, target)}
    tell(session, accounts_reaching(session, target), event, params, LINKS[event])


def _event(session: Session, actor: Profile, target: Profile, kind: InteractionKind) -> str | None:
    if kind is InteractionKind.contacted:
        answering = pair_status(session, target, actor) is not None
        return "intro_accepted" if answering else "intro_requested"
    if kind is InteractionKind.declined:
        return "intro_declined"
    if kind is InteractionKind.applied:
        return "application_received"
    if kind in {InteractionKind.admitted, InteractionKind.placed, InteractionKind.mentored}:
        return "decision"
    return None


def announce_round(session: Session, round_name: str, pairs: Iterable[tuple[Profile, Profile]]) -> None:
    """Both sides of every published match hear of it."""
    for counterpart, applicant in pairs:
        params = {
            "round": round_name,
            "actor": name_of(session, counterpart),
            "target": name_of(session, applicant),
        }
        reached = {a.id: a for side in (counterpart, applicant) for a in accounts_reaching(session, side)}
        tell(session, reached.values(), "round_published", params, LINKS["round_published"])


def kinds_of(interactions: Iterable[object]) -> list[tuple[Profile, Profile]]:
    return [
        ((EntityKind(i.actor_kind), int(i.actor_id)), (EntityKind(i.target_kind), int(i.target_id)))  # type: ignore[attr-defined]
        for i in interactions
    ]
