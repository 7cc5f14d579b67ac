"""What every meisai task has in common, and the daily housekeeping tasks.

Every task is safe to run twice (the services it calls are idempotent), acknowledges its
message only when it has finished (``acks_late``: a worker that dies mid-task leaves the message
for another), retries with exponential backoff when the database is briefly unreachable, and
records its state as a ``Job`` (``meisai.core.jobs``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from celery import shared_task
from django.core.management import call_command
from django.db import InterfaceError, OperationalError

from meisai.clock import now

#: Errors worth retrying: the database restarting, a failover, a dropped connection.
DATABASE_ERRORS: tuple[type[Exception], ...] = (OperationalError, InterfaceError)

#: Options shared by every task; ``retry_backoff`` seconds double per retry up to the maximum.
TASK_OPTIONS: dict[str, Any] = {
    "bind": True,
    "acks_late": True,
    "reject_on_worker_lost": True,
    "autoretry_for": DATABASE_ERRORS,
    "retry_backoff": 5,
    "retry_backoff_max": 600,
    "retry_jitter": True,
    "max_retries": 8,
    "ignore_result": True,
}

#: Expired single-use links and one-time codes are kept this long for support questions.
EXPIRED_TOKEN_GRACE = dt.timedelta(days=7)


@shared_task(name="meisai.sessions_clear", **TASK_OPTIONS)
def sessions_clear(self: Any) -> None:
    """Django's ``clearsessions``: delete expired sessions."""
    call_command("clearsessions")


@shared_task(name="meisai.tokens_clear", **TASK_OPTIONS)
def tokens_clear(self: Any) -> dict[str, int]:
    """Delete emailed links and one-time codes that expired more than a week ago."""
    from meisai.accounts.models import AccountToken, LoginChallenge

    before = now() - EXPIRED_TOKEN_GRACE
    tokens, _ = AccountToken.objects.filter(expires_at__lt=before).delete()
    codes, _ = LoginChallenge.objects.filter(expires_at__lt=before).delete()
    return {"tokens": tokens, "codes": codes}
