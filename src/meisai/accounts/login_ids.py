"""The login ID rule (SPEC 3.4), the one place it is written.

A login ID is 6–20 half-width letters, digits, ``-``, ``_`` and ``.``, not all digits, unique
without regard to case (a functional unique constraint of ``Account``). Members type it in any
width; imported 本人認証サービス enrolments are held to the same rule. Callers word the problem
for their reader: Japanese on the member's form, English in an import error line.
"""

from __future__ import annotations

import enum
import re

from django.db.models.functions import Lower

from meisai.core.text import to_half_width

MIN_LENGTH = 6
MAX_LENGTH = 20
PATTERN = re.compile(rf"[A-Za-z0-9._-]{{{MIN_LENGTH},{MAX_LENGTH}}}", re.ASCII)


class LoginIdProblem(enum.Enum):
    SHAPE = "shape"
    ALL_DIGITS = "all_digits"


def normalize_login_id(raw: str) -> str:
    """Half-width, without surrounding spaces: 「ｔａｒｏ．ｍ」 → ``taro.m``."""
    return to_half_width(raw).strip()


def login_id_problem(login_id: str) -> LoginIdProblem | None:
    """What is wrong with ``login_id`` (already normalised), or None when it is a login ID."""
    if not PATTERN.fullmatch(login_id):
        return LoginIdProblem.SHAPE
    if login_id.isdigit():
        return LoginIdProblem.ALL_DIGITS
    return None


def login_id_key(login_id: str) -> str:
    """What makes two login IDs the same: equal without regard to width and case. Failed logins
    are counted under it, and imports compare with it."""
    return normalize_login_id(login_id).lower()


def login_id_key_sql(field: str = "login_id") -> Lower:
    """The SQL twin of :func:`login_id_key` for a stored (already half-width) login ID: the
    expression of the case-insensitive unique constraints and of lookups against them."""
    return Lower(field)
