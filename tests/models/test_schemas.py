"""Validation errors name the field and the reason."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from models import schemas as s
from models.identity import id_number_check_char, validate_id_number
from models.taxonomy import normalize_area
from tests.factories import VALID_ID_NUMBER, samples


def _error_fields(model: type[BaseModel], data: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(data)
    return {".".join(map(str, e["loc"])): e["msg"] for e in caught.value.errors()}


def _sample(slug: str) -> dict[str, Any]:
    return dict(samples()[slug][0])


def test_id_number_checksum_accepts_valid_and_rejects_tampered() -> None:
    assert validate_id_number(VALID_ID_NUMBER.lower()) == VALID_ID_NUMBER.upper()
    wrong_check = "0" if VALID_ID_NUMBER[-1] != "0" else "1"
    with pytest.raises(ValueError, match="check digit"):
        validate_id_number(VALID_ID_NUMBER[:-1] + wrong_check)
    with pytest.raises(ValueError, match="18 characters"):
        validate_id_number("4201111995")


def test_id_check_char_matches_a_published_example() -> None:
    # The standard's worked example: 11010519491231002X.
    assert id_number_check_char("11010519491231002") == "X"


@pytest.mark.parametrize(
    ("slug", "model", "change", "field", "reason"),
    [
        ("persons", s.PersonCreate, {"id_number": "420111199503071230"}, "id_number", "check digit"),
        ("persons", s.PersonCreate, {"phone": "12345"}, "phone", "11位、以1开头"),
        ("persons", s.PersonCreate, {"phone": "12345"}, "phone", "11 digits starting with 1"),
        ("persons", s.PersonCreate, {"email": "someone"}, "email", "name@example.com"),
        ("persons", s.PersonCreate, {"card_tier": "D"}, "card_tier", "'A', 'B', 'C' or 'none'"),
        ("startups", s.StartupCreate, {"stage": "Z轮"}, "stage", "Z轮"),
        ("startups", s.StartupCreate, {"industries": []}, "industries", "at least 1"),
        ("startups", s.StartupCreate, {"industries": ["区块链养猪"]}, "industries.0", "区块链养猪"),
        ("startups", s.StartupCreate, {"district": "朝阳区"}, "district", "朝阳区"),
        ("startups", s.StartupCreate, {"funding_ask_cny": -1}, "funding_ask_cny", "greater than or equal"),
        ("startups", s.StartupCreate, {"colour": "red"}, "colour", "Extra inputs"),
        ("investors", s.InvestorCreate, {"ticket_min_cny": 50_000_000}, "", "ticket_min_cny"),
        ("mentors", s.MentorCreate, {"current_mentees": 9}, "", "current_mentees"),
        ("spaces", s.SpaceCreate, {"seats_vacant": 41}, "", "seats_vacant (41) must not exceed seats_total"),
        ("practice-bases", s.PracticeBaseCreate, {"period_end": "2027-01-01"}, "", "period_start"),
        ("posts", s.PostCreate, {"headcount": 0}, "headcount", "greater than or equal to 1"),
        (
            "interactions",
            s.InteractionCreate,
            {"actor_kind": "mentor"},
            "",
            "'invested' must go investor→startup",
        ),
    ],
)
def test_validation_error_names_field_and_reason(
    slug: str, model: type[BaseModel], change: dict[str, Any], field: str, reason: str
) -> None:
    errors = _error_fields(model, _sample(slug) | change)
    assert field in errors, errors
    assert reason in errors[field] or (field == "" and any(reason in m for m in errors.values())), errors


def test_taxonomy_labels_normalise_to_codes() -> None:
    startup = s.StartupCreate.model_validate(_sample("startups"))
    assert startup.industries == ["intelligent_manufacturing", "information_technology"]
    assert startup.stage == "angel"
    assert startup.district == "east_lake_hightech"


def test_anywhere_stands_alone_in_an_investors_districts() -> None:
    investor = s.InvestorCreate.model_validate(_sample("investors") | {"districts": ["洪山区", "anywhere"]})
    assert investor.districts == ["anywhere"]
    local = s.InvestorCreate.model_validate(_sample("investors") | {"districts": ["洪山区", "光谷"]})
    assert local.districts == [normalize_area("洪山区"), normalize_area("光谷")]


def test_public_schemas_carry_no_personal_contact_data() -> None:
    for public in (s.PersonPublic, s.StartupPublic, s.InvestorPublic, s.MentorPublic, s.SpacePublic):
        assert not {"phone", "email", "id_number", "id_number_hash"} & set(public.model_fields)


@pytest.mark.parametrize(
    "update",
    [
        s.PersonUpdate,
        s.StartupUpdate,
        s.InvestorUpdate,
        s.MentorUpdate,
        s.SpaceUpdate,
        s.PracticeBaseUpdate,
        s.PostUpdate,
    ],
)
def test_update_schemas_are_partial_and_forbid_unknown_fields(update: type[BaseModel]) -> None:
    assert update.model_validate({}).model_dump(exclude_unset=True) == {}
    assert "external_id" not in update.model_fields
    assert "bogus" in _error_fields(update, {"bogus": 1})


def test_update_schema_keeps_field_checks() -> None:
    assert "industries.0" in _error_fields(s.StartupUpdate, {"industries": ["不存在的行业"]})
    assert "name" in _error_fields(s.StartupUpdate, {"name": "x" * 201})
