"""Registration, the flyer's steps 3 to 6 (SPEC 3.4): consent, the 登録手続きURL, the identity
check with the chosen credentials, and 「確定」 which emails the 完了手続きURL.

State lives on the server (``Registration.state``): each step checks it under
``SELECT … FOR UPDATE`` and moves it forward, so no step can be skipped or replayed. Following
the 完了手続きURL is ``registration_completion``. No account exists until then, so these steps
write no audit row.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from django.contrib.auth.hashers import make_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils.translation import gettext, gettext_lazy
from django.views.decorators.debug import sensitive_variables

from meisai import card_numbers
from meisai.accounts.card_locks import card_failure_record, card_locked_until
from meisai.accounts.links import REGISTRATION_LINK_TTL, site_url
from meisai.accounts.models import Consent, Registration
from meisai.accounts.passwords import PasswordOwner, normalize_password, password_check
from meisai.accounts.refusals import Refused
from meisai.accounts.selectors import login_id_available
from meisai.accounts.tokens import token_issue
from meisai.audit.security_events import security_event
from meisai.clock import jst, now
from meisai.core.text import normalize_digits
from meisai.members.models import Card, Member
from meisai.notifications.services import email_enqueue

GENERIC_IDENTITY_ERROR = gettext_lazy(
    "入力されたカード情報・生年月日ではご本人様を確認できませんでした。"
    "入力内容をご確認のうえ、もう一度お試しください。"
)
PHONE_MISMATCH_ERROR = gettext_lazy(
    "電話番号が当社にご登録の電話番号と一致しません。"
    "ご登録の電話番号が「ご自宅の電話番号」の場合があります。ハイフン無しでご入力ください。"
)
CARD_LOCKED_ERROR = gettext_lazy(
    "このカードでの登録手続きは、入力誤りが続いたため24時間停止しています。"
    "時間をおいてお手続きいただくか、カード裏面の電話番号へお問い合わせください。"
)
LOGIN_ID_TAKEN_ERROR = gettext_lazy(
    "このログインIDは使用できません。別のログインIDを入力してください。"
)


@dataclass(frozen=True)
class IdentityInput:
    """What the member typed at step 5, as the form cleaned it."""

    card_number: str
    card_expiry: str
    birth_date: dt.date
    phone: str
    login_id: str
    password: str
    personal_message: str


def registration_consent_record(*, terms_version: str) -> Consent:
    """Step 3: the member ticked 「契約書の内容を確認しました」 and pressed 「同意する」."""
    return Consent.objects.create(
        terms_version=terms_version,
        agreed_at=now(),
        registration_key=secrets.token_hex(32),
    )


@transaction.atomic
def registration_start(*, consent: Consent, email: str) -> Registration:
    """Step 4: email the 登録手続きURL. Sent whatever the address, so the page reveals nothing."""
    if Registration.objects.filter(consent=consent).exists():
        raise Refused(gettext("この同意による手続きは既に始まっています。"))
    token, hashed = token_issue(purpose="register-email")
    moment = now()
    registration = Registration.objects.create(
        consent=consent,
        email=email,
        email_token_hash=hashed,
        email_token_expires_at=moment + REGISTRATION_LINK_TTL,
        created_at=moment,
    )
    email_enqueue(
        key=f"registration-link:{registration.pk}",
        template="registration_link",
        to=email,
        context={
            "url": site_url(reverse("accounts:register_identity", args=[token])),
            "expires_at": jst(registration.email_token_expires_at),
        },
    )
    return registration


def _expiry_as_stored(card_expiry: str) -> str | None:
    """``MM/YY`` (any width, with or without the slash) as the member master's ``YYYY-MM``."""
    digits = normalize_digits(card_expiry).replace("/", "")
    if len(digits) != 4 or not digits.isdigit() or not 1 <= int(digits[:2]) <= 12:
        return None
    return f"20{digits[2:]}-{digits[:2]}"


