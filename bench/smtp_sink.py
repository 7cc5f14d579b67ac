"""A local SMTP sink for benchmarks and the production tests: accepts every message, keeps count.

In a process (tests)::

    with SmtpSink(port=0) as sink:          # port 0: a free port, see sink.port
        ...
        sink.stop(); ...; sink.start()       # "the SMTP server is away for a while"
        assert sink.count_by_recipient() == {...}

Standalone (benchmarks, so the sink does not share the measured process)::

    python bench/smtp_sink.py --port 2525   # prints the count and rate on SIGINT/SIGTERM

Standalone, it is not aiosmtpd but ``_CountingSmtp``: a minimal SMTP server on asyncio that
answers each command and reads DATA to the terminating dot, nothing more, so that a benchmark
measures its clients and not the sink (aiosmtpd handled about 250 mails/s here with two clients,
slower than one bare ``smtplib`` loop on its own).

Only listens on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
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

    async def handle_EHLO(  # noqa: N802
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        if self.sink.pipelining:
            # As Postfix offers it; aiosmtpd reads commands one line at a time, so it serves
            # MAIL, RCPT and DATA sent at once without knowing of the extension.
            responses.insert(-1, "250-PIPELINING")
        return responses

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
        self,
        *,
        port: int = 0,
        keep_headers: bool = True,
        refuse: dict[str, str] | None = None,
        pipelining: bool = True,
    ) -> None:
        self.port = port or free_port()
        #: Whether EHLO offers PIPELINING (RFC 2920), as production relays do.
        self.pipelining = pipelining
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


class _CountingSmtp(asyncio.Protocol):
    """One SMTP session that accepts every message and counts it in ``counter``."""

    def __init__(self, counter: dict[str, float]) -> None:
        self.counter = counter
        self.buffer = b""
        self.in_data = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(b"220 127.0.0.1 sink\r\n")

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        self.buffer += data
        replies = []
        while True:
            if self.in_data:
                end = self.buffer.find(b"\r\n.\r\n")
                if end < 0:
                    # Keep only what may begin the terminator.
                    self.buffer = self.buffer[-4:]
                    break
                self.buffer = self.buffer[end + 5 :]
                self.in_data = False
                moment = time.monotonic()
                self.counter["count"] += 1
                self.counter["first"] = self.counter["first"] or moment
                self.counter["last"] = moment
                replies.append(b"250 OK\r\n")
                continue
            end = self.buffer.find(b"\r\n")
            if end < 0:
                break
            verb = self.buffer[:4].upper()
            self.buffer = self.buffer[end + 2 :]
            if verb == b"DATA":
                # The data's first line follows "\r\n", so the terminator search starts there.
                self.buffer = b"\r\n" + self.buffer
                self.in_data = True
                replies.append(b"354 End data with <CR><LF>.<CR><LF>\r\n")
            elif verb == b"EHLO":
                # PIPELINING as Postfix offers it: a client may send MAIL, RCPT and DATA at
                # once; the loop above answers every complete command in the buffer in turn.
                replies.append(b"250-127.0.0.1\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
            elif verb == b"QUIT":
                replies.append(b"221 Bye\r\n")
                self.transport.write(b"".join(replies))
                self.transport.close()
                return
            else:
                replies.append(b"250 OK\r\n")
        if replies:
            self.transport.write(b"".join(replies))


def _serve_counting(port: int) -> None:
    counter = {"count": 0, "first": 0.0, "last": 0.0}

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        stopped = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stopped.set)
        server = await loop.create_server(lambda: _CountingSmtp(counter), "127.0.0.1", port)
        print(f"smtp sink listening on 127.0.0.1:{port}", flush=True)
        async with server:
            await stopped.wait()

    asyncio.run(serve())
    elapsed = counter["last"] - counter["first"]
    rate = counter["count"] / elapsed if elapsed > 0 else 0.0
    print(f"received {counter['count']} messages in {elapsed:.1f}s ({rate:.0f}/s)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=2525)
    options = parser.parse_args()
    _serve_counting(options.port)


if __name__ == "__main__":
    main()
