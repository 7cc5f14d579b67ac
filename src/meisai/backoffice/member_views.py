"""The console's member pages: the search (会員検索), one page per member (会員詳細) and the
actions taken from it. Thin: each view parses the request and calls one selector or service
(``member_search``, ``member_page``, ``member_actions``), which write their own audit rows."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.views.decorators.http import require_POST, require_safe

from meisai.backoffice.access import staff_required
from meisai.backoffice.member_actions import (
    ACTIONS,
    REFUSALS,
    Staff,
    member_action_run,
)
from meisai.backoffice.member_forms import REASON_MAX_LENGTH, MemberSearchForm
from meisai.backoffice.member_page import member_page
from meisai.backoffice.member_search import RESULT_LIMIT, member_search
from meisai.backoffice.roles import ACTING
from meisai.core.clients import client_address
from meisai.members.models import Member


def _staff(request: HttpRequest) -> Staff:
    return Staff(login_id=request.user.get_username(), client_ip=client_address(request))


@staff_required()
@require_safe
def member_search_view(request: HttpRequest) -> HttpResponse:
    form = MemberSearchForm(request.GET)
    result = None
    if form.is_valid() and form.cleaned_data["q"]:
        staff = _staff(request)
        result = member_search(
            query=form.cleaned_data["q"], actor=staff.login_id, client_ip=staff.client_ip
        )
    return TemplateResponse(
        request,
        "backoffice/member_search.html",
        {"form": form, "result": result, "limit": RESULT_LIMIT},
    )


@staff_required()
@require_safe
def member_detail_view(request: HttpRequest, member_no: str) -> HttpResponse:
    staff = _staff(request)
    page = member_page(member_no=member_no, actor=staff.login_id, client_ip=staff.client_ip)
    if page is None:
        raise Http404
    return TemplateResponse(
        request,
        "backoffice/member_detail.html",
        {
            "page": page,
            "can_act": request.staff_role in ACTING,  # type: ignore[attr-defined]
            "reason_max_length": REASON_MAX_LENGTH,
        },
    )


@staff_required(*ACTING)
@require_POST
def member_action_view(request: HttpRequest, member_no: str, action: str) -> HttpResponseBase:
    chosen = ACTIONS.get(action)
    member = Member.objects.filter(member_no=member_no).first()
    if chosen is None or member is None:
        raise Http404
    form = chosen.form(request.POST)
    if not form.is_valid():
        problems = " ".join(str(error) for errors in form.errors.values() for error in errors)
        messages.error(request, f"{chosen.label}: {problems}")
    else:
        try:
            done = member_action_run(
                name=action, member=member, staff=_staff(request), cleaned=form.cleaned_data
            )
        except REFUSALS as refusal:
            messages.error(request, f"{chosen.label}: {refusal}")
        else:
            messages.success(request, done)
    return redirect("backoffice:member_detail", member_no=member.member_no)


urlpatterns = [
    path("members/", member_search_view, name="member_search"),
    path("members/<str:member_no>/", member_detail_view, name="member_detail"),
    path("members/<str:member_no>/<slug:action>/", member_action_view, name="member_action"),
]
