"""Writes of the accounts domain: registration (flyer steps 3–6), login with the new-browser
code, lockout notices, recovery and the changes of お客様情報.

Every rule of who may register or log in lives here: identity matching, the per-card lock, the
per-address throttle, the password policy (through ``meisai.accounts.passwords``). Emails leave
through the outbox (``email_enqueue``) in the same transaction as the change they report, and
none of them ever holds a card number, a password or an amount.
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
from dataclasses import dataclass
from importlib import import_module

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse

from meisai import card_numbers
from meisai.accounts.models import (
    Account,
    AccountSession,
    AccountToken,
    Consent,
    Enrollment,
    LoginChallenge,
    Registration,
    RegistrationFailure,
    RememberedBrowser,
    ThrottleHit,
)
from meisai.accounts.passwords import PasswordOwner, normalize_password, owner_of, password_check
from meisai.accounts.tokens import code_hash, code_issue, token_hash, token_issue, token_read
from meisai.audit.services import audit_record
from meisai.clock import jst, now
from meisai.core.text import normalize_digits
from meisai.members.models import Card, DeliveryPreference, Member
from meisai.members.services import delivery_preference_change, web_delivery_refusal
from meisai.notifications.services import email_enqueue

#: Both registration URLs are valid for 24 hours (SPEC 3.4).
REGISTRATION_LINK_TTL = dt.timedelta(hours=24)
#: Five failed identity checks for one card within 24 hours lock it for 24 hours (SPEC 3.4).
CARD_FAILURE_LIMIT = 5
CARD_FAILURE_WINDOW = dt.timedelta(hours=24)
CARD_LOCK_DURATION = dt.timedelta(hours=24)
#: The new-browser code: 6 digits, 10 minutes, 5 tries (SPEC 3.5).
LOGIN_CODE_TTL = dt.timedelta(minutes=10)
LOGIN_CODE_TRIES = 5
#: Password reset and email change links.
ACCOUNT_LINK_TTL = dt.timedelta(hours=24)

GENERIC_IDENTITY_ERROR = (
    "入力されたカード情報・生年月日ではご本人様を確認できませんでした。"
    "入力内容をご確認のうえ、もう一度お試しください。"
)
PHONE_MISMATCH_ERROR = (
    "電話番号が当社にご登録の電話番号と一致しません。"
    "ご登録の電話番号が「ご自宅の電話番号」の場合があります。ハイフン無しでご入力ください。"
)
CARD_LOCKED_ERROR = (
    "このカードでの登録手続きは、入力誤りが続いたため24時間停止しています。"
    "時間をおいてお手続きいただくか、カード裏面の電話番号へお問い合わせください。"
)
LOGIN_ID_TAKEN_ERROR = "このログインIDは使用できません。別のログインIDを入力してください。"


class RegistrationRefused(Exception):
    """A registration step refused; ``message`` is shown to the member, ``field`` names the
    input it concerns (None for the whole form)."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def _absolute(path: str) -> str:
    return f"{settings.MEISAI_BASE_URL}{path}"


# --- throttles ---------------------------------------------------------------------------------

#: scope → (requests allowed, per window) for one client address.
THROTTLES: dict[str, tuple[int, dt.timedelta]] = {
    "register_email": (10, dt.timedelta(hours=1)),
    "register_identity": (20, dt.timedelta(hours=1)),
    "recovery": (10, dt.timedelta(hours=1)),
    "login_failure": (100, dt.timedelta(hours=1)),
}


def throttle_allows(*, scope: str, client: str) -> bool:
    """Whether ``client`` may do ``scope`` now; counts the request when it may."""
    limit, window = THROTTLES[scope]
    moment = now()
    # Hits older than the window count for nothing any more; drop them as we go.
    ThrottleHit.objects.filter(scope=scope, client=client, at__lte=moment - window).delete()
    recent = ThrottleHit.objects.filter(scope=scope, client=client, at__gt=moment - window)
    if recent.count() >= limit:
        return False
    ThrottleHit.objects.create(scope=scope, client=client, at=moment)
    return True


