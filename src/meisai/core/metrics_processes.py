"""Multiprocess set-up of the metrics for ``meisai serve`` (gunicorn) and ``meisai worker``
(Celery): see ``core.metrics`` for why.

prometheus-client decides at import whether it writes values to files, from
``PROMETHEUS_MULTIPROC_DIR``; both commands therefore set it before they replace themselves with
gunicorn or Celery, in whose processes meisai's modules are first imported. Each start gets a
fresh, empty directory of its own: values left by an earlier run (or another server on the same
machine) would otherwise be added to this one's, and a counter would jump. The directory is
removed when the server exits (``directory_remove``); one left by a crash sits in the system's
temporary directory until it is cleaned.
"""

from __future__ import annotations

import os
import shutil
import tempfile

VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def directory_prepare(server: str) -> str:
    """Make this server's empty metrics directory and name it in the environment its processes
    inherit; returns it."""
    directory = tempfile.mkdtemp(prefix=f"meisai-metrics-{server}-")
    os.environ[VARIABLE] = directory
    return directory


def process_dead(pid: int) -> None:
    """A child process ended: drop what only a live process may report (live gauges); its
    counters and histograms stay in the sums."""
    from prometheus_client import multiprocess

    if os.environ.get(VARIABLE):
        multiprocess.mark_process_dead(pid)


def directory_remove() -> None:
    directory = os.environ.get(VARIABLE)
    if directory and os.path.basename(directory).startswith("meisai-metrics-"):
        shutil.rmtree(directory, ignore_errors=True)
