"""Celery tasks of accounts: task wrappers only (the rules are in the services they call)."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from meisai.accounts.reregistration import reregistrations_take_effect
from meisai.core.tasks import TASK_OPTIONS


@shared_task(name="meisai.reregistrations_take_effect", **TASK_OPTIONS)
def reregistrations_take_effect_task(self: Any) -> dict[str, int]:
    """Re-registrations whose wait is over take effect; each is its own transaction, so a
    second run finds nothing left to do."""
    return {"took_effect": reregistrations_take_effect()}
