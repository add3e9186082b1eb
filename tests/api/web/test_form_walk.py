"""Every form the portal accepts (each POST route), walked as every role and as an anonymous
visitor: the role checks of the pages' forms are the API's, and every one needs the CSRF token.

A module of its own: the walk posts empty forms, and the few an admitted role may complete
(marking the inbox read, signing out) must not disturb the journeys of the other modules."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.routing import iter_route_contexts

from api.web.session import is_portal_path
from tests.api.web.conftest import ROLES
from tests.portal_client import Browser, demo

FOUNDERS = frozenset({"founder", "student", "staff"})
# Every form and who may post it (any other signed-in role gets 403, anonymous a sign-in redirect).
FORMS: dict[str, frozenset[str]] = {
    "/founder/startups/new": FOUNDERS,
    "/founder/startups/1/requests": FOUNDERS,
    "/founder/policies/no-such-policy/apply": FOUNDERS,
    "/talent/applications": FOUNDERS,
    "/inbox/read": frozenset(ROLES),
    "/investor/thesis": frozenset({"investor", "staff"}),
    "/investor/pipeline/1": frozenset({"investor", "staff"}),
    "/intros/1": frozenset({"investor", "mentor", "operator", "staff"}),
    "/mentor/offers": frozenset({"mentor", "staff"}),
    "/operator/spaces/1/candidates": frozenset({"operator", "staff"}),
    "/openings/practice_base/1/applications/1": frozenset({"operator", "enterprise", "staff"}),
    "/capacity/space/1": frozenset({"operator", "staff"}),
    "/capacity/mentor/1": frozenset({"mentor", "staff"}),
    "/capacity/practice_base/1": frozenset({"operator", "enterprise", "staff"}),
    "/capacity/post/1": frozenset({"enterprise", "staff"}),
    "/staff/accounts/1/verify": frozenset({"staff"}),
    "/staff/persons/1/card": frozenset({"staff"}),
    "/staff/rounds/new": frozenset({"staff"}),
    "/staff/rounds/1/pairs": frozenset({"staff"}),
    "/staff/rounds/1/publish": frozenset({"staff"}),
    "/staff/rounds/1/review": frozenset({"staff"}),
    "/staff/rounds/1/solve": frozenset({"staff"}),
}
# Admitted by role but refused by the row rule the API applies (403 for another's visible row),
# or, for staff, by the form's own rule: a startup is founded by a person, not by staff.
NOT_THEIRS = {
    ("student", "/founder/startups/1/requests"),
    ("operator", "/openings/practice_base/1/applications/1"),
    ("operator", "/capacity/practice_base/1"),
    ("staff", "/founder/startups/new"),
    ("staff", "/investor/pipeline/1"),  # a pipeline move is an investor's own act
}
# Forms of people not signed in yet (sign-in, registration, password reset) and sign-out.
PUBLIC = ("/login", "/logout", "/register", "/password/forgot", "/password/reset")
TEMPLATES = {
    "/founder/startups/{row_id}/requests": "/founder/startups/1/requests",
    "/founder/policies/{policy_id}/apply": "/founder/policies/no-such-policy/apply",
    "/investor/pipeline/{row_id}": "/investor/pipeline/1",
    "/intros/{row_id}": "/intros/1",
    "/operator/spaces/{row_id}/candidates": "/operator/spaces/1/candidates",
    "/openings/{kind}/{row_id}/applications/{interaction_id}": "/openings/practice_base/1/applications/1",
    "/capacity/{kind}/{row_id}": "/capacity/space/1",
    "/staff/accounts/{row_id}/verify": "/staff/accounts/1/verify",
    "/staff/persons/{row_id}/card": "/staff/persons/1/card",
    "/staff/rounds/{row_id}/pairs": "/staff/rounds/1/pairs",
    "/staff/rounds/{row_id}/publish": "/staff/rounds/1/publish",
    "/staff/rounds/{row_id}/review": "/staff/rounds/1/review",
    "/staff/rounds/{row_id}/solve": "/staff/rounds/1/solve",
}


def test_the_walk_covers_every_form(app: Any) -> None:
    posted = {
        TEMPLATES.get(str(context.path_format), str(context.path_format))
        for context in iter_route_contexts(app.routes)
        if "POST" in (context.methods or ()) and is_portal_path(str(context.path_format))
    }
    assert posted == set(FORMS) - {
        "/capacity/mentor/1",
        "/capacity/practice_base/1",
        "/capacity/post/1",
    } | set(PUBLIC)


@pytest.mark.parametrize("path", sorted(FORMS))
def test_anonymous_visitors_posting_a_form_are_sent_to_sign_in(app: Any, path: str) -> None:
    response = Browser(app).post(path, {})
    assert response.status_code == 303, path
    assert response.headers["location"].startswith("/login?next=")


@pytest.mark.parametrize("role", ROLES)
def test_every_role_posts_its_forms_and_only_those(app: Any, role: str) -> None:
    browser = demo(app, role)
    for path, admitted in FORMS.items():
        response = browser.post(path, {})
        if role not in admitted or (role, path) in NOT_THEIRS:
            assert response.status_code == 403, (role, path, response.status_code)
            continue
        # Admitted: the empty form is refused for what it lacks (or names a row that is not
        # theirs), never for the role, and never with a crash or a sign-in redirect.
        assert response.status_code in {303, 404, 409, 422}, (role, path, response.status_code)
        if response.status_code == 303:
            assert not response.headers["location"].startswith("/login"), (role, path)


@pytest.mark.parametrize("role", ROLES)
def test_no_form_is_taken_without_the_csrf_token(app: Any, role: str) -> None:
    browser = demo(app, role)
    for path, admitted in FORMS.items():
        if role in admitted:
            response = browser.post(path, {}, csrf=False)
            assert response.status_code == 403, (role, path, response.status_code)
