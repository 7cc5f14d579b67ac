"""Helpers for import tests: write a CSV file, run ``meisai import`` through call_command."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

PRODUCTS_HEADER = "product_code,name,program_excluded"
MEMBERS_HEADER = (
    "member_no,card_no,card_expiry,product_code,name_kanji,name_kana,birth_date,postal_code,"
    "address,phone_home,phone_mobile,email,status,cancelled_on,fee_exempt,paper_required"
)
USAGE_HEADER = (
    "member_no,billing_month,line_no,use_date,merchant,user,payment_type,installment,"
    "use_amount,billed_amount,note"
)
ENROLLMENTS_HEADER = "member_no,login_id,password_hash,personal_message,email,enrolled_at"
POINTS_HEADER = "member_no,as_of,balance,expiring_points,expires_on"

CARD_1 = "4980123412340001"
CARD_2 = "4980123412340002"
CARD_3 = "4980123412340003"


def member_row(
    member_no: str = "M0000001",
    card: str = CARD_1,
    *,
    product: str = "STD",
    name: str = "盛岡 太郎",
    kana: str = "モリオカ タロウ",
    phone_home: str = "019-623-1111",
    phone_mobile: str = "090-1234-5678",
    email: str = "taro@example.jp",
    status: str = "active",
    cancelled_on: str = "",
    fee_exempt: str = "0",
    paper_required: str = "0",
    expiry: str = "2029-12",
    birth: str = "1960-04-01",
) -> str:
    return ",".join(
        [
            member_no,
            card,
            expiry,
            product,
            name,
            kana,
            birth,
            "020-0021",
            "岩手県盛岡市中央通1-1-1",
            phone_home,
            phone_mobile,
            email,
            status,
            cancelled_on,
            fee_exempt,
            paper_required,
        ]
    )


def usage_row(
    member_no: str = "M0000001",
    month: str = "2025-01",
    line_no: str = "1",
    *,
    use_date: str = "2024-12-03",
    merchant: str = "イオン盛岡南",
    user: str = "本人",
    payment: str = "1回",
    installment: str = "",
    use_amount: str = "3980",
    billed_amount: str = "3980",
    note: str = "",
) -> str:
    return ",".join(
        [
            member_no,
            month,
            line_no,
            use_date,
            merchant,
            user,
            payment,
            installment,
            use_amount,
            billed_amount,
            note,
        ]
    )


class Importer:
    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.count = 0

    def write(
        self, header: str, *rows: str, encoding: str = "utf-8", name: str | None = None
    ) -> Path:
        self.count += 1
        path = self.tmp_path / (name or f"file{self.count}.csv")
        path.write_bytes(("\n".join([header, *rows]) + "\n").encode(encoding))
        return path

    def run(self, kind: str, path: Path, *args: str) -> str:
        out = io.StringIO()
        call_command("import", kind, str(path), "--actor", "test", *args, stdout=out, verbosity=0)
        return out.getvalue().strip()

    def refused(self, kind: str, path: Path, *args: str) -> list[str]:
        with pytest.raises(CommandError) as caught:
            self.run(kind, path, *args)
        lines = str(caught.value).splitlines()
        assert lines[-1].endswith("nothing was imported")
        return lines[:-1]

    def products(self) -> Path:
        path = self.write(
            PRODUCTS_HEADER,
            "STD,日専連カード,0",
            "GOLD,日専連ゴールドカード,0",
            "IRIS,IRISカード,1",
        )
        self.run("products", path)
        return path

    def members(self, *rows: str) -> Path:
        path = self.write(MEMBERS_HEADER, *(rows or (member_row(),)))
        self.run("members", path)
        return path


@pytest.fixture
def importer(tmp_path: Path) -> Importer:
    return Importer(tmp_path)
