"""What an operator may do from a member's page, on the member's request: each action takes a
reason and calls the domain's service, which writes the change and its audit row (the staff
login, the client address, the member, the reason) in one transaction.

| action | service |
|---|---|
| ``login_unlock`` | ``accounts.unlocks.account_login_unlock`` |
| ``registration_unlock`` | ``accounts.unlocks.registration_unlock`` |
| ``registration_mail`` | ``accounts.staff_changes.registration_completed_resend`` |
| ``statement_mail`` | ``statements.publish.statement_confirmed_resend`` |
| ``delivery_change`` | ``members.services.delivery_preference_change`` (source ``operator``) |
| ``sessions_end`` | ``accounts.staff_changes.account_sessions_end_on_request`` |
| ``account_disable`` / ``account_enable`` | ``accounts.staff_changes`` |

"Registration mail" is the registration-completed notice of the member's active, registered
account (its login ID and the way to log in). The other registration emails carry the
registration's links, which only their hashes remember and which no staff member may hold
(SPEC 3.10); a member half-way through a registration, or whose re-registration is pending,
gets nothing from here: they start again or wait (the page shows when it takes effect).

Auditors never reach these: the page shows them no buttons and the view answers 403.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django import forms

from meisai.accounts import staff_changes
from meisai.accounts.models import Account
from meisai.accounts.staff_changes import StaffChangeRefused, member_account
from meisai.accounts.unlocks import UnlockRefused, account_login_unlock, registration_unlock
from meisai.backoffice.member_forms import DeliveryChangeForm, ReasonForm, StatementMailForm
from meisai.members.models import DeliveryPreference, Member
from meisai.members.services import DeliveryChangeRefused, delivery_preference_change
from meisai.statements.publish import PublishRefused, statement_confirmed_resend

#: The refusals of the services, whose message the operator reads.
REFUSALS = (StaffChangeRefused, UnlockRefused, DeliveryChangeRefused, PublishRefused)


@dataclass(frozen=True)
class Staff:
    """Who acts, as the audit row names them."""

    login_id: str
    client_ip: str | None


def _account(member: Member) -> Account:
    account = member_account(member=member)
    if account is None:
        raise StaffChangeRefused("この会員にはWEBアカウントがありません。")
    return account


def member_login_unlock(*, member: Member, staff: Staff, reason: str) -> str:
    account = _account(member)
    cleared = account_login_unlock(
        login_id=account.login_id, actor=staff.login_id, reason=reason, client_ip=staff.client_ip
    )
    return f"ログインIDのロックを解除しました(失敗記録{cleared}件を消去)。"


def member_registration_unlock(*, member: Member, staff: Staff, reason: str) -> str:
    cleared = registration_unlock(
        member=member, actor=staff.login_id, reason=reason, client_ip=staff.client_ip
    )
    return f"登録手続きの停止を解除しました(失敗記録{cleared}件を消去)。"


def member_registration_mail_resend(*, member: Member, staff: Staff, reason: str) -> str:
    to = staff_changes.registration_completed_resend(
        account=_account(member), actor=staff.login_id, reason=reason, client_ip=staff.client_ip
    )
    return f"登録完了メールを{to}へ再送しました。"


def member_statement_mail_resend(*, member: Member, staff: Staff, reason: str, month: Any) -> str:
    to = statement_confirmed_resend(
        member=member, month=month, actor=staff.login_id, reason=reason, client_ip=staff.client_ip
    )
    return f"{month.label}の請求額確定メールを{to}へ再送しました。"


def member_delivery_change(*, member: Member, staff: Staff, reason: str, method: str) -> str:
    _, first_month = delivery_preference_change(
        member=member,
        method=method,
        source=DeliveryPreference.Source.OPERATOR,
        actor=staff.login_id,
        reason=reason,
        client_ip=staff.client_ip,
    )
    label = DeliveryPreference.Method(method).label
    return f"明細の受け取り方を{label}に変更しました({first_month.label}から反映)。"


def member_sessions_end(*, member: Member, staff: Staff, reason: str) -> str:
    ended = staff_changes.account_sessions_end_on_request(
        account=_account(member), actor=staff.login_id, reason=reason, client_ip=staff.client_ip
    )
    return f"ログイン中のセッションを{ended}件終了しました。"


def member_account_disable(*, member: Member, staff: Staff, reason: str) -> str:
    ended = staff_changes.account_disable(
        account=_account(member), actor=staff.login_id, reason=reason, client_ip=staff.client_ip
    )
    return f"WEBアカウントを停止しました(セッション{ended}件を終了)。"


def member_account_enable(*, member: Member, staff: Staff, reason: str) -> str:
    staff_changes.account_enable(
        account=_account(member), actor=staff.login_id, reason=reason, client_ip=staff.client_ip
    )
    return "WEBアカウントを再開しました。"


@dataclass(frozen=True)
class MemberAction:
    label: str
    form: type[forms.Form]
    run: Callable[..., str]


#: name (the URL's) → the action. The form's fields besides ``reason`` are the run's arguments.
ACTIONS: dict[str, MemberAction] = {
    "login_unlock": MemberAction("ログインロック解除", ReasonForm, member_login_unlock),
    "registration_unlock": MemberAction(
        "登録手続きの停止解除", ReasonForm, member_registration_unlock
    ),
    "registration_mail": MemberAction(
        "登録完了メール再送", ReasonForm, member_registration_mail_resend
    ),
    "statement_mail": MemberAction(
        "請求額確定メール再送", StatementMailForm, member_statement_mail_resend
    ),
    "delivery_change": MemberAction(
        "明細の受け取り方の変更", DeliveryChangeForm, member_delivery_change
    ),
    "sessions_end": MemberAction("全セッション終了", ReasonForm, member_sessions_end),
    "account_disable": MemberAction("WEBアカウント停止", ReasonForm, member_account_disable),
    "account_enable": MemberAction("WEBアカウント再開", ReasonForm, member_account_enable),
}


def member_action_run(*, name: str, member: Member, staff: Staff, cleaned: dict[str, Any]) -> str:
    """Run the action ``name`` with a valid form's ``cleaned`` data; returns the success
    message, or raises one of :data:`REFUSALS` with the reason it was refused."""
    return ACTIONS[name].run(member=member, staff=staff, **cleaned)
