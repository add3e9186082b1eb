"""Form input: validation errors turned into messages in the page's language, next to their field.

pydantic's own messages are English and technical; a person sees one short message per field,
chosen by the error's type, while the specific vocabulary errors (an unknown industry or
district) keep their own explanation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from api.web.deps import WebUser, render
from api.web.i18n import Gettext
from api.web.vocab import district_options, industry_options, stage_options

# A form's picker: its options (code, label) in a language.
Picker = Callable[[str], Sequence[tuple[str, str]]]
VOCABULARIES: Mapping[str, Picker] = {
    "industries": industry_options,
    "stages": stage_options,
    "districts": district_options,
}

# The English source of each message; the catalogue translates it (extracted from here).
_MESSAGES = {
    "missing": "This field is required.",
    "string_too_short": "This field is required.",
    "string_too_long": "This is too long.",
    "string_pattern_mismatch": "This is not in the expected format.",
    "int_parsing": "Enter a whole number.",
    "int_type": "Enter a whole number.",
    "greater_than_equal": "This number is too small.",
    "less_than_equal": "This number is too large.",
    "enum": "Choose one of the options.",
    "literal_error": "Choose one of the options.",
    "too_short": "Choose at least one.",
    "too_long": "Too many chosen.",
    "date_from_datetime_parsing": "Enter a date as YYYY-MM-DD.",
    "date_parsing": "Enter a date as YYYY-MM-DD.",
    "bool_parsing": "Choose yes or no.",
}
_FALLBACK = "This value is not valid."


def _marker(text: str) -> str:
    """Marks an English message for extraction; translated where it is shown."""
    return text


# Listed for extraction: `pybabel extract` reads these calls.
_EXTRACTED = (
    _marker("This field is required."),
    _marker("This is too long."),
    _marker("This is not in the expected format."),
    _marker("Enter a whole number."),
    _marker("This number is too small."),
    _marker("This number is too large."),
    _marker("Choose one of the options."),
    _marker("Choose at least one."),
    _marker("Too many chosen."),
    _marker("Enter a date as YYYY-MM-DD."),
    _marker("Choose yes or no."),
    _marker("This value is not valid."),
)


def field_errors(error: ValidationError, gettext: Gettext, *, prefix: str = "") -> dict[str, str]:
    """First message per top-level field; errors of the whole form go under ``__all__``."""
    found: dict[str, str] = {}
    for problem in error.errors():
        location = problem["loc"]
        name = f"{prefix}{location[0]}" if location else "__all__"
        if name in found:
            continue
        found[name] = gettext(_message(problem))
    return found


def _message(problem: Mapping[str, Any]) -> str:
    kind = str(problem["type"])
    if kind == "value_error":
        reason = str(problem.get("ctx", {}).get("error", problem.get("msg", "")))
        return _vocabulary_message(reason)
    return _MESSAGES.get(kind, _FALLBACK)


def _vocabulary_message(reason: str) -> str:
    if "unknown" in reason or "did you mean" in reason:
        return _marker("Not a known value: choose from the list.")
    if "must not exceed" in reason:
        return _marker("The lower bound is above the upper bound.")
    return _FALLBACK


def form_values(form: FormData, multi: Iterable[str] = ()) -> dict[str, Any]:
    """The form as a dict: the fields in ``multi`` as lists, the others as stripped strings."""
    many = set(multi)
    values: dict[str, Any] = {}
    for key in form:
        if key == "csrf_token":
            continue
        if key in many:
            values[key] = [str(v).strip() for v in form.getlist(key) if str(v).strip()]
        else:
            values[key] = str(form.get(key) or "").strip()
    for key in many:
        values.setdefault(key, [])
    return values


def optional_int(text: str) -> int | str | None:
    """A blank field is None; digits become an int; anything else is left for validation to refuse."""
    cleaned = text.replace(",", "").replace("，", "").strip()
    if not cleaned:
        return None
    return int(cleaned) if cleaned.isdigit() else cleaned


def render_form(
    request: Request,
    template: str,
    user: WebUser,
    values: Mapping[str, Any],
    errors: Mapping[str, str],
    *,
    pickers: Mapping[str, Picker] = VOCABULARIES,
    extra: Mapping[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    """A form page: what the person typed, each field's error, and the options of its pickers in
    the page's language (a refused submit answers 422 with all three); ``extra`` is what else
    the page shows."""
    language = request.state.web_session.language
    context = {"user": user, "values": values, "errors": errors, **(extra or {})}
    context |= {name: options(language) for name, options in pickers.items()}
    return render(request, template, context, status_code=status_code)
