"""Re-registration (SPEC 3.4, flyer ②): the card's printed data and a birth date are not enough
to take an account over. A member who already has an account or an enrolment gets a pending
registration; the owner's addresses can confirm it at once or cancel it, and without a
cancellation it takes effect after ``MEISAI_REREGISTRATION_WAIT_HOURS``."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.sessions.models import Session
from django.core.management import call_command
from django.test import Client

from meisai.accounts.models import Account, AccountSession, Enrollment, Registration
from meisai.accounts.reregistration import reregistrations_take_effect
from meisai.accounts.selectors import login_id_available
from meisai.audit.models import AuditEntry
from meisai.clock import JST
from meisai.members.models import DeliveryPreference
from tests.accounts.conftest import (
    FACTORY_PASSWORD,
    PASSWORD,
    complete_registration,
    links_in,
    outbox,
)
from tests.factories import AccountFactory, MemberFactory

pytestmark = pytest.mark.django_db

REQUESTED = dt.datetime(2025, 1, 10, 10, 0, tzinfo=JST)
TAKES_EFFECT = dt.datetime(2025, 1, 13, 10, 0, tzinfo=JST)


@pytest.fixture
def owner(cardholder):
    """The member's existing 本人認証サービス account, logged in in another browser."""
    old = AccountFactory(
        member=cardholder.member,
        login_id="old.legacy",
        email="old@example.jp",
        source=Account.Source.LEGACY,
    )
    Enrollment.objects.create(
        member=cardholder.member,
        account=old,
        card=cardholder.card,
        login_id="old.legacy",
        source=Enrollment.Source.LEGACY,
        enrolled_at=dt.datetime(2020, 5, 1, tzinfo=JST),
        updated_at=dt.datetime(2020, 5, 1, tzinfo=JST),
    )
    browser = Client()
    browser.force_login(old)
    AccountSession.objects.create(
        account=old, session_key=browser.session.session_key, created_at=old.created_at
    )
    old.browser = browser
    return old


def _notice_links(address: str, which: int = 0) -> tuple[str, str]:
    """The confirm and cancel paths of the ``which``-th notice sent to ``address``."""
    notice = outbox(address, "reregistration_notice")[which]
    confirm, cancel = links_in(notice)
    assert cancel.endswith("/cancel/")
    return confirm, cancel


def _login(client, login_id: str, password: str):
    return client.post("/login/", {"username": login_id, "password": password})


def _export_enrolments(tmp_path) -> str:
    output = tmp_path / "enrollments.csv"
    call_command("export", "enrollments", "--since", "2025-01-10T00:00", "-o", str(output))
    return output.read_bytes().decode("cp932")


def test_a_re_registration_waits_and_the_owner_keeps_everything(
    client, cardholder, owner, frozen, tmp_path
):
    page = complete_registration(client).content.decode()

    assert "再登録のお手続きを受け付けました" in page
    assert "2025年1月13日 10:00" in page
    assert "これまでのログインIDをご利用いただけます" in page
    # Nothing of the owner changed: account, session, enrolment, delivery.
    owner.refresh_from_db()
    assert owner.is_active
    assert owner.browser.get("/account/").status_code == 200
    assert Enrollment.objects.get().status == Enrollment.Status.ACTIVE
    assert not Account.objects.filter(login_id="morioka.hanako").exists()
    assert DeliveryPreference.objects.count() == 0
    assert _export_enrolments(tmp_path).count("\r\n") == 1  # the header alone
    pending = Registration.objects.get()
    assert (pending.state, pending.takes_effect_at) == (Registration.State.PENDING, TAKES_EFFECT)
    # The account's address and the member master's (another one) are told, with both links.
    for address in ("old@example.jp", "core@example.jp"):
        (notice,) = outbox(address, "reregistration_notice")
        assert "2025年1月13日 10:00に新しいログインIDに切り替わり" in notice.body_text
        assert "「old.legacy」" in notice.body_text
        assert "h*****@example.jp" in notice.body_text
        assert len(links_in(notice)) == 2
    (told,) = outbox("hanako@example.jp", "reregistration_pending")
    assert "2025年1月13日 10:00からご利用いただけます" in told.body_text
    assert outbox("hanako@example.jp", "registration_completed") == []
    hold = AuditEntry.objects.get(action="account_reregistration_hold")
    assert hold.member == cardholder.member
    assert hold.detail == {
        "takes_effect_at": "2025-01-13T10:00:00+09:00",
        "notified": 2,
        "superseded": [],
    }
    # The new ID cannot log in yet; the old one can.
    assert "正しくありません" in _login(client, "morioka.hanako", PASSWORD).content.decode()
    assert _login(Client(), "old.legacy", FACTORY_PASSWORD).url == "/login/code/"


