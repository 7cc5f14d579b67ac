"""Drives a meisai installation from outside, as an operator's shell would: seeds members with
web accounts and usage, closes a month, asks the workers to publish, reads the outbox.

Run as ``python -m tests.production.driver COMMAND …`` with the installation's environment
(``DATABASE_URL``, ``REDIS_URL``, ``MEISAI_TASKS_INLINE=false``); prints JSON.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys


def _setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "meisai.settings")
    import django

    django.setup()


def seed(*, prefix: str, members: int, month: str) -> list[str]:
    """``members`` members, each with an active web account and two usage lines of ``month``."""
    from django.contrib.auth.hashers import make_password
    from django.db import transaction

    from meisai.accounts.models import Account
    from meisai.billing_calendar import BillingMonth, usage_period
    from meisai.members.models import Member
    from meisai.statements.models import UsageLine

    first_day, _ = usage_period(BillingMonth.parse(month))
    password = make_password("correct-horse-battery")
    with transaction.atomic():
        created = Member.objects.bulk_create(
            Member(
                member_no=f"{prefix}{n:06d}",
                name_kanji="盛岡 太郎",
                name_kana="モリオカ タロウ",
                birth_date=dt.date(1960, 4, 1),
                email=f"{prefix.lower()}{n:06d}@example.jp",
            )
            for n in range(members)
        )
        Account.objects.bulk_create(
            Account(
                login_id=f"{prefix.lower()}{n:06d}",
                member=member,
                email=member.email,
                password=password,
            )
            for n, member in enumerate(created)
        )
        UsageLine.objects.bulk_create(
            UsageLine(
                member=member,
                billing_month=month,
                line_no=line_no,
                use_date=first_day + dt.timedelta(days=line_no),
                merchant="盛岡中央スーパー",
                user_kind="本人",
                payment_type="1回",
                use_amount=1000 * line_no,
                billed_amount=1000 * line_no,
            )
            for member in created
            for line_no in (1, 2)
        )
    return [m.email for m in created]


def close(*, month: str) -> dict[str, object]:
    from meisai.billing_calendar import BillingMonth
    from meisai.statements.close import statement_close

    result = statement_close(month=BillingMonth.parse(month), actor="driver")
    return {"statements": result.statements}


def publish(*, month: str) -> None:
    """Ask the workers to publish: the task goes through Redis."""
    from meisai.statements.tasks import statement_publish_task

    statement_publish_task.delay(month=month, actor="driver")


def kick() -> None:
    """What the scheduler does every minute: ask a worker to send what is due."""
    from meisai.notifications.tasks import outbox_send

    outbox_send.delay()


def state(*, month: str) -> dict[str, object]:
    from django.db.models import Count, Max

    from meisai.core.models import Job
    from meisai.notifications.models import OutboxMessage

    messages = OutboxMessage.objects.filter(key__contains=f":{month}:")
    outbox = dict(messages.values_list("status").annotate(n=Count("id")).order_by("status"))
    return {
        "outbox": outbox,
        "max_attempts": messages.aggregate(m=Max("attempts"))["m"],
        "jobs": sorted(
            {f"{kind}:{status}" for kind, status in Job.objects.values_list("kind", "status")}
        ),
    }


def verify(*, month: str) -> dict[str, object]:
    """What a restored database holds for ``month``, and whether its PDFs still verify."""
    from django.db.models import Count, Sum

    from meisai.billing_calendar import BillingMonth
    from meisai.statements.models import Statement
    from meisai.statements.pdf import statements_pdf_render

    figures = Statement.objects.filter(billing_month=month).aggregate(
        statements=Count("id"), total=Sum("total")
    )
    return {**figures, "pdf": statements_pdf_render(month=BillingMonth.parse(month))}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["cycle", "kick", "state", "verify"])
    parser.add_argument("--prefix", default="P")
    parser.add_argument("--members", type=int, default=10)
    parser.add_argument("--month", default="2025-06")
    options = parser.parse_args()
    _setup()
    output: object = None
    if options.command == "cycle":
        # One process for the three steps: each start of Django costs a second or two.
        emails = seed(prefix=options.prefix, members=options.members, month=options.month)
        output = {"emails": emails, **close(month=options.month)}
        publish(month=options.month)
    elif options.command == "kick":
        kick()
    elif options.command == "verify":
        output = verify(month=options.month)
    else:
        output = state(month=options.month)
    sys.stdout.write(json.dumps(output) + "\n")


if __name__ == "__main__":
    main()
