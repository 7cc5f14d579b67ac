"""Maintenance windows (``settings.MEISAI_MAINTENANCE_WINDOWS``): during one, registration and
login answer 503 with Retry-After. The flyer's example is the 2024-11-13 02:00–05:00 switch-over.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable

from django.conf import settings


def _windows(specs: Iterable[str]) -> list[tuple[dt.datetime, dt.datetime]]:
    windows = []
    for spec in specs:
        start, _, end = spec.strip().partition("/")
        first, last = dt.datetime.fromisoformat(start), dt.datetime.fromisoformat(end)
        if first.tzinfo is None or last.tzinfo is None:
            raise ValueError(f"maintenance window needs an offset (+09:00): {spec!r}")
        windows.append((first, last))
    return windows


def maintenance_window_at(moment: dt.datetime) -> tuple[dt.datetime, dt.datetime] | None:
    """The window ``moment`` falls in (start inclusive, end exclusive), or None."""
    for start, end in _windows(settings.MEISAI_MAINTENANCE_WINDOWS):
        if start <= moment < end:
            return start, end
    return None


def retry_after_seconds(moment: dt.datetime, end: dt.datetime) -> int:
    return max(1, math.ceil((end - moment).total_seconds()))
