"""Forms of registration, login, recovery and お客様情報. They parse and normalise input and
check its shape; the rules that need the database live in the service modules of
``meisai.accounts`` (``registration``, ``login``, ``recovery``, ``changes``).

Field names are the contract of SPEC 4.4.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.text import format_lazy
from django.utils.translation import gettext, gettext_lazy

from meisai import card_numbers
from meisai.accounts import login_ids
from meisai.accounts.login_ids import LoginIdProblem, login_id_problem, normalize_login_id
from meisai.accounts.passwords import PasswordOwner, normalize_password, password_check
from meisai.core.text import normalize_digits, to_half_width

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

_PASSWORD_HELP = gettext_lazy(
    "8～64文字。ログインID・電話番号・生年月日を含むもの、よく使われるものは使えません。"  # noqa: S105
)


def _text(label: StrOrPromise, **attrs: str) -> forms.CharField:
    return forms.CharField(label=label, widget=forms.TextInput(attrs=attrs))


def _password(label: StrOrPromise, autocomplete: str) -> forms.CharField:
    return forms.CharField(
        label=label,
        strip=False,
        max_length=200,
        widget=forms.PasswordInput(attrs={"autocomplete": autocomplete}),
    )


def _birth_date(value: str) -> dt.date:
    text = normalize_digits(value).replace("/", "").replace(".", "")
    try:
        return dt.datetime.strptime(text, "%Y%m%d").date()  # noqa: DTZ007 - a date, not a moment
    except ValueError as error:
        raise ValidationError(
            gettext("生年月日は「1960-04-01」のように西暦で入力してください。")
        ) from error


def _current_password(account: Any, value: str) -> str:
    """The current password as typed (NFKC-normalised), refused unless it is the account's:
    every change of お客様情報 asks for it, so an unattended logged-in browser changes nothing."""
    current = normalize_password(value)
    if not account.check_password(current):
        raise ValidationError(gettext("現在のパスワードが正しくありません。"))
    return current


#: The login ID rule (``meisai.accounts.login_ids``) as the member reads it.
LOGIN_ID_MESSAGES = {
    LoginIdProblem.SHAPE: format_lazy(
        gettext_lazy(
            "ログインIDは{min_length}～{max_length}文字の半角英数字と「-」「_」「.」で入力してください。"
        ),
        min_length=login_ids.MIN_LENGTH,
        max_length=login_ids.MAX_LENGTH,
    ),
    LoginIdProblem.ALL_DIGITS: gettext_lazy(
        "ログインIDには英字または記号を1文字以上含めてください(数字だけは使えません)。"
    ),
}


#: The personal message's length (SPEC 3.4, 3.5).
PERSONAL_MESSAGE_MAX = 20


class PersonalMessageField(forms.CharField):
    """The personal message, 1–20 characters, checked on the server (Django's message names the
    limit and the length typed).

    No ``maxlength`` attribute on the input: a browser cuts a longer message silently (a pasted
    one loses its end unseen), and the member would log in later to a message they never chose.
    """

    def __init__(self) -> None:
        super().__init__(
            label=format_lazy(
                gettext_lazy("パーソナルメッセージ(1～{max_length}文字)"),
                max_length=PERSONAL_MESSAGE_MAX,
            ),
            max_length=PERSONAL_MESSAGE_MAX,
            widget=forms.TextInput(),
        )

    def widget_attrs(self, widget: forms.Widget) -> dict[str, Any]:
        attrs = super().widget_attrs(widget)
        attrs.pop("maxlength", None)
        return attrs


class TermsForm(forms.Form):
    agree = forms.BooleanField(
        label=gettext_lazy("契約書の内容を確認しました"),
        error_messages={
            "required": gettext_lazy("「契約書の内容を確認しました」にチェックを入れてください。")
        },
    )


class RegistrationEmailForm(forms.Form):
    email = forms.EmailField(
        label=gettext_lazy("メールアドレス"),
        widget=forms.EmailInput(attrs={"autocomplete": "email", "inputmode": "email"}),
    )
    email_confirm = forms.EmailField(
        label=gettext_lazy("メールアドレス(確認のため再入力)"),
        widget=forms.EmailInput(attrs={"autocomplete": "off", "inputmode": "email"}),
    )

    def _clean_address(self, name: str) -> str:
        return to_half_width(self.cleaned_data[name]).strip()

    def clean_email(self) -> str:
        return self._clean_address("email")

    def clean_email_confirm(self) -> str:
        return self._clean_address("email_confirm")

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        email, confirm = data.get("email"), data.get("email_confirm")
        if email and confirm and email.lower() != confirm.lower():
            self.add_error("email_confirm", gettext("確認用のメールアドレスが一致しません。"))
        return data


class RegistrationIdentityForm(forms.Form):
    card_number = _text(
        gettext_lazy("カード番号"), inputmode="numeric", autocomplete="cc-number", maxlength="40"
    )
    card_expiry = _text(
        gettext_lazy("カード有効期限(月/年)"),
        inputmode="numeric",
        autocomplete="cc-exp",
        placeholder="MM/YY",
    )
    birth_date = _text(
        gettext_lazy("生年月日(西暦)"), inputmode="numeric", placeholder="1960-04-01"
    )
    phone = _text(
        gettext_lazy("ご登録の電話番号(ハイフン無し)"), inputmode="tel", autocomplete="tel"
    )
    login_id = _text(gettext_lazy("ログインID"), autocomplete="username", autocapitalize="none")
    password = _password(gettext_lazy("パスワード"), "new-password")
    password_confirm = _password(gettext_lazy("パスワード(確認のため再入力)"), "new-password")
    personal_message = PersonalMessageField()

    def clean_card_number(self) -> str:
        number = card_numbers.normalize_card_number(self.cleaned_data["card_number"])
        if not card_numbers.is_card_number(number):
            raise ValidationError(
                gettext(
                    "カード番号は、カードに記載の数字(%(min_digits)d～%(max_digits)d桁)を入力してください。"
                )
                % {"min_digits": card_numbers.MIN_DIGITS, "max_digits": card_numbers.MAX_DIGITS}
            )
        return number

    def clean_card_expiry(self) -> str:
        text = normalize_digits(self.cleaned_data["card_expiry"]).replace("/", "")
        if len(text) != 4 or not text.isdigit() or not 1 <= int(text[:2]) <= 12:
            raise ValidationError(gettext("有効期限は「12/29」のように月/年で入力してください。"))
        return f"{text[:2]}/{text[2:]}"

    def clean_birth_date(self) -> dt.date:
        return _birth_date(self.cleaned_data["birth_date"])

    def clean_phone(self) -> str:
        phone = normalize_digits(self.cleaned_data["phone"])
        if not (phone.isdigit() and 10 <= len(phone) <= 11):
            raise ValidationError(gettext("電話番号は10桁または11桁の数字で入力してください。"))
        return phone

    def clean_login_id(self) -> str:
        login_id = normalize_login_id(self.cleaned_data["login_id"])
        problem = login_id_problem(login_id)
        if problem is not None:
            raise ValidationError(LOGIN_ID_MESSAGES[problem])
        return login_id

    def clean_password(self) -> str:
        return normalize_password(self.cleaned_data["password"])

    def clean_password_confirm(self) -> str:
        return normalize_password(self.cleaned_data["password_confirm"])

    def clean_personal_message(self) -> str:
        return self.cleaned_data["personal_message"].strip()

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        password = data.get("password")
        if password and data.get("password_confirm") and password != data["password_confirm"]:
            self.add_error("password_confirm", gettext("確認用のパスワードが一致しません。"))
        elif password and data.get("login_id"):
            owner = PasswordOwner(
                login_id=data["login_id"],
                phones=(data["phone"],) if data.get("phone") else (),
                birth_date=data.get("birth_date"),
            )
            try:
                password_check(password, owner=owner)
            except ValidationError as error:
                self.add_error("password", error)
        return data


RegistrationIdentityForm.base_fields["password"].help_text = _PASSWORD_HELP
RegistrationIdentityForm.base_fields["login_id"].help_text = gettext_lazy(
    "6～20文字の半角英数字と「-」「_」「.」(数字だけは不可)。本人認証サービスのIDにもなります。"
)


class LoginForm(forms.Form):
    # The login page is translated (docs/i18n.md); the other forms are Japanese only for now.
    # Bounded where the form reads it: a longer "ID" is no login ID, and an unbounded one would
    # reach django-axes' varchar(255) record of the failure (a 500 on PostgreSQL).
    username = forms.CharField(
        label=gettext_lazy("ログインID"),
        max_length=login_ids.MAX_LENGTH,
        error_messages={"max_length": LOGIN_ID_MESSAGES[LoginIdProblem.SHAPE]},
        widget=forms.TextInput(attrs={"autocomplete": "username", "autocapitalize": "none"}),
    )
    password = _password(gettext_lazy("パスワード"), "current-password")

    def clean_username(self) -> str:
        return normalize_login_id(self.cleaned_data["username"])

    def clean_password(self) -> str:
        return normalize_password(self.cleaned_data["password"])


class CodeForm(forms.Form):
    code = _text(
        gettext_lazy("確認コード(6桁)"),
        inputmode="numeric",
        autocomplete="one-time-code",
        maxlength="10",
    )

    def clean_code(self) -> str:
        code = normalize_digits(self.cleaned_data["code"])
        if not (code.isdigit() and len(code) == 6):
            raise ValidationError(gettext("確認コードは6桁の数字で入力してください。"))
        return code


class ForgotPasswordForm(forms.Form):
    card_number = RegistrationIdentityForm.base_fields["card_number"]
    birth_date = RegistrationIdentityForm.base_fields["birth_date"]
    clean_card_number = RegistrationIdentityForm.clean_card_number
    clean_birth_date = RegistrationIdentityForm.clean_birth_date


class ForgotIdForm(forms.Form):
    email = forms.EmailField(
        label=gettext_lazy("ご登録のメールアドレス"),
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )


class NewPasswordForm(forms.Form):
    """A new password twice, checked against the policy for ``owner``."""

    password = _password(gettext_lazy("新しいパスワード"), "new-password")
    password_confirm = _password(gettext_lazy("新しいパスワード(確認のため再入力)"), "new-password")

    def __init__(self, *args: Any, owner: PasswordOwner, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.owner = owner
        self.fields["password"].help_text = _PASSWORD_HELP

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        password = normalize_password(data.get("password") or "")
        confirm = normalize_password(data.get("password_confirm") or "")
        if password and confirm:
            if password != confirm:
                self.add_error("password_confirm", gettext("確認用のパスワードが一致しません。"))
            else:
                try:
                    password_check(password, owner=self.owner)
                except ValidationError as error:
                    self.add_error("password", error)
        data["password"] = password
        return data


class PasswordChangeForm(NewPasswordForm):
    current_password = _password(gettext_lazy("現在のパスワード"), "current-password")
    field_order = ["current_password", "password", "password_confirm"]

    def __init__(self, *args: Any, account: Any, **kwargs: Any) -> None:
        from meisai.accounts.passwords import owner_of

        super().__init__(*args, owner=owner_of(account), **kwargs)
        self.account = account

    def clean_current_password(self) -> str:
        return _current_password(self.account, self.cleaned_data["current_password"])


class EmailChangeForm(RegistrationEmailForm):
    current_password = _password(gettext_lazy("現在のパスワード"), "current-password")

    def __init__(self, *args: Any, account: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.account = account
        self.fields["email"].label = gettext_lazy("新しいメールアドレス")
        self.fields["email_confirm"].label = gettext_lazy("新しいメールアドレス(確認のため再入力)")

    def clean_current_password(self) -> str:
        return _current_password(self.account, self.cleaned_data["current_password"])


class PersonalMessageForm(forms.Form):
    personal_message = RegistrationIdentityForm.base_fields["personal_message"]
    current_password = _password(gettext_lazy("現在のパスワード"), "current-password")

    def __init__(self, *args: Any, account: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.account = account

    def clean_personal_message(self) -> str:
        return self.cleaned_data["personal_message"].strip()

    def clean_current_password(self) -> str:
        return _current_password(self.account, self.cleaned_data["current_password"])
