"""The demo outbox: the mails meisai sent, readable in the browser (embedded default only).

Newcomers click through registration and the login code here, so a secret message's body is
opened for this page. ``MEISAI_DEMO_OUTBOX`` is off in production, where these pages are 404.
"""

from __future__ import annotations

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from meisai.notifications.sealing import SealBroken
from meisai.notifications.selectors import outbox_message, outbox_recent


def _demo_only() -> None:
    if not settings.MEISAI_DEMO_OUTBOX:
        raise Http404


def outbox_list(request: HttpRequest) -> HttpResponse:
    _demo_only()
    return render(request, "notifications/outbox_list.html", {"outbox": outbox_recent()})


def outbox_detail(request: HttpRequest, pk: int) -> HttpResponse:
    _demo_only()
    message = outbox_message(pk=pk)
    if message is None:
        raise Http404
    try:
        body = message.body_text
    except SealBroken:
        # Sealed under another SECRET_KEY (the demo's key changed): nothing to show.
        body = ""
    return render(request, "notifications/outbox_detail.html", {"message": message, "body": body})
