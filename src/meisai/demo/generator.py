"""Demo files as the core card system would send them, reproducible from a seed.

The same seed, member count and latest billing month always give byte-identical files, so a
second ``meisai demo`` finds every file imported before and changes nothing. Each billing
month's usage depends only on the months before it, so a later run adds the new months'
files and leaves the old ones as they were.

The story, member by member (the first ones; the rest are drawn at random):

* M0000001 legacy 本人認証サービス member who has not stopped paper (pays the fee from 2025-04)
* M0000002 legacy member who stopped paper on 2024-12-05 (campaign: 1,000 points in 2025-04)
* M0000003 registered on the web on 2024-11-20 (campaign)
* M0000004 registered on 2025-04-09 23:30 (before the cutoff: April on the web, no fee)
* M0000005 registered on 2025-04-10 10:00 (after the cutoff: April on paper with the fee)
* M0000006 IRIS card only (outside WEB請求明細, no fee)
* M0000007 registered in the campaign window, cancelled on 2025-02-15 (no points)
* M0000008 fee-exempt (paper, no fee)
* M0000009 paper-required, with a legacy account (cannot stop paper)
* M0000010 holds a family card (家族 lines)
"""

from __future__ import annotations

import csv
import datetime as dt
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.contrib.auth.hashers import PBKDF2PasswordHasher

from meisai import billing_calendar as cal
from meisai.billing_calendar import BillingMonth
from meisai.clock import JST

#: Every demo login uses this password (printed by ``meisai demo``).
DEMO_PASSWORD = "sakura-iwate-2025"  # noqa: S105 — a published demo password
FIRST_MONTH = BillingMonth(2024, 10)
SEED = 20241113

SURNAMES = [
    ("佐藤", "サトウ"), ("佐々木", "ササキ"), ("高橋", "タカハシ"), ("千葉", "チバ"),
    ("菊池", "キクチ"), ("阿部", "アベ"), ("伊藤", "イトウ"), ("及川", "オイカワ"),
    ("藤原", "フジワラ"), ("小野寺", "オノデラ"), ("鈴木", "スズキ"), ("工藤", "クドウ"),
    ("吉田", "ヨシダ"), ("村上", "ムラカミ"), ("遠藤", "エンドウ"), ("斉藤", "サイトウ"),
    ("熊谷", "クマガイ"), ("畠山", "ハタケヤマ"), ("菅原", "スガワラ"), ("昆", "コン"),
    ("中村", "ナカムラ"), ("八重樫", "ヤエガシ"), ("似内", "ニタナイ"), ("三浦", "ミウラ"),
]  # fmt: skip
GIVEN_NAMES = [
    ("太郎", "タロウ"), ("一郎", "イチロウ"), ("健太", "ケンタ"), ("翔太", "ショウタ"),
    ("大輔", "ダイスケ"), ("誠", "マコト"), ("浩", "ヒロシ"), ("拓也", "タクヤ"),
    ("賢治", "ケンジ"), ("啄木", "タクボク"), ("花子", "ハナコ"), ("陽子", "ヨウコ"),
    ("美咲", "ミサキ"), ("愛", "アイ"), ("恵子", "ケイコ"), ("由美", "ユミ"),
    ("さくら", "サクラ"), ("結衣", "ユイ"), ("直美", "ナオミ"), ("智子", "トモコ"),
    ("和子", "カズコ"), ("幸子", "サチコ"), ("光", "ヒカル"), ("蓮", "レン"),
]  # fmt: skip
PLACES = [
    ("020-0021", "岩手県盛岡市中央通"), ("020-0045", "岩手県盛岡市盛岡駅西通"),
    ("020-0866", "岩手県盛岡市本宮"), ("025-0075", "岩手県花巻市花城町"),
    ("024-0061", "岩手県北上市大通り"), ("023-0053", "岩手県奥州市水沢大手町"),
    ("029-0131", "岩手県一関市狐禅寺"), ("027-0073", "岩手県宮古市緑ケ丘"),
    ("022-0002", "岩手県大船渡市大船渡町"), ("028-0041", "岩手県久慈市長内町"),
    ("028-3621", "岩手県紫波郡矢巾町南矢幅"), ("020-0173", "岩手県岩手郡滝沢村"),
]  # fmt: skip
MERCHANTS = [
    "イオン盛岡南店", "ユニバース盛岡店", "ケーズデンキ盛岡本店", "ENEOS 盛岡インターSS",
    "マルイチ 北上店", "さわや書店 フェザン店", "JR東日本 盛岡駅", "岩手県交通",
    "ツルハドラッグ 花巻店", "Amazon.co.jp", "楽天市場", "東北電力",
    "NTTドコモ", "盛岡冷麺 ぴょんぴょん舎", "川徳", "ジョイス 本宮店",
    "薬王堂 矢巾店", "ホーマック 一関店", "わんこそば 東家", "小岩井農場",
]  # fmt: skip
BIG_TICKET = ["ケーズデンキ盛岡本店", "ヤマダデンキ 盛岡本店", "ニトリ 盛岡店", "岩手トヨペット"]


