"""The one clock of meisai. Tests move it with time-machine; nothing else calls ``datetime.now``."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from django.utils import timezone

JST = ZoneInfo("Asia/Tokyo")


def now() -> dt.datetime:
    """The current moment, timezone-aware (UTC)."""
    return timezone.now()


def today_jst() -> dt.date:
    """Today's business date in Japan."""
    return now().astimezone(JST).date()


def jst(moment: dt.datetime) -> dt.datetime:
    """A moment seen in Japan time, for display and business dates."""
    return moment.astimezone(JST)
