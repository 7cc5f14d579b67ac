"""Whether a member still holds a card: the rule for 「カードは解約されています」 (SPEC 3.9, 4.4).

A member holds no card any more when the core system sent them as cancelled (退会), or when it
sent cards for them and every one is cancelled (解約). Such a member may still log in and read
the statements inside the window, but no statement is coming, and their 本人認証サービス
enrolment is revoked (``accounts.enrollments``). A member the core system sent no card for at
all is not taken to be cancelled: there is nothing to have cancelled.

:func:`members_without_card` is the set (for the member import), :func:`member_without_card`
the same rule asked of one member (for the pages).
"""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Q, QuerySet

from meisai.members.models import Card, Member


def members_without_card() -> QuerySet[Member]:
    """Every member who holds no active card any more (cancelled, or all cards cancelled)."""
    any_card = Card.objects.filter(member=OuterRef("pk"))
    active_card = any_card.filter(is_active=True)
    return Member.objects.filter(
        Q(status=Member.Status.CANCELLED) | (Exists(any_card) & ~Exists(active_card))
    )


def member_without_card(*, member: Member) -> bool:
    """Whether ``member`` holds no active card any more (the rule of :func:`members_without_card`)."""
    return members_without_card().filter(pk=member.pk).exists()