@dataclass
class DemoMember:
    member_no: str
    name_kanji: str
    name_kana: str
    birth_date: dt.date
    postal_code: str
    address: str
    phone_home: str
    phone_mobile: str
    email: str
    cards: list[tuple[str, str, str]]  # (number, expiry, product)
    status: str = "active"
    cancelled_on: dt.date | None = None
    fee_exempt: bool = False
    paper_required: bool = False
    #: What the member does, for the printed logins.
    kind: str = "紙明細(未登録)"
    login_id: str = ""
    legacy_enrolled_at: dt.datetime | None = None
    #: When the member registered on the web (a new account) or stopped paper (legacy).
    web_at: dt.datetime | None = None
    family_card: bool = False


@dataclass
class DemoFiles:
    directory: Path
    products: Path
    members: Path
    enrollments: Path
    points: Path
    usage: list[tuple[BillingMonth, Path]] = field(default_factory=list)
    #: The リボ and 分割 balances left after each month (``meisai import balances``).
    balances: list[tuple[BillingMonth, Path]] = field(default_factory=list)
    people: list[DemoMember] = field(default_factory=list)


def _luhn_complete(prefix: str) -> str:
    """``prefix`` plus the Luhn check digit, so demo numbers pass any card-number check."""
    total = 0
    for index, char in enumerate(reversed(prefix)):
        digit = int(char)
        if index % 2 == 0:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return prefix + str((10 - total % 10) % 10)


def _moment(year: int, month: int, day: int, hour: int = 12, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=JST)


def demo_members(count: int, *, seed: int = SEED) -> list[DemoMember]:
    """The demo's member master: the story members first, then random ones."""
    rng = random.Random(seed)  # noqa: S311 — reproducible demo data, not secrets
    people: list[DemoMember] = []
    for n in range(1, count + 1):
        surname, surname_kana = rng.choice(SURNAMES)
        given, given_kana = rng.choice(GIVEN_NAMES)
        postal, town = rng.choice(PLACES)
        number = _luhn_complete(f"4980{rng.randrange(10**11):011d}")
        member = DemoMember(
            member_no=f"M{n:07d}",
            name_kanji=f"{surname} {given}",
            name_kana=f"{surname_kana} {given_kana}",
            birth_date=dt.date(rng.randint(1940, 2003), rng.randint(1, 12), rng.randint(1, 28)),
            postal_code=postal,
            address=f"{town}{rng.randint(1, 5)}-{rng.randint(1, 30)}-{rng.randint(1, 20)}",
            phone_home=f"019-6{rng.randint(10, 99)}-{rng.randint(1000, 9999)}"
            if rng.random() < 0.6
            else "",
            phone_mobile=f"0{rng.choice('789')}0-{rng.randint(1000, 9999)}-{rng.randint(1000, 9999)}",
            email=f"demo{n:04d}@example.jp",
            cards=[(number, f"20{rng.randint(26, 31)}-{rng.randint(1, 12):02d}", "STD")],
        )
        if not member.phone_home and not member.phone_mobile:
            member.phone_mobile = "090-0000-0000"
        roll = rng.random()
        if n > 10:
            if roll < 0.08:
                member.cards[0] = (member.cards[0][0], member.cards[0][1], "GOLD")
            if roll < 0.3:
                member.kind = "WEB登録"
                member.web_at = _moment(2024, 11, 13, 5) + dt.timedelta(
                    minutes=rng.randrange(60 * 24 * 700)
                )
            elif roll < 0.42:
                member.kind = "本人認証サービス既存"
                member.legacy_enrolled_at = _moment(2019, 1, 1) + dt.timedelta(
                    days=rng.randrange(2100)
                )
                if rng.random() < 0.5:
                    member.kind = "本人認証サービス既存・紙明細停止"
                    member.web_at = _moment(2024, 11, 13, 9) + dt.timedelta(
                        minutes=rng.randrange(60 * 24 * 400)
                    )
            elif roll < 0.44:
                member.cards[0] = (member.cards[0][0], member.cards[0][1], "IRIS")
                member.kind = "IRISカード(対象外)"
            if rng.random() < 0.05:
                member.family_card = True
        people.append(member)
    _story(people)
    for member in people:
        if member.family_card:
            family = _luhn_complete(
                member.cards[0][0][:-4] + f"{(int(member.cards[0][0][-4:-1]) + 1) % 1000:03d}"
            )
            member.cards.append((family, member.cards[0][1], member.cards[0][2]))
        if member.legacy_enrolled_at or member.web_at:
            member.login_id = f"iwate.{member.member_no[-4:]}"
    return people


