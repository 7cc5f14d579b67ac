"""お客様情報 → 紙明細停止選択 (SPEC 1, 3.2): choose, 変更 → confirmation, 確定.

Two POSTs, each with Django's CSRF token: ``step=confirm`` shows what will happen and from
which billing month; ``step=commit`` records it through ``delivery_preference_change``.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext, gettext_lazy
from django.views.decorators.http import require_http_methods

from meisai.billing_calendar import first_month_affected
from meisai.clock import now
from meisai.core.member_access import member_required, request_member
from meisai.members.delivery import current_delivery_method, web_delivery_refusal
from meisai.members.models import DeliveryPreference
from meisai.members.services import DeliveryChangeRefused, delivery_preference_change
from meisai.statements.formatting import delivery_name, statement_month

Method = DeliveryPreference.Method

#: The flyer's words for each choice.
CHOICES = {
    Method.WEB: gettext_lazy("紙明細を停止する"),
    Method.PAPER: gettext_lazy("紙明細を希望する"),
}


@require_http_methods(["GET", "HEAD", "POST"])
@member_required()
def paper_preference(request: HttpRequest) -> HttpResponse:
    member = request_member(request)
    current = current_delivery_method(member=member)
    refusal = web_delivery_refusal(member=member)
    context: dict[str, object] = {
        "current": current,
        "current_label": delivery_name(current),
        "refusal": refusal,
        "choices": CHOICES,
        "first_month": first_month_affected(now()),
    }
    if request.method != "POST":
        return render(request, "members/paper.html", context)

    method = request.POST.get("method", "")
    step = request.POST.get("step", "")
    error = None
    if method not in CHOICES:
        error = gettext("ご希望を選んでください。")
    elif method == current:
        error = (
            gettext("現在すでに紙明細を停止しています。")
            if method == Method.WEB
            else gettext("現在すでに紙の明細書をお届けする設定です。")
        )
    elif method == Method.WEB and refusal:
        error = refusal
    if error:
        return render(request, "members/paper.html", {**context, "error": error}, status=400)

    if step == "commit":
        try:
            _, month = delivery_preference_change(
                member=member,
                method=method,
                source=DeliveryPreference.Source.MEMBER,
                actor=str(request.user),
            )
        except DeliveryChangeRefused as refused:
            return render(
                request, "members/paper.html", {**context, "error": str(refused)}, status=400
            )
        if method == Method.WEB:
            messages.success(
                request,
                gettext("紙明細の停止を承りました。%(month)sからWEB明細になります。")
                % {"month": statement_month(month)},
            )
        else:
            messages.success(
                request,
                gettext("紙明細のご希望を承りました。%(month)sから紙の明細書をお届けします。")
                % {"month": statement_month(month)},
            )
        return redirect("members:paper")
    return render(
        request,
        "members/paper_confirm.html",
        {**context, "method": method, "choice_label": CHOICES[Method(method)]},
    )
