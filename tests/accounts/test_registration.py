"""Registration, the flyer's steps 3–6 (SPEC 3.4): terms, email, identity, confirmation,
completion."""

from __future__ import annotations

import datetime as dt

import pytest

from meisai.accounts.models import (
    Account,
    Consent,
    Enrollment,
    Registration,
    RegistrationFailure,
)
from meisai.audit.models import AuditEntry
from meisai.clock import JST
from meisai.members.models import DeliveryPreference
from meisai.notifications.models import OutboxMessage
from tests.accounts.conftest import (
    CARD_NUMBER,
    HOME_PHONE,
    PASSWORD,
    identity,
    link_in,
    outbox,
    register,
    start_registration,
)
from tests.factories import AccountFactory, CardFactory, MemberFactory
from tests.html import without_csrf_tokens

pytestmark = pytest.mark.django_db

GENERIC = "入力されたカード情報・生年月日ではご本人様を確認できませんでした。"
PHONE_HINT = "電話番号が当社にご登録の電話番号と一致しません。ご登録の電話番号が「ご自宅の電話番号」の場合があります。"
LOCKED = "このカードでの登録手続きは、入力誤りが続いたため24時間停止しています。"


def _no_secrets_in_mail() -> None:
    for message in OutboxMessage.objects.all():
        for body in (message.subject, message.body_text, message.body_html):
            assert CARD_NUMBER not in body
            assert CARD_NUMBER[-4:] not in body
            assert PASSWORD not in body
            assert "円" not in body


def test_registered_on_2025_01_10_gets_web_delivery_enrolment_and_emails(
    client, cardholder, frozen
):
    page = client.get("/register/")
    assert "契約書の内容を確認しました" in page.content.decode()
    assert "同意する" in page.content.decode()

    identity_path = start_registration(client)
    consent = Consent.objects.get()
    assert (consent.terms_version, consent.agreed_at) == (
        "2024-11",
        dt.datetime(2025, 1, 10, 10, 0, tzinfo=JST),
    )
    link_mail = outbox("hanako@example.jp", "registration_link")[0]
    assert link_mail.subject == "【日専連パートナーズ】WEBサービス 登録手続きURLのお知らせ"
    assert "有効期限:2025年1月11日 10:00まで(1回のみ有効)" in link_mail.body_text
    assert identity_path.startswith("/register/identity/")

    form = client.get(identity_path).content.decode()
    for name in (
        "card_number",
        "card_expiry",
        "birth_date",
        "phone",
        "login_id",
        "password",
        "password_confirm",
        "personal_message",
    ):
        assert f'name="{name}"' in form
        assert f'for="id_{name}"' in form
    assert "ご自宅の電話番号" in form

    response = client.post(identity_path, identity())
    assert response.url == "/register/confirm/"
    confirm = client.get("/register/confirm/").content.decode()
    assert "****-****-****-1234" in confirm
    assert "morioka.hanako" in confirm
    assert "岩手山が見える" in confirm
    assert PASSWORD not in confirm
    assert Account.objects.count() == 0

    assert client.post("/register/confirm/").url == "/register/confirm/sent/"
    assert Account.objects.count() == 0  # only the 完了手続きURL creates the account
    completion_mail = outbox("hanako@example.jp", "registration_completion_link")[0]
    assert completion_mail.subject == "【日専連パートナーズ】WEBサービス 完了手続きURLのお知らせ"
    completion = link_in(completion_mail)
    assert client.get(completion).status_code == 200
    assert Account.objects.count() == 0  # the link opens a page; its button completes
    page = client.post(completion)
    assert page.status_code == 200
    assert "登録完了" in page.content.decode()

    account = Account.objects.get()
    assert (account.login_id, account.email, account.personal_message, account.source) == (
        "morioka.hanako",
        "hanako@example.jp",
        "岩手山が見える",
        Account.Source.REGISTRATION,
    )
    assert account.member == cardholder.member
    assert account.password.startswith("argon2$argon2id$")
    assert account.check_password(PASSWORD)

    enrollment = Enrollment.objects.get()
    assert (enrollment.login_id, enrollment.card, enrollment.source, enrollment.status) == (
        "morioka.hanako",
        cardholder.card,
        Enrollment.Source.REGISTRATION,
        Enrollment.Status.ACTIVE,
    )
    assert enrollment.account == account
    assert (
        enrollment.enrolled_at
        == enrollment.updated_at
        == dt.datetime(2025, 1, 10, 10, 0, tzinfo=JST)
    )
    preference = DeliveryPreference.objects.get()
    assert (preference.member, preference.method, preference.source) == (
        cardholder.member,
        "web",
        "registration",
    )
    assert preference.recorded_at == dt.datetime(2025, 1, 10, 10, 0, tzinfo=JST)
    consent.refresh_from_db()
    assert (consent.member, consent.account) == (cardholder.member, account)
    assert Registration.objects.get().state == Registration.State.COMPLETED
    audit = AuditEntry.objects.get(action="account_register")
    assert audit.detail == {"replaced": [], "delivery": "web"}

    done = outbox("hanako@example.jp", "registration_completed")[0]
    assert done.subject == "【日専連パートナーズ】WEBサービス 登録完了のお知らせ"
    assert "ログインID:morioka.hanako" in done.body_text
    assert "紙の請求書の郵送は停止されます" in done.body_text
    _no_secrets_in_mail()


