"""``GET /metrics`` on every web node: Prometheus's scrape (docs/deployment.md, "Metrics").

Not public: it answers only a request that carries ``Authorization: Bearer MEISAI_METRICS_TOKEN``
(401 otherwise), and without a token configured it does not exist (404), so an installation
that never set one shows nothing to anybody.
"""

from __future__ import annotations

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST

from meisai.core.metrics import bearer_token_matches, exposition


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    token = settings.MEISAI_METRICS_TOKEN
    if not token:
        raise Http404
    if not bearer_token_matches(request.headers.get("Authorization", ""), token):
        return HttpResponse(
            "401 Unauthorized\n",
            status=401,
            content_type="text/plain; charset=utf-8",
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    return HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)
