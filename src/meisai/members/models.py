"""The member master as the core card system sends it, and each member's delivery preference.

Products, members, cards and phones are written by the member import (the core system is their
source of truth). The delivery preference is meisai's own: an append-only history, so that the
preference in force at any moment (the 9th cutoff, SPEC 3.2) can be read back at any time.
"""

from __future__ import annotations

from django.db import models

from meisai import card_numbers


class Product(models.Model):
    """A card product. ``program_excluded`` products (the IRIS card) are outside WEB請求明細."""

    code = models.CharField(max_length=20, unique=True)
    name = models.CharField(max_length=100)
    program_excluded = models.BooleanField(default=False)

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class Member(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "有効"
        CANCELLED = "cancelled", "退会"

    member_no = models.CharField(max_length=20, unique=True)
    name_kanji = models.CharField(max_length=100)
    name_kana = models.CharField(max_length=100)
    birth_date = models.DateField()
    postal_code = models.CharField(max_length=8, blank=True)
    address = models.CharField(max_length=200, blank=True)
    #: The address the core system holds; the web account keeps its own confirmed address.
    email = models.EmailField(blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    cancelled_on = models.DateField(null=True, blank=True)
    #: 一部対象外: the core system decides who pays no fee or must get paper (SPEC 3.3).
    fee_exempt = models.BooleanField(default=False)
    paper_required = models.BooleanField(default=False)
    #: True when every card of the member is of an excluded product (derived on import).
    program_excluded = models.BooleanField(default=False)
    #: The account the total is debited from, as the core system sends it (optional columns of
    #: the member file): bank and branch names and the last four digits of the account number
    #: only, never the whole number. NULL when the core system did not send them — nullable
    #: rather than blank text so that adding the columns is an ``ADD COLUMN`` on SQLite too (a
    #: table rebuild there would trip the reference triggers of the tables naming members).
    debit_bank = models.CharField(max_length=60, null=True, blank=True)  # noqa: DJ001
    debit_branch = models.CharField(max_length=60, null=True, blank=True)  # noqa: DJ001
    debit_account_last4 = models.CharField(max_length=4, null=True, blank=True)  # noqa: DJ001
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status="active", cancelled_on__isnull=True)
                | models.Q(status="cancelled"),
                name="member_active_has_no_cancel_date",
            )
        ]

    def __str__(self) -> str:
        return self.member_no

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE


class Card(models.Model):
    """A card of a member: never the whole number, only its keyed hash and last four digits."""

    # The database vouches for each card's member and product set-based
    # (``meisai.members.triggers``): one anti-join per INSERT or UPDATE instead of a foreign key's
    # row-by-row check at commit, a fifth of a member master's import (bench/README.md).
    member = models.ForeignKey(
        Member, on_delete=models.CASCADE, related_name="cards", db_constraint=False
    )
    # No index: a product has hundreds of thousands of cards, so an index on it finds nothing a
    # scan would not; cards are read by product only when a product's exclusion changes.
    product = models.ForeignKey(
        Product, on_delete=models.PROTECT, related_name="cards", db_index=False, db_constraint=False
    )
    #: Unique through a constraint rather than ``unique=True``, which would add a second index
    #: (``varchar_pattern_ops``, for LIKE) that no query on a hash ever uses.
    number_hash = models.CharField(max_length=64)
    last4 = models.CharField(max_length=4)
    expiry = models.CharField(max_length=7, help_text="YYYY-MM")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["number_hash"], name="card_number_hash_unique")
        ]

    def __str__(self) -> str:
        return self.masked

    @property
    def masked(self) -> str:
        return card_numbers.mask(self.last4)


class Phone(models.Model):
    class Kind(models.TextChoices):
        HOME = "home", "自宅"
        MOBILE = "mobile", "携帯"

    # Checked set-based like a card's (``meisai.members.triggers``); no index of its own: the
    # unique (member, kind) index begins with the member and serves every lookup by member.
    member = models.ForeignKey(
        Member,
        on_delete=models.CASCADE,
        related_name="phones",
        db_index=False,
        db_constraint=False,
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    number = models.CharField(max_length=15, help_text="digits only")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["member", "kind"], name="one_phone_per_kind")
        ]


class DeliveryPreference(models.Model):
    """One change of a member's statement delivery (web or paper). Never updated, never deleted.

    The preference in force at a moment is the latest row recorded before it; a member with no
    row gets paper.
    """

    class Method(models.TextChoices):
        WEB = "web", "WEB明細"
        PAPER = "paper", "紙明細"

    class Source(models.TextChoices):
        REGISTRATION = "registration", "WEB登録"
        MEMBER = "member", "会員による変更"
        OPERATOR = "operator", "オペレーター"
        IMPORT = "import", "取込"

    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="delivery_history")
    method = models.CharField(max_length=5, choices=Method.choices)
    recorded_at = models.DateTimeField(db_index=True)
    source = models.CharField(max_length=20, choices=Source.choices)
    reason = models.CharField(max_length=200, blank=True)
    actor = models.CharField(max_length=150, blank=True)

    class Meta:
        indexes = [models.Index(fields=["member", "recorded_at"])]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(source="operator") | ~models.Q(reason=""),
                name="operator_change_has_reason",
            )
        ]
