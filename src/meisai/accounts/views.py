"""Pages of registration (/register/), login (/login/, /logout/), recovery and お客様情報
(/account/).

Views only parse the request, call one service (``registration``, ``login``, ``recovery``,
``changes`` …) or selector and render; the rules are in those modules, and no view queries a
model. Registration state lives on the server (``Registration.state``); the session only says
which consent, registration or pending login this browser is working on.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout, update_session_auth_hash
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.functional import Promise
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext, gettext_lazy
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from meisai.accounts import (
    changes,
    login,
    new_browsers,
    recovery,
    registration,
    registration_completion,
    reregistration,
    selectors,
    sessions,
    throttles,
)
from meisai.accounts.forms import (
    CodeForm,
    EmailChangeForm,
    ForgotIdForm,
    ForgotPasswordForm,
    LoginForm,
    NewPasswordForm,
    PasswordChangeForm,
    PersonalMessageForm,
    RegistrationEmailForm,
    RegistrationIdentityForm,
    TermsForm,
)
from meisai.accounts.middleware import PENDING_LOGIN_KEY
from meisai.accounts.models import Account, AccountToken, Registration
from meisai.accounts.passwords import owner_of
from meisai.accounts.refusals import Refused
from meisai.core.clients import client_address
from meisai.core.member_access import member_required
from meisai.members.delivery import delivery_since, web_delivery_refusal
from meisai.points.selectors import campaigns_promised

CONSENT_KEY = "meisai_registration_consent"
REGISTRATION_KEY = "meisai_registration"
#: The signed cookie of a remembered browser (a random token; the database keeps its hash).
BROWSER_COOKIE = "meisai_browser"
BROWSER_COOKIE_SALT = "meisai.accounts.browser"
BROWSER_COOKIE_AGE = 60 * 60 * 24 * 365

LOGIN_FAILED = gettext_lazy(
    "ログインIDまたはパスワードが正しくありません。続けて誤るとしばらくログインできなくなります。"
)
TOO_MANY = gettext_lazy(
    "お手続きが集中しています。しばらく時間をおいてから、もう一度お試しください。"
)


def _posted(request: HttpRequest) -> Any:
    """The POST data of a POST (even an empty one, so a form with nothing ticked is bound)."""
    return request.POST if request.method == "POST" else None


def _too_many(request: HttpRequest, throttled: throttles.Throttled | None = None) -> HttpResponse:
    """The 429 answer of a throttled request, with ``Retry-After`` when the refusal says when a
    slot frees (every throttle of ``throttles`` does)."""
    response = render(
        request,
        "error.html",
        {"status": 429, "title": gettext("しばらくお待ちください"), "message": TOO_MANY},
        status=429,
    )
    if throttled is not None:
        response["Retry-After"] = str(throttled.retry_after)
    return response


def _throttled(request: HttpRequest, scope: str) -> HttpResponse | None:
    """Count the request against the client's ``scope``; the 429 answer when it is used up."""
    client = client_address(request)
    if throttles.throttle_allows(scope=scope, client=client):
        return None
    refusal = throttles.throttle_refusal(scope=scope, client=client)
    throttles.throttle_refused(request=request, throttled=refusal, client=client)
    return _too_many(request, refusal)


def _invalid_link(request: HttpRequest, message: str | Promise | None = None) -> HttpResponse:
    return render(
        request,
        "accounts/invalid_link.html",
        {"message": message or recovery.INVALID_LINK},
        status=404,
    )


# --- registration --------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def register_terms(request: HttpRequest) -> HttpResponse:
    """Step 3: the terms and 「同意する」."""
    form = TermsForm(_posted(request))
    if request.method == "POST" and form.is_valid():
        # Each 「同意する」 writes a row for a visitor nobody knows yet.
        if refused := _throttled(request, "register_terms"):
            return refused
        consent = registration.registration_consent_record(
            terms_version=settings.MEISAI_TERMS_VERSION
        )
        request.session[CONSENT_KEY] = consent.pk
        return redirect("accounts:register_email")
    return render(
        request,
        "accounts/register_terms.html",
        {"form": form, "terms_version": settings.MEISAI_TERMS_VERSION},
    )


