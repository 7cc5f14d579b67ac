"""The early-registration campaign (SPEC 3.7) granted by the close of 2025-04, as the flyer says."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import IntegrityError, transaction

from meisai.billing_calendar import BillingMonth
from meisai.members.models import DeliveryPreference
from meisai.points.models import Campaign, PointEntry
from meisai.points.services import campaign_load_defaults
from meisai.statements.models import Statement
from tests.factories import (
    CardFactory,
    DeliveryPreferenceFactory,
    MemberFactory,
    ProductFactory,
    UsageLineFactory,
)
from tests.statements.cycle import close, jst

pytestmark = pytest.mark.django_db


def registrant(at: dt.datetime, source: str = DeliveryPreference.Source.REGISTRATION, **member):
    person = MemberFactory(**member)
    DeliveryPreferenceFactory(member=person, method="web", recorded_at=at, source=source)
    UsageLineFactory(member=person, billing_month="2025-04", billed_amount=1_000)
    return person


def granted(member) -> list[tuple[str, int, BillingMonth]]:
    return list(
        PointEntry.objects.filter(member=member).values_list(
            "campaign__code", "points", "billing_month"
        )
    )


FLYER = [("web-early-2024", 1000, BillingMonth(2025, 4))]


@pytest.fixture
def campaign():
    return campaign_load_defaults(actor="test")


def test_registered_at_the_first_moment_gets_1000_points_in_april(campaign):
    member = registrant(jst(2024, 11, 13, 0, 0, 0))

    result = close("2025-04")

    assert granted(member) == FLYER
    assert Statement.objects.get(member=member).points_granted == 1000
    assert (result.grants, result.points_granted) == (1, 1000)


def test_registered_at_the_last_second_gets_1000_points(campaign):
    on_the_second = registrant(jst(2025, 2, 28, 23, 59, 59))
    within_it = registrant(jst(2025, 2, 28, 23, 59, 59).replace(microsecond=500_000))

    close("2025-04")

    assert granted(on_the_second) == FLYER
    assert granted(within_it) == FLYER


def test_registered_on_2025_03_01_or_before_the_window_gets_nothing(campaign):
    late = registrant(jst(2025, 3, 1, 0, 0, 0))
    early = registrant(jst(2024, 11, 12, 23, 59, 59))

    close("2025-04")

    assert granted(late) == [] and granted(early) == []
    assert Statement.objects.get(member=late).points_granted == 0


def test_cancelled_in_march_gets_nothing(campaign):
    member = registrant(
        jst(2024, 12, 1, 10, 0), status="cancelled", cancelled_on=dt.date(2025, 3, 20)
    )

    close("2025-04")

    assert granted(member) == []


def test_cancelled_before_the_confirmation_day_gets_nothing_but_later_still_gets_it(campaign):
    # April's confirmation day is Monday 2025-04-14: the grant is made with that statement.
    on_the_day = registrant(
        jst(2024, 12, 1, 10, 0), status="cancelled", cancelled_on=dt.date(2025, 4, 14)
    )
    after = registrant(
        jst(2024, 12, 1, 10, 0), status="cancelled", cancelled_on=dt.date(2025, 4, 15)
    )

    close("2025-04")

    assert granted(on_the_day) == []
    assert granted(after) == FLYER


def test_legacy_member_who_pressed_stop_paper_on_2025_01_20_qualifies(campaign):
    legacy = registrant(jst(2025, 1, 20, 15, 30), source=DeliveryPreference.Source.MEMBER)

    close("2025-04")

    assert granted(legacy) == FLYER


def test_operator_and_import_changes_do_not_qualify(campaign):
    by_operator = MemberFactory()
    DeliveryPreference.objects.create(
        member=by_operator,
        method="web",
        recorded_at=jst(2025, 1, 5, 10, 0),
        source="operator",
        reason="電話受付",
    )
    by_import = registrant(jst(2025, 1, 5, 10, 0), source=DeliveryPreference.Source.IMPORT)

    close("2025-04")

    assert granted(by_operator) == [] and granted(by_import) == []


def test_iris_card_and_programme_excluded_members_get_nothing():
    iris = ProductFactory(code="IRIS", name="IRISカード", program_excluded=True)
    standard = ProductFactory(code="STD")
    campaign_load_defaults(actor="test")
    only_iris = registrant(jst(2024, 12, 1, 10, 0))
    CardFactory(member=only_iris, product=iris)
    both = registrant(jst(2024, 12, 1, 10, 0))
    CardFactory(member=both, product=iris)
    CardFactory(member=both, product=standard)
    excluded = registrant(jst(2024, 12, 1, 10, 0), program_excluded=True)

    close("2025-04")

    assert granted(only_iris) == []
    assert granted(excluded) == []
    # A member who also holds a card inside the programme registered with it and qualifies.
    assert granted(both) == FLYER


def test_a_registrant_without_april_usage_still_gets_the_points_but_no_statement(campaign):
    member = MemberFactory()
    DeliveryPreferenceFactory(member=member, method="web", recorded_at=jst(2024, 12, 1, 10, 0))

    close("2025-04")

    assert granted(member) == FLYER
    assert not Statement.objects.filter(member=member).exists()


def test_points_are_granted_once_per_member_ever(campaign):
    member = registrant(jst(2024, 12, 1, 10, 0))
    close("2025-04")
    # Someone moves the campaign's grant month afterwards: the May close grants nothing again.
    Campaign.objects.filter(pk=campaign.pk).update(grant_month="2025-05")
    UsageLineFactory(member=member, billing_month="2025-05")

    result = close("2025-05")

    assert granted(member) == FLYER
    assert (result.grants, result.points_granted) == (0, 0)
    assert Statement.objects.get(member=member, billing_month="2025-05").points_granted == 0
    with (
        pytest.raises(
            IntegrityError,
            match="one_grant_per_member_and_campaign|UNIQUE constraint failed: points_pointentry",
        ),
        transaction.atomic(),
    ):
        PointEntry.objects.create(
            member=member,
            kind="campaign",
            points=1000,
            billing_month="2025-05",
            campaign=campaign,
            description="二重付与",
            recorded_at=jst(2025, 5, 11, 12, 0),
        )


def test_no_grant_in_other_months(campaign):
    member = registrant(jst(2024, 12, 1, 10, 0))
    UsageLineFactory(member=member, billing_month="2025-03")

    close("2025-03")

    assert granted(member) == []