def test_the_owner_confirms_from_the_notice_and_the_new_account_takes_over(
    client, cardholder, owner, frozen, tmp_path
):
    complete_registration(client)
    confirm, _ = _notice_links("old@example.jp")

    page = client.get(confirm)
    assert page.status_code == 200
    assert "切り替える" in page.content.decode()
    assert Registration.objects.get().state == Registration.State.PENDING  # a GET changes nothing

    done = client.post(confirm)
    assert "再登録が完了しました" in done.content.decode()
    owner.refresh_from_db()
    assert (owner.is_active, owner.deactivated_at) == (False, REQUESTED)
    assert not Session.objects.filter(session_key=owner.browser.session.session_key).exists()
    account = Account.objects.get(login_id="morioka.hanako", is_active=True)
    assert Enrollment.objects.get(status=Enrollment.Status.ACTIVE).account == account
    assert Enrollment.objects.get(login_id="old.legacy").status == Enrollment.Status.REVOKED
    assert DeliveryPreference.objects.get().method == "web"
    assert len(outbox("old@example.jp", "account_replaced")) == 1
    assert len(outbox("hanako@example.jp", "registration_completed")) == 1
    assert AuditEntry.objects.get(action="account_register").detail == {
        "replaced": ["old.legacy"],
        "delivery": "web",
        "took_effect": "owner",
    }
    export = _export_enrolments(tmp_path)
    assert ",old.legacy,1234,revoked,legacy," in export
    assert ",morioka.hanako,1234,active,registration," in export
    # Both links are spent.
    assert client.get(confirm).status_code == 404
    assert client.post(_notice_links("old@example.jp")[1]).status_code == 404


def test_the_owner_cancels_and_nothing_changes_ever(client, cardholder, owner, frozen):
    complete_registration(client)
    _, cancel = _notice_links("core@example.jp")

    assert "心当たりがない" in client.get(cancel).content.decode()
    assert Registration.objects.get().state == Registration.State.PENDING

    done = client.post(cancel)
    assert "取り消しました" in done.content.decode()
    cancelled = Registration.objects.get()
    assert (cancelled.state, cancelled.ending) == (
        Registration.State.CANCELLED,
        Registration.Ending.OWNER,
    )
    (ended,) = outbox("hanako@example.jp", "reregistration_ended")
    assert "取り消されたため" in ended.body_text
    audit = AuditEntry.objects.get(action="account_reregistration_end")
    assert audit.detail == {"login_id": "morioka.hanako", "ending": "owner"}
    # Long after the wait, nothing takes effect and the owner still works.
    frozen.move_to(TAKES_EFFECT + dt.timedelta(days=1))
    assert reregistrations_take_effect() == 0
    assert "正しくありません" in _login(client, "morioka.hanako", PASSWORD).content.decode()
    owner.refresh_from_db()
    assert owner.is_active
    assert Enrollment.objects.get().status == Enrollment.Status.ACTIVE
    assert client.post(_notice_links("old@example.jp")[0]).status_code == 404


def test_without_a_cancellation_it_takes_effect_after_the_wait(client, cardholder, owner, frozen):
    complete_registration(client)

    frozen.move_to(TAKES_EFFECT - dt.timedelta(minutes=1))
    assert reregistrations_take_effect() == 0
    assert "正しくありません" in _login(client, "morioka.hanako", PASSWORD).content.decode()

    # At the stated moment a login with the new ID makes the takeover itself.
    frozen.move_to(TAKES_EFFECT)
    assert _login(client, "morioka.hanako", PASSWORD).url == "/login/code/"
    owner.refresh_from_db()
    assert (owner.is_active, owner.deactivated_at) == (False, TAKES_EFFECT)
    assert AuditEntry.objects.get(action="account_register").detail["took_effect"] == "wait"
    # The notice's links died with the wait.
    confirm, cancel = _notice_links("old@example.jp")
    assert Client().get(cancel).status_code == 404
    assert Client().post(confirm).status_code == 404


