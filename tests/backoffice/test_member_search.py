"""会員検索: staff find a member from whatever the caller tells them, and every search is an
audited view of member data (SPEC 3.10)."""

from __future__ import annotations

import pytest
from django.test import Client

from meisai.audit.models import AuditEntry
from meisai.backoffice.roles import Role
from meisai.members.models import Member, Phone
from tests.factories import AccountFactory, CardFactory, MemberFactory, PhoneFactory

pytestmark = pytest.mark.django_db

URL = "/backoffice/members/"


@pytest.fixture
def morioka() -> Member:
    member = MemberFactory(
        member_no="M0001001",
        name_kanji="盛岡 太郎",
        name_kana="モリオカ タロウ",
        email="taro.core@example.jp",
    )
    PhoneFactory(member=member, kind=Phone.Kind.MOBILE, number="09012345678")
    PhoneFactory(member=member, kind=Phone.Kind.HOME, number="0196231234")
    CardFactory(member=member, number="4980123456785678")
    AccountFactory(member=member, login_id="Morioka.Taro", email="taro.web@example.jp")
    return member


@pytest.fixture
def others() -> list[Member]:
    # A member number and a phone that end in the card's last four: a bare 4-digit query must
    # still find only the card.
    hanako = MemberFactory(member_no="5678", name_kanji="花巻 花子", name_kana="ハナマキ ハナコ")
    PhoneFactory(member=hanako, number="09000005678")
    CardFactory(member=hanako, number="4980123456780001")
    return [hanako]


def _found(client, query: str) -> list[str]:
    response = client.get(URL, {"q": query})
    assert response.status_code == 200
    return [row.member_no for row in response.context["result"].rows]


@pytest.mark.parametrize(
    "query",
    [
        "M0001001",
        "m0001001",
        "盛岡 太郎",
        "盛岡太郎",
        "盛岡\u3000太郎",
        "盛岡",
        "モリオカ タロウ",
        "モリオカタロウ",
        "ﾓﾘｵｶ ﾀﾛｳ",
        "もりおか たろう",
        "090-1234-5678",
        "09012345678",
        "０９０－１２３４－５６７８",
        "019-623-1234",
        "5678",
        "５６７８",
        "morioka.taro",
        "ＭＯＲＩＯＫＡ．ＴＡＲＯ",
        "Taro.Web@Example.jp",
        "taro.core@example.jp",
    ],
)
def test_a_member_is_found_by_what_the_caller_says(staff_client, morioka, others, query):
    client = staff_client(Role.OPERATOR)

    assert _found(client, query) == ["M0001001"]


def test_the_table_shows_number_name_kana_status_and_web_account(staff_client, morioka, others):
    MemberFactory(member_no="M0001002", name_kanji="盛岡 次郎", name_kana="モリオカ ジロウ")
    client = staff_client(Role.AUDITOR)

    response = client.get(URL, {"q": "盛岡"})

    rows = response.context["result"].rows
    assert [
        (r.member_no, r.name_kanji, r.name_kana, r.status, r.has_web_account) for r in rows
    ] == [
        ("M0001001", "盛岡 太郎", "モリオカ タロウ", "有効", True),
        ("M0001002", "盛岡 次郎", "モリオカ ジロウ", "有効", False),
    ]
    page = response.content.decode()
    assert '<a href="/backoffice/members/M0001001/">M0001001</a>' in page
    assert "2件" in page


def test_a_search_is_an_audited_view_of_member_data(staff_client, morioka):
    client = staff_client(Role.OPERATOR)

    client.get(URL, {"q": "ﾓﾘｵｶ"}, REMOTE_ADDR="192.0.2.7")

    entry = AuditEntry.objects.get(action="member_search")
    assert (entry.actor, entry.client_ip, entry.member_id, entry.detail) == (
        "staff-operator",
        "192.0.2.7",
        None,
        {"q": "ﾓﾘｵｶ", "shown": ["M0001001"], "more": False},
    )


def test_the_empty_page_searches_nothing_and_records_nothing(staff_client, morioka):
    client = staff_client(Role.OPERATOR)

    response = client.get(URL)

    assert response.status_code == 200
    assert response.context["result"] is None
    assert not AuditEntry.objects.filter(action="member_search").exists()


def test_results_are_capped_with_a_note(staff_client):
    for n in range(51):
        MemberFactory(member_no=f"K{n:04d}", name_kanji="北上 一郎", name_kana="キタカミ イチロウ")
    client = staff_client(Role.OPERATOR)

    response = client.get(URL, {"q": "北上"})

    result = response.context["result"]
    assert (len(result.rows), result.more) == (50, True)
    assert result.rows[0].member_no == "K0000"
    assert "先頭の50件のみ表示" in response.content.decode()


def test_nothing_found_says_so(staff_client, morioka):
    client = staff_client(Role.OPERATOR)

    response = client.get(URL, {"q": "存在しない"})

    assert response.context["result"].rows == []
    assert "に該当する会員はいません" in response.content.decode()


def test_an_over_long_query_gets_the_form_error_not_a_search(staff_client, morioka):
    client = staff_client(Role.OPERATOR)

    response = client.get(URL, {"q": "あ" * 101})

    assert response.status_code == 200
    assert response.context["result"] is None
    assert not AuditEntry.objects.filter(action="member_search").exists()


def test_only_staff_may_search(member_client, morioka):
    assert Client().get(URL, {"q": "盛岡"}).status_code == 302  # to the staff login
    assert member_client.get(URL, {"q": "盛岡"}).status_code == 404
    assert not AuditEntry.objects.filter(action="member_search").exists()
