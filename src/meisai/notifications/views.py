"""The demo outbox: the mails meisai sent, readable in the browser (embedded default only)."""

from __future__ import annotations

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from meisai.notifications.models import OutboxMessage


def _demo_only() -> None:
    if not settings.MEISAI_DEMO_OUTBOX:
        raise Http404


def outbox_list(request: HttpRequest) -> HttpResponse:
    _demo_only()
    messages = OutboxMessage.objects.order_by("-created_at", "-id")[:200]
    return render(request, "notifications/outbox_list.html", {"outbox": messages})


def outbox_detail(request: HttpRequest, pk: int) -> HttpResponse:
    _demo_only()
    message = get_object_or_404(OutboxMessage, pk=pk)
    return render(request, "notifications/outbox_detail.html", {"message": message})
