"""Values every template may use."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def site(request: HttpRequest) -> dict[str, object]:
    return {
        "issuer_name": settings.MEISAI_ISSUER_NAME,
        "demo_outbox": settings.MEISAI_DEMO_OUTBOX,
    }
