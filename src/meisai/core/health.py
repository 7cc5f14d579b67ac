"""Health checks for load balancers and orchestrators.

``/healthz``: the process is up and serving (no database, so a database outage does not get
every web node restarted). ``/readyz``: this node can do its work — the database answers a query
and, when ``REDIS_URL`` is set, the broker answers a ping; 503 with the failing part otherwise.
"""

from __future__ import annotations

import logging

import redis
from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def database_ready() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as error:
        logger.warning("readyz: database not reachable: %s", error)
        return "unavailable"
    return "ok"


def broker_ready() -> str:
    url = settings.CELERY_BROKER_URL
    if not url.startswith(("redis://", "rediss://")):
        return "inline"
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
        try:
            client.ping()
        finally:
            client.close()
    except redis.RedisError as error:
        logger.warning("readyz: broker not reachable: %s", error)
        return "unavailable"
    return "ok"


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    checks = {"database": database_ready(), "broker": broker_ready()}
    ready = "unavailable" not in checks.values()
    return JsonResponse(
        {"status": "ok" if ready else "unavailable", "checks": checks},
        status=200 if ready else 503,
    )
