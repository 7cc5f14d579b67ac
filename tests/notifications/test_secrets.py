"""No staff member can act as a cardholder (SPEC 3.10, "Secrets").

Every emailed link and code is issued through the pages — registration (both links), a login
from a new browser (the code), a password reset, an email change — and then looked for, while
the mail waits and after it was sent, in every column of every table of the database (what a
dump or a backup would hold) and on every back-office page a superuser, an operator or an
auditor can open: found nowhere, while the delivered mail holds each one.
"""

from __future__ import annotations

import datetime as dt
import re
import smtplib
from collections.abc import Iterator
from typing import Any

import pytest
import time_machine
from django.contrib import admin
from django.contrib.auth.models import Group
from django.contrib.sessions.backends.db import SessionStore
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend
from django.db import connection
from django.test import Client
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from meisai.accounts.models import Account
from meisai.backoffice.roles import Role
from meisai.clock import JST
from meisai.notifications import sealing
from meisai.notifications.models import WIPED_BODY, OutboxMessage
from meisai.notifications.sender import outbox_send_due
from meisai.notifications.services import PLAIN_TEMPLATES, carries_secret, email_enqueue
from tests.backoffice.conftest import roles_present, signed_in, staff_account
from tests.factories import AccountFactory
from tests.notifications import flows
from tests.notifications.flows import EMAIL, NEW_PASSWORD, queued

pytestmark = pytest.mark.django_db

MOMENT = dt.datetime(2025, 1, 10, 10, 0, tzinfo=JST)
SECRET_TEMPLATES = {
    "registration_link",
    "registration_completion_link",
    "login_code",
    "password_reset",
    "email_change_confirm",
    "reregistration_notice",
}


@pytest.fixture(autouse=True)
def _as_production(settings):
    # Production has no demo outbox, so the sender wipes what it sent.
    settings.MEISAI_DEMO_OUTBOX = False


def _issue_every_link_and_code() -> list[str]:
    """Registration, login from a new browser, password reset and email change, with the mail
    waiting in the outbox (the test's transaction never commits, so no sender runs); returns
    every link token and code the member was sent."""
    flows.cardholder()
    browser = Client()
    secrets = [path.rstrip("/").rsplit("/", 1)[-1] for path in flows.register(browser, queued)]
    browser.logout()
    secrets.append(flows.log_in(Client(), queued))
    reset = flows.password_reset(Client(), queued)
    secrets.append(reset.rstrip("/").rsplit("/", 1)[-1])
    member = Client()
    secrets.append(flows.log_in(member, queued, password=NEW_PASSWORD))
    change = flows.email_change(
        member, queued, password=NEW_PASSWORD, new_email="hanako.new@example.jp"
    )
    secrets.append(change.rstrip("/").rsplit("/", 1)[-1])
    # A re-registration: the owner's addresses get the notice with its confirm and cancel link.
    links = flows.reregister(
        Client(),
        queued,
        email="hanako.other@example.jp",
        login_id="hanako.again",
        owner_email="hanako.new@example.jp",
    )
    secrets += [link.rstrip("/").removesuffix("/cancel").rsplit("/", 1)[-1] for link in links]
    assert set(OutboxMessage.objects.values_list("template", flat=True)) >= SECRET_TEMPLATES
    assert all(len(secret) >= 6 for secret in secrets)
    return secrets


def _pattern(secret: str) -> re.Pattern[str]:
    # A six-digit code counts only standing alone, not inside a longer number.
    return re.compile(rf"(?<![0-9]){re.escape(secret)}(?![0-9])")


def _as_text(value: Any) -> str:
    if isinstance(value, memoryview):
        value = value.tobytes()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace") + value.decode("latin-1")
    return str(value)


def _database_texts() -> Iterator[tuple[str, str]]:
    """Every value of every row of every table, as text (what a dump would show), and the
    decoded contents of the stored sessions."""
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            for row in cursor.fetchall():
                for value in row:
                    if value is not None:
                        yield table, _as_text(value)
    for session in SessionStore.get_model_class().objects.all():
        yield "django_session (decoded)", str(SessionStore().decode(session.session_data))


def _found_in_database(secrets: list[str]) -> list[tuple[str, str]]:
    return [
        (table, secret)
        for table, text in _database_texts()
        for secret in secrets
        if _pattern(secret).search(text)
    ]


def _staff_clients() -> dict[str, Client]:
    clients = {}
    roles_present()  # the migrations' groups, if a transactional test of this process flushed them
    for role in ("superuser", "operator", "auditor"):
        staff = AccountFactory(
            login_id=f"staff-{role}",
            member=None,
            email="",
            is_staff=True,
            is_superuser=role == "superuser",
            source=Account.Source.STAFF,
        )
        if role != "superuser":
            staff.groups.add(Group.objects.get(name=role))
        # Signed in as the staff login leaves a session: password and TOTP code passed.
        TOTPDevice.objects.create(user=staff, name="console", confirmed=True)
        clients[role] = signed_in(staff)
    return clients


def _back_office_pages() -> list[str]:
    """The dashboard, the admin index, and every registered model's list and records."""
    pages = ["/backoffice/", "/backoffice/admin/"]
    for model in admin.site._registry:
        meta = model._meta
        pages.append(reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist"))
        for pk in model._default_manager.order_by("-pk").values_list("pk", flat=True)[:40]:
            pages.append(reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[pk]))
    outbox = reverse("admin:notifications_outboxmessage_changelist")
    pages += [f"{outbox}?secret__exact=1", f"{outbox}?q=hanako"]
    return pages


