"""Security events (SPEC 3.10): what happened to an account, written as one structured line of
the ``meisai.security`` log (JSON in production: event, account, member, client address,
request id) and, when the event is about a known member, as a ``SecurityEvent`` row that staff
see on the member's page.

The client address and the request id come from the request being served
(``core.clients.client_var``, ``core.logging.request_id_var``), ``-`` in a command or a task, so
services record events without being handed the request. Events name what happened, never the
secret involved: no card number, password, link or code is ever passed here (and the log's
``SensitiveDataFilter`` masks card numbers and drops password fields if one were).

The kinds, in one place, so that a page or a test can list them.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from meisai.audit.models import SecurityEvent
from meisai.clock import now
from meisai.core.clients import client_var
from meisai.core.logging import request_id_var
from meisai.core.metrics import security_event_count

if TYPE_CHECKING:
    from meisai.members.models import Member

security_log = logging.getLogger("meisai.security")

#: kind → how the member's page names it.
KINDS: dict[str, str] = {
    "login": "ログイン",
    "login_failed": "ログイン失敗",
    "login_code_failed": "確認コード誤り",
    "account_locked": "ログインロック",
    "throttled": "アクセス制限",
    "password_reset_requested": "パスワード再設定の申込",
    "password_reset": "パスワード再設定",
    "password_changed": "パスワード変更",
    "email_change_requested": "メールアドレス変更の申込",
    "email_changed": "メールアドレス変更",
    "personal_message_changed": "パーソナルメッセージ変更",
    "login_id_reminder": "ログインIDのお知らせ",
    "registration_failed": "登録時の本人確認失敗",
    "registration_locked": "登録手続きの停止(カード)",
    "account_registered": "WEBサービス登録",
    "reregistration_held": "再登録(切替待ち)",
    "reregistration_ended": "再登録の取消・終了",
    "statement_viewed": "明細の閲覧",
    "statement_pdf": "明細PDFのダウンロード",
    "statement_csv": "明細CSVのダウンロード",
}

#: Kinds that are routine (a member using the service); the others are written as warnings.
ROUTINE = frozenset(
    {"login", "statement_viewed", "statement_pdf", "statement_csv", "account_registered"}
)


def security_event(
    kind: str,
    *,
    member: Member | None = None,
    member_id: int | None = None,
    login_id: str = "",
    **detail: Any,
) -> SecurityEvent | None:
    """Log the event ``kind`` and, when the member is known (``member``, or only its
    ``member_id`` where a page has not loaded it), keep it as a row of that member.

    ``login_id`` is the account's (or, for a failure, the ID typed, which is logged but stored
    only with a known member); ``detail`` holds what tells the story (a month, a reason, a
    scope), never a secret. Its keys are fields of the log line too, so they must not be
    ``LogRecord`` attribute names.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown security event {kind!r}")
    client, request_id = client_var.get(), request_id_var.get()
    if member is not None:
        member_id = member.pk
    fields = {
        **detail,
        "event": kind,
        "login_id": login_id[:64],
        "member_id": member_id,
        "client": client,
        "request_id": request_id,
    }
    level = logging.INFO if kind in ROUTINE else logging.WARNING
    security_log.log(level, "%s %s %s", kind, login_id[:64] or "-", client, extra=fields)
    # Logins, throttles and lockouts are counted here, once, as every one passes here.
    security_event_count(kind, detail)
    if member_id is None:
        return None
    return SecurityEvent.objects.create(
        at=now(),
        kind=kind,
        member_id=member_id,
        login_id=login_id[:20],
        client=client[:64],
        request_id=request_id[:64],
        detail=detail,
    )