def _story(people: list[DemoMember]) -> None:
    """The first ten members are the ones the printed logins point at."""
    story: dict[int, dict[str, Any]] = {
        1: {
            "kind": "本人認証サービス既存(紙明細のまま・2025年4月から手数料)",
            "legacy_enrolled_at": _moment(2021, 6, 1),
        },
        2: {
            "kind": "本人認証サービス既存・2024-12-05に紙明細停止(キャンペーン対象)",
            "legacy_enrolled_at": _moment(2020, 3, 15),
            "web_at": _moment(2024, 12, 5, 20, 15),
        },
        3: {
            "kind": "WEB登録 2024-11-20(キャンペーン対象)",
            "web_at": _moment(2024, 11, 20, 19, 40),
        },
        4: {
            "kind": "WEB登録 2025-04-09 23:30(4月分からWEB・手数料なし)",
            "web_at": _moment(2025, 4, 9, 23, 30),
        },
        5: {
            "kind": "WEB登録 2025-04-10 10:00(4月分は紙・手数料あり)",
            "web_at": _moment(2025, 4, 10, 10, 0),
        },
        6: {"kind": "IRISカード(対象外)"},
        7: {"kind": "WEB登録後に退会(2025-02-15)", "web_at": _moment(2024, 12, 1, 9, 0)},
        8: {"kind": "手数料免除(紙明細)"},
        9: {"kind": "紙明細必須・本人認証サービス既存", "legacy_enrolled_at": _moment(2018, 9, 9)},
        10: {"kind": "家族カードあり"},
    }
    for n, values in story.items():
        if n > len(people):
            break
        member = people[n - 1]
        member.kind = str(values["kind"])
        member.web_at = values.get("web_at")
        member.legacy_enrolled_at = values.get("legacy_enrolled_at")
        member.family_card = n == 10
        if n == 6:
            member.cards[0] = (member.cards[0][0], member.cards[0][1], "IRIS")
        if n == 7:
            member.status, member.cancelled_on = "cancelled", dt.date(2025, 2, 15)
        if n == 8:
            member.fee_exempt = True
        if n == 9:
            member.paper_required = True


