"""Whether a member still holds a card: the rule for 「カードは解約されています」 (SPEC 3.9, 4.4).

A member holds no card any more when the core system sent them as cancelled (退会), or when it
sent cards for them and every one is cancelled (解約). Such a member may still log in and read
the statements inside the window, but no statement is coming, and their 本人認証サービス
enrolment is revoked (``accounts.enrollments``). A member the core system sent no card for at
all is not taken to be cancelled: there is nothing to have cancelled.

:func:`members_without_card` is the set (for the member import), :func:`without_card_annotation`
the same rule as a column of a member query (the top page asks it of the member it reads).
"""

from __future__ import annotations

from django.db.models import BooleanField, Exists, ExpressionWrapper, OuterRef, Q, QuerySet

from meisai.members.models import Card, Member


def _holds_no_card() -> Q:
    """The rule, as a condition on a member row (the pages annotate it, the import filters)."""
    any_card = Card.objects.filter(member=OuterRef("pk"))
    active_card = any_card.filter(is_active=True)
    return Q(status=Member.Status.CANCELLED) | (Exists(any_card) & ~Exists(active_card))


def members_without_card() -> QuerySet[Member]:
    """Every member who holds no active card any more (cancelled, or all cards cancelled)."""
    return Member.objects.filter(_holds_no_card())


def without_card_annotation() -> ExpressionWrapper:
    """The same rule as a boolean column of a member query (``.annotate(without_card=…)``), for
    a page that reads the member and this in one query."""
    return ExpressionWrapper(_holds_no_card(), output_field=BooleanField())
