"""Every schedule of meisai, in one place: the Celery beat schedule ``meisai scheduler`` runs.

Times are Japan time (``CELERY_TIMEZONE``). Each entry only asks for a task; the task decides from
the business calendar whether there is anything to do, so running beat on a day with nothing due,
or twice, is harmless. Run exactly one scheduler per installation.
"""

from __future__ import annotations

from typing import Any

from celery.schedules import crontab

BEAT_SCHEDULE: dict[str, dict[str, Any]] = {
    # 請求額確定 (SPEC 3.6): every morning, from the confirmation day (the 13th or the next
    # business day, billing_calendar.confirmation_date) publish a closed month, or tell the
    # operators that it is not closed yet. Hourly repeats catch a close finished later that day.
    "confirmation-day": {
        "task": "meisai.confirmation_day",
        "schedule": crontab(minute=0, hour="6-20"),
    },
    # The outbox: mail that could not be delivered is retried when its backoff ends.
    "outbox-retry": {
        "task": "meisai.outbox_send",
        "schedule": crontab(minute="*"),
    },
    # Re-registrations whose wait is over take effect (SPEC 3.4; a login with the new ID does
    # it for that ID at once).
    "reregistrations": {
        "task": "meisai.reregistrations_take_effect",
        "schedule": crontab(minute="*"),
    },
    # Housekeeping at night: expired sessions, expired emailed links and one-time codes.
    "sessions-clear": {
        "task": "meisai.sessions_clear",
        "schedule": crontab(minute=30, hour=3),
    },
    "tokens-clear": {
        "task": "meisai.tokens_clear",
        "schedule": crontab(minute=40, hour=3),
    },
}
