"""The cost per request of the request metrics (core.metrics_middleware), in-process.

Calls the middleware round a view that does nothing, ``--requests`` times, against the same loop
without it, and prints the difference per request — in prometheus-client's multiprocess mode, as
``meisai serve`` runs it (values in memory-mapped files), and in-memory::

    uv run python bench/metrics_middleware.py                  # 200,000 requests, both modes
    uv run python bench/metrics_middleware.py --requests 20000  # quick
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time


def measure(requests: int) -> tuple[float, float]:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "meisai.settings")
    import django

    django.setup()
    from django.http import HttpResponse
    from django.test import RequestFactory
    from django.urls import resolve

    from meisai.core.metrics_middleware import RequestMetricsMiddleware

    response = HttpResponse("ok")
    request = RequestFactory().get("/statements/2025-05/")
    request.resolver_match = resolve("/statements/2025-05/")

    def view(_: object) -> HttpResponse:
        return response

    timed = RequestMetricsMiddleware(view)
    best_bare = best_timed = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(requests):
            view(request)
        best_bare = min(best_bare, time.perf_counter() - started)
        started = time.perf_counter()
        for _ in range(requests):
            timed(request)
        best_timed = min(best_timed, time.perf_counter() - started)
    return best_bare / requests, best_timed / requests


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:
        bare, timed = measure(options.requests)
        print(f"{bare * 1e6:.2f} {timed * 1e6:.2f}")
        return
    for mode in ("multiprocess", "in-memory"):
        env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
        with tempfile.TemporaryDirectory() as directory:
            if mode == "multiprocess":
                env["PROMETHEUS_MULTIPROC_DIR"] = directory
            output = subprocess.run(
                [sys.executable, __file__, "--child", "--requests", str(options.requests)],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split()
        bare, timed = float(output[-2]), float(output[-1])
        print(
            f"{mode:>12}: without {bare:6.2f} µs, with {timed:6.2f} µs per request: "
            f"the metrics cost {timed - bare:5.2f} µs ({options.requests:,} requests, best of 3)"
        )


if __name__ == "__main__":
    main()
