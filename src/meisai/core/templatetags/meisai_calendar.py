"""The business calendar for templates rendered without a request, such as emails.

Pages have ``calendar`` from the ``site`` context processor. An email's context is built by the
app that sends it, so its templates ask for the calendar themselves::

    {% load meisai_calendar %}{% business_calendar as calendar %}
    毎月{{ calendar.cutoff_day }}日までのご登録は…
"""

from __future__ import annotations

from django import template

from meisai.billing_calendar import CalendarTerms, calendar_terms

register = template.Library()


@register.simple_tag
def business_calendar() -> CalendarTerms:
    """The configured :class:`~meisai.billing_calendar.CalendarTerms`."""
    return calendar_terms()