def throttle_exceeded(*, scope: str, client: str) -> bool:
    """Whether ``client`` has used up ``scope`` (without counting this request)."""
    limit, window = THROTTLES[scope]
    return (
        ThrottleHit.objects.filter(scope=scope, client=client, at__gt=now() - window).count()
        >= limit
    )


def throttle_count(*, scope: str, client: str) -> None:
    ThrottleHit.objects.create(scope=scope, client=client, at=now())


# --- registration, steps 3 and 4 ----------------------------------------------------------------


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
        raise RegistrationRefused("この同意による手続きは既に始まっています。")
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
            "url": _absolute(reverse("accounts:register_identity", args=[token])),
            "expires_at": jst(registration.email_token_expires_at),
        },
    )
    return registration


def registration_for_email_token(*, token: str) -> Registration | None:
    """The registration a 登録手続きURL opens, or None when it is unknown, used or expired."""
    hashed = token_read(
        token,
        purpose="register-email",
        max_age_seconds=int(REGISTRATION_LINK_TTL.total_seconds()),
    )
    if hashed is None:
        return None
    return Registration.objects.filter(
        email_token_hash=hashed,
        state=Registration.State.EMAIL_SENT,
        email_token_used_at__isnull=True,
        email_token_expires_at__gt=now(),
    ).first()


# --- registration, step 5: identity -------------------------------------------------------------


def card_locked_until(*, card_hash: str) -> dt.datetime | None:
    """The end of the lock on registering with this card, or None when it is not locked.

    The lock starts at the failure that makes five within 24 hours and lasts 24 hours.
    """
    moment = now()
    since = moment - CARD_FAILURE_WINDOW - CARD_LOCK_DURATION
    times = list(
        RegistrationFailure.objects.filter(card_hash=card_hash, at__gt=since)
        .order_by("at")
        .values_list("at", flat=True)
    )
    for index in range(CARD_FAILURE_LIMIT - 1, len(times)):
        first, fifth = times[index - CARD_FAILURE_LIMIT + 1], times[index]
        if fifth - first < CARD_FAILURE_WINDOW and fifth + CARD_LOCK_DURATION > moment:
            return fifth + CARD_LOCK_DURATION
    return None


def _expiry_as_stored(card_expiry: str) -> str | None:
    """``MM/YY`` (any width, with or without the slash) as the member master's ``YYYY-MM``."""
    digits = normalize_digits(card_expiry).replace("/", "")
    if len(digits) != 4 or not digits.isdigit() or not 1 <= int(digits[:2]) <= 12:
        return None
    return f"20{digits[2:]}-{digits[:2]}"


def login_id_available(login_id: str) -> bool:
    """Unique without regard to case, among every account and enrolment ever (old IDs stay
    taken so they are never handed to someone else)."""
    return not (
        Account.objects.filter(login_id__iexact=login_id).exists()
        or Enrollment.objects.filter(login_id__iexact=login_id).exists()
        or Registration.objects.filter(
            login_id__iexact=login_id,
            state=Registration.State.COMPLETION_SENT,
            completion_token_expires_at__gt=now(),
        ).exists()
    )


@dataclass(frozen=True)
class IdentityInput:
    card_number: str
    card_expiry: str
    birth_date: dt.date
    phone: str
    login_id: str
    password: str
    personal_message: str


