"""Notices of a change to an account, sent to its address on file (the old address, for an
email change), so that a member learns of a change they did not make themselves."""

from __future__ import annotations

import secrets

from meisai.accounts.models import Account
from meisai.clock import jst, now
from meisai.notifications.services import email_enqueue


def account_notice_send(*, account: Account, template: str) -> None:
    """Queue the notice ``template`` to the account's address; nothing when it has none."""
    if account.email:
        email_enqueue(
            key=f"{template}:{account.pk}:{secrets.token_hex(8)}",
            template=template,
            to=account.email,
            context={"at": jst(now()), "login_id": account.login_id},
        )