def _write(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    return path


def demo_files_write(
    directory: Path, *, members: int = 300, latest: BillingMonth | None = None, seed: int = SEED
) -> DemoFiles:
    """Write every demo file into ``directory`` and return their paths and the members."""
    directory.mkdir(parents=True, exist_ok=True)
    latest = latest or cal.latest_billing_month()
    people = demo_members(members, seed=seed)
    files = DemoFiles(
        directory=directory,
        products=_write(
            directory / "products.csv",
            ["product_code", "name", "program_excluded"],
            [
                ["STD", "日専連カード", "0"],
                ["GOLD", "日専連ゴールドカード", "0"],
                ["IRIS", "IRISカード(岩手県学校生協)", "1"],
            ],
        ),
        members=_write(directory / "members.csv", _MEMBER_HEADER, _member_rows(people)),
        enrollments=_write(
            directory / "enrollments.csv",
            ["member_no", "login_id", "password_hash", "personal_message", "email", "enrolled_at"],
            _enrollment_rows(people, seed),
        ),
        points=_write(
            directory / f"points-{latest}.csv",
            ["member_no", "as_of", "balance", "expiring_points", "expires_on"],
            _point_rows(people, latest, seed),
        ),
        people=people,
    )
    balances: dict[BillingMonth, list[list[str]]] = {}
    for month, rows in _usage_by_month(people, latest, seed, balances=balances):
        path = _write(directory / f"usage-{month}.csv", _USAGE_HEADER, rows)
        files.usage.append((month, path))
    for month, rows in balances.items():
        path = _write(directory / f"balances-{month}.csv", _BALANCES_HEADER, rows)
        files.balances.append((month, path))
    return files


_MEMBER_HEADER = [
    "member_no", "card_no", "card_expiry", "product_code", "name_kanji", "name_kana",
    "birth_date", "postal_code", "address", "phone_home", "phone_mobile", "email", "status",
    "cancelled_on", "fee_exempt", "paper_required",
    "debit_bank", "debit_branch", "debit_account_last4",
]  # fmt: skip
_BALANCES_HEADER = ["member_no", "billing_month", "revolving_balance", "installment_balance"]
_USAGE_HEADER = [
    "member_no", "billing_month", "line_no", "use_date", "merchant", "user", "payment_type",
    "installment", "use_amount", "billed_amount", "note", "card_no",
]  # fmt: skip


#: The demo's debit banks and branches (Iwate's regional banks; the account digits are made up).
_DEBIT_BANKS = [
    ("岩手銀行", "本店"),
    ("岩手銀行", "盛岡駅前支店"),
    ("北日本銀行", "本店営業部"),
    ("東北銀行", "花巻支店"),
    ("ゆうちょ銀行", ""),
]


def _debit_account(m: DemoMember) -> list[str]:
    """Bank, branch and last four digits, from the member number (no draw from the demo's
    random streams, so every other demo file stays as it was); every seventh member has none
    sent, so the demo shows a statement without the debit account too."""
    number = int(m.member_no[1:])
    if number % 7 == 0:
        return ["", "", ""]
    bank, branch = _DEBIT_BANKS[number % len(_DEBIT_BANKS)]
    return [bank, branch, f"{(number * 7919) % 10000:04d}"]


def _member_rows(people: list[DemoMember]) -> list[list[str]]:
    rows = []
    for m in people:
        debit = _debit_account(m)
        for number, expiry, product in m.cards:
            rows.append(
                [
                    m.member_no, number, expiry, product, m.name_kanji, m.name_kana,
                    m.birth_date.isoformat(), m.postal_code, m.address, m.phone_home,
                    m.phone_mobile, m.email, m.status,
                    m.cancelled_on.isoformat() if m.cancelled_on else "",
                    "1" if m.fee_exempt else "0", "1" if m.paper_required else "0",
                    *debit,
                ]
            )  # fmt: skip
    return rows


def _enrollment_rows(people: list[DemoMember], seed: int) -> list[list[str]]:
    # The legacy system's hashes: PBKDF2 with fewer iterations than today's default, and a salt
    # from the seed so the file is the same every time. meisai upgrades them at the first login.
    hasher = PBKDF2PasswordHasher()
    rng = random.Random(seed + 1)  # noqa: S311 — reproducible demo data
    rows = []
    for m in people:
        if m.legacy_enrolled_at is None:
            continue
        salt = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(16))
        rows.append(
            [
                m.member_no,
                m.login_id,
                hasher.encode(DEMO_PASSWORD, salt, iterations=60000),
                "いわてのさくら",
                m.email,
                m.legacy_enrolled_at.strftime("%Y-%m-%d %H:%M:%S"),
            ]
        )
    return rows


def _point_rows(people: list[DemoMember], latest: BillingMonth, seed: int) -> list[list[str]]:
    rng = random.Random(seed + 2)  # noqa: S311 — reproducible demo data
    as_of = latest.day(1) - dt.timedelta(days=1)
    expires = (latest.plus(3).day(1) - dt.timedelta(days=1)).isoformat()
    rows = []
    for m in people:
        balance = rng.randrange(0, 80) * 50
        expiring = min(balance, rng.randrange(0, 5) * 50)
        rows.append(
            [
                m.member_no,
                as_of.isoformat(),
                str(balance),
                str(expiring),
                expires if expiring else "",
            ]
        )
    return rows


@dataclass
class _Plan:
    """A purchase paid over months (分割 or リボ)."""

    merchant: str
    use_date: dt.date
    amount: int
    payment: str
    count: int
    paid: int = 0