def test_registration_emails_go_out_through_django_mail(
    client, cardholder, frozen, django_capture_on_commit_callbacks, mailoutbox
):
    with django_capture_on_commit_callbacks(execute=True):
        start_registration(client)
    assert len(mailoutbox) == 1
    sent = mailoutbox[0]
    assert sent.to == ["hanako@example.jp"]
    assert sent.subject == "【日専連パートナーズ】WEBサービス 登録手続きURLのお知らせ"
    assert "http://127.0.0.1:8000/register/identity/" in sent.body
    assert sent.alternatives[0][1] == "text/html"


def test_mail_sent_page_reads_the_same_for_a_known_and_an_unknown_address(client, cardholder):
    pages = []
    for address in ("core@example.jp", "nobody@example.jp"):
        client.post("/register/", {"agree": "on"})
        response = client.post(
            "/register/email/", {"email": address, "email_confirm": address}, follow=True
        )
        pages.append(without_csrf_tokens(response.content.decode()))
    assert pages[0] == pages[1]
    assert "メール送信完了" in pages[0]
    assert len(outbox("nobody@example.jp", "registration_link")) == 1


def test_terms_must_be_ticked(client, db):
    page = client.post("/register/", {})
    assert "「契約書の内容を確認しました」にチェックを入れてください。" in page.content.decode()
    assert Consent.objects.count() == 0
    assert client.get("/register/email/").url == "/register/"


def test_email_entered_twice_must_match(client, db):
    client.post("/register/", {"agree": "on"})
    page = client.post(
        "/register/email/", {"email": "a@example.jp", "email_confirm": "b@example.jp"}
    )
    assert "確認用のメールアドレスが一致しません。" in page.content.decode()
    assert Registration.objects.count() == 0
    assert OutboxMessage.objects.count() == 0


def test_one_consent_starts_one_registration(client, db):
    client.post("/register/", {"agree": "on"})
    client.post("/register/email/", {"email": "a@example.jp", "email_confirm": "a@example.jp"})
    again = client.post(
        "/register/email/", {"email": "b@example.jp", "email_confirm": "b@example.jp"}
    )
    assert again.url == "/register/"
    assert Registration.objects.count() == 1


def test_confirmation_cannot_be_reached_without_identity(client, cardholder):
    start_registration(client)
    assert client.get("/register/confirm/").url == "/register/"
    assert client.post("/register/confirm/").url == "/register/"
    registration = Registration.objects.get()
    assert registration.state == Registration.State.EMAIL_SENT
    assert outbox("hanako@example.jp", "registration_completion_link") == []


def test_identity_link_is_single_use(client, cardholder):
    identity_path = start_registration(client)
    assert client.post(identity_path, identity()).url == "/register/confirm/"
    assert client.get(identity_path).status_code == 404
    replay = client.post(identity_path, identity(login_id="someone.else"))
    assert replay.status_code == 404
    assert Registration.objects.get().login_id == "morioka.hanako"


