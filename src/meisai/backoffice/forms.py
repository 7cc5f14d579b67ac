"""Forms of the staff console. Every field is bounded where the form reads it (SPEC 3.10,
"Bounded input"): over-long input gets the form's error, never a server error."""

from __future__ import annotations

import re

from django import forms

from meisai.accounts import login_ids
from meisai.accounts.passwords import PASSWORD_MAX_LENGTH, normalize_password
from meisai.core.text import normalize_digits

#: What a TOTP code field accepts before it is checked (6 digits, with room for spaces).
CODE_MAX_LENGTH = 10
_SIX_DIGITS = re.compile(r"[0-9]{6}")


class StaffLoginForm(forms.Form):
    # ``username``, as django-axes reads it from the POST of a failed login.
    username = forms.CharField(
        label="ログインID",
        max_length=login_ids.MAX_LENGTH,
        error_messages={"max_length": "ログインIDは20文字以内で入力してください。"},
        widget=forms.TextInput(attrs={"autocomplete": "username", "autocapitalize": "none"}),
    )
    password = forms.CharField(
        label="パスワード",
        strip=False,
        max_length=PASSWORD_MAX_LENGTH * 3,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    def clean_username(self) -> str:
        return login_ids.normalize_login_id(self.cleaned_data["username"])

    def clean_password(self) -> str:
        return normalize_password(self.cleaned_data["password"])


class StaffCodeForm(forms.Form):
    code = forms.CharField(
        label="認証コード(6桁)",
        max_length=CODE_MAX_LENGTH,
        widget=forms.TextInput(
            attrs={"inputmode": "numeric", "autocomplete": "one-time-code", "maxlength": "10"}
        ),
    )

    def clean_code(self) -> str:
        code = normalize_digits(self.cleaned_data["code"])
        if not _SIX_DIGITS.fullmatch(code):
            raise forms.ValidationError("認証コードは6桁の数字で入力してください。")
        return code
