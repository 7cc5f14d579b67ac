"""The member's 日専連カードセールポイント: balance, points expiring and the history."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from meisai.core.member_access import member_required, request_member
from meisai.points.selectors import point_summary


@require_safe
@member_required()
def points_page(request: HttpRequest) -> HttpResponse:
    member = request_member(request)
    return render(request, "points/points.html", {"summary": point_summary(member=member)})
