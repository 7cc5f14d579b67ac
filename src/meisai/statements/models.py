"""Usage lines from the core system, and the statements the monthly close makes of them.

A statement's lines are the member's usage lines of its billing month (they are not copied)
plus, when it carries one, the paper fee line, which is the statement's own ``fee_total`` (the
selectors print it as the last line; one fee per statement by construction). A statement is
confirmed by the close and never changes afterwards, nor do the usage lines it is made of
(enforced in the database); corrections arrive as usage lines of a later month. Its total is
the sum of its lines, the paper fee line included.
"""

from __future__ import annotations

from django.db import models

from meisai.core.billing_month import BillingMonthField
from meisai.members.models import Card, Member


class LineKind(models.TextChoices):
    """What a line of a statement is: a usage line of the core system, or the paper fee."""

    USAGE = "usage", "ご利用"
    PAPER_FEE = "paper_fee", "紙明細発行手数料"


class UserKind(models.TextChoices):
    SELF = "本人", "本人"
    FAMILY = "家族", "家族"


class PaymentType(models.TextChoices):
    ONCE = "1回", "1回払い"
    TWICE = "2回", "2回払い"
    BONUS = "ボーナス", "ボーナス一括払い"
    INSTALLMENT = "分割", "分割払い"
    REVOLVING = "リボ", "リボ払い"


class UsageLine(models.Model):
    """One line of usage as the core system billed it for a billing month.

    Once the month is closed it is also a line of the member's statement: it carries the
    attributes the pages, the PDF and the CSV read on every line (``kind`` included).
    """

    #: A usage line is always a usage line (not stored); see ``selectors.FeeLine`` for the other.
    kind = LineKind.USAGE

    # The database vouches for every line's member and card, set-based (``meisai.statements.triggers``): one
    # anti-join per INSERT instead of Django's row-by-row foreign-key trigger, which cost the
    # import about 4 µs a row. No index of their own: every read goes by month or by member and
    # month (usage_line_unique), and members and cards are never deleted — an index per key
    # would cost the import about 1.3 µs a row for lookups nobody makes (bench/README.md).
    member = models.ForeignKey(
        Member,
        on_delete=models.PROTECT,
        related_name="usage_lines",
        db_index=False,
        db_constraint=False,
    )
    card = models.ForeignKey(
        Card, null=True, blank=True, on_delete=models.PROTECT, db_index=False, db_constraint=False
    )
    billing_month = BillingMonthField()
    line_no = models.PositiveIntegerField()
    use_date = models.DateField()
    merchant = models.CharField(max_length=200)
    user_kind = models.CharField(max_length=4, choices=UserKind.choices)
    payment_type = models.CharField(max_length=6, choices=PaymentType.choices)
    installment = models.CharField(max_length=9, blank=True)
    use_amount = models.BigIntegerField()
    billed_amount = models.BigIntegerField()
    note = models.CharField(max_length=200, blank=True)
    # Informational (which file brought the line): no database constraint and no index, so the
    # import pays neither a foreign-key check nor an index entry per row. Batches are the import
    # history and are never deleted (read-only in the back office).
    batch = models.ForeignKey(
        "imports.ImportBatch",
        null=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
    )

    class Meta:
        # Month first: the one index serves the close (by month) and the statement pages (by
        # member and month) as well as the uniqueness of a line.
        constraints = [
            models.UniqueConstraint(
                fields=["billing_month", "member", "line_no"], name="usage_line_unique"
            )
        ]


class MonthClose(models.Model):
    """The record of closing (and publishing) one billing month."""

    class Status(models.TextChoices):
        RUNNING = "running", "締め処理中"
        CONFIRMED = "confirmed", "確定"
        FAILED = "failed", "失敗"

    billing_month = BillingMonthField(unique=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField()
    confirmed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.CharField(max_length=150, blank=True)
    statements = models.PositiveIntegerField(default=0)
    web_statements = models.PositiveIntegerField(default=0)
    paper_statements = models.PositiveIntegerField(default=0)
    fees = models.PositiveIntegerField(default=0)
    usage_total = models.BigIntegerField(default=0)
    fee_total = models.BigIntegerField(default=0)
    statement_total = models.BigIntegerField(default=0)
    points_granted = models.BigIntegerField(default=0)
    published_at = models.DateTimeField(null=True, blank=True)
    published_by = models.CharField(max_length=150, blank=True)
    error = models.TextField(blank=True)


class Statement(models.Model):
    class Delivery(models.TextChoices):
        WEB = "web", "WEB明細"
        PAPER = "paper", "紙明細"

    # Checked set-based by the database (``meisai.statements.triggers``), as the close inserts a month of
    # statements at once; no index of its own, one_statement_per_month starts with it.
    member = models.ForeignKey(
        Member,
        on_delete=models.PROTECT,
        related_name="statements",
        db_index=False,
        db_constraint=False,
    )
    billing_month = BillingMonthField()
    delivery = models.CharField(max_length=5, choices=Delivery.choices)
    usage_total = models.BigIntegerField()
    fee_total = models.BigIntegerField(default=0)
    total = models.BigIntegerField()
    line_count = models.PositiveIntegerField()
    points_granted = models.BigIntegerField(default=0)
    debit_date = models.DateField()
    confirmed_at = models.DateTimeField()
    published_at = models.DateTimeField(null=True, blank=True)
    #: SHA-256 of the PDF first served, so a later rendering can be checked against it.
    pdf_sha256 = models.CharField(max_length=64, blank=True)
    # The member as the member master stood at the close, for the PDF: a statement is a document
    # of its month, and a PDF once served must render to the same bytes for ever (its SHA-256 is
    # recorded) while names and debit accounts keep changing with each members import. NULL on
    # statements closed before these columns existed: their PDFs print the member row, as they
    # always did (the snapshot of a statement closed since is never NULL for the name).
    holder_name = models.CharField(max_length=100, null=True, blank=True)  # noqa: DJ001
    debit_bank = models.CharField(max_length=60, null=True, blank=True)  # noqa: DJ001
    debit_branch = models.CharField(max_length=60, null=True, blank=True)  # noqa: DJ001
    debit_account_last4 = models.CharField(max_length=4, null=True, blank=True)  # noqa: DJ001

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["member", "billing_month"], name="one_statement_per_month"
            ),
            models.CheckConstraint(
                condition=models.Q(total=models.F("usage_total") + models.F("fee_total")),
                name="statement_total_is_usage_plus_fees",
            ),
        ]
        indexes = [models.Index(fields=["billing_month", "delivery"])]


class StatementBalance(models.Model):
    """What remains to pay after a billing month: the 分割 and リボ balances, as the core system
    computed them (``meisai import balances``), printed on that month's statement PDF.

    One per member and billing month. Like usage lines, a month's balances are closed with the
    month: the import refuses balances for a confirmed month, so the PDF first issued keeps its
    figures (and its SHA-256).
    """

    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="statement_balances")
    billing_month = BillingMonthField()
    #: リボ払い: the remaining principal after this month's payment, whole yen.
    revolving_balance = models.BigIntegerField()
    #: 分割払い: the remaining instalments after this month's payment, whole yen.
    installment_balance = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["member", "billing_month"], name="one_balance_per_member_and_month"
            ),
            models.CheckConstraint(
                condition=models.Q(revolving_balance__gte=0, installment_balance__gte=0),
                name="statement_balances_not_negative",
            ),
        ]
