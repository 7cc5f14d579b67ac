"""Web accounts, 本人認証サービス enrolments and recorded consents.

One ``Account`` model serves members (``member`` set) and issuer staff (``is_staff``). A member has
at most one active account; re-registration deactivates the old one (its login ID stays taken,
so an old ID can never be handed to someone else).
"""

from __future__ import annotations

from typing import ClassVar

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.db.models.functions import Lower

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

    objects = AccountManager()

    USERNAME_FIELD = "login_id"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("login_id"), name="login_id_unique_ci"),
            models.UniqueConstraint(
                fields=["member"],
                condition=models.Q(is_active=True),
                name="one_active_account_per_member",
            ),
        ]

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
            models.UniqueConstraint(Lower("login_id"), name="enrollment_login_id_unique_ci")
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
