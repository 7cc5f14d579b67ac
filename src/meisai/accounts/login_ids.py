"""The login ID rule (SPEC 3.4), the one place it is written.

A login ID is 6–20 half-width letters, digits, ``-``, ``_`` and ``.``, not all digits, unique
without regard to case (a functional unique constraint of ``Account``). Members type it in any
width; imported 本人認証サービス enrolments are held to the same rule. Callers word the problem
for their reader: Japanese on the member's form, English in an import error line.
"""

from __future__ import annotations

import enum
import re

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


def lockout_key(login_id: str) -> str:
    """The form failures are counted under: login IDs are equal without regard to case."""
    return normalize_login_id(login_id).lower()
