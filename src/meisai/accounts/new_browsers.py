"""The second step of a login from a browser the member has not used before (SPEC 3.5): a
six-digit code by email (10 minutes, 5 tries), and remembered browsers that skip it.

Only hashes are stored: the code as an HMAC salted with its challenge, the browser's cookie
token as its SHA-256.
"""

from __future__ import annotations

import datetime as dt
import enum
import hmac
import secrets

from django.db import transaction
from django.views.decorators.debug import sensitive_variables

from meisai.accounts.models import Account, LoginChallenge, RememberedBrowser
from meisai.accounts.tokens import code_hash, code_issue, token_hash
from meisai.audit.security_events import security_event
from meisai.clock import now
from meisai.notifications.services import email_enqueue

LOGIN_CODE_TTL = dt.timedelta(minutes=10)
LOGIN_CODE_TRIES = 5


def login_challenge_issue(*, account: Account) -> LoginChallenge:
    """Email a one-time code for a login from a browser the member has not used before."""
    code = code_issue()
    moment = now()
    with transaction.atomic():
        # A new code replaces any earlier one still open.
        LoginChallenge.objects.filter(account=account, used_at__isnull=True).update(used_at=moment)
        challenge = LoginChallenge.objects.create(
            account=account,
            code_hash="",
            created_at=moment,
            expires_at=moment + LOGIN_CODE_TTL,
        )
        # The challenge's id salts the hash, so the row must exist before the hash does.
        challenge.code_hash = code_hash(code, salt=str(challenge.pk))
        challenge.save(update_fields=["code_hash"])
        email_enqueue(
            key=f"login-code:{challenge.pk}",
            template="login_code",
            to=account.email,
            context={"code": code, "minutes": int(LOGIN_CODE_TTL.total_seconds() // 60)},
        )
    return challenge


class CodeResult(enum.StrEnum):
    """What an answered code leads to: logged in, another try, or back to the password."""

    OK = "ok"
    WRONG = "wrong"
    DEAD = "dead"


@sensitive_variables("code")
@transaction.atomic
def login_challenge_answer(*, challenge_id: int, code: str) -> CodeResult:
    """Check a code: ``ok`` (the challenge is used up), ``wrong`` (tries left) or ``dead``
    (expired, used, or the fifth wrong try)."""
    challenge = (
        LoginChallenge.objects.select_for_update(of=("self",))
        # The account names a failed try's event; its member is named by id (no row read).
        .select_related("account")
        .filter(pk=challenge_id)
        .first()
    )
    moment = now()
    if (
        challenge is None
        or challenge.used_at is not None
        or challenge.expires_at <= moment
        or challenge.attempts >= LOGIN_CODE_TRIES
    ):
        return CodeResult.DEAD
    if hmac.compare_digest(challenge.code_hash, code_hash(code, salt=str(challenge.pk))):
        challenge.used_at = moment
        challenge.save(update_fields=["used_at"])
        return CodeResult.OK
    challenge.attempts += 1
    challenge.save(update_fields=["attempts"])
    account = challenge.account
    security_event(
        "login_code_failed",
        member_id=account.member_id,
        login_id=account.login_id,
        attempts=challenge.attempts,
    )
    return CodeResult.DEAD if challenge.attempts >= LOGIN_CODE_TRIES else CodeResult.WRONG


def browser_remember(*, account: Account) -> str:
    """Remember this browser for ``account``; returns the token for its signed cookie."""
    token = secrets.token_urlsafe(32)
    moment = now()
    RememberedBrowser.objects.create(
        account=account, token_hash=token_hash(token), created_at=moment, last_used_at=moment
    )
    return token


def browser_is_remembered(*, account: Account, token: str | None) -> bool:
    """Whether the cookie's token is a browser remembered for this very account (a cookie of
    another account does not count); marks it used."""
    if not token:
        return False
    updated = RememberedBrowser.objects.filter(
        account=account, token_hash=token_hash(token)
    ).update(last_used_at=now())
    return updated > 0
