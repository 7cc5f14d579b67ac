"""Login (SPEC 3.5): the password check, the per-address failure throttle, the lockout notice,
and the choice between logging in at once (a remembered browser) and emailing a code.

``login_attempt`` returns an outcome that the login view turns into a page; it never says why a
login failed, so an unknown ID, a wrong password, a locked ID and a throttled address look the
same. The password is checked by ``django.contrib.auth.authenticate`` with the request, because
django-axes counts failures per login ID from it and marks the request when the ID is locked.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.contrib import auth
from django.db import transaction
from django.http import HttpRequest

from meisai.accounts.middleware import LOGIN_AT_KEY, PENDING_LOGIN_KEY
from meisai.accounts.models import Account, AccountToken, LoginChallenge
from meisai.accounts.new_browsers import browser_is_remembered, login_challenge_issue
from meisai.accounts.sessions import account_session_record
from meisai.accounts.throttles import client_address, throttle_count, throttle_exceeded
from meisai.audit.services import audit_record
from meisai.clock import jst, now
from meisai.notifications.services import email_enqueue


@dataclass(frozen=True)
class LoginRefused:
    """Unknown ID, wrong password, locked ID, throttled address or a staff account: one answer."""


@dataclass(frozen=True)
class LoginWithoutEmail:
    """The password is right but there is no address to send the code to."""


@dataclass(frozen=True)
class LoginAllowed:
    """The password is right and the browser is remembered: log in now (``login_finish``)."""

    account: Account


@dataclass(frozen=True)
class LoginCodeSent:
    """The password is right and the browser is new: the code is on its way."""

    account: Account
    challenge: LoginChallenge


LoginOutcome = LoginRefused | LoginWithoutEmail | LoginAllowed | LoginCodeSent


def login_attempt(
    *, request: HttpRequest, login_id: str, password: str, browser_token: str | None
) -> LoginOutcome:
    """Check a login ID and password typed on the login page; ``browser_token`` is the
    remembered-browser cookie's, if the browser sent one."""
    client = client_address(request)
    account = None
    # A used-up address is not even asked about: its right password gets the generic answer.
    if not throttle_exceeded(scope="login_failure", client=client):
        account = auth.authenticate(request, username=login_id, password=password)
    if not isinstance(account, Account) or account.member_id is None:
        throttle_count(scope="login_failure", client=client)
        if getattr(request, "axes_locked_out", False):
            account_lockout_notify(login_id=login_id)
        return LoginRefused()
    if not account.email:
        # Saying why is safe, as the password is right; re-registration (flyer ②) sets one.
        return LoginWithoutEmail()
    if browser_is_remembered(account=account, token=browser_token):
        return LoginAllowed(account=account)
    return LoginCodeSent(account=account, challenge=login_challenge_issue(account=account))


def login_finish(*, request: HttpRequest, account: Account) -> None:
    """Log the request in as ``account`` (a new session id), with its login time, and record the
    session so that a password change or re-registration can end it.

    A reset link still open dies: the member who logs in has the password, and a link left
    lying in a mailbox would otherwise open the account to whoever reads it later.
    """
    AccountToken.objects.filter(
        account=account, purpose=AccountToken.Purpose.PASSWORD_RESET, used_at__isnull=True
    ).update(used_at=now())
    request.session.pop(PENDING_LOGIN_KEY, None)
    auth.login(request, account, backend="django.contrib.auth.backends.ModelBackend")
    request.session[LOGIN_AT_KEY] = now().timestamp()
    request.session.save()
    account_session_record(account=account, session_key=request.session.session_key or "")


def account_lockout_notify(*, login_id: str) -> None:
    """Tell the member their login is locked, once per lockout, and audit it (``account_locked``).

    django-axes has locked the ID by now; this only records that the member was told, so a
    further try during the same lockout sends nothing and writes nothing.
    """
    moment = now()
    cooloff = dt.timedelta(hours=settings.AXES_COOLOFF_TIME)
    with transaction.atomic():
        account = (
            Account.objects.select_for_update()
            .filter(login_id__iexact=login_id, is_active=True)
            .exclude(email="")
            .first()
        )
        if account is None:
            return
        if account.lockout_notified_at and account.lockout_notified_at > moment - cooloff:
            return
        account.lockout_notified_at = moment
        account.save(update_fields=["lockout_notified_at"])
        until = jst(moment + cooloff)
        audit_record(
            actor=account.login_id,
            action="account_locked",
            member=account.member,
            detail={"until": until.isoformat(timespec="seconds")},
        )
        email_enqueue(
            key=f"account-locked:{account.pk}:{int(moment.timestamp())}",
            template="account_locked",
            to=account.email,
            context={
                "login_id": account.login_id,
                "until": until,
                "minutes": int(cooloff.total_seconds() // 60),
            },
        )
