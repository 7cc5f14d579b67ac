"""Values every template may use: the issuer, the demo outbox and the business calendar.

``calendar`` is :class:`meisai.billing_calendar.CalendarTerms`, so a page writes
``毎月{{ calendar.cutoff_day }}日`` or ``最大{{ calendar.history_months }}か月分`` and follows
the configuration; no template prints the cutoff, the window, the service start or the fee as
fixed text. Emails, rendered without a request, get the same object from the
``business_calendar`` tag of ``meisai_calendar``.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest

from meisai.billing_calendar import calendar_terms


def site(request: HttpRequest) -> dict[str, object]:
    return {
        "issuer_name": settings.MEISAI_ISSUER_NAME,
        "demo_outbox": settings.MEISAI_DEMO_OUTBOX,
        "calendar": calendar_terms(),
    }
