"""Recovery from the login page (SPEC 3.5): a forgotten password, reset through a link emailed
once the card number and birth date match (it lives ``MEISAI_RESET_LINK_MINUTES``, see
``links``), and a forgotten login ID, emailed to the address on file.

Both pages read the same whether anything matched, so they reveal nothing about who is a member.
A completed reset is audited (``account_password_reset``); a request alone changes nothing.
"""

from __future__ import annotations

import datetime as dt
import secrets

from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils.translation import gettext_lazy
from django.views.decorators.debug import sensitive_variables

from meisai import card_numbers
from meisai.accounts.links import account_link_issue, site_url
from meisai.accounts.models import Account, AccountToken, RememberedBrowser
from meisai.accounts.notices import account_notice_send
from meisai.accounts.passwords import normalize_password, owner_of, password_check
from meisai.accounts.refusals import Refused
from meisai.accounts.selectors import account_link_find
from meisai.accounts.sessions import account_sessions_end
from meisai.audit.security_events import security_event
from meisai.audit.services import audit_record
from meisai.clock import jst, now
from meisai.members.models import Card, Member
from meisai.notifications.services import email_enqueue

INVALID_LINK = gettext_lazy("このURLは無効です(使用済み、または有効期限切れです)。")


@sensitive_variables("card_number", "number", "birth_date")
def password_reset_request(*, card_number: str, birth_date: dt.date) -> None:
    """Email a reset link when card and birth date match an account; silently nothing otherwise."""
    card = (
        Card.objects.select_related("member")
        .filter(
            number_hash=card_numbers.card_hash(card_number),
            is_active=True,
            member__status=Member.Status.ACTIVE,
            member__birth_date=birth_date,
        )
        .first()
    )
    if card is None:
        return
    account = Account.objects.filter(member=card.member, is_active=True).exclude(email="").first()
    if account is None:
        return
    with transaction.atomic():
        security_event("password_reset_requested", member=account.member, login_id=account.login_id)
        token, row = account_link_issue(
            account=account, purpose=AccountToken.Purpose.PASSWORD_RESET
        )
        email_enqueue(
            key=f"password-reset:{row.pk}",
            template="password_reset",
            to=account.email,
            context={
                "url": site_url(reverse("accounts:password_reset", args=[token])),
                "expires_at": jst(row.expires_at),
            },
        )


@sensitive_variables("password")
@transaction.atomic
def password_reset_complete(*, token: str, password: str) -> Account:
    """The reset link was followed with a new password: set it, end every session and every
    open link of the account, forget its remembered browsers and tell the address on file.

    A reset is how a member takes an account back, so nothing that worked before it may go on
    working: the next login from any browser asks for the emailed code again, and an email
    change someone else asked for dies with its link.
    """
    row = account_link_find(token=token, purpose=AccountToken.Purpose.PASSWORD_RESET)
    if row is None:
        raise Refused(INVALID_LINK)
    # Read again under the lock: two tabs posting the same link must not both reset.
    row = AccountToken.objects.select_for_update().get(pk=row.pk)
    if row.used_at is not None:
        raise Refused(INVALID_LINK)
    account = row.account
    try:
        password_check(password, owner=owner_of(account))
    except ValidationError as error:
        raise Refused(" ".join(error.messages), field="password") from error
    # This link ends, and with it every other open link of the account (an email change).
    AccountToken.objects.filter(account=account, used_at__isnull=True).update(used_at=now())
    account.set_password(normalize_password(password))
    account.save(update_fields=["password"])
    ended = account_sessions_end(account=account)
    forgotten, _ = RememberedBrowser.objects.filter(account=account).delete()
    audit_record(
        actor=account.login_id,
        action="account_password_reset",
        member=account.member,
        detail={"sessions_ended": ended, "browsers_forgotten": forgotten},
    )
    security_event(
        "password_reset",
        member=account.member,
        login_id=account.login_id,
        sessions_ended=ended,
        browsers_forgotten=forgotten,
    )
    account_notice_send(account=account, template="password_changed")
    return account


def login_id_reminder_send(*, email: str) -> None:
    """Email the login ID of every active account with this address; nothing otherwise."""
    accounts = list(
        Account.objects.filter(email__iexact=email, is_active=True, member__isnull=False)
    )
    for account in accounts:
        security_event("login_id_reminder", member=account.member, login_id=account.login_id)
        email_enqueue(
            key=f"login-id-reminder:{account.pk}:{secrets.token_hex(8)}",
            template="login_id_reminder",
            to=account.email,
            context={
                "login_id": account.login_id,
                "login_url": site_url(reverse("accounts:login")),
            },
        )
