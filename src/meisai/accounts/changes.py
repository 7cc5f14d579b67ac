"""Changes of お客様情報 (/account/, SPEC 3.5): the email address (confirmed by a link to the
new one, whose page posts the confirmation), the password and the personal message, each asked
for with the current password (the forms check it).

Each change tells the address on file and writes its audit row in the same transaction. Details
name what changed but never a password or its hash, a link or the personal message itself (it
is the phrase that proves the site to the member, so it is kept out of emails and logs alike).
"""

from __future__ import annotations

from django.db import transaction
from django.urls import reverse
from django.views.decorators.debug import sensitive_variables

from meisai.accounts.links import account_link_issue, site_url
from meisai.accounts.models import Account, AccountToken
from meisai.accounts.notices import account_notice_send
from meisai.accounts.passwords import normalize_password
from meisai.accounts.selectors import account_link_find
from meisai.accounts.sessions import account_sessions_end
from meisai.audit.security_events import security_event
from meisai.audit.services import audit_record
from meisai.clock import jst, now
from meisai.notifications.services import email_enqueue


@transaction.atomic
def account_email_change_request(*, account: Account, new_email: str) -> None:
    """Send a confirmation link to the new address and tell the old one; the address itself
    changes only when the link is followed (``account_email_change_confirm``)."""
    token, row = account_link_issue(
        account=account, purpose=AccountToken.Purpose.EMAIL_CHANGE, new_email=new_email
    )
    email_enqueue(
        key=f"email-change-confirm:{row.pk}",
        template="email_change_confirm",
        to=new_email,
        context={
            "url": site_url(reverse("accounts:email_confirm", args=[token])),
            "expires_at": jst(row.expires_at),
        },
    )
    account_notice_send(account=account, template="email_change_requested")
    audit_record(
        actor=account.login_id,
        action="account_email_change_request",
        member=account.member,
        detail={"new_email": new_email},
    )
    security_event("email_change_requested", member=account.member, login_id=account.login_id)


@transaction.atomic
def account_email_change_confirm(*, token: str) -> Account | None:
    """The page of the link in the new address was confirmed (its button): the address
    changes, the old one is told, and a reset link still open dies. None when the link is
    unknown, used or expired."""
    row = account_link_find(token=token, purpose=AccountToken.Purpose.EMAIL_CHANGE)
    if row is None:
        return None
    row = (
        AccountToken.objects.select_for_update(of=("self",))
        .select_related("account")
        .get(pk=row.pk)
    )
    if row.used_at is not None:
        return None
    moment = now()
    row.used_at = moment
    row.save(update_fields=["used_at"])
    account = row.account
    # A reset link sent to the old address must not outlive the address.
    AccountToken.objects.filter(
        account=account, purpose=AccountToken.Purpose.PASSWORD_RESET, used_at__isnull=True
    ).update(used_at=moment)
    old_email = account.email
    # Told before the change, so the notice goes to the old address.
    account_notice_send(account=account, template="email_changed")
    account.email = row.new_email
    account.save(update_fields=["email"])
    audit_record(
        actor=account.login_id,
        action="account_email_change",
        member=account.member,
        detail={"old_email": old_email, "new_email": account.email},
    )
    security_event("email_changed", member=account.member, login_id=account.login_id)
    return account


@sensitive_variables("new_password")
@transaction.atomic
def account_password_change(
    *, account: Account, new_password: str, keep_session_key: str | None
) -> None:
    """Set a new password (already checked against the policy by the form), end every other
    session and every open link of the account (a reset link, an email change waiting for its
    confirmation) and tell the address on file."""
    AccountToken.objects.filter(account=account, used_at__isnull=True).update(used_at=now())
    account.set_password(normalize_password(new_password))
    account.save(update_fields=["password"])
    ended = account_sessions_end(account=account, keep=keep_session_key)
    audit_record(
        actor=account.login_id,
        action="account_password_change",
        member=account.member,
        detail={"sessions_ended": ended},
    )
    security_event(
        "password_changed", member=account.member, login_id=account.login_id, sessions_ended=ended
    )
    account_notice_send(account=account, template="password_changed")


@transaction.atomic
def account_personal_message_change(*, account: Account, personal_message: str) -> None:
    """Set a new personal message and tell the address on file (without the message)."""
    account.personal_message = personal_message
    account.save(update_fields=["personal_message"])
    audit_record(
        actor=account.login_id,
        action="account_personal_message_change",
        member=account.member,
    )
    security_event("personal_message_changed", member=account.member, login_id=account.login_id)
    account_notice_send(account=account, template="personal_message_changed")
