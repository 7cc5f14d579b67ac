"""Progress of long work (imports, close, publish, the sender).

In a terminal: a rich progress bar with counts, rate and time left. Elsewhere (a worker, CI, a
pipe): a plain log line every ``log_every`` seconds. Callers use one interface::

    with progress_report("取込 usage", total=rows) as advance:
        for chunk in chunks:
            ...
            advance(len(chunk))
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Callable, Iterator

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

logger = logging.getLogger("meisai.progress")


@contextlib.contextmanager
def progress_report(
    label: str, *, total: int | None, log_every: float = 10.0, enabled: bool = True
) -> Iterator[Callable[[int], None]]:
    """Yield ``advance(n)``; show a bar on a terminal, log periodic lines otherwise."""
    if enabled and sys.stderr.isatty():
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            transient=False,
        ) as bar:
            task = bar.add_task(label, total=total)
            yield lambda n: bar.advance(task, n)
        return

    started = time.monotonic()
    state = {"done": 0, "last": started}

    def advance(n: int) -> None:
        state["done"] += n
        moment = time.monotonic()
        if enabled and moment - state["last"] >= log_every:
            state["last"] = moment
            _log(label, state["done"], total, moment - started)

    yield advance
    if enabled:
        _log(label, int(state["done"]), total, time.monotonic() - started, finished=True)


def _log(
    label: str, done: float, total: int | None, elapsed: float, finished: bool = False
) -> None:
    rate = done / elapsed if elapsed > 0 else 0.0
    if finished:
        logger.info("%s: done %d in %.1fs (%.0f/s)", label, done, elapsed, rate)
    elif total:
        left = (total - done) / rate if rate else float("inf")
        logger.info(
            "%s: %d/%d (%.0f%%) %.0f/s, about %.0fs left",
            label,
            done,
            total,
            100 * done / total,
            rate,
            left,
        )
    else:
        logger.info("%s: %d so far, %.0f/s", label, done, rate)
