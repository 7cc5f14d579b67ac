"""factory_boy factories for every domain. Tests build their data here, not by hand."""

from __future__ import annotations

import datetime as dt

import factory
from factory.django import DjangoModelFactory

from meisai import card_numbers
from meisai.accounts.models import Account
from meisai.clock import JST
from meisai.members.models import Card, DeliveryPreference, Member, Phone, Product
from meisai.statements.models import UsageLine


class ProductFactory(DjangoModelFactory):
    class Meta:
        model = Product
        django_get_or_create = ("code",)

    code = "STD"
    name = "日専連カード"
    program_excluded = False


class MemberFactory(DjangoModelFactory):
    class Meta:
        model = Member

    member_no = factory.Sequence(lambda n: f"M{n + 1:07d}")
    name_kanji = "盛岡 太郎"
    name_kana = "モリオカ タロウ"
    birth_date = dt.date(1960, 4, 1)
    postal_code = "020-0021"
    address = "岩手県盛岡市中央通1-1-1"
    email = factory.LazyAttribute(lambda m: f"{m.member_no.lower()}@example.jp")


#: Card numbers are made from the sequence so each factory card is unique and reproducible.
def card_number_for(n: int) -> str:
    return f"4980{n:012d}"


class CardFactory(DjangoModelFactory):
    class Meta:
        model = Card
        exclude = ("number",)

    member = factory.SubFactory(MemberFactory)
    product = factory.SubFactory(ProductFactory)
    number = factory.Sequence(card_number_for)
    number_hash = factory.LazyAttribute(lambda c: card_numbers.card_hash(c.number))
    last4 = factory.LazyAttribute(lambda c: card_numbers.last_four(c.number))
    expiry = "2029-12"


class PhoneFactory(DjangoModelFactory):
    class Meta:
        model = Phone

    member = factory.SubFactory(MemberFactory)
    kind = Phone.Kind.MOBILE
    number = "09012345678"


class DeliveryPreferenceFactory(DjangoModelFactory):
    class Meta:
        model = DeliveryPreference

    member = factory.SubFactory(MemberFactory)
    method = DeliveryPreference.Method.WEB
    recorded_at = dt.datetime(2024, 11, 20, 12, 0, tzinfo=JST)
    source = DeliveryPreference.Source.MEMBER


class AccountFactory(DjangoModelFactory):
    class Meta:
        model = Account
        skip_postgeneration_save = True

    login_id = factory.Sequence(lambda n: f"member{n + 1:04d}")
    member = factory.SubFactory(MemberFactory)
    email = factory.LazyAttribute(lambda a: f"{a.login_id}@example.jp")
    personal_message = "さくらの季節"
    source = Account.Source.REGISTRATION
    password = factory.PostGenerationMethodCall("set_password", "correct-horse-battery")

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):  # noqa: N805
        if create:
            obj.save()


# --- monthly cycle (statements, points) ---------------------------------------------------------


class UsageLineFactory(DjangoModelFactory):
    """A usage line as the usage import stores it (statements.UsageLine)."""

    class Meta:
        model = "statements.UsageLine"

    member = factory.SubFactory(MemberFactory)
    card = None
    billing_month = "2025-04"
    line_no = factory.Sequence(lambda n: n + 1)
    use_date = dt.date(2025, 3, 15)
    merchant = "盛岡百貨店"
    user_kind = "本人"
    payment_type = "1回"
    installment = ""
    use_amount = 5000
    billed_amount = factory.LazyAttribute(lambda line: line.use_amount)
    note = ""


class PointBalanceFactory(DjangoModelFactory):
    class Meta:
        model = "points.PointBalance"

    member = factory.SubFactory(MemberFactory)
    as_of = dt.date(2025, 3, 31)
    balance = 2500
    expiring_points = 0
    expires_on = None


# --- member pages (published statements, magazines) ---------------------------------------------


class StatementFactory(DjangoModelFactory):
    """A confirmed and published statement.

    Its usage lines are its member's UsageLine rows of its billing month (make them with
    :func:`statement_usage_line`); its paper fee is ``fee_total``, which the selectors print as
    the last line (``line_count`` counts it). Keep ``usage_total`` and ``line_count`` in step
    with the lines you make: nothing checks them here.
    """

    class Meta:
        model = "statements.Statement"

    member = factory.SubFactory(MemberFactory)
    billing_month = "2025-04"
    delivery = "web"
    usage_total = 0
    fee_total = 0
    total = factory.LazyAttribute(lambda s: s.usage_total + s.fee_total)
    line_count = 0
    points_granted = 0
    debit_date = dt.date(2025, 4, 28)
    confirmed_at = dt.datetime(2025, 4, 10, 3, 0, tzinfo=JST)
    published_at = dt.datetime(2025, 4, 14, 9, 0, tzinfo=JST)


def statement_usage_line(statement, **fields) -> UsageLine:
    """A usage line of ``statement``: its member's usage line of its billing month.

    ``fields`` are UsageLineFactory's (line_no, card, merchant, use_amount, …). The paper fee is
    no line of its own: give the statement ``fee_total`` (and count it in ``line_count``)."""
    return UsageLineFactory(
        member=statement.member, billing_month=statement.billing_month, **fields
    )


class MagazineIssueFactory(DjangoModelFactory):
    class Meta:
        model = "magazines.MagazineIssue"

    title = "会員情報誌 春号"
    month = "2025-04"
    pdf = factory.django.FileField(filename="spring.pdf", data=b"%PDF-1.4 magazine")
    uploaded_by = "operator"
