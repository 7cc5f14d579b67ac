"""A local SMTP sink for benchmarks and the production tests: accepts every message, keeps count.

In a process (tests)::

    with SmtpSink(port=0) as sink:          # port 0: a free port, see sink.port
        ...
        sink.stop(); ...; sink.start()       # "the SMTP server is away for a while"
        assert sink.count_by_recipient() == {...}

Standalone (benchmarks, so the sink does not share the measured process)::

    python bench/smtp_sink.py --port 2525   # prints the count and rate on SIGINT/SIGTERM

Only listens on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import collections
import email.header
import email.parser
import signal
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

from aiosmtpd.controller import Controller


@dataclass(frozen=True)
class Received:
    recipients: tuple[str, ...]
    message_id: str
    subject: str


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_RCPT(  # noqa: N802
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        refusal = self.sink.refuse.get(address)
        if refusal:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.sink._receive(envelope)
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class SmtpSink:
    """An aiosmtpd server in a thread that records what it receives."""

    def __init__(
        self, *, port: int = 0, keep_headers: bool = True, refuse: dict[str, str] | None = None
    ) -> None:
        self.port = port or free_port()
        #: Recipients the server refuses, with the reply, e.g. ``{"x@example.jp": "550 no"}``.
        self.refuse = refuse or {}
        self.keep_headers = keep_headers
        self.received: list[Received] = []
        self.count = 0
        self.first_at: float | None = None
        self.last_at: float | None = None
        self._lock = threading.Lock()
        self._controller: Controller | None = None

    def _receive(self, envelope: Any) -> None:
        moment = time.monotonic()
        if self.keep_headers:
            headers = email.parser.BytesHeaderParser().parsebytes(envelope.content)
            item = Received(
                recipients=tuple(envelope.rcpt_tos),
                message_id=str(headers.get("Message-ID", "")),
                subject=str(
                    email.header.make_header(email.header.decode_header(headers.get("Subject", "")))
                ),
            )
        with self._lock:
            self.count += 1
            self.first_at = self.first_at or moment
            self.last_at = moment
            if self.keep_headers:
                self.received.append(item)

    def start(self) -> SmtpSink:
        self._controller = Controller(
            _Handler(self), hostname="127.0.0.1", port=self.port, ready_timeout=10
        )
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def count_by_recipient(self) -> dict[str, int]:
        with self._lock:
            counter = collections.Counter(r for item in self.received for r in item.recipients)
        return dict(counter)

    def wait_for(self, count: int, *, timeout: float) -> bool:
        """Wait until at least ``count`` messages arrived; False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.count >= count:
                return True
            time.sleep(0.05)
        return self.count >= count

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=2525)
    options = parser.parse_args()
    sink = SmtpSink(port=options.port, keep_headers=False).start()
    stopped = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopped.set())
    print(f"smtp sink listening on 127.0.0.1:{sink.port}", flush=True)
    stopped.wait()
    sink.stop()
    elapsed = (sink.last_at or 0) - (sink.first_at or 0)
    rate = sink.count / elapsed if elapsed > 0 else 0.0
    print(f"received {sink.count} messages in {elapsed:.1f}s ({rate:.0f}/s)", flush=True)


if __name__ == "__main__":
    main()
