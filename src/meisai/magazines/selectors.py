"""Reads of member-magazine issues for the member page."""

from __future__ import annotations

from django.db.models import QuerySet

from meisai.magazines.models import MagazineIssue


def magazine_issues() -> QuerySet[MagazineIssue]:
    """Every uploaded issue, newest month first."""
    return MagazineIssue.objects.order_by("-month", "-id")


def magazine_issue(*, pk: int) -> MagazineIssue | None:
    """One uploaded issue, or None."""
    return MagazineIssue.objects.filter(pk=pk).first()