def _usage_by_month(
    people: list[DemoMember],
    latest: BillingMonth,
    seed: int,
    *,
    balances: dict[BillingMonth, list[list[str]]] | None = None,
) -> list[tuple[BillingMonth, list[list[str]]]]:
    """Each month's usage rows; ``balances`` gets each month's remaining リボ and 分割 balances
    of the members paying some (computed from the plans, no draw from the random stream)."""
    rng = random.Random(seed + 3)  # noqa: S311 — reproducible demo data
    plans: dict[str, list[_Plan]] = {m.member_no: [] for m in people}
    months: list[tuple[BillingMonth, list[list[str]]]] = []
    month = FIRST_MONTH
    while month <= latest:
        first, last = cal.usage_period(month)
        span = (last - first).days
        rows: list[list[str]] = []
        for m in people:
            if m.cancelled_on and first > m.cancelled_on:
                continue
            lines: list[list[str]] = []
            card = m.cards[0][0]

            def line(
                use_date: dt.date,
                merchant: str,
                payment: str,
                installment: str,
                use_amount: int,
                billed: int,
                *,
                family: bool = False,
                note: str = "",
                lines: list[list[str]] = lines,
                m: DemoMember = m,
                card: str = card,
                month: BillingMonth = month,
            ) -> None:
                lines.append(
                    [
                        m.member_no, str(month), str(len(lines) + 1), use_date.isoformat(),
                        merchant, "家族" if family else "本人", payment, installment,
                        str(use_amount), str(billed), note,
                        m.cards[1][0] if family and len(m.cards) > 1 else card,
                    ]
                )  # fmt: skip

            for plan in plans[m.member_no]:
                plan.paid += 1
                if plan.payment == "分割":
                    share = plan.amount // plan.count
                    billed = (
                        share if plan.paid < plan.count else plan.amount - share * (plan.count - 1)
                    )
                else:
                    billed = min(10000, plan.amount - 10000 * (plan.paid - 1))
                line(
                    plan.use_date,
                    plan.merchant,
                    plan.payment,
                    f"{plan.paid}/{plan.count}",
                    plan.amount,
                    billed,
                )
            plans[m.member_no] = [p for p in plans[m.member_no] if p.paid < p.count]
            # Some months without usage (no statement); the story members always have some.
            if rng.random() < 0.12 and int(m.member_no[1:]) > 10:
                rows.extend(lines)
                continue
            purchases = rng.randint(1, 7)
            for _ in range(purchases):
                use_date = first + dt.timedelta(days=rng.randint(0, span))
                amount = rng.randint(3, 300) * 100 + rng.choice([0, 0, 80, 98, 50])
                kind = rng.random()
                if kind < 0.04:
                    count = rng.choice([3, 6, 10, 12])
                    big = rng.randint(50, 300) * 1000
                    plans[m.member_no].append(
                        _Plan(rng.choice(BIG_TICKET), use_date, big, "分割", count, paid=0)
                    )
                elif kind < 0.06:
                    big = rng.randint(3, 12) * 10000
                    plans[m.member_no].append(
                        _Plan(rng.choice(BIG_TICKET), use_date, big, "リボ", big // 10000, paid=0)
                    )
                elif kind < 0.08 and month.month in (1, 8):
                    line(use_date, rng.choice(MERCHANTS), "ボーナス", "", amount * 5, amount * 5)
                else:
                    family = len(m.cards) > 1 and rng.random() < 0.4
                    line(use_date, rng.choice(MERCHANTS), "1回", "", amount, amount, family=family)
            if rng.random() < 0.05 and lines and lines[-1][6] == "1回":
                refund = lines[-1]
                amount = -int(refund[8])
                line(
                    dt.date.fromisoformat(refund[3]),
                    refund[4],
                    "1回",
                    "",
                    amount,
                    amount,
                    note="返品",
                )
            rows.extend(lines)
        if balances is not None:
            balances[month] = _balance_rows(people, plans, month)
        months.append((month, rows))
        month = month.next()
    return months


def _balance_rows(
    people: list[DemoMember], plans: dict[str, list[_Plan]], month: BillingMonth
) -> list[list[str]]:
    """What remains of each member's plans once ``month`` is billed (a purchase of the month's
    usage period is owed whole); members with nothing to pay over months get no row."""
    rows = []
    for m in people:
        revolving = installment = 0
        for plan in plans[m.member_no]:
            if plan.payment == "分割":
                installment += plan.amount - (plan.amount // plan.count) * plan.paid
            else:
                revolving += plan.amount - min(plan.amount, 10000 * plan.paid)
        if plans[m.member_no]:
            rows.append([m.member_no, str(month), str(revolving), str(installment)])
    return rows
