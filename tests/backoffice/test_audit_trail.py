"""The audit trail for auditors (``/backoffice/audit/``, SPEC 3.10): search, pages, CSV, and the
rows that record each look. Auditors and administrators only; operators get 403."""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io

import pytest
import time_machine

from meisai.audit.models import AuditEntry
from meisai.audit.services import audit_record
from meisai.backoffice.roles import Role
from meisai.clock import JST
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

URL = "/backoffice/audit/"
CSV_URL = "/backoffice/audit/export.csv"


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=JST)


def made(moment: str, **fields) -> AuditEntry:
    """A row of the past, written as the clock of that moment wrote it (the trail takes no
    other time and refuses updates)."""
    values = {"actor": "op-sato", "action": "paper_preference_change", **fields}
    with time_machine.travel(at(moment), tick=False):
        return audit_record(**values)


def texts(response) -> list[str]:
    """The rows of the page's table, as (actor, action, member no) joined for comparison."""
    return [
        f"{e.actor}|{e.action}|{e.member.member_no if e.member else ''}"
        for e, _ in response.context["rows"]
    ]


@pytest.fixture
def trail():
    hanako, taro = MemberFactory(member_no="M0000101"), MemberFactory(member_no="M0000102")
    made("2025-04-30T23:59:59", member=hanako, actor="op-sato")
    made("2025-05-01T00:00:00", member=hanako, actor="op-ito", action="member_unlock")
    made("2025-05-15T12:00:00", member=taro, actor="OP-SATO")
    made("2025-05-31T23:59:59", actor="scheduler", action="statements_publish")
    made("2025-06-01T00:00:00", member=taro, actor="op-ito", action="member_view")
    return hanako, taro


def views() -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(action="audit_view").order_by("id"))


def test_auditors_and_administrators_read_the_trail_operators_do_not(staff_client, trail):
    assert staff_client(Role.AUDITOR).get(URL).status_code == 200
    assert staff_client(Role.ADMINISTRATOR).get(URL).status_code == 200
    operator = staff_client(Role.OPERATOR)
    before = AuditEntry.objects.count()

    assert operator.get(URL).status_code == 403
    assert operator.get(CSV_URL).status_code == 403
    assert AuditEntry.objects.count() == before  # the refused looks leave no row


def test_visitors_are_sent_to_the_staff_login(client):
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith("/backoffice/login/")


def test_the_trail_lists_every_row_newest_first(staff_client, trail):
    response = staff_client(Role.AUDITOR).get(URL)

    assert texts(response) == [
        "op-ito|member_view|M0000102",
        "scheduler|statements_publish|",
        "OP-SATO|paper_preference_change|M0000102",
        "op-ito|member_unlock|M0000101",
        "op-sato|paper_preference_change|M0000101",
    ]
    html = response.content.decode()
    assert "2025-05-01 00:00:00" in html  # times in JST
    assert 'id="audit-count">5件' in html


def test_every_view_of_the_trail_is_a_row_of_it(staff_client, trail):
    auditor = staff_client(Role.AUDITOR)
    auditor.get(URL, {"member_no": "M0000101", "page": "1"})

    (view,) = views()
    assert (view.actor, view.client_ip, view.member) == ("staff-auditor", "127.0.0.1", None)
    assert view.detail == {"filter": {"member_no": "M0000101"}, "page": 1, "rows": 2}

    auditor.get(URL)
    assert len(views()) == 2
    assert views()[1].detail == {"filter": {}, "page": 1, "rows": 6}  # the first view counts


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"member_no": "M0000101"}, {"member": "M0000101"}),
        ({"actor": "op-sato"}, {"actor": "op-sato"}),
        ({"action": "member_unlock"}, {"action": "member_unlock"}),
        ({"date_from": "2025-05-01", "date_to": "2025-05-31"}, {"range": ("05-01", "05-31")}),
    ],
)
def test_each_search_equals_a_direct_query(staff_client, trail, query, expected):
    response = staff_client(Role.AUDITOR).get(URL, query)
    rows = AuditEntry.objects.exclude(action="audit_view")
    if "member" in expected:
        rows = rows.filter(member__member_no=expected["member"])
    if "actor" in expected:
        rows = rows.filter(actor__iexact=expected["actor"])  # a login ID in any case
    if "action" in expected:
        rows = rows.filter(action=expected["action"])
    if "range" in expected:
        rows = rows.filter(at__gte=at("2025-05-01T00:00"), at__lt=at("2025-06-01T00:00"))

    assert sorted(e.pk for e, _ in response.context["rows"]) == sorted(r.pk for r in rows)
    assert (
        len(response.context["rows"])
        == {
            "member": 2,
            "actor": 2,
            "action": 1,
            "range": 3,
        }[next(iter(expected))]
    )