def test_confirm_cannot_be_posted_twice(client, cardholder):
    identity_path = start_registration(client)
    client.post(identity_path, identity())
    client.post("/register/confirm/")
    assert client.post("/register/confirm/").url == "/register/"
    assert len(outbox("hanako@example.jp", "registration_completion_link")) == 1


def test_completion_link_is_single_use(client, cardholder):
    register(client)
    completion = link_in(outbox("hanako@example.jp", "registration_completion_link")[0])
    for again in (client.get(completion), client.post(completion)):
        assert again.status_code == 404
        assert "この完了手続きURLは無効です" in again.content.decode()
    assert Account.objects.count() == 1
    assert len(outbox("hanako@example.jp", "registration_completed")) == 1


def test_links_expire_after_24_hours(client, cardholder, frozen):
    identity_path = start_registration(client)
    frozen.shift(dt.timedelta(hours=24))
    assert client.get(identity_path).status_code == 404
    assert client.post(identity_path, identity()).status_code == 404
    assert Registration.objects.get().state == Registration.State.EMAIL_SENT


def test_identity_link_works_until_its_24_hours_are_up(client, cardholder, frozen):
    identity_path = start_registration(client)
    frozen.shift(dt.timedelta(hours=24) - dt.timedelta(seconds=1))
    assert client.post(identity_path, identity()).url == "/register/confirm/"


def test_completion_link_expires_after_24_hours(client, cardholder, frozen):
    identity_path = start_registration(client)
    client.post(identity_path, identity())
    client.post("/register/confirm/")
    completion = link_in(outbox("hanako@example.jp", "registration_completion_link")[0])
    frozen.shift(dt.timedelta(hours=24))
    assert client.get(completion).status_code == 404
    assert client.post(completion).status_code == 404
    assert Account.objects.count() == 0
    assert Enrollment.objects.count() == 0
    assert DeliveryPreference.objects.count() == 0


def test_a_forged_link_opens_nothing(client, cardholder):
    start_registration(client)
    assert client.get("/register/identity/abc:def:ghi/").status_code == 404
    assert client.get("/register/complete/abc:def:ghi/").status_code == 404
    assert client.post("/register/complete/abc:def:ghi/").status_code == 404


def test_full_width_input_with_hyphens_and_the_home_phone_is_accepted(client, cardholder):
    identity_path = start_registration(client)
    response = client.post(
        identity_path,
        identity(
            card_number="４９８０－１２３４－５６７８－１２３４",
            card_expiry="１２／２９",
            birth_date="１９５８－０７－２１",
            phone="０１９－６２３－１２３４",
            login_id="ｍｏｒｉｏｋａ．ｈａｎａｋｏ",
        ),
    )
    assert response.url == "/register/confirm/"
    assert Registration.objects.get().login_id == "morioka.hanako"


@pytest.mark.parametrize(
    "overrides",
    [
        {"card_number": "4980123456789999"},
        {"card_expiry": "11/29"},
        {"birth_date": "1958-07-22"},
        {"birth_date": "1958-07-22", "phone": "0000000000"},
    ],
    ids=["unknown card", "wrong expiry", "wrong birth date", "birth date and phone wrong"],
)
def test_identity_failure_before_the_card_matches_is_generic(client, cardholder, overrides):
    identity_path = start_registration(client)
    page = client.post(identity_path, identity(**overrides)).content.decode()
    assert GENERIC in page
    assert PHONE_HINT not in page
    registration = Registration.objects.get()
    assert (registration.state, registration.member, registration.password_hash) == (
        Registration.State.EMAIL_SENT,
        None,
        "",
    )


def test_phone_mismatch_after_the_card_matches_hints_at_the_home_phone(client, cardholder):
    identity_path = start_registration(client)
    page = client.post(identity_path, identity(phone="09011112222")).content.decode()
    assert PHONE_HINT in page
    assert GENERIC not in page
    assert Registration.objects.get().state == Registration.State.EMAIL_SENT


def test_a_cancelled_card_or_member_does_not_match(client, cardholder):
    cardholder.card.is_active = False
    cardholder.card.save()
    identity_path = start_registration(client)
    assert GENERIC in client.post(identity_path, identity()).content.decode()


