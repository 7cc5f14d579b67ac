"""What the top page shows a member, read in as few queries as the rules allow.

The top page is where every member lands after logging in, on the 13th too, and nothing of it
is cached. It used to read the member, whether they still hold a card, their latest delivery
preference, the latest statement and the points in seven queries, each compiled by the ORM on
every request. Now the member comes with the card rule (``members.standing``) and the latest
preference (``members.delivery``) as columns of one query, and that query, the latest statement
and the points' two reads are compiled once per connection (``core/compiled_query.py``). The
rules stay where they are: this module only asks them in one go.
"""

from __future__ import annotations

from typing import Any

from django.http import Http404

from meisai.core.compiled_query import CompiledQuery
from meisai.members import delivery, standing
from meisai.members.models import Member
from meisai.points.selectors import campaigns_promised, point_summary
from meisai.statements import selectors

_member = CompiledQuery(
    lambda member_id: Member.objects.filter(pk=member_id).annotate(
        without_card=standing.without_card_annotation(),
        preference_method=delivery.latest_preference("method"),
        preference_recorded_at=delivery.latest_preference("recorded_at"),
    ),
    member_id=-1,
)


def top_page_context(*, member_id: int) -> dict[str, Any]:
    """The template context of ``statements/top.html`` for the member ``member_id``."""
    found = _member(member_id=member_id)
    if not found:
        raise Http404
    member = found[0]
    # A member without a card has no statement coming: the page offers nothing about one.
    without_card: bool = member.without_card  # type: ignore[attr-defined]
    since = (
        None
        if without_card
        else delivery.delivery_since_of(
            member.preference_method,  # type: ignore[attr-defined]
            member.preference_recorded_at,  # type: ignore[attr-defined]
        )
    )
    return {
        "member": member,
        "without_card": without_card,
        "latest": selectors.latest_published_statement(member=member.pk),
        "points": point_summary(member=member.pk),
        "next_delivery": None
        if since is None
        else selectors.next_delivery(member=member, current=since.method),
        "delivery_since": since,
        "campaigns_promised": [] if without_card else campaigns_promised(member=member),
    }
