"""The Redis cache backend that holds rendered statements and sessions in production."""

from __future__ import annotations

import uuid

import pytest

from meisai.core.cache import RedisCache

REDIS = "redis://127.0.0.1:6379/13"

pytestmark = pytest.mark.redis


def test_one_redis_client_per_pool_and_values_round_trip():
    cache = RedisCache(REDIS, {"KEY_PREFIX": f"test-{uuid.uuid4().hex}"})
    client = cache._cache.get_client(write=True)

    cache.set("statement-body:v1:7:2025-04", "<h1>2025年4月請求分のご請求明細</h1>", 30)

    assert cache.get("statement-body:v1:7:2025-04") == "<h1>2025年4月請求分のご請求明細</h1>"
    assert cache._cache.get_client(write=False) is client
    assert cache._cache.get_client(write=True) is client
    cache.delete("statement-body:v1:7:2025-04")
    assert cache.get("statement-body:v1:7:2025-04") is None
