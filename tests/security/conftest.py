"""The world the URL sweeps walk (tests/security/test_url_sweeps.py): two members with a
published statement each, an operator, a magazine, emailed links that really exist, and the
clock stopped on a day when both statements are in the window."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import time_machine
from django.core.cache import cache
from django.test import Client

from meisai.accounts.links import account_link_issue
from meisai.accounts.models import Account, AccountToken
from meisai.audit.services import audit_record
from meisai.clock import JST
from meisai.magazines.models import MagazineIssue, MagazineSettings
from meisai.members.models import Member, Phone
from meisai.notifications.models import OutboxMessage
from meisai.statements.models import Statement
from tests.accounts.conftest import BIRTH_DATE, CARD_NUMBER, MOBILE_PHONE, start_registration
from tests.backoffice.conftest import second_factor_passed
from tests.factories import (
    AccountFactory,
    CardFactory,
    MagazineIssueFactory,
    MemberFactory,
    PhoneFactory,
    PointBalanceFactory,
    StatementFactory,
    statement_usage_line,
)

#: 2025-05-12 10:00 JST: April 2025 (published 2025-04-14) is the latest statement, March is
#: in the window too.
NOW = dt.datetime(2025, 5, 12, 10, 0, tzinfo=JST)
MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"
#: What a forged emailed link carries: well formed, never issued.
FORGED_TOKEN = "forged-Zm9yZ2VkLXRva2VuLW5ldmVyLWlzc3VlZA"
#: A merchant only member A's statement shows: no answer to member B may contain it.
A_MERCHANT = "北上の秘密の店"


@dataclass
class World:
    a: Account
    b: Account
    staff: Account
    a_month: str
    b_month: str
    nobodys_month: str
    a_statement: Statement
    magazine: MagazineIssue
    outbox_message: OutboxMessage
    #: Real tokens of emailed links (route name → token), besides the forged one.
    tokens: dict[str, str]


def published(account: Account, month: str, merchant: str) -> Statement:
    card = CardFactory(member=account.member)
    statement = StatementFactory(
        member=account.member,
        billing_month=month,
        usage_total=4321,
        line_count=1,
        confirmed_at=dt.datetime(2025, int(month[-2:]), 10, 3, 0, tzinfo=JST),
        published_at=dt.datetime(2025, int(month[-2:]), 14, 9, 0, tzinfo=JST),
    )
    statement_usage_line(statement, line_no=1, card=card, merchant=merchant, use_amount=4321)
    return statement


@pytest.fixture(autouse=True)
def _frozen() -> Iterator[Any]:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture(autouse=True)
def _quick_passwords(settings: Any) -> None:
    # The sweeps test routes, not hashing: Argon2id for every factory account is most of the
    # set-up time otherwise.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    # Rendered statements are cached under the member's id, which tests reuse.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def world(db: Any) -> World:
    a = AccountFactory(login_id="member.a")
    b = AccountFactory(login_id="member.b")
    staff = AccountFactory(
        login_id="backoffice-admin",
        member=None,
        is_staff=True,
        is_superuser=True,
        source=Account.Source.STAFF,
    )
    a_statement = published(a, "2025-04", A_MERCHANT)
    published(b, "2025-03", "盛岡百貨店")
    PointBalanceFactory(member=b.member)
    MagazineSettings.objects.update_or_create(pk=1, defaults={"enabled": True})
    magazine = MagazineIssueFactory()
    reset, _ = account_link_issue(account=b, purpose=AccountToken.Purpose.PASSWORD_RESET)
    change, _ = account_link_issue(
        account=b, purpose=AccountToken.Purpose.EMAIL_CHANGE, new_email="new.b@example.jp"
    )
    identity_path = start_registration(Client(), "visitor@example.jp")
    audit_record(actor="test", action="sweep_fixture", member=b.member, detail={})
    return World(
        a=a,
        b=b,
        staff=staff,
        a_month="2025-04",
        b_month="2025-03",
        nobodys_month="2025-02",
        a_statement=a_statement,
        magazine=magazine,
        outbox_message=OutboxMessage.objects.latest("id"),
        tokens={
            "accounts:password_reset": reset,
            "accounts:email_confirm": change,
            "accounts:register_identity": identity_path.rstrip("/").rsplit("/", 1)[-1],
        },
    )


@pytest.fixture
def cardholder(db: Any) -> Member:
    """The member ``tests.accounts.conftest.identity()`` describes, without a web account yet."""
    member = MemberFactory(birth_date=BIRTH_DATE, email="core@example.jp")
    CardFactory(member=member, number=CARD_NUMBER, expiry="2029-12")
    PhoneFactory(member=member, kind=Phone.Kind.MOBILE, number=MOBILE_PHONE)
    return member


def logged_in(account: Account, **client_options: Any) -> Client:
    client = Client(**client_options)
    if account.is_staff:
        client.force_login(account, backend=MODEL_BACKEND)
        second_factor_passed(client, account)
    else:
        client.force_login(account)
    return client