def test_the_scheduler_task_takes_due_ones_and_a_second_run_does_nothing(
    client, cardholder, owner, frozen
):
    from meisai.accounts.tasks import reregistrations_take_effect_task

    complete_registration(client)
    frozen.move_to(TAKES_EFFECT + dt.timedelta(minutes=3))
    assert reregistrations_take_effect_task.apply().get() == {"took_effect": 1}
    assert reregistrations_take_effect_task.apply().get() == {"took_effect": 0}
    assert Account.objects.get(login_id="morioka.hanako").is_active
    assert Registration.objects.get().state == Registration.State.COMPLETED


def test_a_member_without_a_reachable_address_simply_waits(client, cardholder, frozen):
    """An imported enrolment without a web account, and no address in the member master."""
    cardholder.member.email = ""
    cardholder.member.save()
    Enrollment.objects.create(
        member=cardholder.member,
        card=cardholder.card,
        login_id="acs.only",
        source=Enrollment.Source.LEGACY,
        enrolled_at=dt.datetime(2020, 5, 1, tzinfo=JST),
        updated_at=dt.datetime(2020, 5, 1, tzinfo=JST),
    )
    page = complete_registration(client).content.decode()
    assert "2025年1月13日 10:00" in page
    assert AuditEntry.objects.get(action="account_reregistration_hold").detail["notified"] == 0
    assert not Account.objects.filter(login_id="morioka.hanako").exists()

    frozen.move_to(TAKES_EFFECT)
    assert reregistrations_take_effect() == 1
    assert Enrollment.objects.get(login_id="acs.only").status == Enrollment.Status.REVOKED
    assert Enrollment.objects.get(login_id="morioka.hanako").status == Enrollment.Status.ACTIVE


def test_a_newer_re_registration_replaces_a_pending_one(client, cardholder, owner, frozen):
    complete_registration(client)
    frozen.move_to(REQUESTED + dt.timedelta(hours=5))
    complete_registration(Client(), email="second@example.jp", login_id="second.try")

    first, second = Registration.objects.order_by("pk")
    assert (first.state, first.ending) == (
        Registration.State.CANCELLED,
        Registration.Ending.SUPERSEDED,
    )
    assert second.state == Registration.State.PENDING
    assert second.takes_effect_at == TAKES_EFFECT + dt.timedelta(hours=5)
    assert len(outbox("hanako@example.jp", "reregistration_ended")) == 1
    hold = AuditEntry.objects.filter(action="account_reregistration_hold").latest("pk")
    assert hold.detail["superseded"] == ["morioka.hanako"]
    # The first notice's links are dead; the second's work.
    assert Client().post(_notice_links("core@example.jp", 0)[0]).status_code == 404
    assert Client().get(_notice_links("core@example.jp", 1)[1]).status_code == 200


def test_a_pending_login_id_is_taken_for_everyone_else(client, cardholder, owner, frozen):
    complete_registration(client)
    assert not login_id_available(login_id="MORIOKA.HANAKO")


def test_a_login_id_taken_during_the_wait_ends_the_re_registration(
    client, cardholder, owner, frozen
):
    complete_registration(client)
    # The enrolment import hands the ID to another member meanwhile.
    Enrollment.objects.create(
        member=MemberFactory(),
        login_id="Morioka.Hanako",
        source=Enrollment.Source.LEGACY,
        enrolled_at=REQUESTED,
        updated_at=REQUESTED,
    )
    frozen.move_to(TAKES_EFFECT)
    assert reregistrations_take_effect() == 0
    ended = Registration.objects.get()
    assert (ended.state, ended.ending) == (
        Registration.State.CANCELLED,
        Registration.Ending.LOGIN_ID_TAKEN,
    )
    owner.refresh_from_db()
    assert owner.is_active
    assert "続けられない事情" in outbox("hanako@example.jp", "reregistration_ended")[0].body_text


def test_the_wait_is_configuration(client, cardholder, owner, frozen, settings):
    settings.MEISAI_REREGISTRATION_WAIT_HOURS = 1
    page = complete_registration(client).content.decode()
    assert "2025年1月10日 11:00" in page
    frozen.move_to(REQUESTED + dt.timedelta(hours=1))
    assert reregistrations_take_effect() == 1
