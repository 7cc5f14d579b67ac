"""Points (日専連カードセールポイント): imported balances, the ledger of grants, campaigns as data."""

from __future__ import annotations

from django.db import models

from meisai.core.billing_month import BillingMonthField
from meisai.members.models import Member, Product


class Campaign(models.Model):
    """A registration campaign (SPEC 3.7). The flyer's: 2024-11-13 … 2025-02-28, 1,000 points,
    granted in the close of 2025-04."""

    code = models.CharField(max_length=40, unique=True)
    name = models.CharField(max_length=200)
    window_start = models.DateTimeField(help_text="inclusive")
    window_end = models.DateTimeField(help_text="inclusive")
    points = models.PositiveIntegerField()
    grant_month = BillingMonthField()
    excluded_products = models.ManyToManyField(Product, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(window_end__gte=models.F("window_start")),
                name="campaign_window_ordered",
            )
        ]

    def __str__(self) -> str:
        return self.name


class PointBalance(models.Model):
    """A balance as the core system reported it on ``as_of``."""

    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="point_balances")
    as_of = models.DateField()
    balance = models.BigIntegerField()
    expiring_points = models.BigIntegerField(default=0)
    expires_on = models.DateField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["member", "as_of"], name="one_balance_per_day")
        ]


class PointEntry(models.Model):
    """A point movement meisai made (campaign grants). One grant per member and campaign, ever."""

    class Kind(models.TextChoices):
        CAMPAIGN = "campaign", "キャンペーン付与"

    # Both keys are checked set-based by the database (``meisai.points.triggers``), as the close
    # grants a campaign to a month's members at once.
    member = models.ForeignKey(
        Member, on_delete=models.PROTECT, related_name="point_entries", db_constraint=False
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    points = models.BigIntegerField()
    billing_month = BillingMonthField()
    campaign = models.ForeignKey(
        Campaign, null=True, blank=True, on_delete=models.PROTECT, db_constraint=False
    )
    description = models.CharField(max_length=200)
    recorded_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["member", "campaign"],
                condition=models.Q(campaign__isnull=False),
                name="one_grant_per_member_and_campaign",
            )
        ]
