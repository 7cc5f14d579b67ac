"""Staff sign-in (SPEC 2, 3.10): the password, then the code of the staff member's TOTP device.

The rules, in one place:

* **Who.** Only a staff member (``roles.staff_role``: active, ``is_staff``, no member, a role)
  with a TOTP device gets past the password. Everyone else gets one answer (``StaffRefused``),
  whatever the reason: an unknown ID, a wrong password, a locked ID, a disabled staff account, a
  staff account without a device, and a cardholder's account even with its right password (which
  counts as a failure, as a wrong password would, so the answer confirms nothing).
* **Two steps.** A right password does not log in: the session only holds a pending sign-in
  (``STAFF_PENDING_KEY``, for ``CODE_WINDOW``), under a new session id. Nothing of the console or
  of the Django admin opens before the code (``access.staff_required``, the admin's wiring).
* **The code.** django-otp's ``TOTPDevice.verify_token``: a code of a time step at or before the
  last one accepted is refused, so a code seen over a shoulder cannot be replayed; wrong codes
  slow the device down (django-otp's throttle) and count as failed logins of the ID. The device
  is confirmed by its first accepted code (``meisai staff add`` leaves it unconfirmed).
* **Lockout.** The members' rule, django-axes per login ID (settings ``AXES_FAILURE_LIMIT`` 10,
  ``AXES_COOLOFF_TIME`` 0.5 hours): 10 failures in a row, of either step, lock the ID for 30
  minutes from the tenth; tries during the lock do not extend it, and a locked ID gets the
  wrong-password answer. A successful sign-in clears the count.
* **Throttle.** Per client address, ``STAFF_LOGIN_SCOPE`` in ``accounts.throttles`` bounds the
  password posts (429 with ``Retry-After``), so one address cannot spray passwords over many IDs.
* **Trail.** ``staff_login``, ``staff_login_failed`` (with the step and whether the ID is locked)
  and ``staff_logout`` are audit rows, with the client address; the actor is the login ID typed.
  Logins and failed logins are also lines of the ``meisai.security`` log (``console=True``).
* **Session.** The member site's limits hold for staff as well (``accounts.middleware``): 15
  minutes idle, 12 hours after login. The session is recorded (``accounts.sessions``) so that
  ``meisai staff disable`` ends it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from axes.handlers.proxy import AxesProxyHandler
from django.contrib import auth
from django.db import transaction
from django.http import HttpRequest
from django.views.decorators.debug import sensitive_variables
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from meisai.accounts.middleware import LOGIN_AT_KEY
from meisai.accounts.models import Account
from meisai.accounts.sessions import account_session_record
from meisai.accounts.throttles import (
    Throttled,
    throttle_allows,
    throttle_refusal,
    throttle_refused,
)
from meisai.audit.security_events import security_event
from meisai.audit.services import audit_record
from meisai.backoffice.roles import staff_role
from meisai.clock import now
from meisai.core.clients import client_address

#: Session key of a sign-in whose password was right and whose code is awaited.
STAFF_PENDING_KEY = "meisai_staff_pending"
#: How long the code may be awaited after the password.
CODE_WINDOW = dt.timedelta(minutes=5)
#: The throttle of the password step, per client address (``accounts.throttles.THROTTLES``).
STAFF_LOGIN_SCOPE = "staff_login"
MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


@dataclass(frozen=True)
class StaffRefused:
    """Unknown ID, wrong password, locked ID, not staff, no device: one answer."""


@dataclass(frozen=True)
class StaffThrottled:
    """Refused before the password was checked: the 429 answer."""

    throttled: Throttled


@dataclass(frozen=True)
class StaffCodeNeeded:
    """The password is right; the session now waits for the code."""

    account: Account


@dataclass(frozen=True)
class StaffCodeWrong:
    """A wrong (or replayed) code: the code page again."""


@dataclass(frozen=True)
class StaffSignedIn:
    account: Account


@dataclass(frozen=True)
class StaffPending:
    """The sign-in waiting for its code, and where it goes afterwards."""

    account: Account
    next_url: str


def _client_ip(request: HttpRequest) -> str | None:
    return client_address(request) or None


def _failure_count(*, request: HttpRequest, login_id: str) -> bool:
    """Tell django-axes of a failure that ``authenticate`` did not see (a right password of
    someone who may not sign in here, a wrong code). Returns whether the ID is locked now."""
    auth.user_login_failed.send(
        sender=__name__, credentials={"username": login_id}, request=request
    )
    return bool(getattr(request, "axes_locked_out", False))


def _failure_record(*, request: HttpRequest, login_id: str, step: str, locked: bool) -> None:
    audit_record(
        actor=login_id,
        action="staff_login_failed",
        detail={"step": step, "locked": locked},
        client_ip=_client_ip(request),
    )
    security_event("login_failed", login_id=login_id, console=True, step=step, locked=locked)


def _device_of(account: Account) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=account).order_by("id").first()


@sensitive_variables("password")
def staff_password_check(
    *, request: HttpRequest, login_id: str, password: str, next_url: str
) -> StaffThrottled | StaffRefused | StaffCodeNeeded:
    """The first step: the login ID and password typed on the staff login page."""
    client = client_address(request)
    if not throttle_allows(scope=STAFF_LOGIN_SCOPE, client=client):
        refusal = throttle_refusal(scope=STAFF_LOGIN_SCOPE, client=client)
        throttle_refused(request=request, throttled=refusal, client=client, login_id=login_id)
        return StaffThrottled(throttled=refusal)
    account = auth.authenticate(request, username=login_id, password=password)
    locked = bool(getattr(request, "axes_locked_out", False))
    if isinstance(account, Account) and (
        staff_role(account) is None or _device_of(account) is None
    ):
        locked = _failure_count(request=request, login_id=login_id)
        account = None
    if not isinstance(account, Account):
        _failure_record(request=request, login_id=login_id, step="password", locked=locked)
        return StaffRefused()
    # A new session id before anything of the sign-in is kept in it.
    request.session.cycle_key()
    request.session[STAFF_PENDING_KEY] = {
        "account": account.pk,
        "at": now().timestamp(),
        "next": next_url,
    }
    return StaffCodeNeeded(account=account)


def staff_pending(*, request: HttpRequest) -> StaffPending | None:
    """The sign-in of this session waiting for its code, if it is still open."""
    pending = request.session.get(STAFF_PENDING_KEY)
    if not isinstance(pending, dict):
        return None
    if now().timestamp() - float(pending.get("at", 0)) > CODE_WINDOW.total_seconds():
        request.session.pop(STAFF_PENDING_KEY, None)
        return None
    account = Account.objects.filter(pk=int(pending.get("account") or 0)).first()
    if account is None or staff_role(account) is None:
        request.session.pop(STAFF_PENDING_KEY, None)
        return None
    return StaffPending(account=account, next_url=str(pending.get("next") or ""))


@sensitive_variables("code")
def staff_code_check(
    *, request: HttpRequest, code: str
) -> StaffSignedIn | StaffCodeWrong | StaffRefused:
    """The second step: the code of the staff member's device. Refused (back to the password)
    when no sign-in is pending or the ID is locked by now."""
    pending = staff_pending(request=request)
    if pending is None:
        return StaffRefused()
    account = pending.account
    if AxesProxyHandler.is_locked(request, {"username": account.login_id}):
        request.session.pop(STAFF_PENDING_KEY, None)
        _failure_record(request=request, login_id=account.login_id, step="code", locked=True)
        return StaffRefused()
    with transaction.atomic():
        device = TOTPDevice.objects.select_for_update().filter(user=account).order_by("id").first()
        verified = device is not None and device.verify_token(code)
        if device is not None and verified and not device.confirmed:
            device.confirmed = True
            device.save(update_fields=["confirmed"])
    if device is None or not verified:
        locked = _failure_count(request=request, login_id=account.login_id)
        _failure_record(request=request, login_id=account.login_id, step="code", locked=locked)
        if locked:
            request.session.pop(STAFF_PENDING_KEY, None)
            return StaffRefused()
        return StaffCodeWrong()
    with transaction.atomic():
        request.session.pop(STAFF_PENDING_KEY, None)
        auth.login(request, account, backend=MODEL_BACKEND)
        otp_login(request, device)
        request.session[LOGIN_AT_KEY] = now().timestamp()
        request.session.save()
        account_session_record(account=account, session_key=request.session.session_key or "")
        audit_record(actor=account.login_id, action="staff_login", client_ip=_client_ip(request))
    security_event("login", login_id=account.login_id, console=True)
    return StaffSignedIn(account=account)


def staff_logout(*, request: HttpRequest) -> None:
    """End the session; a staff member's logout is an audit row."""
    user = request.user
    if staff_role(user) is not None:
        audit_record(
            actor=user.get_username(), action="staff_logout", client_ip=_client_ip(request)
        )
    auth.logout(request)
