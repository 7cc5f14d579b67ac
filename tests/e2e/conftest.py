"""Fixtures for end-to-end tests in a real browser.

* ``smtp_sink``: a local SMTP server (aiosmtpd on 127.0.0.1, a free port) that keeps every
  message it receives, parsed with the ``email`` package; ``smtp_sink.wait_for(address)`` waits
  for the next message to an address and offers its URLs and one-time code.
* ``site``: pytest-django's ``live_server`` with the email settings pointing at the sink and
  ``MEISAI_BASE_URL`` at the live server, so links in emails lead back to it. Its database is the
  test database, so tests using it run with ``transactional_db``.
* ``browser`` / ``page``: Debian's chromium driven by Playwright's sync API; ``page`` runs each
  test at phone width (390×844) and at desktop width (1280×800).

Mark browser tests ``@pytest.mark.browser``.
"""

from __future__ import annotations

import email
import email.policy
import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORTS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 800}}

_URL = re.compile(r"https?://[^\s<>\"']+")
_CODE = re.compile(r"(?<!\d)(\d{6})(?!\d)")


@dataclass
class ReceivedEmail:
    """One message as the SMTP sink received it."""

    envelope_to: list[str]
    message: EmailMessage

    @property
    def subject(self) -> str:
        # Folded encoded words come back with the folding whitespace; a reader sees none.
        return " ".join(str(self.message["Subject"]).split())

    @property
    def to(self) -> str:
        return str(self.message["To"])

    def _part(self, subtype: str) -> str:
        part = self.message.get_body(preferencelist=(subtype,))
        return part.get_content() if part is not None else ""

    @property
    def text(self) -> str:
        return self._part("plain")

    @property
    def html(self) -> str:
        return self._part("html")

    @property
    def urls(self) -> list[str]:
        """Every URL of the text part, in order."""
        return _URL.findall(self.text)

    def url_containing(self, fragment: str) -> str:
        matches = [url for url in self.urls if fragment in url]
        if not matches:
            raise AssertionError(f"no URL containing {fragment!r} in:\n{self.text}")
        return matches[0]

    @property
    def code(self) -> str:
        """The first six-digit number of the text part (a one-time code)."""
        match = _CODE.search(self.text)
        if not match:
            raise AssertionError(f"no six-digit code in:\n{self.text}")
        return match.group(1)


@dataclass
class SmtpSink:
    """Collects messages; ``wait_for`` hands each one out once."""

    host: str
    port: int
    messages: list[ReceivedEmail] = field(default_factory=list)
    _taken: set[int] = field(default_factory=set)
    _lock: threading.Condition = field(default_factory=threading.Condition)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        with self._lock:
            self.messages.append(ReceivedEmail(list(envelope.rcpt_tos), parsed))
            self._lock.notify_all()
        return "250 Message accepted for delivery"

    def wait_for(self, address: str, *, timeout: float = 15.0) -> ReceivedEmail:
        """The next message (not handed out before) addressed to ``address``."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                for index, received in enumerate(self.messages):
                    if index not in self._taken and address in received.envelope_to:
                        self._taken.add(index)
                        return received
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"no email to {address} within {timeout} s")
                self._lock.wait(remaining)

    def to(self, address: str) -> list[ReceivedEmail]:
        """Every message received so far for ``address``."""
        with self._lock:
            return [m for m in self.messages if address in m.envelope_to]

    def clear(self) -> None:
        with self._lock:
            self.messages.clear()
            self._taken.clear()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def smtp_sink() -> Iterator[SmtpSink]:
    sink = SmtpSink(host="127.0.0.1", port=_free_port())
    controller = Controller(sink, hostname=sink.host, port=sink.port)
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()


@pytest.fixture
def site(live_server: Any, smtp_sink: SmtpSink, settings: Any, transactional_db: None) -> Any:
    """The live server, mailing to the SMTP sink. Returns pytest-django's live server."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = smtp_sink.host
    settings.EMAIL_PORT = smtp_sink.port
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    settings.MEISAI_BASE_URL = live_server.url
    smtp_sink.clear()
    return live_server


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    # Playwright's sync API runs an asyncio loop in this thread; Django refuses database access
    # from a thread with a running loop unless told that this is deliberate.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            try:
                yield chromium
            finally:
                chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def checked_page(browser: Any, viewport: dict[str, int]) -> Iterator[Any]:
    """A page whose context lets axe-core's script in past the Content-Security-Policy."""
    context = browser.new_context(
        viewport=viewport, locale="ja-JP", timezone_id="Asia/Tokyo", bypass_csp=True
    )
    context.set_default_timeout(15_000)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture(params=sorted(VIEWPORTS), ids=sorted(VIEWPORTS))
def viewport(request: pytest.FixtureRequest) -> dict[str, int]:
    return VIEWPORTS[request.param]


@pytest.fixture
def page(browser: Any, viewport: dict[str, int]) -> Iterator[Any]:
    """A fresh browser context (no cookies) and page at the parametrised viewport."""
    context = browser.new_context(viewport=viewport, locale="ja-JP", timezone_id="Asia/Tokyo")
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()
