"""Web accounts, 本人認証サービス enrolments and recorded consents.

One ``Account`` model serves members (``member`` set) and issuer staff (``is_staff``). A member has
at most one active account; re-registration deactivates the old one (its login ID stays taken,
so an old ID can never be handed to someone else).

The rest serve registration and login security: ``Registration`` (the server-side state of the
flyer's steps 4–6), ``RegistrationFailure`` (the per-card lock), ``ThrottleHit`` (per-address
throttles), ``LoginChallenge`` (the new-browser code), ``RememberedBrowser``, ``AccountSession``
(to end an account's sessions) and ``AccountToken`` (password-reset and email-change links).
Every token and code is stored only as a hash.
"""

from __future__ import annotations

from typing import ClassVar

from django.contrib.auth import hashers
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models

from meisai.accounts.login_ids import login_id_key_sql
from meisai.members.models import Card, Member


class AccountManager(BaseUserManager["Account"]):
    def get_by_natural_key(self, username: str | None) -> Account:
        # Login IDs are unique without regard to case (SPEC 3.4).
        return self.get(login_id__iexact=username, is_active=True)

    def create_user(self, login_id: str, password: str | None = None, **fields: object) -> Account:
        account = self.model(login_id=login_id, **fields)
        account.set_password(password)
        account.save(using=self._db)
        return account

    def create_superuser(
        self, login_id: str, password: str | None = None, **fields: object
    ) -> Account:
        fields.setdefault("is_staff", True)
        fields.setdefault("is_superuser", True)
        return self.create_user(login_id, password, **fields)


class Account(AbstractBaseUser, PermissionsMixin):
    class Source(models.TextChoices):
        LEGACY = "legacy", "本人認証サービス(既存)"
        REGISTRATION = "registration", "WEB新規登録"
        STAFF = "staff", "職員"

    login_id = models.CharField(max_length=20)
    member = models.ForeignKey(
        Member, null=True, blank=True, on_delete=models.PROTECT, related_name="accounts"
    )
    email = models.EmailField(blank=True)
    personal_message = models.CharField(max_length=20, blank=True)
    source = models.CharField(max_length=20, choices=Source.choices, default=Source.REGISTRATION)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    deactivated_at = models.DateTimeField(null=True, blank=True)
    #: When the member was last told by email that logins are locked (one email per lockout).
    lockout_notified_at = models.DateTimeField(null=True, blank=True)

    objects = AccountManager()

    USERNAME_FIELD = "login_id"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        constraints = [
            models.UniqueConstraint(login_id_key_sql(), name="login_id_unique_ci"),
            models.UniqueConstraint(
                fields=["member"],
                condition=models.Q(is_active=True),
                name="one_active_account_per_member",
            ),
        ]

    def check_password(self, raw_password: str | None) -> bool:
        # Without an address no login can finish (the code could not be sent), so a right
        # password must cost what a wrong one does: no upgrade of a legacy hash (SPEC 3.5).
        if not self.email:
            return hashers.check_password(raw_password, self.password)
        return super().check_password(raw_password)

    def __str__(self) -> str:
        return self.login_id


class Enrollment(models.Model):
    """An enrolment in 本人認証サービス (3-D Secure), exported to the ACS (SPEC 3.9).

    Never holds a password. ``updated_at`` drives ``export enrollments --since``.
    """

    class Source(models.TextChoices):
        LEGACY = "legacy", "既存登録(取込)"
        REGISTRATION = "registration", "WEB新規登録"

    class Status(models.TextChoices):
        ACTIVE = "active", "有効"
        REVOKED = "revoked", "無効"

    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="enrollments")
    account = models.ForeignKey(
        Account, null=True, on_delete=models.SET_NULL, related_name="enrollments"
    )
    card = models.ForeignKey(Card, null=True, blank=True, on_delete=models.SET_NULL)
    login_id = models.CharField(max_length=20)
    source = models.CharField(max_length=20, choices=Source.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    enrolled_at = models.DateTimeField()
    updated_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(login_id_key_sql(), name="enrollment_login_id_unique_ci")
        ]


class Consent(models.Model):
    """The member's consent to the terms (flyer step 3), which is also consent to e-delivery."""

    terms_version = models.CharField(max_length=20)
    agreed_at = models.DateTimeField()
    member = models.ForeignKey(
        Member, null=True, blank=True, on_delete=models.PROTECT, related_name="consents"
    )
    account = models.ForeignKey(
        Account, null=True, blank=True, on_delete=models.PROTECT, related_name="consents"
    )
    #: Ties the consent to the registration in progress before the member is known.
    registration_key = models.CharField(max_length=64, unique=True)


