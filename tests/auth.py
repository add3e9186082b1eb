"""Accounts and API keys for tests: the one documented way a test authenticates.

Call these once the app's lifespan has run (inside ``with TestClient(app)``): they write
to the database the app opened.

    with TestClient(create_app(settings)) as client:
        client.headers.update(admin_headers(client.app))
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from models.accounts import Profile, create_account, issue_key
from models.db import transaction
from models.enums import AccountRole


def account_headers(
    app: Any, role: AccountRole, *, person_id: int | None = None, profiles: Iterable[Profile] = ()
) -> dict[str, str]:
    """A new account of ``role`` (acting as ``person_id`` and for ``profiles``), as request headers."""
    with transaction(app.state.session_factory) as session:
        account = create_account(
            session, name=f"test {role.value}", role=role, person_id=person_id, profiles=profiles
        )
        issued = issue_key(session, account, secret=app.state.settings.secret_key)
    return {"Authorization": f"Bearer {issued.key}"}


def admin_headers(app: Any) -> dict[str, str]:
    """Headers of a new admin account: admitted to every endpoint but others' contact data."""
    return account_headers(app, AccountRole.admin)
