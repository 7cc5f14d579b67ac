"""No card number anywhere (SPEC 3.10): after a whole demo cycle — the core system's files
imported, a registration through the pages, months closed and published, a member's pages and
downloads, the staff's pages and exports — a dump of the whole database, every log line, every
email, every page, the PDF's text and every CSV are searched for the demo's and the test's card
numbers and for any Luhn-valid run of 13–19 digits: none is found."""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import time_machine
from django.contrib import admin
from django.contrib.sessions.backends.db import SessionStore
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.urls import reverse
from pythonjsonlogger.json import JsonFormatter

from meisai.accounts.models import Account
from meisai.card_numbers import luhn_valid
from meisai.clock import JST
from meisai.core.logging import RequestIdFilter, SensitiveDataFilter
from meisai.members.models import Phone
from meisai.notifications.models import OutboxMessage
from tests.backoffice.conftest import second_factor_passed
from tests.factories import AccountFactory, CardFactory, MemberFactory, PhoneFactory
from tests.notifications import flows
from tests.notifications.flows import queued

pytestmark = pytest.mark.django_db

MOMENT = dt.datetime(2025, 5, 20, 12, 0, tzinfo=JST)
DEMO_PASSWORD = "sakura-iwate-2025"
#: A run of 13–19 digits with single spaces or hyphens, standing alone (not inside a hash, a
#: token or a longer number).
RUN = re.compile(r"(?<![0-9A-Za-z_-])\d(?:[ -]?\d){12,18}(?![0-9A-Za-z_])")


def _luhn_runs(text: str) -> list[str]:
    return [m.group(0) for m in RUN.finditer(text) if luhn_valid(re.sub(r"\D", "", m.group(0)))]


def _cards_in(text: str, cards: set[str]) -> list[str]:
    digits_only = re.sub(r"(?<=\d)[ -](?=\d)", "", text)
    return sorted(card for card in cards if card in digits_only)


def _database_texts() -> Iterator[tuple[str, str]]:
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            for row in cursor.fetchall():
                for value in row:
                    if value is not None:
                        raw = value.tobytes() if isinstance(value, memoryview) else value
                        yield (
                            table,
                            (
                                raw.decode("utf-8", "replace")
                                if isinstance(raw, bytes)
                                else str(raw)
                            ),
                        )
    for session in SessionStore.get_model_class().objects.all():
        yield "django_session (decoded)", str(SessionStore().decode(session.session_data))
    # The outbox keeps bodies sealed; the sender opens them: so does this search.
    for message in OutboxMessage.objects.all():
        yield (
            f"email {message.template}",
            f"{message.subject}\n{message.body_text}\n{message.body_html}",
        )


def _pdf_text(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "statement.pdf"
    path.write_bytes(pdf)
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout


def _newcomer() -> None:
    """The flows' cardholder, under a member number the demo does not use."""
    member = MemberFactory(
        member_no="M9000001", birth_date=flows.BIRTH_DATE, email="core@example.jp"
    )
    CardFactory(member=member, number=flows.CARD_NUMBER, expiry="2029-12")
    PhoneFactory(member=member, kind=Phone.Kind.MOBILE, number=flows.MOBILE_PHONE)


def _member_pages(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A registered demo member logs in from a new browser and opens and downloads everything."""
    account = Account.objects.get(login_id="iwate.0004")
    browser = Client()
    assert browser.post(
        "/login/", {"username": account.login_id, "password": DEMO_PASSWORD}
    ).url == ("/login/code/")
    yield "login code page", browser.get("/login/code/").content.decode()
    code = flows.code_in(queued("login_code", account.email))
    assert browser.post("/login/code/", {"code": code}).status_code == 302
    for path in [
        "/",
        "/statements/",
        "/statements/2025-04/",
        "/account/",
        "/points/",
        "/account/paper/",
    ]:
        response = browser.get(path)
        assert response.status_code == 200, path
        yield path, response.content.decode()
    pdf = browser.get("/statements/2025-04.pdf")
    assert pdf.status_code == 200
    yield "statement PDF (text)", _pdf_text(pdf.content, tmp_path)
    for path, encoding in [
        ("/statements/2025-04.csv", "cp932"),
        ("/statements/2025-04.csv?encoding=utf-8", "utf-8"),
        ("/statements/all.csv", "cp932"),
    ]:
        response = browser.get(path)
        assert response.status_code == 200, path
        yield path, b"".join(response.streaming_content).decode(encoding)


def _staff_pages() -> Iterator[tuple[str, str]]:
    staff = AccountFactory(
        login_id="staff-root",
        member=None,
        email="",
        is_staff=True,
        is_superuser=True,
        source=Account.Source.STAFF,
    )
    client = Client()
    client.force_login(staff, backend="django.contrib.auth.backends.ModelBackend")
    second_factor_passed(client, staff)
    pages = ["/backoffice/", "/backoffice/admin/"]
    for model in admin.site._registry:
        meta = model._meta
        pages.append(reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist"))
        for pk in model._default_manager.order_by("-pk").values_list("pk", flat=True)[:5]:
            pages.append(reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[pk]))
    for page in pages:
        response = client.get(page)
        assert response.status_code == 200, page
        yield page, response.content.decode()


def _exports(tmp_path: Path) -> Iterator[tuple[str, str]]:
    for kind, args in [
        ("paper-list", ["2025-04"]),
        ("fees", ["2025-04"]),
        ("enrollments", ["--since", "2024-01-01"]),
    ]:
        output = tmp_path / f"{kind}.csv"
        call_command("export", kind, *args, "-o", str(output), stdout=io.StringIO())
        yield f"export {kind}", output.read_bytes().decode("cp932")


def _log_lines(records: list[logging.LogRecord]) -> Iterator[tuple[str, str]]:
    """Each record as the production handler writes it: filtered, then JSON."""
    formatter = JsonFormatter("%(asctime)s %(levelname)s %(name)s %(request_id)s %(message)s")
    for record in records:
        RequestIdFilter().filter(record)
        SensitiveDataFilter().filter(record)
        yield f"log {record.name}", formatter.format(record)


@time_machine.travel(MOMENT, tick=False)
def test_no_card_number_survives_a_whole_demo_cycle(tmp_path, caplog, settings):
    settings.MEISAI_DEMO_OUTBOX = False
    with caplog.at_level(logging.DEBUG):
        call_command(
            "demo",
            "--no-serve",
            "--members",
            "24",
            "--data-dir",
            str(tmp_path),
            stdout=io.StringIO(),
        )
        _newcomer()
        flows.register(Client(), queued)
        texts: list[tuple[str, str]] = [
            *_member_pages(tmp_path),
            *_staff_pages(),
            *_exports(tmp_path),
        ]
    with (tmp_path / "members.csv").open(encoding="utf-8-sig") as handle:
        cards = {row["card_no"] for row in csv.DictReader(handle)} | {flows.CARD_NUMBER}
    assert len(cards) >= 24
    texts += list(_database_texts())
    texts += list(_log_lines(caplog.records))

    found = [
        (where, hit) for where, text in texts for hit in _cards_in(text, cards) + _luhn_runs(text)
    ]
    assert found == []
    # The search can find what it looks for: a card written into a page would be caught.
    card = sorted(cards)[0]
    assert _cards_in(f"x {card[:4]}-{card[4:8]}-{card[8:12]}-{card[12:]} y", cards) == [card]
    assert _luhn_runs("番号 4980 0000 1234 5670 です") == ["4980 0000 1234 5670"]
