"""After a registration or a paper change, the top page says from which billing month the
statements come on the web or on paper, and a change on the paper page is confirmed by email
(issue 15, SPEC 3.2)."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from meisai.clock import JST
from meisai.members.models import Phone
from meisai.notifications.models import OutboxMessage
from tests.accounts.conftest import (
    BIRTH_DATE,
    CARD_NUMBER,
    MOBILE_PHONE,
    complete_registration,
)
from tests.factories import CardFactory, DeliveryPreferenceFactory, MemberFactory, PhoneFactory

pytestmark = pytest.mark.django_db


def delivery_section(page: str) -> str:
    return page.split('id="delivery-heading"')[1].split("</section>")[0]


def test_stopping_paper_on_the_9th_says_april_on_the_top_page_and_by_email(member_client, account):
    """Stopped on 2025-04-09 23:59 → 「2025年4月請求分から、WEB明細」 on top and in the email."""
    with time_machine.travel(dt.datetime(2025, 4, 9, 23, 59, tzinfo=JST), tick=False):
        member_client.post("/account/paper/", {"step": "commit", "method": "web"})
        page = member_client.get("/").content.decode()

    assert (
        "2025年4月請求分から、ご請求明細はWEB明細(このサービス)でお届けします。"
        "紙の明細書は郵送されません。"
    ) in delivery_section(page)
    [mail] = OutboxMessage.objects.filter(template="delivery_preference_changed")
    assert mail.to == account.email
    assert mail.subject.endswith("】WEB請求明細 お届け方法変更のお知らせ")
    assert "2025年4月9日 23:59に、ご請求明細のお届け方法の変更を承りました。" in mail.body_text
    assert "WEB明細(2025年4月請求分から。紙の明細書は郵送されません)" in mail.body_text
    assert "2025年4月請求分より前のご請求分は、変更前のお届け方法のままです。" in mail.body_text
    assert "WEB明細(2025年4月請求分から。" in mail.body_html


def test_asking_for_paper_on_the_10th_says_may_on_the_top_page_and_by_email(member_client, account):
    """Back to paper on 2025-04-10 00:00 → paper from 2025年5月請求分."""
    DeliveryPreferenceFactory(
        member=account.member, recorded_at=dt.datetime(2024, 12, 1, tzinfo=JST)
    )
    with time_machine.travel(dt.datetime(2025, 4, 10, 0, 0, tzinfo=JST), tick=False):
        member_client.post("/account/paper/", {"step": "commit", "method": "paper"})
        page = member_client.get("/").content.decode()

    assert "2025年5月請求分から、ご請求明細は紙の明細書で郵送します。" in delivery_section(page)
    [mail] = OutboxMessage.objects.filter(template="delivery_preference_changed")
    assert "紙の明細書(2025年5月請求分から郵送します)" in mail.body_text


def test_a_step_that_only_confirms_sends_nothing(member_client):
    with time_machine.travel(dt.datetime(2025, 4, 9, 12, 0, tzinfo=JST), tick=False):
        member_client.post("/account/paper/", {"step": "confirm", "method": "web"})

    assert not OutboxMessage.objects.filter(template="delivery_preference_changed").exists()


def test_after_registering_the_top_page_and_completion_page_say_from_which_month(client):
    """Registered on 2025-01-10, after the 9th → statements on the web from 2025年2月請求分."""
    member = MemberFactory(birth_date=BIRTH_DATE)
    CardFactory(member=member, number=CARD_NUMBER, expiry="2029-12")
    PhoneFactory(member=member, kind=Phone.Kind.MOBILE, number=MOBILE_PHONE)
    with time_machine.travel(dt.datetime(2025, 1, 10, 10, 0, tzinfo=JST), tick=False):
        done = complete_registration(client).content.decode()
        account = member.accounts.get()
        client.force_login(account)
        page = client.get("/").content.decode()

    assert "<strong>2025年2月請求分</strong>から、ご請求明細はWEB明細でお届けします。" in done
    assert "2025年2月請求分から、ご請求明細はWEB明細(このサービス)でお届けします。" in (
        delivery_section(page)
    )
    # Registration confirms itself by its own completion email, not by a second one.
    assert not OutboxMessage.objects.filter(template="delivery_preference_changed").exists()
    assert OutboxMessage.objects.filter(template="registration_completed").count() == 1
