"""Validation and minimal storage of personal identifiers (PIPL: keep only what is needed)."""

from __future__ import annotations

import hashlib
import hmac
import re

from pydantic_core import PydanticCustomError

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK_CHARS = "10X98765432"
_ID_PATTERN = re.compile(r"^\d{17}[\dX]$")
PHONE_PATTERN = r"^(\+?\d{1,3}[- ]?)?1[3-9]\d{9}$|^\+\d{6,15}$"
EMAIL_PATTERN = r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$"
_PHONE = re.compile(PHONE_PATTERN)
_EMAIL = re.compile(EMAIL_PATTERN)
# Said in words: a person fixing a form cannot read a regular expression.
PHONE_RULE = "手机号应为11位、以1开头（或 + 国家码）/ 11 digits starting with 1 (or + and a country code)"
EMAIL_RULE = "邮箱格式应如 name@example.com / an e-mail address such as name@example.com"


def id_number_check_char(first17: str) -> str:
    """The GB 11643-1999 (ISO 7064 MOD 11-2) check character for 17 digits."""
    total = sum(int(digit) * weight for digit, weight in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK_CHARS[total % 11]


def validate_id_number(value: str) -> str:
    """Return the normalised 18-character resident ID number or raise ValueError saying why."""
    number = value.strip().upper()
    if not _ID_PATTERN.match(number):
        raise ValueError("must be 18 characters: 17 digits then a digit or X")
    if id_number_check_char(number[:17]) != number[17]:
        raise ValueError("check digit does not match (GB 11643-1999)")
    return number


def validate_phone(value: str) -> str:
    phone = value.strip()
    if not _PHONE.match(phone):
        raise PydanticCustomError("phone_format", PHONE_RULE)
    return phone


def validate_email(value: str) -> str:
    email = value.strip().lower()
    if not _EMAIL.match(email):
        raise PydanticCustomError("email_format", EMAIL_RULE)
    return email


def hash_id_number(number: str, secret: str) -> str:
    # Keyed, so a leaked table cannot be reversed by hashing the small space of valid numbers.
    return hmac.new(secret.encode(), number.encode(), hashlib.sha256).hexdigest()


def mask_id_number(number: str) -> str:
    return f"{number[:3]}{'*' * 11}{number[-4:]}"
