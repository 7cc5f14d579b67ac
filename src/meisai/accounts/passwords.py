"""The login-ID and password policy (SPEC 3.4) and the normalisation both go through.

Passwords are NFKC-normalised before they are checked, hashed or compared, so that full-width
input from a Japanese IME (ｐａｓｓ１２３４) is the same password as its half-width form.
The length, common-password and personal-data rules run as Django password validators
(``AUTH_PASSWORD_VALIDATORS``); there are deliberately no composition rules.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.utils.translation import gettext

from meisai.core.text import normalize_digits

PASSWORD_MAX_LENGTH = 64


def normalize_password(raw: str) -> str:
    return unicodedata.normalize("NFKC", raw)


@dataclass(frozen=True)
class PasswordOwner:
    """What the personal-data rule compares a password with."""

    login_id: str
    phones: tuple[str, ...] = ()
    birth_date: dt.date | None = None


def owner_of(account: Any) -> PasswordOwner:
    member = account.member
    if member is None:
        return PasswordOwner(login_id=account.login_id)
    return PasswordOwner(
        login_id=account.login_id,
        phones=tuple(member.phones.values_list("number", flat=True)),
        birth_date=member.birth_date,
    )


def password_check(password: str, *, owner: PasswordOwner) -> None:
    """Raise ``ValidationError`` (Japanese messages) when ``password`` breaks the policy."""
    # Django's validators only read attributes of ``user``; a PasswordOwner carries them.
    validate_password(normalize_password(password), user=owner)  # type: ignore[arg-type]


def _birth_date_forms(birth_date: dt.date) -> Iterable[str]:
    yield birth_date.strftime("%Y%m%d")
    yield birth_date.strftime("%y%m%d")


class MaximumLengthValidator:
    """At most 64 characters (after NFKC): long enough for a passphrase, short enough for Argon2."""

    def __init__(self, max_length: int = PASSWORD_MAX_LENGTH) -> None:
        self.max_length = max_length

    def validate(self, password: str, user: Any = None) -> None:
        if len(password) > self.max_length:
            raise ValidationError(
                gettext("パスワードは%(max_length)d文字以内で入力してください。")
                % {"max_length": self.max_length},
                code="password_too_long",
            )

    def get_help_text(self) -> str:
        return gettext("%(max_length)d文字以内") % {"max_length": self.max_length}


class PersonalDataValidator:
    """Not equal to or containing the login ID, a phone number or the birth date."""

    def validate(self, password: str, user: Any = None) -> None:
        if user is None:
            return
        lowered = password.lower()
        login_id = str(getattr(user, "login_id", "") or "").lower()
        if login_id and login_id in lowered:
            raise ValidationError(
                gettext("パスワードにログインIDを含めることはできません。"),
                code="password_has_login_id",
            )
        digits = normalize_digits(password)
        for phone in getattr(user, "phones", ()) or ():
            if phone and phone in digits:
                raise ValidationError(
                    gettext("パスワードに電話番号を含めることはできません。"),
                    code="password_has_phone",
                )
        birth_date = getattr(user, "birth_date", None)
        if birth_date:
            compact = re.sub(r"[-/.年月日]", "", digits)
            if any(form in compact for form in _birth_date_forms(birth_date)):
                raise ValidationError(
                    gettext("パスワードに生年月日を含めることはできません。"),
                    code="password_has_birth_date",
                )

    def get_help_text(self) -> str:
        return gettext("ログインID・電話番号・生年月日を含まないもの")