class Registration(models.Model):
    """One registration in progress (flyer steps 3–6), kept on the server so that no step can be
    skipped or replayed: each step checks ``state`` and moves it forward.

    The two emailed URLs carry random tokens; only their SHA-256 is stored. The password is kept
    only as a Django password hash, made once identity has been proved.

    A re-registration of a member who already has an account or an enrolment waits
    (``PENDING``) until ``takes_effect_at`` or until the owner's address confirms it, and the
    owner's address can cancel it (``meisai.accounts.reregistration``); the notice's link is
    ``takeover_token_hash``.
    """

    class State(models.TextChoices):
        EMAIL_SENT = "email_sent", "登録手続きURL送信済"
        VERIFIED = "verified", "本人確認済(確認画面)"
        COMPLETION_SENT = "completion_sent", "完了手続きURL送信済"
        PENDING = "pending", "切替待ち(再登録)"
        COMPLETED = "completed", "登録完了"
        CANCELLED = "cancelled", "取消"

    class Ending(models.TextChoices):
        """Why a pending re-registration ended without taking effect."""

        OWNER = "owner", "登録済みのアドレスから取消"
        SUPERSEDED = "superseded", "新しい再登録に置換"
        LOGIN_ID_TAKEN = "login_id_taken", "ログインIDが使用済み"
        CARD_INACTIVE = "card_inactive", "カードまたは会員が無効"

    consent = models.OneToOneField(Consent, on_delete=models.PROTECT, related_name="registration")
    email = models.EmailField()
    state = models.CharField(max_length=20, choices=State.choices, default=State.EMAIL_SENT)
    email_token_hash = models.CharField(max_length=64, unique=True)
    email_token_expires_at = models.DateTimeField()
    email_token_used_at = models.DateTimeField(null=True, blank=True)
    member = models.ForeignKey(Member, null=True, blank=True, on_delete=models.PROTECT)
    card = models.ForeignKey(Card, null=True, blank=True, on_delete=models.PROTECT)
    login_id = models.CharField(max_length=20, blank=True)
    password_hash = models.CharField(max_length=128, blank=True)
    personal_message = models.CharField(max_length=20, blank=True)
    completion_token_hash = models.CharField(max_length=64, null=True, blank=True, unique=True)
    completion_token_expires_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    account = models.OneToOneField(
        Account, null=True, blank=True, on_delete=models.PROTECT, related_name="registration"
    )
    created_at = models.DateTimeField()
    #: A pending re-registration: when it takes effect unless cancelled first.
    takes_effect_at = models.DateTimeField(null=True, blank=True)
    takeover_token_hash = models.CharField(max_length=64, null=True, blank=True, unique=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    ending = models.CharField(max_length=20, choices=Ending.choices, blank=True)

    class Meta:
        indexes = [models.Index(fields=["state", "takes_effect_at"])]


class RegistrationFailure(models.Model):
    """A failed identity check for one card (by its keyed hash): five in 24 hours lock the card."""

    card_hash = models.CharField(max_length=64)
    at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["card_hash", "at"])]


class ThrottleHit(models.Model):
    """One counted request of a client address for a throttled action (counted in the database
    so every gunicorn worker sees the same numbers)."""

    scope = models.CharField(max_length=30)
    client = models.CharField(max_length=64)
    at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["scope", "client", "at"])]


class LoginChallenge(models.Model):
    """A one-time code for a login from a browser the member has not used before."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="challenges")
    code_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    attempts = models.PositiveSmallIntegerField(default=0)
    used_at = models.DateTimeField(null=True, blank=True)


class RememberedBrowser(models.Model):
    """A browser that has passed the one-time code; its signed cookie holds the token."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="browsers")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField()
    last_used_at = models.DateTimeField()


class AccountSession(models.Model):
    """The sessions an account has logged in with, so they can be ended (re-registration,
    password change)."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="sessions")
    session_key = models.CharField(max_length=40, unique=True)
    created_at = models.DateTimeField()


class AccountToken(models.Model):
    """A single-use emailed link for an existing account: password reset or email change.

    ``used_at`` is set when the link is used, and also when a later login or change of the
    account ends it (``meisai.accounts.links`` lists which), so an ended link reads as used.
    """

    class Purpose(models.TextChoices):
        PASSWORD_RESET = "password_reset", "パスワード再設定"
        EMAIL_CHANGE = "email_change", "メールアドレス変更"

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="tokens")
    purpose = models.CharField(max_length=20, choices=Purpose.choices)
    token_hash = models.CharField(max_length=64, unique=True)
    new_email = models.EmailField(blank=True)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
