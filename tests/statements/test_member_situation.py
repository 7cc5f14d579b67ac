"""Pages tell a member without a card the truth, and the statement body says 小計 once per card
(issue 15): a member whose cards are all cancelled sees so and the statements still in the
window, never a statement to come; their 本人認証サービス enrolment is revoked on the import of the
member file that says so, and the ACS export carries the revocation."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine
from django.core.cache import cache
from django.core.management import call_command

from meisai.accounts.models import Enrollment
from meisai.audit.models import AuditEntry
from meisai.clock import JST
from meisai.members.models import Member
from tests.factories import AccountFactory, CardFactory, DeliveryPreferenceFactory
from tests.imports.conftest import CARD_1, CARD_2, MEMBERS_HEADER, Importer, member_row
from tests.statements.test_pages import published

pytestmark = pytest.mark.django_db

APRIL_20 = dt.datetime(2025, 4, 20, 12, 0, tzinfo=JST)


@pytest.fixture(autouse=True)
def _empty_cache():
    cache.clear()


@pytest.fixture
def importer(tmp_path):
    return Importer(tmp_path)


def enrol(member, login_id):
    """An enrolment imported long ago (the ACS has it already)."""
    AccountFactory(member=member, login_id=login_id)
    Enrollment.objects.create(
        member=member,
        login_id=login_id,
        source=Enrollment.Source.LEGACY,
        enrolled_at=dt.datetime(2020, 5, 1, 9, 0, tzinfo=JST),
        updated_at=dt.datetime(2020, 5, 1, 9, 0, tzinfo=JST),
    )


def cancelled_account():
    account = AccountFactory(member__status="cancelled", member__cancelled_on=dt.date(2025, 3, 31))
    CardFactory(member=account.member, is_active=False)
    return account


@time_machine.travel(APRIL_20, tick=False)
def test_a_cancelled_member_sees_the_card_cancelled_and_the_statements_in_the_window(client):
    account = cancelled_account()
    published(account.member, "2025-03", [{"use_amount": 4200}])
    client.force_login(account)

    page = client.get("/").content.decode()

    assert '<h2 id="cancelled-heading">カードは解約されています</h2>' in page
    assert "表示期間(最大13か月分)のうちはこのサービスでご覧いただけます" in page
    assert "2025年3月請求分の明細を見る" in page and "4,200円" in page
    # Nothing about a statement to come: no delivery of the next month, no way to change it.
    assert "でお届けします" not in page and "紙明細を停止する" not in page
    assert 'id="delivery-heading"' not in page and 'id="paper-notice-heading"' not in page
    assert client.get("/statements/2025-03/").status_code == 200


@time_machine.travel(APRIL_20, tick=False)
def test_a_cancelled_member_without_statements_is_promised_no_email(client):
    account = cancelled_account()
    client.force_login(account)

    page = client.get("/").content.decode()

    assert "表示期間内にご覧いただけるご請求明細はありません。" in page
    assert "請求額が確定すると、メールでお知らせします" not in page


@time_machine.travel(APRIL_20, tick=False)
def test_a_member_whose_every_card_is_cancelled_counts_as_cancelled(client):
    account = AccountFactory()
    CardFactory(member=account.member, is_active=False)
    CardFactory(member=account.member, is_active=False)
    client.force_login(account)

    assert "カードは解約されています" in client.get("/").content.decode()


@time_machine.travel(APRIL_20, tick=False)
def test_a_member_with_one_card_left_is_not_cancelled(client):
    account = AccountFactory()
    CardFactory(member=account.member, is_active=False)
    CardFactory(member=account.member, is_active=True)
    DeliveryPreferenceFactory(member=account.member)
    client.force_login(account)

    page = client.get("/").content.decode()

    assert "カードは解約されています" not in page
    assert "2024年12月請求分から、ご請求明細はWEB明細(このサービス)でお届けします。" in page


def test_the_member_file_cancelling_a_member_revokes_the_enrolment_for_the_acs(importer, tmp_path):
    """Imported cancelled on 2025-04-01 → the enrolment is revoked then, and an export since the
    day before carries it as revoked; a member still holding a card keeps theirs."""
    importer.products()
    importer.members(member_row("M0000001", CARD_1), member_row("M0000002", CARD_2))
    for member_no, login_id in (("M0000001", "leaving.member"), ("M0000002", "staying.member")):
        enrol(Member.objects.get(member_no=member_no), login_id)
    with time_machine.travel(dt.datetime(2025, 4, 1, 6, 0, tzinfo=JST), tick=False):
        importer.run(
            "members",
            importer.write(
                MEMBERS_HEADER,
                member_row("M0000001", CARD_1, status="cancelled", cancelled_on="2025-03-31"),
                member_row("M0000002", CARD_2),
            ),
        )

    assert dict(Enrollment.objects.values_list("login_id", "status")) == {
        "leaving.member": "revoked",
        "staying.member": "active",
    }
    audit = AuditEntry.objects.get(action="enrollment_revoke_without_card")
    assert (audit.actor, audit.detail) == ("test", {"revoked": 1})
    output = tmp_path / "enrollments.csv"
    call_command("export", "enrollments", "--since", "2025-03-31T00:00", "-o", str(output))
    assert output.read_bytes().decode("cp932") == (
        "member_no,login_id,card_last4,status,source,enrolled_at,updated_at\r\n"
        "M0000001,leaving.member,,revoked,legacy,2020-05-01T09:00:00+09:00,"
        "2025-04-01T06:00:00+09:00\r\n"
    )


def test_a_dry_run_of_the_member_file_revokes_nothing(importer):
    importer.products()
    importer.members(member_row("M0000001", CARD_1))
    enrol(Member.objects.get(), "leaving.member")
    path = importer.write(
        MEMBERS_HEADER,
        member_row("M0000001", CARD_1, status="cancelled", cancelled_on="2025-03-31"),
    )
    importer.run("members", path, "--dry-run")

    assert Enrollment.objects.get().status == "active"


@time_machine.travel(APRIL_20, tick=False)
def test_one_subtotal_per_card_whatever_its_users_and_payment_types(client):
    """A card with 本人 and 家族 lines, paid 1回 and 分割 → one section, one 小計 (their sum)."""
    account = AccountFactory()
    card = CardFactory(member=account.member, number="4980000000001234")
    second = CardFactory(member=account.member, number="4980000000005678")
    published(
        account.member,
        "2025-04",
        [
            {"card": card, "use_amount": 12000},
            {
                "card": card,
                "payment_type": "分割",
                "installment": "2/10",
                "use_amount": 50000,
                "billed_amount": 5000,
            },
            {"card": card, "user_kind": "家族", "use_amount": 3300},
            {"card": card, "user_kind": "家族", "payment_type": "リボ", "use_amount": 700},
            {"card": second, "use_amount": 1000},
        ],
    )
    client.force_login(account)

    page = client.get("/statements/2025-04/").content.decode()

    subtotals = re.findall(
        r'<tfoot><tr><th scope="row" colspan="5">小計</th><td class="amount">(.*?)</td>', page
    )
    assert subtotals == ["21,000円", "1,000円"]  # 12,000 + 5,000 + 3,300 + 700
    assert page.count("小計") == 2
    assert re.findall(r"<h2 id=\"group-\d+\">(.*?)</h2>", page) == [
        "カード ****-****-****-1234",
        "カード ****-****-****-5678(本人ご利用分)",
    ]
