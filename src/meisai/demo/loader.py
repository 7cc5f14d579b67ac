"""Loading the demo: files through the real importers, then the monthly cycle of every month.

Everything goes through the services the product uses (``import_file``,
``delivery_preference_change``, ``campaign_load_defaults``, ``statement_close``,
``statement_publish``). The one shortcut: web registrations of past dates are recorded as the
registration service records them (account, 本人認証サービス enrolment, consent, delivery
preference) without the two emails, since their dates lie in the past.

Running it again changes nothing: every file was imported before, every member's registration
exists, every month is confirmed and published. A new month (the clock moved on) adds its
usage file and is closed and published.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.test.utils import override_settings

from meisai import billing_calendar as cal
from meisai.accounts.models import Account, Consent, Enrollment
from meisai.billing_calendar import BillingMonth
from meisai.clock import now
from meisai.demo.generator import DEMO_PASSWORD, DemoFiles, DemoMember, demo_files_write
from meisai.imports.services import import_file
from meisai.members.delivery import web_delivery_refusal
from meisai.members.models import DeliveryPreference, Member
from meisai.members.services import delivery_preference_change

#: The service's first month online: the demo closes and publishes from here on.
FIRST_CLOSED_MONTH = BillingMonth(2024, 11)


@dataclass(frozen=True)
class DemoLogin:
    login_id: str
    password: str
    kind: str
    member_no: str


def demo_load(
    *, directory: Path, members: int, write: Callable[[str], None]
) -> tuple[DemoFiles, list[DemoLogin]]:
    """Write the demo files, load them and run the monthly cycle; return the logins to print."""
    latest = cal.latest_billing_month()
    files = demo_files_write(directory, members=members, latest=latest)
    write(f"デモデータ: {directory}(会員 {members} 名、{files.usage[0][0]}〜{latest} 請求分)")
    for kind, path in [
        ("products", files.products),
        ("members", files.members),
        ("enrollments", files.enrollments),
        ("points", files.points),
    ]:
        write(f"  取込 {kind:<11} {path.name}: {_imported(kind, path)}")
    outcomes = [
        import_file(kind="usage", path=path, actor="demo", progress=False)
        for _, path in files.usage
    ]
    before = sum(1 for outcome in outcomes if outcome.already_imported is not None)
    write(
        f"  取込 usage       {files.usage[0][1].name}〜{files.usage[-1][1].name}"
        f" {len(outcomes)} ファイル: 新規 {sum(o.counts.inserted for o in outcomes)} 行"
        + (f"(取込済み {before} ファイルは変更なし)" if before else "")
    )
    balances = [
        import_file(kind="balances", path=path, actor="demo", progress=False)
        for _, path in files.balances
    ]
    if balances:
        write(
            f"  取込 balances    {files.balances[0][1].name}〜{files.balances[-1][1].name}"
            f" {len(balances)} ファイル(分割・リボ残高)"
        )
    registered, stopped = _web_members(files.people)
    write(f"WEB登録 {registered} 名・紙明細停止 {stopped} 名を記録しました")
    _monthly_cycle(latest, write)
    return files, _logins(files.people)


def _imported(kind: str, path: Path) -> str:
    outcome = import_file(kind=kind, path=path, actor="demo", progress=False)
    if outcome.already_imported is not None:
        return "取込済み(変更なし)"
    counts = outcome.counts
    return f"{counts.rows} 行(新規 {counts.inserted}・更新 {counts.updated})"


def _web_members(people: list[DemoMember]) -> tuple[int, int]:
    """Record the web registrations and paper stops whose moment has come."""
    moment = now()
    password_hash = make_password(DEMO_PASSWORD)  # one hash for every demo account: fast
    by_no = {
        m.member_no: m for m in Member.objects.filter(member_no__in=[p.member_no for p in people])
    }
    registered = stopped = 0
    for person in people:
        if person.web_at is None or person.web_at > moment:
            continue
        member = by_no[person.member_no]
        if DeliveryPreference.objects.filter(member=member).exists():
            continue  # recorded by an earlier run
        with transaction.atomic():
            if person.legacy_enrolled_at is None:
                _registration_record(member, person, password_hash)
                registered += 1
            else:
                stopped += 1
            if web_delivery_refusal(member=member) is None:
                delivery_preference_change(
                    member=member,
                    method=DeliveryPreference.Method.WEB,
                    source=DeliveryPreference.Source.MEMBER
                    if person.legacy_enrolled_at
                    else DeliveryPreference.Source.REGISTRATION,
                    actor=person.login_id,
                    at=person.web_at,
                )
    return registered, stopped


def _registration_record(member: Member, person: DemoMember, password_hash: str) -> None:
    assert person.web_at is not None
    account = Account.objects.create(
        login_id=person.login_id,
        password=password_hash,
        member=member,
        email=person.email,
        personal_message="いわてのさくら",
        source=Account.Source.REGISTRATION,
    )
    Account.objects.filter(pk=account.pk).update(created_at=person.web_at)
    Enrollment.objects.create(
        member=member,
        account=account,
        card=member.cards.order_by("id").first(),
        login_id=person.login_id,
        source=Enrollment.Source.REGISTRATION,
        enrolled_at=person.web_at,
        updated_at=person.web_at,
    )
    Consent.objects.create(
        terms_version=settings.MEISAI_TERMS_VERSION,
        agreed_at=person.web_at,
        member=member,
        account=account,
        registration_key=f"demo-{person.member_no}",
    )


def _monthly_cycle(latest: BillingMonth, write: Callable[[str], None]) -> None:
    # Imported lazily: the statements and points apps call into members, not the reverse.
    from meisai.points.services import campaign_load_defaults
    from meisai.statements.close import statement_close
    from meisai.statements.publish import statement_publish

    campaign = campaign_load_defaults(actor="demo")
    write(f"キャンペーン: {campaign.name}")
    month = FIRST_CLOSED_MONTH
    queued = 0
    # Past months' 請求額確定 emails go to the demo outbox only; printing hundreds of them on
    # the console would bury the logins below.
    with override_settings(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend"):
        while month <= latest:
            closed = statement_close(month=month, actor="demo")
            published = statement_publish(month=month, actor="demo")
            queued += published.emails_queued
            if closed.changed:
                write(
                    f"  {month.label}: 明細 {closed.statements} 件(WEB {closed.web_statements}・"
                    f"紙 {closed.paper_statements})、紙明細手数料 {closed.fees} 件"
                    + (f"、ポイント付与 {closed.grants} 件" if closed.grants else "")
                    + "、確定・公開"
                )
            month = month.next()
    write(
        f"{FIRST_CLOSED_MONTH}〜{latest} 請求分を締め・公開しました"
        f"(請求額確定メール {queued} 通はデモ送信箱 /demo/outbox/ に記録)"
    )


def _logins(people: list[DemoMember]) -> list[DemoLogin]:
    active = set(
        Account.objects.filter(
            is_active=True, member__member_no__in=[p.member_no for p in people]
        ).values_list("login_id", flat=True)
    )
    chosen = [p for p in people[:10] if p.login_id in active]
    chosen += [p for p in people[10:] if p.login_id in active][:2]
    return [DemoLogin(p.login_id, DEMO_PASSWORD, p.kind, p.member_no) for p in chosen]