def test_five_failures_lock_the_card_for_24_hours(client, cardholder, frozen):
    identity_path = start_registration(client)
    for _ in range(5):
        assert GENERIC in client.post(identity_path, identity(card_expiry="01/30")).content.decode()
        frozen.shift(dt.timedelta(minutes=1))
    locked = client.post(identity_path, identity()).content.decode()
    assert LOCKED in locked
    assert Registration.objects.get().state == Registration.State.EMAIL_SENT
    # The lock runs 24 hours from the fifth failure (made at 10:04).
    frozen.move_to(dt.datetime(2025, 1, 11, 10, 3, 59, tzinfo=JST))
    identity_path = start_registration(client, "again@example.jp")
    assert LOCKED in client.post(identity_path, identity()).content.decode()
    frozen.move_to(dt.datetime(2025, 1, 11, 10, 4, tzinfo=JST))
    assert client.post(identity_path, identity()).url == "/register/confirm/"


def test_four_failures_do_not_lock(client, cardholder, frozen):
    identity_path = start_registration(client)
    for _ in range(4):
        client.post(identity_path, identity(phone="09011112222"))
    assert client.post(identity_path, identity()).url == "/register/confirm/"


def test_failures_more_than_24_hours_apart_do_not_add_up(client, cardholder, frozen):
    identity_path = start_registration(client)
    for _ in range(4):
        client.post(identity_path, identity(card_expiry="01/30"))
    frozen.shift(dt.timedelta(hours=23, minutes=59))
    identity_path = start_registration(client, "again@example.jp")
    client.post(identity_path, identity(card_expiry="01/30"))  # fifth within 24 h: locked
    assert LOCKED in client.post(identity_path, identity()).content.decode()

    frozen.shift(dt.timedelta(days=3))
    identity_path = start_registration(client, "third@example.jp")
    for _ in range(4):
        client.post(identity_path, identity(card_expiry="01/30"))
    frozen.shift(dt.timedelta(hours=24))
    identity_path = start_registration(client, "fourth@example.jp")
    client.post(identity_path, identity(card_expiry="01/30"))  # only one within 24 h
    assert client.post(identity_path, identity()).url == "/register/confirm/"


def test_one_client_address_is_throttled_before_any_work(client, cardholder):
    identity_path = start_registration(client)
    for n in range(20):
        # Twenty different unknown cards, so no card lock gets in the way.
        client.post(
            identity_path, identity(card_number=f"49800000000000{n:02d}"), REMOTE_ADDR="203.0.113.9"
        )
    assert RegistrationFailure.objects.count() == 20
    refused = client.post(identity_path, identity(), REMOTE_ADDR="203.0.113.9")
    assert refused.status_code == 429
    assert RegistrationFailure.objects.count() == 20
    assert Registration.objects.get().state == Registration.State.EMAIL_SENT
    other = client.post(identity_path, identity(), REMOTE_ADDR="203.0.113.10")
    assert other.url == "/register/confirm/"


@pytest.mark.parametrize(
    ("overrides", "field_error"),
    [
        ({"login_id": "12345678"}, "数字だけは使えません"),
        ({"login_id": "abc"}, "ログインIDは6～20文字の半角英数字"),
        ({"login_id": "hanako@home"}, "ログインIDは6～20文字の半角英数字"),
        ({"password": "short1", "password_confirm": "short1"}, "最低 8 文字"),
        ({"password": "x" * 65, "password_confirm": "x" * 65}, "64文字以内"),
        ({"password": "password123", "password_confirm": "password123"}, "よく使われる"),
        (
            {"password": "Morioka.Hanako!", "password_confirm": "Morioka.Hanako!"},
            "ログインIDを含める",
        ),
        ({"password": "tel09087654321", "password_confirm": "tel09087654321"}, "電話番号を含める"),
        ({"password": "born19580721!", "password_confirm": "born19580721!"}, "生年月日を含める"),
        ({"password_confirm": "something-else"}, "確認用のパスワードが一致しません"),
        ({"personal_message": "あ" * 21}, "20 文字以下"),
        ({"personal_message": "  "}, "このフィールドは必須です"),
    ],
)
def test_credentials_breaking_the_policy_are_refused(client, cardholder, overrides, field_error):
    identity_path = start_registration(client)
    page = client.post(identity_path, identity(**overrides)).content.decode()
    assert field_error in page
    assert Registration.objects.get().state == Registration.State.EMAIL_SENT


