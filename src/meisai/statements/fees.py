"""The paper fee (SPEC 3.3), in one place: who pays for a paper statement, and how much.

A paper statement of billing month M carries one fee of ``paper_fee_amount()`` (net + tax,
165 yen; ``Statement.fee_total``, printed as the statement's last line) when M ≥ ``paper_fee_start()`` (2025-04) and the member carries none of
:data:`EXEMPTING_FLAGS`: programme-excluded (the IRIS card), fee-exempt, or flagged
paper-required by the core system. A web statement, or a month without lines (no statement),
never carries one.

The close decides it for a whole month in SQL (:func:`exempt_sql`); the member pages tell a
member in advance with :func:`paper_fee_for`. Both read the flags from here.
"""

from __future__ import annotations

from meisai import billing_calendar as cal
from meisai.billing_calendar import BillingMonth
from meisai.members.models import Member

#: The merchant text of the paper fee line, as the statement prints it.
PAPER_FEE_TEXT = "紙明細発行手数料(税込)"

#: A member with any of these set never pays the paper fee.
EXEMPTING_FLAGS = ("program_excluded", "fee_exempt", "paper_required")


def paper_fee_amount_for(month: BillingMonth) -> int:
    """The fee a chargeable paper statement of ``month`` carries (0 before the fee started)."""
    if month < cal.paper_fee_start():
        return 0
    net, tax = cal.paper_fee_amount()
    return net + tax


def paper_fee_for(*, member: Member, month: BillingMonth) -> int:
    """The fee ``member``'s statement of ``month`` carries if it goes on paper (0: none)."""
    if any(getattr(member, flag) for flag in EXEMPTING_FLAGS):
        return 0
    return paper_fee_amount_for(month)


def exempt_sql(alias: str) -> str:
    """SQL true when the member row ``alias`` is exempt from the fee."""
    return "(" + " OR ".join(f"{alias}.{flag}" for flag in EXEMPTING_FLAGS) + ")"
