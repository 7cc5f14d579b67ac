"""The sessions an account is logged in with, recorded so that they can be ended: a password
change ends the others, a password reset and a re-registration end them all.

Ending sessions is always part of a larger change (those three), so the audit row is that
change's, with the number of sessions ended in its detail where it tells the operator something.
"""

from __future__ import annotations

from importlib import import_module

from django.conf import settings

from meisai.accounts.models import Account, AccountSession
from meisai.clock import now


def account_session_record(*, account: Account, session_key: str) -> None:
    """Record a session just logged in. Logging in always gives the session a new key
    (``auth.login`` cycles or flushes it), so the row is new: a plain ``INSERT``, not a read,
    two savepoints and a write as ``update_or_create`` would cost on every login."""
    AccountSession.objects.create(account=account, session_key=session_key, created_at=now())


def account_sessions_end(*, account: Account, keep: str | None = None) -> int:
    """End every session of ``account`` (but ``keep``). Returns how many were ended."""
    store = import_module(settings.SESSION_ENGINE).SessionStore
    rows = AccountSession.objects.filter(account=account)
    if keep:
        rows = rows.exclude(session_key=keep)
    keys = list(rows.values_list("session_key", flat=True))
    for key in keys:
        store(session_key=key).delete()
    rows.delete()
    return len(keys)