def _found_in_back_office(
    secrets: list[str], staff: dict[str, Client]
) -> list[tuple[str, str, str]]:
    found = []
    for role, client in staff.items():
        for page in _back_office_pages():
            response = client.get(page)
            assert response.status_code in (200, 302, 403), (role, page)
            text = response.content.decode()
            found += [(role, page, s) for s in secrets if _pattern(s).search(text)]
    return found


@time_machine.travel(MOMENT, tick=False)
def test_no_link_or_code_is_readable_in_the_database_or_the_back_office(settings):
    secrets = _issue_every_link_and_code()
    mail.outbox.clear()
    staff = _staff_clients()

    # While the mail waits: sealed in the outbox, nowhere else.
    assert _found_in_database(secrets) == []
    assert _found_in_back_office(secrets, staff) == []
    waiting = OutboxMessage.objects.filter(secret=True)
    assert {m.template for m in waiting} == SECRET_TEMPLATES
    assert all(sealing.is_sealed(m.stored_text) for m in waiting)

    result = outbox_send_due()

    # The members got working links and codes…
    assert result.failed == result.deferred == 0
    delivered = "\n".join(f"{m.body}\n{m.alternatives[0][0]}" for m in mail.outbox)
    for secret in secrets:
        assert _pattern(secret).search(delivered), secret
    # …and what stays behind holds none of them: wiped, not merely sealed.
    assert set(waiting.values_list("status", flat=True)) == {OutboxMessage.Status.SENT}
    assert set(waiting.values_list("stored_text", "stored_html")) == {(WIPED_BODY, "")}
    assert _found_in_database(secrets) == []
    assert _found_in_back_office(secrets, staff) == []


def test_the_back_office_shows_what_became_of_a_secret_message_but_never_its_content(client):
    email_enqueue(
        key="login-code:test",
        template="login_code",
        to=EMAIL,
        context={"code": "271828", "minutes": 10},
    )
    message = OutboxMessage.objects.get()
    client.cookies = signed_in(staff_account(Role.OPERATOR, login_id="op-sato")).cookies

    listing = client.get("/backoffice/admin/notifications/outboxmessage/").content.decode()
    record = client.get(
        f"/backoffice/admin/notifications/outboxmessage/{message.pk}/change/"
    ).content.decode()

    for page in (listing, record):
        assert "271828" not in page
        assert message.subject not in page  # the subject is withheld as well
        assert "login_code" in page and EMAIL in page and "送信待ち" in page
    assert "件名と本文は表示しません" in record


def test_a_plain_message_shows_its_body_to_staff(client):
    email_enqueue(
        key="operators:test",
        template="operators_month_not_closed",
        to="ops@issuer.example.jp",
        context={"month_label": "2025年6月請求分", "month": "2025-06"},
    )
    message = OutboxMessage.objects.get()
    assert not message.secret and message.stored_text == message.body_text
    client.cookies = signed_in(staff_account(Role.AUDITOR, login_id="au-ito")).cookies
    record = client.get(f"/backoffice/admin/notifications/outboxmessage/{message.pk}/change/")
    assert "meisai close 2025-06" in record.content.decode()


def test_a_secret_message_that_fails_for_good_is_wiped_and_not_requeued(client, mailoutbox):
    email_enqueue(
        key="password-reset:test",
        template="password_reset",
        to=EMAIL,
        context={"url": "http://127.0.0.1:8000/login/reset/SeCrEtToKeN123/", "expires_at": MOMENT},
    )
    assert "SeCrEtToKeN123" in OutboxMessage.objects.get().body_text
    OutboxMessage.objects.update(attempts=11)

    def refuse(self, messages):
        raise smtplib.SMTPRecipientsRefused({EMAIL: (550, b"no such user")})

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(EmailBackend, "send_messages", refuse)
        assert outbox_send_due().failed == 1
    message = OutboxMessage.objects.get()
    assert (message.status, message.stored_text, message.stored_html) == ("failed", WIPED_BODY, "")

    client.cookies = signed_in(staff_account(Role.OPERATOR, login_id="op-kato")).cookies
    page = client.post(
        "/backoffice/admin/notifications/outboxmessage/",
        {"action": "requeue", "_selected_action": [message.pk]},
        follow=True,
    )
    assert "再送できません" in page.content.decode()
    assert OutboxMessage.objects.get().status == "failed"
    assert mailoutbox == []


def test_the_sealing_key_comes_from_the_secret_key(settings):
    settings.SECRET_KEY = "one-secret-" + "x" * 50
    sealed = sealing.seal("確認コード:314159")
    assert "314159" not in sealed and sealing.unseal(sealed) == "確認コード:314159"

    settings.SECRET_KEY = "another-secret-" + "y" * 50
    with pytest.raises(sealing.SealBroken):
        sealing.unseal(sealed)
    settings.SECRET_KEY_FALLBACKS = ["one-secret-" + "x" * 50]  # a rotation keeps it openable
    assert sealing.unseal(sealed) == "確認コード:314159"


def test_every_template_with_a_link_or_code_is_secret():
    assert all(carries_secret(template) for template in SECRET_TEMPLATES)
    assert not SECRET_TEMPLATES & PLAIN_TEMPLATES


def test_the_demo_outbox_shows_the_code_and_production_has_none(client, settings):
    settings.MEISAI_DEMO_OUTBOX = True
    email_enqueue(
        key="login-code:demo",
        template="login_code",
        to=EMAIL,
        context={"code": "161803", "minutes": 10},
    )
    message = OutboxMessage.objects.get()
    assert "161803" in client.get(f"/demo/outbox/{message.pk}/").content.decode()

    settings.MEISAI_DEMO_OUTBOX = False
    assert client.get("/demo/outbox/").status_code == 404
    assert client.get(f"/demo/outbox/{message.pk}/").status_code == 404
