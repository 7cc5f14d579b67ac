"""``meisai demo --no-serve``: demo data through the importers, the monthly cycle, the logins."""

from __future__ import annotations

import datetime as dt
import io

import pytest
import time_machine
from django.conf import settings as django_settings
from django.core.management import call_command

from meisai.accounts.models import Account, Enrollment
from meisai.billing_calendar import BillingMonth
from meisai.clock import JST
from meisai.imports.models import ImportBatch
from meisai.members.models import Member
from meisai.statements.models import MonthClose, Statement, UsageLine

pytestmark = pytest.mark.django_db


def run_demo(tmp_path) -> str:
    out = io.StringIO()
    with time_machine.travel(dt.datetime(2025, 5, 20, 12, 0, tzinfo=JST), tick=False):
        call_command(
            "demo", "--no-serve", "--members", "24", "--data-dir", str(tmp_path), stdout=out
        )
    return out.getvalue()


def counts() -> tuple[int, ...]:
    return (
        Member.objects.count(),
        UsageLine.objects.count(),
        Account.objects.count(),
        Enrollment.objects.count(),
        Statement.objects.count(),
        ImportBatch.objects.filter(status="done").count(),
    )


def statement(member_no: str, month: str) -> tuple:
    return Statement.objects.values_list("delivery", "fee_total", "points_granted").get(
        member__member_no=member_no, billing_month=month
    )


def test_demo_loads_members_usage_accounts_and_prints_logins(tmp_path):
    output = run_demo(tmp_path)

    assert Member.objects.count() == 24
    assert UsageLine.objects.filter(billing_month="2024-10").exists()
    assert UsageLine.objects.filter(user_kind="家族").exists()
    assert UsageLine.objects.filter(payment_type="分割", installment__regex=r"^\d+/\d+$").exists()
    assert UsageLine.objects.filter(billed_amount__lt=0, note="返品").exists()
    # Every file went through the importers: 4 master files, one usage and one balances file
    # per month.
    assert ImportBatch.objects.filter(status="done", actor="demo").count() == 4 + 8 + 8
    assert Member.objects.get(member_no="M0000006").program_excluded is True
    assert Member.objects.get(member_no="M0000007").status == "cancelled"
    legacy = Account.objects.get(login_id="iwate.0001")
    assert (legacy.source, legacy.check_password("sakura-iwate-2025")) == ("legacy", True)
    assert Account.objects.get(login_id="iwate.0003").source == "registration"

    # Every month from 2024-11 to the latest (2025-05 on 2025-05-20) is closed and published.
    assert list(
        MonthClose.objects.order_by("billing_month").values_list("billing_month", "status")
    ) == [(BillingMonth(2024, 11).plus(i), "confirmed") for i in range(7)]
    assert not MonthClose.objects.filter(published_at__isnull=True).exists()
    # The story the logins point at, checked on the April 2025 statements.
    assert statement("M0000001", "2025-04") == ("paper", 165, 0)
    assert statement("M0000002", "2025-04") == ("web", 0, 1000)
    assert statement("M0000003", "2025-04") == ("web", 0, 1000)
    assert statement("M0000004", "2025-04") == ("web", 0, 0)
    assert statement("M0000005", "2025-04") == ("paper", 165, 0)
    assert statement("M0000006", "2025-04") == ("paper", 0, 0)
    assert statement("M0000008", "2025-04") == ("paper", 0, 0)  # fee-exempt

    assert "ログインID iwate.0001     パスワード sakura-iwate-2025  本人認証サービス既存" in output
    assert "ログインID iwate.0003     パスワード sakura-iwate-2025  WEB登録 2024-11-20" in output
    assert "/demo/outbox/" in output


def test_running_the_demo_twice_changes_nothing(tmp_path):
    run_demo(tmp_path)
    before = counts()
    output = run_demo(tmp_path)
    assert counts() == before
    assert "members.csv: 取込済み(変更なし)" in output
    assert "(取込済み 8 ファイルは変更なし)" in output
    assert ImportBatch.objects.filter(kind="balances", status="unchanged").count() == 8


def test_the_demo_s_mailed_links_use_the_address_it_serves_on(tmp_path, monkeypatch):
    from meisai.accounts.links import site_url
    from meisai.core.management.commands import demo

    monkeypatch.delenv("MEISAI_BASE_URL", raising=False)
    # The command sets these for the server it starts; put them back afterwards.
    monkeypatch.setattr(django_settings, "MEISAI_BASE_URL", django_settings.MEISAI_BASE_URL)
    monkeypatch.setattr(django_settings, "ALLOWED_HOSTS", list(django_settings.ALLOWED_HOSTS))
    served: dict[str, object] = {}

    def fake_call_command(name, *args, **kwargs):
        if name == "runserver":
            served.update(addr=args[0], link=site_url("/register/"))
            served["allowed"] = list(django_settings.ALLOWED_HOSTS)
            return None
        return call_command(name, *args, **kwargs)

    monkeypatch.setattr(demo, "call_command", fake_call_command)
    with time_machine.travel(dt.datetime(2025, 5, 20, 12, 0, tzinfo=JST), tick=False):
        call_command(
            "demo",
            "--members",
            "8",
            "--data-dir",
            str(tmp_path),
            "--addr",
            "192.0.2.10:8123",
            stdout=io.StringIO(),
        )
    assert served["addr"] == "192.0.2.10:8123"
    assert served["link"] == "http://192.0.2.10:8123/register/"
    assert "192.0.2.10" in served["allowed"]
