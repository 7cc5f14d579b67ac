"""Changes staff make to a member's web account on the member's request (SPEC 2, 3.10): each
with a reason, each audited with the staff login, the client address and the member.

* **disable** an account: it can no longer log in (``AccountManager`` finds only active
  accounts) and every session it has open ends; its login ID stays taken;
* **enable** it again — only the member's newest account, and only while the member has no
  other active one: an account replaced by a re-registration (SPEC 3.4) stays replaced;
* **end every session** of the account (a lost phone, a shared computer), without disabling it;
* **send the registration-completed notice again** (its login ID and the way to log in; no
  link or code that acts for the member).

Lifting a login or registration lock is ``unlocks.py``'s; these are the rest.
"""

from __future__ import annotations

from django.db import transaction
from django.urls import reverse

from meisai.accounts.links import site_url
from meisai.accounts.models import Account
from meisai.accounts.sessions import account_sessions_end
from meisai.audit.services import audit_record
from meisai.clock import now
from meisai.members.delivery import current_delivery_method, web_delivery_refusal
from meisai.members.models import Member
from meisai.notifications.services import email_enqueue

#: The email of a finished registration (``account_creation.account_create`` sends it first).
REGISTRATION_COMPLETED = "registration_completed"


class StaffChangeRefused(ValueError):
    """The change cannot be made as asked; the message says why, in Japanese."""


def _reason_required(reason: str) -> str:
    if not reason.strip():
        raise StaffChangeRefused("理由を入力してください。")
    return reason.strip()


def member_account(*, member: Member) -> Account | None:
    """The web account staff act on: the member's active one, else the newest one."""
    return (
        Account.objects.filter(member=member).order_by("-is_active", "-created_at", "-id").first()
    )


def _locked(account: Account) -> Account:
    return Account.objects.select_for_update().get(pk=account.pk)


@transaction.atomic
def account_disable(
    *, account: Account, actor: str, reason: str, client_ip: str | None = None
) -> int:
    """Disable a member's web account and end its sessions; returns how many ended."""
    reason = _reason_required(reason)
    account = _locked(account)
    if account.member_id is None:
        raise StaffChangeRefused("会員のWEBアカウントではありません。")
    if not account.is_active:
        raise StaffChangeRefused("このWEBアカウントはすでに停止されています。")
    account.is_active = False
    account.deactivated_at = now()
    account.save(update_fields=["is_active", "deactivated_at"])
    ended = account_sessions_end(account=account)
    audit_record(
        actor=actor,
        action="account_disable",
        member=account.member,
        detail={"login_id": account.login_id, "reason": reason, "sessions_ended": ended},
        client_ip=client_ip,
    )
    return ended


@transaction.atomic
def account_enable(
    *, account: Account, actor: str, reason: str, client_ip: str | None = None
) -> None:
    """Enable a disabled web account again (refused for a replaced or an excess one)."""
    reason = _reason_required(reason)
    account = _locked(account)
    member = account.member
    if member is None:
        raise StaffChangeRefused("会員のWEBアカウントではありません。")
    if account.is_active:
        raise StaffChangeRefused("このWEBアカウントは有効です。")
    if not member.is_active:
        raise StaffChangeRefused("退会した会員のWEBアカウントは再開できません。")
    others = Account.objects.select_for_update().filter(member=member).exclude(pk=account.pk)
    if others.filter(is_active=True).exists():
        raise StaffChangeRefused("この会員には有効な別のWEBアカウントがあります。")
    if others.filter(created_at__gt=account.created_at).exists():
        raise StaffChangeRefused("このWEBアカウントは再登録で置き換えられたため、再開できません。")
    account.is_active = True
    account.deactivated_at = None
    account.save(update_fields=["is_active", "deactivated_at"])
    audit_record(
        actor=actor,
        action="account_enable",
        member=member,
        detail={"login_id": account.login_id, "reason": reason},
        client_ip=client_ip,
    )


@transaction.atomic
def account_sessions_end_on_request(
    *, account: Account, actor: str, reason: str, client_ip: str | None = None
) -> int:
    """End every session of ``account`` (the member is logged out everywhere); returns how many."""
    reason = _reason_required(reason)
    ended = account_sessions_end(account=_locked(account))
    audit_record(
        actor=actor,
        action="account_sessions_end",
        member=account.member,
        detail={"login_id": account.login_id, "reason": reason, "sessions_ended": ended},
        client_ip=client_ip,
    )
    return ended


@transaction.atomic
def registration_completed_resend(
    *, account: Account, actor: str, reason: str, client_ip: str | None = None
) -> str:
    """Send the registration-completed notice of an active, registered account again; returns
    the address. Its context is the one ``account_creation.account_create`` gives (the login ID,
    whether paper stops, the login page), read as of now."""
    reason = _reason_required(reason)
    member = account.member
    if member is None or not account.is_active:
        raise StaffChangeRefused("有効なWEBアカウントがないため、登録完了メールは送れません。")
    if account.source != Account.Source.REGISTRATION:
        raise StaffChangeRefused(
            "本人認証サービスから移行したアカウントのため、WEB登録の完了メールはありません。"
        )
    if not account.email:
        raise StaffChangeRefused("WEBアカウントにメールアドレスがありません。")
    web_delivery = (
        web_delivery_refusal(member=member) is None
        and current_delivery_method(member=member) == "web"
    )
    entry = audit_record(
        actor=actor,
        action="registration_completed_resend",
        member=member,
        detail={"login_id": account.login_id, "reason": reason, "to": account.email},
        client_ip=client_ip,
    )
    email_enqueue(
        key=f"registration-completed:account-{account.pk}:resend:{entry.pk}",
        template=REGISTRATION_COMPLETED,
        to=account.email,
        context={
            "login_id": account.login_id,
            "web_delivery": web_delivery,
            "login_url": site_url(reverse("accounts:login")),
        },
    )
    return account.email