def registration_verify(*, registration: Registration, entered: IdentityInput) -> Registration:
    """Step 5 (「認証」): prove identity, check the chosen credentials, keep them for step 6.

    Identity holds when the card number, expiry and birth date match a live card of one active
    member and the phone equals any phone on file for that member. A failure is counted
    against the card; five in 24 hours lock it for 24 hours.
    """
    number = card_numbers.normalize_card_number(entered.card_number)
    hashed_card = card_numbers.card_hash(number)
    if card_locked_until(card_hash=hashed_card) is not None:
        raise RegistrationRefused(CARD_LOCKED_ERROR)
    card = (
        Card.objects.select_related("member")
        .filter(number_hash=hashed_card, is_active=True, member__status=Member.Status.ACTIVE)
        .first()
    )
    expiry = _expiry_as_stored(entered.card_expiry)
    if card is None or card.expiry != expiry or card.member.birth_date != entered.birth_date:
        _registration_failure(hashed_card)
        raise RegistrationRefused(GENERIC_IDENTITY_ERROR)
    member = card.member
    phones = tuple(member.phones.values_list("number", flat=True))
    if normalize_digits(entered.phone) not in phones:
        _registration_failure(hashed_card)
        raise RegistrationRefused(PHONE_MISMATCH_ERROR, field="phone")
    if not login_id_available(entered.login_id):
        raise RegistrationRefused(LOGIN_ID_TAKEN_ERROR, field="login_id")
    try:
        password_check(
            entered.password,
            owner=PasswordOwner(
                login_id=entered.login_id, phones=phones, birth_date=member.birth_date
            ),
        )
    except ValidationError as error:
        raise RegistrationRefused(" ".join(error.messages), field="password") from error
    with transaction.atomic():
        locked = Registration.objects.select_for_update().get(pk=registration.pk)
        if locked.state != Registration.State.EMAIL_SENT or locked.email_token_used_at:
            raise RegistrationRefused("この登録手続きURLは既に使用されています。")
        locked.state = Registration.State.VERIFIED
        locked.email_token_used_at = now()
        locked.member = member
        locked.card = card
        locked.login_id = entered.login_id
        locked.password_hash = make_password(normalize_password(entered.password))
        locked.personal_message = entered.personal_message
        locked.save()
    return locked


def _registration_failure(hashed_card: str) -> None:
    RegistrationFailure.objects.create(card_hash=hashed_card, at=now())


# --- registration, step 6 ----------------------------------------------------------------------


@transaction.atomic
def registration_confirm(*, registration: Registration) -> Registration:
    """Step 6 (「確定」): email the 完了手続きURL. Only a verified registration gets here."""
    locked = Registration.objects.select_for_update().get(pk=registration.pk)
    if locked.state != Registration.State.VERIFIED:
        raise RegistrationRefused("この登録手続きは既に確定されています。")
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
            "url": _absolute(reverse("accounts:register_complete", args=[token])),
            "expires_at": jst(locked.completion_token_expires_at),
        },
    )
    return locked


@transaction.atomic
def registration_complete(*, token: str) -> Account:
    """The 完了手続きURL was followed: create the account, in one transaction with everything
    the registration brings (SPEC 3.4).

    * a previous active account of the member is deactivated, its sessions end and its
      address is told; its enrolment is revoked (the ACS export carries the change);
    * delivery becomes web unless the member is excepted;
    * a 本人認証サービス enrolment is recorded with the same login ID and the matched card;
    * the consent of step 3 is tied to the member and the account; the completion email is queued.
    """
    hashed = token_read(
        token,
        purpose="register-complete",
        max_age_seconds=int(REGISTRATION_LINK_TTL.total_seconds()),
    )
    moment = now()
    registration = (
        Registration.objects.select_for_update(of=("self",))
        .select_related("consent", "member", "card")
        .filter(
            completion_token_hash=hashed,
            state=Registration.State.COMPLETION_SENT,
            completion_token_expires_at__gt=moment,
        )
        .first()
        if hashed
        else None
    )
    if registration is None or registration.member is None or registration.card is None:
        raise RegistrationRefused("この完了手続きURLは無効です(使用済み、または有効期限切れです)。")
    member = Member.objects.select_for_update().get(pk=registration.member.pk)
    card = registration.card
    if not member.is_active or not card.is_active:
        raise RegistrationRefused("ご登録のカードではお手続きを完了できませんでした。")
    previous = list(Account.objects.filter(member=member, is_active=True))
    for old in previous:
        _account_replace(old, moment=moment)
    Enrollment.objects.filter(member=member, status=Enrollment.Status.ACTIVE).update(
        status=Enrollment.Status.REVOKED, updated_at=moment
    )
    try:
        with transaction.atomic():
            account = Account.objects.create(
                login_id=registration.login_id,
                password=registration.password_hash,
                member=member,
                email=registration.email,
                personal_message=registration.personal_message,
                source=Account.Source.REGISTRATION,
            )
            Enrollment.objects.create(
                member=member,
                account=account,
                card=card,
                login_id=registration.login_id,
                source=Enrollment.Source.REGISTRATION,
                status=Enrollment.Status.ACTIVE,
                enrolled_at=moment,
                updated_at=moment,
            )
    except IntegrityError as error:
        raise RegistrationRefused(
            "ご指定のログインIDは既に使用されています。お手数ですが最初からお手続きください。"
        ) from error
    delivery = "paper"
    if web_delivery_refusal(member=member) is None:
        delivery_preference_change(
            member=member,
            method=DeliveryPreference.Method.WEB,
            source=DeliveryPreference.Source.REGISTRATION,
            actor=account.login_id,
            at=moment,
        )
        delivery = "web"
    consent = registration.consent
    consent.member = member
    consent.account = account
    consent.save(update_fields=["member", "account"])
    registration.state = Registration.State.COMPLETED
    registration.completed_at = moment
    registration.account = account
    registration.save(update_fields=["state", "completed_at", "account"])
    audit_record(
        actor=account.login_id,
        action="account_register",
        member=member,
        detail={"replaced": [old.login_id for old in previous], "delivery": delivery},
    )
    email_enqueue(
        key=f"registration-completed:{registration.pk}",
        template="registration_completed",
        to=account.email,
        context={
            "login_id": account.login_id,
            "web_delivery": delivery == "web",
            "login_url": _absolute(reverse("accounts:login")),
        },
    )
    return account