@require_http_methods(["GET", "POST"])
def register_email(request: HttpRequest) -> HttpResponse:
    """Step 4: the email address, twice, and 「確定」."""
    consent = selectors.consent_awaiting_email(consent_id=request.session.get(CONSENT_KEY))
    if consent is None:
        messages.info(request, gettext("はじめに利用規約への同意をお願いいたします。"))
        return redirect("accounts:register")
    form = RegistrationEmailForm(_posted(request))
    if request.method == "POST" and form.is_valid():
        if refused := _throttled(request, "register_email"):
            return refused
        registration.registration_start(consent=consent, email=form.cleaned_data["email"])
        del request.session[CONSENT_KEY]
        return redirect("accounts:register_email_sent")
    return render(request, "accounts/register_email.html", {"form": form})


def register_email_sent(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/register_sent.html", {"step": 4})


@sensitive_post_parameters(
    "card_number", "card_expiry", "birth_date", "phone", "password", "password_confirm"
)
@require_http_methods(["GET", "POST"])
def register_identity(request: HttpRequest, token: str) -> HttpResponse:
    """Step 5, opened from the 登録手続きURL: identity and the chosen credentials → 「認証」."""
    if request.method == "POST" and (refused := _throttled(request, "register_identity")):
        return refused
    started = selectors.registration_for_email_token(token=token)
    if started is None:
        return _invalid_link(request)
    form = RegistrationIdentityForm(_posted(request))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        entered = registration.IdentityInput(
            **{k: v for k, v in data.items() if k != "password_confirm"}
        )
        try:
            registration.registration_verify(registration=started, entered=entered)
        except Refused as refusal:
            form.add_error(refusal.field, refusal.message)
        else:
            request.session[REGISTRATION_KEY] = started.pk
            return redirect("accounts:register_confirm")
    return render(request, "accounts/register_identity.html", {"form": form})


@require_http_methods(["GET", "POST"])
def register_confirm(request: HttpRequest) -> HttpResponse:
    """Step 6: the entries once more and 「確定」."""
    verified = selectors.registration_awaiting_confirmation(
        registration_id=request.session.get(REGISTRATION_KEY)
    )
    if verified is None:
        messages.info(
            request, gettext("お手続きの順番が正しくありません。最初からお手続きください。")
        )
        return redirect("accounts:register")
    if request.method == "POST":
        if refused := _throttled(request, "link_post"):
            return refused
        try:
            registration.registration_confirm(registration=verified)
        except Refused:
            return redirect("accounts:register")
        del request.session[REGISTRATION_KEY]
        return redirect("accounts:register_completion_sent")
    return render(request, "accounts/register_confirm.html", {"registration": verified})


def register_completion_sent(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/register_sent.html", {"step": 6})


@require_http_methods(["GET", "HEAD", "POST"])
def register_complete(request: HttpRequest, token: str) -> HttpResponse:
    """The 完了手続きURL: a page with 「登録を完了する」, whose POST creates the account and shows
    the completion page. Opening the link changes nothing, because mail scanners fetch links."""
    if request.method != "POST":
        if selectors.registration_for_completion_token(token=token) is None:
            return _invalid_link(request, registration_completion.INVALID_LINK)
        return render(request, "accounts/register_complete_confirm.html")
    if refused := _throttled(request, "link_post"):
        return refused
    try:
        done = registration_completion.registration_complete(token=token)
    except Refused as refusal:
        return _invalid_link(request, refusal.message)
    if done.state == Registration.State.PENDING:
        # A re-registration: it takes effect later, or when the owner's address confirms it.
        return render(request, "accounts/register_pending.html", {"registration": done})
    # From which billing month the statements are on the web, and the campaign's points.
    member = done.member
    situation: dict[str, Any] = {}
    if member is not None:
        situation = {
            "delivery_since": (
                None if web_delivery_refusal(member=member) else delivery_since(member=member)
            ),
            "campaigns_promised": campaigns_promised(member=member),
        }
    return render(
        request, "accounts/register_complete.html", {"account": done.account, **situation}
    )


@require_http_methods(["GET", "HEAD", "POST"])
def reregister_confirm(request: HttpRequest, token: str) -> HttpResponse:
    """The notice's 「すぐに切り替える」: a page with the button whose POST makes the new account
    now. Opening the link changes nothing."""
    return _reregister_decide(
        request,
        token,
        page="accounts/reregister_confirm.html",
        done_page="accounts/reregister_confirmed.html",
        decide=reregistration.reregistration_confirm,
    )


@require_http_methods(["GET", "HEAD", "POST"])
def reregister_cancel(request: HttpRequest, token: str) -> HttpResponse:
    """The notice's 「心当たりがない」: a page with the button whose POST cancels the
    re-registration. Opening the link changes nothing."""
    return _reregister_decide(
        request,
        token,
        page="accounts/reregister_cancel.html",
        done_page="accounts/reregister_cancelled.html",
        decide=reregistration.reregistration_cancel,
    )


def _reregister_decide(
    request: HttpRequest, token: str, *, page: str, done_page: str, decide: Any
) -> HttpResponse:
    if request.method != "POST":
        pending = selectors.registration_for_takeover_token(
            token=token, purpose=reregistration.TAKEOVER_PURPOSE
        )
        if pending is None:
            return _invalid_link(request, reregistration.INVALID_LINK)
        return render(request, page, {"registration": pending})
    if refused := _throttled(request, "link_post"):
        return refused
    try:
        decided = decide(token=token)
    except Refused as refusal:
        return _invalid_link(request, refusal.message)
    return render(request, done_page, {"registration": decided})


# --- login ---------------------------------------------------------------------------------


def _safe_next(request: HttpRequest, candidate: str | None) -> str:
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return "/"


@sensitive_post_parameters("password")
@require_http_methods(["GET", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    next_url = _safe_next(request, request.POST.get("next") or request.GET.get("next"))
    form = LoginForm(_posted(request))
    if request.method == "POST" and form.is_valid():
        outcome = login.login_attempt(
            request=request,
            login_id=form.cleaned_data["username"],
            password=form.cleaned_data["password"],
            browser_token=request.get_signed_cookie(
                BROWSER_COOKIE, default=None, salt=BROWSER_COOKIE_SALT
            ),
        )
        match outcome:
            case login.LoginThrottled(throttled=throttled):
                # Refused before the password was checked; 429 tells the client to wait.
                return _too_many(request, throttled)
            case login.LoginRefused():
                form.add_error(None, LOGIN_FAILED)
            case login.LoginAllowed(account=account):
                login.login_finish(request=request, account=account)
                return redirect(next_url)
            case login.LoginCodeSent(account=account, challenge=challenge):
                # A new session id before anything of the login is kept in it.
                request.session.cycle_key()
                request.session[PENDING_LOGIN_KEY] = {
                    "account": account.pk,
                    "challenge": challenge.pk,
                    "next": next_url,
                }
                return redirect("accounts:login_code")
    return render(request, "accounts/login.html", {"form": form, "next": next_url})


@sensitive_post_parameters("code")
@require_http_methods(["GET", "POST"])
def login_code(request: HttpRequest) -> HttpResponse:
    """The one-time code for a new browser. The password is verified by now, so the personal
    message is shown here."""
    pending: dict[str, Any] | None = request.session.get(PENDING_LOGIN_KEY)
    account = selectors.pending_login_account(account_id=pending["account"]) if pending else None
    if pending is None or account is None:
        return redirect("accounts:login")
    form = CodeForm(_posted(request))
    if request.method == "POST" and form.is_valid():
        result = new_browsers.login_challenge_answer(
            challenge_id=pending["challenge"], code=form.cleaned_data["code"]
        )
        if result == new_browsers.CodeResult.OK:
            login.login_finish(request=request, account=account)
            response = redirect(pending["next"])
            response.set_signed_cookie(
                BROWSER_COOKIE,
                new_browsers.browser_remember(account=account),
                salt=BROWSER_COOKIE_SALT,
                max_age=BROWSER_COOKIE_AGE,
                secure=settings.SESSION_COOKIE_SECURE,
                httponly=True,
                samesite="Lax",
            )
            return response
        if result == new_browsers.CodeResult.DEAD:
            del request.session[PENDING_LOGIN_KEY]
            messages.error(
                request,
                gettext(
                    "確認コードが無効になりました(有効期限切れ、または入力誤りが続きました)。"
                    "もう一度ログインしてください。"
                ),
            )
            return redirect("accounts:login")
        form.add_error("code", gettext("確認コードが正しくありません。"))
    return render(request, "accounts/login_code.html", {"form": form, "account": account})


@require_http_methods(["POST"])
def login_code_resend(request: HttpRequest) -> HttpResponse:
    """「コードを再送する」: a new code for the pending login (the previous one dies), a few
    times an hour per account (``throttles.login_code_resend_refusal``)."""
    pending: dict[str, Any] | None = request.session.get(PENDING_LOGIN_KEY)
    account = selectors.pending_login_account(account_id=pending["account"]) if pending else None
    if pending is None or account is None:
        return redirect("accounts:login")
    if refused := throttles.login_code_resend_refusal(request=request, account_id=account.pk):
        response = render(
            request,
            "accounts/login_code.html",
            {
                "form": CodeForm(),
                "account": account,
                "resend_refused": throttles.LOGIN_CODE_RESEND_REFUSED,
            },
            status=429,
        )
        response["Retry-After"] = str(refused.retry_after)
        return response
    challenge = new_browsers.login_challenge_issue(account=account)
    request.session[PENDING_LOGIN_KEY] = {**pending, "challenge": challenge.pk}
    messages.success(
        request,
        gettext(
            "確認コードを再送しました。新しいメールのコードを入力してください(前のコードは使えません)。"
        ),
    )
    return redirect("accounts:login_code")


@require_http_methods(["GET", "POST"])
def logout_view(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        logout(request)
        messages.info(request, gettext("ログアウトしました。"))
        return redirect("accounts:login")
    return render(request, "accounts/logout.html")


# --- recovery ------------------------------------------------------------------------------


@sensitive_post_parameters("card_number", "birth_date")
@require_http_methods(["GET", "POST"])
def forgot_password(request: HttpRequest) -> HttpResponse:
    form = ForgotPasswordForm(_posted(request))
    if request.method == "POST" and form.is_valid():
        if refused := _throttled(request, "recovery"):
            return refused
        recovery.password_reset_request(
            card_number=form.cleaned_data["card_number"],
            birth_date=form.cleaned_data["birth_date"],
        )
        return render(request, "accounts/recovery_sent.html", {"what": "password"})
    return render(request, "accounts/forgot_password.html", {"form": form})


@sensitive_post_parameters("password", "password_confirm")
@require_http_methods(["GET", "POST"])
def password_reset(request: HttpRequest, token: str) -> HttpResponse:
    row = selectors.account_link_find(token=token, purpose=AccountToken.Purpose.PASSWORD_RESET)
    if row is None:
        return _invalid_link(request)
    form = NewPasswordForm(_posted(request), owner=owner_of(row.account))
    if request.method == "POST" and form.is_valid():
        if refused := _throttled(request, "link_post"):
            return refused
        try:
            recovery.password_reset_complete(token=token, password=form.cleaned_data["password"])
        except Refused as refusal:
            return _invalid_link(request, refusal.message)
        messages.success(
            request, gettext("パスワードを再設定しました。新しいパスワードでログインしてください。")
        )
        return redirect("accounts:login")
    return render(request, "accounts/password_reset.html", {"form": form})


@require_http_methods(["GET", "POST"])
def forgot_id(request: HttpRequest) -> HttpResponse:
    form = ForgotIdForm(_posted(request))
    if request.method == "POST" and form.is_valid():
        if refused := _throttled(request, "recovery"):
            return refused
        recovery.login_id_reminder_send(email=form.cleaned_data["email"])
        return render(request, "accounts/recovery_sent.html", {"what": "id"})
    return render(request, "accounts/forgot_id.html", {"form": form})


# --- お客様情報 ----------------------------------------------------------------------------------


def _member_account(request: HttpRequest) -> Account:
    assert isinstance(request.user, Account)
    return request.user


@member_required()
def account_home(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/account.html", {"account": _member_account(request)})


@sensitive_post_parameters("current_password")
@member_required()
@require_http_methods(["GET", "POST"])
def account_email(request: HttpRequest) -> HttpResponse:
    account = _member_account(request)
    form = EmailChangeForm(_posted(request), account=account)
    if request.method == "POST" and form.is_valid():
        changes.account_email_change_request(account=account, new_email=form.cleaned_data["email"])
        messages.success(
            request,
            gettext(
                "新しいメールアドレスに確認メールをお送りしました。"
                "メールのURLを開き、「変更を確定する」ボタンを押すと変更が完了します。"
            ),
        )
        return redirect("accounts:account")
    return render(request, "accounts/account_email.html", {"form": form})


@require_http_methods(["GET", "HEAD", "POST"])
def account_email_confirm(request: HttpRequest, token: str) -> HttpResponse:
    """The link sent to the new address: a page with 「変更を確定する」, whose POST changes the
    address (in any browser, no login needed). Opening the link changes nothing."""
    if request.method != "POST":
        row = selectors.account_link_find(token=token, purpose=AccountToken.Purpose.EMAIL_CHANGE)
        if row is None:
            return _invalid_link(request)
        return render(request, "accounts/account_email_confirm.html", {"new_email": row.new_email})
    if refused := _throttled(request, "link_post"):
        return refused
    account = changes.account_email_change_confirm(token=token)
    if account is None:
        return _invalid_link(request)
    return render(request, "accounts/account_email_done.html", {"account": account})


@sensitive_post_parameters("current_password", "password", "password_confirm")
@member_required()
@require_http_methods(["GET", "POST"])
def account_password(request: HttpRequest) -> HttpResponse:
    account = _member_account(request)
    form = PasswordChangeForm(_posted(request), account=account)
    if request.method == "POST" and form.is_valid():
        changes.account_password_change(
            account=account,
            new_password=form.cleaned_data["password"],
            keep_session_key=request.session.session_key,
        )
        update_session_auth_hash(request, account)
        sessions.account_session_record(
            account=account, session_key=request.session.session_key or ""
        )
        messages.success(request, gettext("パスワードを変更しました。"))
        return redirect("accounts:account")
    return render(request, "accounts/account_password.html", {"form": form})


@sensitive_post_parameters("current_password")
@member_required()
@require_http_methods(["GET", "POST"])
def account_message(request: HttpRequest) -> HttpResponse:
    account = _member_account(request)
    form = PersonalMessageForm(
        _posted(request), account=account, initial={"personal_message": account.personal_message}
    )
    if request.method == "POST" and form.is_valid():
        changes.account_personal_message_change(
            account=account, personal_message=form.cleaned_data["personal_message"]
        )
        messages.success(request, gettext("パーソナルメッセージを変更しました。"))
        return redirect("accounts:account")
    return render(request, "accounts/account_message.html", {"form": form})