def test_password_containing_the_home_phone_on_file_is_refused(client, cardholder):
    # The member typed the mobile number, but the home number on file is refused too.
    identity_path = start_registration(client)
    password = f"x{HOME_PHONE}x"
    page = client.post(
        identity_path, identity(password=password, password_confirm=password)
    ).content.decode()
    assert "パスワードに電話番号を含めることはできません。" in page
    assert Registration.objects.get().state == Registration.State.EMAIL_SENT


def test_login_id_is_unique_without_regard_to_case_and_against_legacy_enrolments(
    client, cardholder
):
    other = AccountFactory(login_id="Morioka.Hanako")
    identity_path = start_registration(client)
    page = client.post(identity_path, identity()).content.decode()
    assert "このログインIDは使用できません。" in page
    Enrollment.objects.create(
        member=other.member,
        login_id="legacy.user",
        source=Enrollment.Source.LEGACY,
        enrolled_at=dt.datetime(2020, 1, 1, tzinfo=JST),
        updated_at=dt.datetime(2020, 1, 1, tzinfo=JST),
    )
    page = client.post(identity_path, identity(login_id="LEGACY.user")).content.decode()
    assert "このログインIDは使用できません。" in page
    assert Registration.objects.get().state == Registration.State.EMAIL_SENT


def test_full_width_password_is_the_same_as_half_width(client, cardholder):
    account = register(
        client,
        password="ｙｕｋｉｇｕｎｉ－ｇｉｎｇａ－７",
        password_confirm="ｙｕｋｉｇｕｎｉ－ｇｉｎｇａ－７",
    )
    assert account.check_password(PASSWORD)


@pytest.mark.parametrize("flag", ["paper_required", "program_excluded"])
def test_excepted_member_keeps_paper(client, cardholder, flag):
    setattr(cardholder.member, flag, True)
    cardholder.member.save()
    account = register(client)
    assert account.is_active
    assert DeliveryPreference.objects.count() == 0
    assert Enrollment.objects.get().login_id == "morioka.hanako"
    done = outbox("hanako@example.jp", "registration_completed")[0]
    assert "引き続き紙の請求書をお送りします" in done.body_text
    assert AuditEntry.objects.get(action="account_register").detail["delivery"] == "paper"


def test_a_login_id_taken_between_confirmation_and_completion_refuses_cleanly(client, cardholder):
    identity_path = start_registration(client)
    client.post(identity_path, identity())
    client.post("/register/confirm/")
    completion = link_in(outbox("hanako@example.jp", "registration_completion_link")[0])
    # Someone else gets the same ID (e.g. the legacy import) before the link is followed.
    AccountFactory(login_id="MORIOKA.hanako", member=MemberFactory())
    page = client.post(completion)
    assert page.status_code == 404
    assert "ご指定のログインIDは既に使用されています" in page.content.decode()
    assert Account.objects.filter(member=cardholder.member).count() == 0
    assert Enrollment.objects.count() == 0
    assert DeliveryPreference.objects.count() == 0


def test_two_cards_of_one_member_either_card_matches(client, cardholder):
    CardFactory(member=cardholder.member, number="4980000011112222", expiry="2027-03")
    identity_path = start_registration(client)
    response = client.post(
        identity_path, identity(card_number="4980000011112222", card_expiry="03/27")
    )
    assert response.url == "/register/confirm/"
    assert Registration.objects.get().card.last4 == "2222"


def test_email_step_is_throttled_per_client_address(client, db):
    for n in range(10):
        client.post("/register/", {"agree": "on"}, REMOTE_ADDR="203.0.113.50")
        address = f"flood{n}@example.jp"
        client.post(
            "/register/email/",
            {"email": address, "email_confirm": address},
            REMOTE_ADDR="203.0.113.50",
        )
    client.post("/register/", {"agree": "on"}, REMOTE_ADDR="203.0.113.50")
    refused = client.post(
        "/register/email/",
        {"email": "victim@example.jp", "email_confirm": "victim@example.jp"},
        REMOTE_ADDR="203.0.113.50",
    )
    assert refused.status_code == 429
    assert Registration.objects.count() == 10
    assert outbox("victim@example.jp") == []