def _account_replace(old: Account, *, moment: dt.datetime) -> None:
    """Re-registration: the old login ID stops working, its sessions end, its address is told."""
    old.is_active = False
    old.deactivated_at = moment
    old.save(update_fields=["is_active", "deactivated_at"])
    account_sessions_end(account=old)
    RememberedBrowser.objects.filter(account=old).delete()
    if old.email:
        email_enqueue(
            key=f"account-replaced:{old.pk}",
            template="account_replaced",
            to=old.email,
            context={"login_id": old.login_id, "at": jst(moment)},
        )


# --- sessions ----------------------------------------------------------------------------------


def account_session_record(*, account: Account, session_key: str) -> None:
    AccountSession.objects.update_or_create(
        session_key=session_key, defaults={"account": account, "created_at": now()}
    )


def account_sessions_end(*, account: Account, keep: str | None = None) -> int:
    """End every session of ``account`` (but ``keep``). Returns how many were ended."""
    store = import_module(settings.SESSION_ENGINE).SessionStore
    rows = AccountSession.objects.filter(account=account)
    if keep:
        rows = rows.exclude(session_key=keep)
    keys = list(rows.values_list("session_key", flat=True))
    for key in keys:
        store(session_key=key).delete()
    rows.delete()
    return len(keys)


# --- login: the new-browser code and remembered browsers ------------------------------------


