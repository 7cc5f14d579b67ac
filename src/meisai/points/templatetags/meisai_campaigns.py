"""The campaigns for the pages that offer them (the top page of a paper member, registration,
the paper preference), so that each of those pages asks the same selector::

    {% load meisai_campaigns %}{% campaigns_open as campaigns %}
    {% include "points/_campaigns.html" %}
"""

from __future__ import annotations

from django import template

from meisai.points.selectors import CampaignTerms
from meisai.points.selectors import campaigns_open as _campaigns_open

register = template.Library()


@register.simple_tag
def campaigns_open() -> list[CampaignTerms]:
    """The campaigns whose registration window is open now (``points.selectors``)."""
    return _campaigns_open()