def test_the_date_range_is_whole_jst_days(staff_client, trail):
    auditor = staff_client(Role.AUDITOR)
    response = auditor.get(URL, {"date_from": "2025-05-01"})
    assert "op-sato|paper_preference_change|M0000101" not in texts(response)  # 04-30 23:59:59
    response = auditor.get(URL, {"date_to": "2025-05-31"})
    assert "op-ito|member_view|M0000102" not in texts(response)  # 06-01 00:00:00
    assert "scheduler|statements_publish|" in texts(response)  # 05-31 23:59:59


def test_a_reversed_range_is_refused_and_nothing_is_searched(staff_client, trail):
    response = staff_client(Role.AUDITOR).get(
        URL, {"date_from": "2025-06-01", "date_to": "2025-05-01"}
    )
    assert response.status_code == 200
    assert "開始日は終了日以前の日付を入力してください。" in response.content.decode()
    assert response.context["rows"] == []
    assert views() == []


def test_over_long_input_gets_the_form_error(staff_client, trail):
    response = staff_client(Role.AUDITOR).get(URL, {"actor": "x" * 151})
    assert response.status_code == 200
    assert response.context["form"].errors["actor"]


def test_pages_of_fifty(staff_client):
    for n in range(120):
        made(f"2025-05-01T09:{n // 60:02d}:{n % 60:02d}", detail={"n": n})
    auditor = staff_client(Role.AUDITOR)

    third = auditor.get(URL, {"action": "paper_preference_change", "page": "3"})

    assert [e.detail["n"] for e, _ in third.context["rows"]] == list(range(19, -1, -1))
    assert "3 / 3ページ" in third.content.decode()
    assert views()[-1].detail == {
        "filter": {"action": "paper_preference_change"},
        "page": 3,
        "rows": 120,
    }


def _read(response, encoding: str) -> list[list[str]]:
    data = b"".join(response.streaming_content)
    if encoding == "utf-8":
        assert data.startswith(codecs.BOM_UTF8)
        text = data[len(codecs.BOM_UTF8) :].decode("utf-8")
    else:
        text = data.decode("cp932")
    return list(csv.reader(io.StringIO(text)))


def test_the_csv_export_is_cp932_by_default_and_formula_safe(staff_client, trail):
    made("2025-05-20T10:00:00", actor='=HYPERLINK("http://x")', detail={"note": "髙橋"})

    response = staff_client(Role.AUDITOR).get(CSV_URL, {"date_from": "2025-05-20"})

    assert response["Content-Type"] == "text/csv; charset=Shift_JIS"
    assert (
        "filename*=UTF-8''%E7%9B%A3%E6%9F%BB%E3%83%AD%E3%82%B0_"
        in (response["Content-Disposition"])
    )
    rows = _read(response, "cp932")
    assert rows[0] == ["日時", "実行者", "操作", "会員番号", "接続元", "詳細"]
    assert rows[1:] == [
        ["2025-06-01 00:00:00", "op-ito", "member_view", "M0000102", "", "{}"],
        ["2025-05-31 23:59:59", "scheduler", "statements_publish", "", "", "{}"],
        [
            "2025-05-20 10:00:00",
            '\'=HYPERLINK("http://x")',
            "paper_preference_change",
            "",
            "",
            '{"note": "髙橋"}',
        ],
    ]


def test_the_csv_export_in_utf8(staff_client, trail):
    response = staff_client(Role.ADMINISTRATOR).get(
        CSV_URL, {"member_no": "M0000101", "encoding": "utf-8"}
    )

    assert response["Content-Type"] == "text/csv; charset=utf-8"
    rows = _read(response, "utf-8")
    assert [row[2] for row in rows[1:]] == ["member_unlock", "paper_preference_change"]


def test_the_export_is_a_row_of_the_trail_with_its_filter_and_count(staff_client, trail):
    auditor = staff_client(Role.AUDITOR)
    response = auditor.get(CSV_URL, {"actor": "op-ito", "encoding": "utf-8"})
    rows = _read(response, "utf-8")

    export = AuditEntry.objects.get(action="audit_export")
    assert (export.actor, export.client_ip) == ("staff-auditor", "127.0.0.1")
    assert export.detail == {"filter": {"actor": "op-ito"}, "rows": 2, "encoding": "utf-8"}
    assert len(rows) - 1 == export.detail["rows"]

    # The export's own row is not in the file it describes.
    everything = _read(auditor.get(CSV_URL, {"encoding": "utf-8"}), "utf-8")
    second = AuditEntry.objects.filter(action="audit_export").order_by("-id").first()
    assert len(everything) - 1 == second.detail["rows"] == 6  # five rows and the first export
    assert [row[2] for row in everything[1:]].count("audit_export") == 1


def test_the_menu_links_to_the_trail_for_auditors(staff_client, trail):
    html = staff_client(Role.AUDITOR).get(URL).content.decode()
    assert f'href="{URL}"' in html
    assert "style=" not in html and "<script" not in html