def login_challenge_issue(*, account: Account) -> LoginChallenge:
    """Email a one-time code for a login from a browser the member has not used before."""
    code = code_issue()
    moment = now()
    with transaction.atomic():
        # A new code replaces any earlier one still open.
        LoginChallenge.objects.filter(account=account, used_at__isnull=True).update(used_at=moment)
        challenge = LoginChallenge.objects.create(
            account=account,
            code_hash="",
            created_at=moment,
            expires_at=moment + LOGIN_CODE_TTL,
        )
        challenge.code_hash = code_hash(code, salt=str(challenge.pk))
        challenge.save(update_fields=["code_hash"])
        email_enqueue(
            key=f"login-code:{challenge.pk}",
            template="login_code",
            to=account.email,
            context={"code": code, "minutes": int(LOGIN_CODE_TTL.total_seconds() // 60)},
        )
    return challenge


class CodeResult:
    OK = "ok"
    WRONG = "wrong"
    DEAD = "dead"


@transaction.atomic
def login_challenge_answer(*, challenge_id: int, code: str) -> str:
    """Check a code: ``ok`` (the challenge is used up), ``wrong`` (tries left) or ``dead``
    (expired, used, or the fifth wrong try)."""
    challenge = LoginChallenge.objects.select_for_update().filter(pk=challenge_id).first()
    moment = now()
    if (
        challenge is None
        or challenge.used_at is not None
        or challenge.expires_at <= moment
        or challenge.attempts >= LOGIN_CODE_TRIES
    ):
        return CodeResult.DEAD
    if hmac.compare_digest(challenge.code_hash, code_hash(code, salt=str(challenge.pk))):
        challenge.used_at = moment
        challenge.save(update_fields=["used_at"])
        return CodeResult.OK
    challenge.attempts += 1
    challenge.save(update_fields=["attempts"])
    return CodeResult.DEAD if challenge.attempts >= LOGIN_CODE_TRIES else CodeResult.WRONG


def browser_remember(*, account: Account) -> str:
    """Remember this browser for ``account``; returns the token for its signed cookie."""
    token = secrets.token_urlsafe(32)
    moment = now()
    RememberedBrowser.objects.create(
        account=account, token_hash=token_hash(token), created_at=moment, last_used_at=moment
    )
    return token


def browser_is_remembered(*, account: Account, token: str | None) -> bool:
    if not token:
        return False
    updated = RememberedBrowser.objects.filter(
        account=account, token_hash=token_hash(token)
    ).update(last_used_at=now())
    return updated > 0


def account_lockout_notify(*, login_id: str) -> None:
    """Tell the member their login is locked (once per lockout, SPEC 3.5)."""
    moment = now()
    cooloff = dt.timedelta(hours=settings.AXES_COOLOFF_TIME)
    with transaction.atomic():
        account = (
            Account.objects.select_for_update()
            .filter(login_id__iexact=login_id, is_active=True)
            .exclude(email="")
            .first()
        )
        if account is None:
            return
        if account.lockout_notified_at and account.lockout_notified_at > moment - cooloff:
            return
        account.lockout_notified_at = moment
        account.save(update_fields=["lockout_notified_at"])
        email_enqueue(
            key=f"account-locked:{account.pk}:{int(moment.timestamp())}",
            template="account_locked",
            to=account.email,
            context={
                "login_id": account.login_id,
                "until": jst(moment + cooloff),
                "minutes": int(cooloff.total_seconds() // 60),
            },
        )


# --- recovery ----------------------------------------------------------------------------------


def _account_link_issue(
    *, account: Account, purpose: str, new_email: str = ""
) -> tuple[str, AccountToken]:
    """A new emailed single-use link for ``account``; earlier unused links of the purpose die."""
    token, hashed = token_issue(purpose=purpose)
    moment = now()
    AccountToken.objects.filter(account=account, purpose=purpose, used_at__isnull=True).update(
        used_at=moment
    )
    row = AccountToken.objects.create(
        account=account,
        purpose=purpose,
        token_hash=hashed,
        new_email=new_email,
        created_at=moment,
        expires_at=moment + ACCOUNT_LINK_TTL,
    )
    return token, row


def password_reset_request(*, card_number: str, birth_date: dt.date) -> None:
    """Email a reset link when card and birth date match an account; silently nothing otherwise."""
    card = (
        Card.objects.select_related("member")
        .filter(
            number_hash=card_numbers.card_hash(card_number),
            is_active=True,
            member__status=Member.Status.ACTIVE,
            member__birth_date=birth_date,
        )
        .first()
    )
    if card is None:
        return
    account = Account.objects.filter(member=card.member, is_active=True).exclude(email="").first()
    if account is None:
        return
    with transaction.atomic():
        token, row = _account_link_issue(
            account=account, purpose=AccountToken.Purpose.PASSWORD_RESET
        )
        email_enqueue(
            key=f"password-reset:{row.pk}",
            template="password_reset",
            to=account.email,
            context={
                "url": _absolute(reverse("accounts:password_reset", args=[token])),
                "expires_at": jst(row.expires_at),
            },
        )


def account_token_find(*, token: str, purpose: str) -> AccountToken | None:
    hashed = token_read(
        token, purpose=purpose, max_age_seconds=int(ACCOUNT_LINK_TTL.total_seconds())
    )
    if hashed is None:
        return None
    return (
        AccountToken.objects.select_related("account", "account__member")
        .filter(
            token_hash=hashed,
            purpose=purpose,
            used_at__isnull=True,
            expires_at__gt=now(),
            account__is_active=True,
        )
        .first()
    )


@transaction.atomic
def password_reset_complete(*, token: str, password: str) -> Account:
    row = account_token_find(token=token, purpose=AccountToken.Purpose.PASSWORD_RESET)
    if row is None:
        raise RegistrationRefused("このURLは無効です(使用済み、または有効期限切れです)。")
    row = AccountToken.objects.select_for_update().get(pk=row.pk)
    if row.used_at is not None:
        raise RegistrationRefused("このURLは無効です(使用済み、または有効期限切れです)。")
    account = row.account
    try:
        password_check(password, owner=owner_of(account))
    except ValidationError as error:
        raise RegistrationRefused(" ".join(error.messages), field="password") from error
    row.used_at = now()
    row.save(update_fields=["used_at"])
    account.set_password(normalize_password(password))
    account.save(update_fields=["password"])
    account_sessions_end(account=account)
    _notice(account, "password_changed", {"login_id": account.login_id})
    return account


def login_id_reminder_send(*, email: str) -> None:
    """Email the login ID of every active account with this address; nothing otherwise."""
    accounts = list(
        Account.objects.filter(email__iexact=email, is_active=True, member__isnull=False)
    )
    for account in accounts:
        email_enqueue(
            key=f"login-id-reminder:{account.pk}:{secrets.token_hex(8)}",
            template="login_id_reminder",
            to=account.email,
            context={
                "login_id": account.login_id,
                "login_url": _absolute(reverse("accounts:login")),
            },
        )


# --- お客様情報 ---------------------------------------------------------------------------------


def _notice(account: Account, template: str, context: dict[str, object]) -> None:
    """A notice of a change to the account's (old) address."""
    if account.email:
        email_enqueue(
            key=f"{template}:{account.pk}:{secrets.token_hex(8)}",
            template=template,
            to=account.email,
            context={"at": jst(now()), **context},
        )


@transaction.atomic
def account_email_change_request(*, account: Account, new_email: str) -> None:
    """Send a confirmation link to the new address and tell the old one."""
    token, row = _account_link_issue(
        account=account, purpose=AccountToken.Purpose.EMAIL_CHANGE, new_email=new_email
    )
    email_enqueue(
        key=f"email-change-confirm:{row.pk}",
        template="email_change_confirm",
        to=new_email,
        context={
            "url": _absolute(reverse("accounts:email_confirm", args=[token])),
            "expires_at": jst(row.expires_at),
        },
    )
    _notice(account, "email_change_requested", {"login_id": account.login_id})


@transaction.atomic
def account_email_change_confirm(*, token: str) -> Account | None:
    """The link in the new address was followed: the address changes, the old one is told."""
    row = account_token_find(token=token, purpose=AccountToken.Purpose.EMAIL_CHANGE)
    if row is None:
        return None
    row = (
        AccountToken.objects.select_for_update(of=("self",))
        .select_related("account")
        .get(pk=row.pk)
    )
    if row.used_at is not None:
        return None
    row.used_at = now()
    row.save(update_fields=["used_at"])
    account = row.account
    _notice(account, "email_changed", {"login_id": account.login_id})
    account.email = row.new_email
    account.save(update_fields=["email"])
    return account


@transaction.atomic
def account_password_change(
    *, account: Account, new_password: str, keep_session_key: str | None
) -> None:
    """Set a new password (already checked against the policy), end every other session and
    tell the address on file."""
    account.set_password(normalize_password(new_password))
    account.save(update_fields=["password"])
    account_sessions_end(account=account, keep=keep_session_key)
    _notice(account, "password_changed", {"login_id": account.login_id})


@transaction.atomic
def account_personal_message_change(*, account: Account, personal_message: str) -> None:
    account.personal_message = personal_message
    account.save(update_fields=["personal_message"])
    _notice(account, "personal_message_changed", {"login_id": account.login_id})