@sensitive_variables("entered", "number")
def registration_verify(*, registration: Registration, entered: IdentityInput) -> Registration:
    """Step 5 (「認証」): prove identity, check the chosen credentials, keep them for step 6.

    Identity holds when the card number, expiry and birth date match a live card of one active
    member and the phone equals any phone on file for that member. A failure is counted
    against the card (``card_locks``). The password is hashed only once identity holds.
    """
    number = card_numbers.normalize_card_number(entered.card_number)
    hashed_card = card_numbers.card_hash(number)
    card = (
        Card.objects.select_related("member")
        .filter(number_hash=hashed_card, is_active=True, member__status=Member.Status.ACTIVE)
        .first()
    )
    # The member of the card typed, when there is one: their page shows the attempts.
    owner = card.member if card is not None else None
    if card_locked_until(card_hash=hashed_card) is not None:
        security_event("registration_failed", member=owner, reason="card_locked")
        raise Refused(CARD_LOCKED_ERROR)
    expiry = _expiry_as_stored(entered.card_expiry)
    if card is None or card.expiry != expiry or card.member.birth_date != entered.birth_date:
        _identity_failed(card_hash=hashed_card, member=owner, reason="card_data")
        raise Refused(GENERIC_IDENTITY_ERROR)
    member = card.member
    phones = tuple(member.phones.values_list("number", flat=True))
    if normalize_digits(entered.phone) not in phones:
        _identity_failed(card_hash=hashed_card, member=member, reason="phone")
        raise Refused(PHONE_MISMATCH_ERROR, field="phone")
    if not login_id_available(login_id=entered.login_id):
        raise Refused(LOGIN_ID_TAKEN_ERROR, field="login_id")
    try:
        # The form checked the phone typed; this checks every phone on file.
        password_check(
            entered.password,
            owner=PasswordOwner(
                login_id=entered.login_id, phones=phones, birth_date=member.birth_date
            ),
        )
    except ValidationError as error:
        raise Refused(" ".join(error.messages), field="password") from error
    with transaction.atomic():
        locked = Registration.objects.select_for_update().get(pk=registration.pk)
        if locked.state != Registration.State.EMAIL_SENT or locked.email_token_used_at:
            raise Refused(gettext("この登録手続きURLは既に使用されています。"))
        locked.state = Registration.State.VERIFIED
        locked.email_token_used_at = now()
        locked.member = member
        locked.card = card
        locked.login_id = entered.login_id
        locked.password_hash = make_password(normalize_password(entered.password))
        locked.personal_message = entered.personal_message
        locked.save()
    return locked


def _identity_failed(*, card_hash: str, member: Member | None, reason: str) -> None:
    """Count a failed identity check against the card and record it; the fifth locks the card."""
    card_failure_record(card_hash=card_hash)
    security_event("registration_failed", member=member, reason=reason)
    until = card_locked_until(card_hash=card_hash)
    if until is not None:
        security_event(
            "registration_locked", member=member, until=jst(until).isoformat(timespec="seconds")
        )


@transaction.atomic
def registration_confirm(*, registration: Registration) -> Registration:
    """Step 6 (「確定」): email the 完了手続きURL. Only a verified registration gets here."""
    locked = Registration.objects.select_for_update().get(pk=registration.pk)
    if locked.state != Registration.State.VERIFIED:
        raise Refused(gettext("この登録手続きは既に確定されています。"))
    token, hashed = token_issue(purpose="register-complete")
    locked.state = Registration.State.COMPLETION_SENT
    locked.completion_token_hash = hashed
    locked.completion_token_expires_at = now() + REGISTRATION_LINK_TTL
    locked.save()
    email_enqueue(
        key=f"registration-completion-link:{locked.pk}",
        template="registration_completion_link",
        to=locked.email,
        context={
            "url": site_url(reverse("accounts:register_complete", args=[token])),
            "expires_at": jst(locked.completion_token_expires_at),
        },
    )
    return locked
