"""Member pages of statements: top, list, one statement — content, the window and IDOR."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine
from django.core.cache import cache

from meisai.accounts.models import Account
from meisai.clock import JST
from meisai.statements.models import Statement
from tests.factories import (
    AccountFactory,
    CardFactory,
    DeliveryPreferenceFactory,
    StatementFactory,
    statement_usage_line,
)

pytestmark = pytest.mark.django_db

#: 2025-04-20 noon JST: April's statements (confirmed 2025-04-14) are the latest.
APRIL_20 = dt.datetime(2025, 4, 20, 12, 0, tzinfo=JST)


def published(member, month, lines, *, fee=0, points=0, debit=None):
    """A confirmed, published statement of ``month`` with ``lines`` (kwargs per usage line)."""
    usage_total = sum(line.get("billed_amount", line.get("use_amount", 5000)) for line in lines)
    statement = StatementFactory(
        member=member,
        billing_month=month,
        usage_total=usage_total,
        fee_total=fee,
        line_count=len(lines) + (1 if fee else 0),
        points_granted=points,
        **({"debit_date": debit} if debit else {}),
    )
    for number, line in enumerate(lines, start=1):
        statement_usage_line(statement, line_no=number, **line)
    # the fee (if any) is fee_total, printed by the selectors as line len(lines) + 1
    return statement


@pytest.fixture(autouse=True)
def _empty_cache():
    # Rendered statements are cached per process under the member's id, which tests reuse.
    cache.clear()


@pytest.fixture
def account():
    return AccountFactory(personal_message="さくらの季節", member__name_kanji="盛岡 花子")


@pytest.fixture
def card(account):
    return CardFactory(member=account.member, number="4980000000001234")


@time_machine.travel(APRIL_20, tick=False)
def test_top_shows_personal_message_latest_statement_and_points(member_client, account, card):
    published(account.member, "2025-03", [{"card": card, "use_amount": 1000}])
    published(
        account.member,
        "2025-04",
        [{"card": card, "use_amount": 12000}, {"card": card, "use_amount": 180}],
        fee=165,
        debit=dt.date(2025, 4, 28),
    )
    DeliveryPreferenceFactory(member=account.member, method="web")

    page = member_client.get("/").content.decode()

    assert "盛岡 花子 様" in page
    assert "さくらの季節" in page
    assert "2025年4月請求分" in page
    assert "12,345円" in page
    assert "2025年4月28日(月)" in page
    assert "WEB明細" in page
    assert 'href="/statements/2025-04/"' in page
    assert "0ポイント" in page
    assert "紙の明細書でお届けします" not in page


@time_machine.travel(APRIL_20, tick=False)
def test_top_tells_a_paper_member_the_cutoff_of_the_next_statement(member_client, account):
    page = member_client.get("/").content.decode()

    assert "2025年5月請求分は紙の明細書でお届けします" in page
    assert "2025年5月9日(金)までに「紙明細を停止する」" in page
    assert "発行手数料165円(税込)" in page
    assert 'href="/account/paper/"' in page
    assert "ご覧いただけるご請求明細はまだありません" in page


@time_machine.travel(dt.datetime(2025, 5, 11, 12, 0, tzinfo=JST), tick=False)
def test_top_explains_a_stop_after_the_9th_takes_effect_next_month(member_client, account):
    """Stopped paper on 2025-05-10 → May still on paper (9th cutoff), June on the web."""
    DeliveryPreferenceFactory(
        member=account.member, method="web", recorded_at=dt.datetime(2025, 5, 10, 9, 0, tzinfo=JST)
    )

    page = member_client.get("/").content.decode()

    assert "2025年5月請求分は紙の明細書でお届けします" in page
    assert "紙明細の停止は承っております" in page
    assert "2025年6月請求分からWEB明細になります" in page


@time_machine.travel(APRIL_20, tick=False)
def test_top_gives_the_reason_when_the_member_must_get_paper(member_client, account):
    account.member.paper_required = True
    account.member.save()

    page = member_client.get("/").content.decode()

    assert "紙明細を停止できません" in page
    assert "発行手数料" not in page
    assert 'href="/account/paper/"' not in page


def test_top_needs_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/"


def test_staff_without_member_is_sent_to_the_admin(client):
    staff = Account.objects.create_user("operator01", "x-long-password", is_staff=True)
    client.force_login(staff)

    assert client.get("/")["Location"] == "/backoffice/admin/"
    assert client.get("/statements/").status_code == 404


@time_machine.travel(APRIL_20, tick=False)
def test_list_shows_published_statements_with_totals_and_chart(member_client, account, card):
    published(account.member, "2024-11", [{"card": card, "use_amount": 3000}])
    published(account.member, "2025-04", [{"card": card, "use_amount": 123456}])
    StatementFactory(member=account.member, billing_month="2025-03", published_at=None)
    published(account.member, "2024-10", [{"card": card, "use_amount": 999}])

    page = member_client.get("/statements/").content.decode()

    assert re.findall(r"(\d{4}年\d+月請求分)</a>", page) == ["2025年4月請求分", "2024年11月請求分"]
    assert "123,456円" in page and "3,000円" in page
    assert "2025年3月請求分" not in page.split("<svg")[0]
    assert "2024年10月請求分" not in page
    assert "999円" not in page
    assert '<svg class="chart"' in page
    assert '<title id="totals-chart-title">月別ご請求金額のグラフ</title>' in page
    desc = re.search(r"<desc[^>]*>(.*?)</desc>", page).group(1)
    assert desc == (
        "2024年11月 3,000円、2024年12月 ご請求なし、2025年1月 ご請求なし、"
        "2025年2月 ご請求なし、2025年3月 ご請求なし、2025年4月 123,456円"
    )


@time_machine.travel(APRIL_20, tick=False)
def test_statement_groups_lines_by_card_and_user_with_fee_and_totals(member_client, account, card):
    second = CardFactory(member=account.member, number="4980000000005678")
    published(
        account.member,
        "2025-04",
        [
            {
                "card": card,
                "merchant": "盛岡百貨店",
                "use_amount": 12000,
                "use_date": dt.date(2025, 3, 2),
            },
            {"card": card, "merchant": "家族のスーパー", "user_kind": "家族", "use_amount": 3300},
            {
                "card": second,
                "merchant": "家電のサトウ",
                "payment_type": "分割",
                "installment": "2/10",
                "use_amount": 100000,
                "billed_amount": 10000,
            },
        ],
        fee=165,
        points=1000,
        debit=dt.date(2025, 4, 28),
    )

    page = member_client.get("/statements/2025-04/").content.decode()

    headings = re.findall(r"<h2 id=\"group-\d+\">(.*?)</h2>", page)
    # One section and one 小計 per card; a card with lines of two users names each inside it.
    assert headings == [
        "カード ****-****-****-1234",
        "カード ****-****-****-5678(本人ご利用分)",
    ]
    assert re.findall(r'<th scope="rowgroup" colspan="6">(.*?)</th>', page) == [
        "本人ご利用分",
        "家族ご利用分",
    ]
    assert "2025/03/02" in page and "盛岡百貨店" in page and "12,000円" in page
    assert "分割払い" in page and "2/10" in page and "100,000円" in page and "10,000円" in page
    fee_rows = re.findall(
        r'<tr class="fee"><td data-label="内容">(.*?)</td><td[^>]*>(.*?)</td>', page
    )
    assert fee_rows == [("紙明細発行手数料(税込)", "165円")]
    assert "25,465円" in page  # 12,000 + 3,300 + 10,000 + 165
    assert "2025年4月28日(月)" in page
    assert "1,000ポイント" in page
    # Each table is named by its heading (no caption repeating it), its 小計 said once.
    assert '<table class="stack lines" aria-labelledby="group-1">' in page
    assert "<caption" not in page
    assert page.count("小計") == len(headings)
    assert "4980000000001234" not in page


@time_machine.travel(dt.datetime(2025, 12, 20, 12, 0, tzinfo=JST), tick=False)
def test_window_is_thirteen_months(member_client, account, card):
    """Latest 2025-12: 2024-12 is the 13th month and shown, 2024-11 is the 14th and 404."""
    published(account.member, "2024-12", [{"card": card, "use_amount": 1212}])
    published(account.member, "2024-11", [{"card": card, "use_amount": 1111}])

    assert member_client.get("/statements/2024-12/").status_code == 200
    assert member_client.get("/statements/2024-11/").status_code == 404
    assert member_client.get("/statements/2024-11.pdf").status_code == 404
    assert member_client.get("/statements/2024-11.csv").status_code == 404
    page = member_client.get("/statements/").content.decode()
    assert "1,212円" in page and "1,111円" not in page


@time_machine.travel(APRIL_20, tick=False)
def test_months_before_the_service_start_are_never_shown(member_client, account, card):
    published(account.member, "2024-10", [{"card": card, "use_amount": 1010}])

    for url in ("/statements/2024-10/", "/statements/2024-10.pdf", "/statements/2024-10.csv"):
        assert member_client.get(url).status_code == 404


@time_machine.travel(APRIL_20, tick=False)
def test_unpublished_future_and_missing_months_are_404(member_client, account, card):
    StatementFactory(member=account.member, billing_month="2025-03", published_at=None)

    for month in ("2025-03", "2025-05", "2025-02", "2025-13"):
        response = member_client.get(f"/statements/{month}/")
        assert response.status_code == 404
        assert "ページが見つかりません" in response.content.decode()


@time_machine.travel(APRIL_20, tick=False)
def test_another_members_statement_is_the_same_404_everywhere(client, account, card):
    other = AccountFactory()
    published(other.member, "2025-04", [{"merchant": "他人の店", "use_amount": 7777}])
    client.force_login(account)

    for url in ("/statements/2025-04/", "/statements/2025-04.pdf", "/statements/2025-04.csv"):
        response = client.get(url)
        assert response.status_code == 404
        assert "他人の店" not in response.content.decode()
    assert "7,777円" not in client.get("/statements/").content.decode()
    assert Statement.objects.get(member=other.member).pdf_sha256 == ""


@time_machine.travel(APRIL_20, tick=False)
def test_statement_body_is_rendered_once_then_served_from_cache(
    member_client, account, card, django_assert_num_queries
):
    published(account.member, "2025-04", [{"card": card, "merchant": "盛岡百貨店"}])
    first = member_client.get("/statements/2025-04/").content.decode()

    # the session and the account only (the account cache is off without Redis), and the
    # security event of the view (SPEC 3.10): no member, statement or line query (the session
    # is saved at most once a minute, not on this request)
    with django_assert_num_queries(3):
        second = member_client.get("/statements/2025-04/").content.decode()

    body = lambda html: html.split('<main id="main">')[1].split("</main>")[0]  # noqa: E731
    assert body(first) == body(second)
    assert "盛岡百貨店" in second
