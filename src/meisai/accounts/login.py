"""Login (SPEC 3.5): the password check, the login throttles, the lockout notice, and the
choice between logging in at once (a remembered browser) and emailing a code.

``login_attempt`` returns an outcome that the login view turns into a page; it never says why a
login failed, so an unknown ID, a wrong password and a locked ID look the same. A throttled
login (``throttles.login_throttled``) is refused before the password is checked and answers 429;
unknown IDs are counted like known ones, so that says nothing about the ID either. The
password is checked by ``django.contrib.auth.authenticate`` with the request, because
django-axes counts failures per login ID from it and marks the request when the ID is locked.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.contrib import auth
from django.db import transaction
from django.http import HttpRequest
from django.views.decorators.debug import sensitive_variables

from meisai.accounts.middleware import LOGIN_AT_KEY, PENDING_LOGIN_KEY
from meisai.accounts.models import Account, AccountToken, LoginChallenge
from meisai.accounts.new_browsers import browser_is_remembered, login_challenge_issue
from meisai.accounts.reregistration import reregistrations_take_effect
from meisai.accounts.sessions import account_session_record
from meisai.accounts.throttles import Throttled, login_throttled, throttle_count
from meisai.audit.security_events import security_event
from meisai.audit.services import audit_record
from meisai.clock import jst, now
from meisai.core.clients import client_address
from meisai.members.models import Member
from meisai.notifications.services import email_enqueue


@dataclass(frozen=True)
class LoginRefused:
    """Unknown ID, wrong password, locked ID or a staff account: one answer."""


@dataclass(frozen=True)
class LoginThrottled:
    """Refused by a throttle before the password was checked: the 429 answer (SPEC 3.5)."""

    throttled: Throttled


@dataclass(frozen=True)
class LoginAllowed:
    """The password is right and the browser is remembered: log in now (``login_finish``)."""

    account: Account


@dataclass(frozen=True)
class LoginCodeSent:
    """The password is right and the browser is new: the code is on its way."""

    account: Account
    challenge: LoginChallenge


LoginOutcome = LoginThrottled | LoginRefused | LoginAllowed | LoginCodeSent


@sensitive_variables("password")
def login_attempt(
    *, request: HttpRequest, login_id: str, password: str, browser_token: str | None
) -> LoginOutcome:
    """Check a login ID and password typed on the login page; ``browser_token`` is the
    remembered-browser cookie's, if the browser sent one."""
    client = client_address(request)
    # A throttled login is refused before the hasher runs: its cost is what an attacker spends.
    if throttled := login_throttled(request=request, client=client, login_id=login_id):
        return LoginThrottled(throttled=throttled)
    # A re-registration whose wait is over takes effect now for its ID, whether or not the
    # scheduler has come round yet: the completion page promised that moment.
    reregistrations_take_effect(login_id=login_id)
    account = auth.authenticate(request, username=login_id, password=password)
    if isinstance(account, Account) and not account.email:
        # Without an address no code can be sent, so this login cannot finish; an answer of its
        # own would confirm a static 本人認証サービス password to whoever typed it. It gets the
        # wrong-password answer, and counts as one (django-axes hears of a failure, so ten
        # guesses lock the ID whether the right one was among them or not). The login page
        # tells such members how to add an address.
        auth.user_login_failed.send(
            sender=__name__, credentials={"username": login_id}, request=request
        )
        account = None
    if not isinstance(account, Account) or account.member_id is None:
        throttle_count(scope="login_failure", client=client, login_id=login_id)
        locked = bool(getattr(request, "axes_locked_out", False))
        security_event(
            "login_failed",
            member=_member_of(login_id),
            login_id=login_id,
            locked=locked,
        )
        if locked:
            account_lockout_notify(login_id=login_id)
        return LoginRefused()
    if browser_is_remembered(account=account, token=browser_token):
        return LoginAllowed(account=account)
    return LoginCodeSent(account=account, challenge=login_challenge_issue(account=account))


def _member_of(login_id: str) -> Member | None:
    """The member whose active account ``login_id`` is, for the event of a failed login."""
    found = (
        Account.objects.filter(login_id__iexact=login_id, is_active=True, member__isnull=False)
        .select_related("member")
        .first()
    )
    return found.member if found is not None else None


def login_finish(*, request: HttpRequest, account: Account) -> None:
    """Log the request in as ``account`` (a new session id), with its login time, and record the
    session so that a password change or re-registration can end it.

    A reset link still open dies: the member who logs in has the password, and a link left
    lying in a mailbox would otherwise open the account to whoever reads it later.
    """
    # One transaction, so one commit of the login's writes (the reset links, the last login,
    # django-axes' reset, the session's row, the event) instead of one each, and none of them
    # without the others.
    with transaction.atomic():
        AccountToken.objects.filter(
            account=account, purpose=AccountToken.Purpose.PASSWORD_RESET, used_at__isnull=True
        ).update(used_at=now())
        request.session.pop(PENDING_LOGIN_KEY, None)
        auth.login(request, account, backend="django.contrib.auth.backends.ModelBackend")
        request.session[LOGIN_AT_KEY] = now().timestamp()
        request.session.save()
        account_session_record(account=account, session_key=request.session.session_key or "")
        # By id: the event needs nothing else of the member, and reading the row costs a query.
        security_event("login", member_id=account.member_id, login_id=account.login_id)


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
        security_event(
            "account_locked",
            member=account.member,
            login_id=account.login_id,
            until=until.isoformat(timespec="seconds"),
        )
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
