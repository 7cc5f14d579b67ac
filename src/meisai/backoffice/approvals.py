"""Four eyes (ASVS 2.3.5) and the console's other month actions.

A publication, a re-import of a month (a usage file for a month that already holds imported
lines) and an ``--append`` import (the importer's ``append``: lines added to such a month) are
*requested* by one staff member (:func:`publish_request`, :func:`import_approval_request`) and
carried out only when *another* approves (:func:`approval_grant`); the requester's own
approval is refused, and recorded (``approval_grant_refused``). Any other staff member who may
act can refuse a request (:func:`approval_refuse`). Approval hands the work to a worker as a job
(``backoffice.tasks.approval_execute_task``), which runs the service and ends the request done
or failed (:func:`approval_execute`). Every step writes its audit row in its transaction:
``approval_request``, ``approval_grant``, ``approval_grant_refused``, ``approval_refuse``,
``approval_execute``, ``approval_failed``.

The command line is not bound by this: ``meisai publish`` and ``meisai import`` stay the
automation's way in and record their ``--actor`` (or the operating-system user); whoever has a
shell on the servers is trusted by other means.

The console's direct actions (a dry run, an import of a new month, the close, its dry run) go
through :func:`console_job_request`, which queues the job and records who asked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction

from meisai.accounts.models import Account
from meisai.audit.services import audit_record
from meisai.backoffice.models import ApprovalRequest
from meisai.backoffice.uploads import (
    ImportNeedsApproval,
    StoredUpload,
    months_already_imported,
    needs_approval_message,
)
from meisai.billing_calendar import BillingMonth
from meisai.clock import now
from meisai.core.jobs import job_dispatch
from meisai.core.models import Job
from meisai.imports.models import ImportBatch
from meisai.statements.close import statement_close_check
from meisai.statements.models import MonthClose
from meisai.statements.publish import PublishRefused, statement_publish, statement_publish_check


class ApprovalRefused(ValueError):
    """The request cannot be made or decided; the message says why, in Japanese."""


def _actor(staff: Account) -> str:
    return staff.get_username()


def console_job_request(*, task: Any, kind: str, args: dict[str, Any], staff: Account) -> Job:
    """Queue ``task`` as a job for ``staff`` and record who asked (``job_request``)."""
    with transaction.atomic():
        job = job_dispatch(task, kind=kind, args=args, actor=_actor(staff))
        audit_record(
            actor=_actor(staff), action="job_request", detail={"job": job.pk, "kind": kind, **args}
        )
    return job


def _create(
    *, kind: str, subject: str, args: dict[str, Any], reason: str, staff: Account
) -> ApprovalRequest:
    try:
        with transaction.atomic():
            request = ApprovalRequest.objects.create(
                kind=kind,
                subject=subject,
                args=args,
                reason=reason.strip()[:2000],
                requested_by=staff,
                requested_at=now(),
            )
            audit_record(
                actor=_actor(staff),
                action="approval_request",
                detail={"request": request.pk, "kind": kind, "subject": subject, **args},
            )
    except IntegrityError as error:
        raise ApprovalRefused(f"{subject} には承認待ちの依頼がすでにあります。") from error
    return request


def publish_request(*, month: BillingMonth, reason: str, staff: Account) -> ApprovalRequest:
    """Ask for ``month`` to be published; refused at once when publish would refuse it now."""
    statement_publish_check(month=month)
    if not MonthClose.objects.filter(
        billing_month=month, status=MonthClose.Status.CONFIRMED
    ).exists():
        raise PublishRefused(f"{month.label}はまだ締め処理が完了していないため公開できません。")
    return _create(
        kind=ApprovalRequest.Kind.PUBLISH,
        subject=str(month),
        args={"month": str(month)},
        reason=reason,
        staff=staff,
    )


def import_approval_request(*, dry_run: Job, reason: str, staff: Account) -> ApprovalRequest:
    """Ask for the file of a clean dry run to be imported when it needs a second staff member:
    an ``append`` import, or a usage file whose months already hold imported lines."""
    args, counts = dry_run.args, dry_run.counts
    _clean_dry_run(dry_run)
    append = bool(args.get("append"))
    if not (append or counts.get("reimport")):
        raise ApprovalRefused(
            "このファイルは承認なしで取り込めます(本番の取込を実行してください)。"
        )
    return _create(
        kind=ApprovalRequest.Kind.APPEND if append else ApprovalRequest.Kind.REIMPORT,
        subject=str(args["sha256"]),
        args={
            "kind": args["kind"],
            "path": args["path"],
            "name": args["name"],
            "encoding": args.get("encoding"),
            "sha256": args["sha256"],
            "append": append,
            "months": counts.get("reimport", []),
            "dry_run_job": dry_run.pk,
            "rows": counts.get("rows", 0),
        },
        reason=reason,
        staff=staff,
    )


def _pending(request_id: int) -> ApprovalRequest:
    request = ApprovalRequest.objects.select_for_update().filter(pk=request_id).first()
    if request is None:
        raise ApprovalRefused(f"依頼 #{request_id} はありません。")
    if request.state != ApprovalRequest.State.PENDING:
        raise ApprovalRefused(f"依頼 #{request.pk} はすでに{request.get_state_display()}です。")
    return request


def approval_grant(*, request_id: int, staff: Account, note: str = "") -> ApprovalRequest:
    """Approve a pending request and hand its work to a worker.

    Refused (:class:`ApprovalRefused`) for the requester's own request — the attempt is recorded
    (``approval_grant_refused``) and the request stays pending — and for a request no longer
    pending."""
    from meisai.backoffice.tasks import approval_execute_task

    with transaction.atomic():
        request = _pending(request_id)
        if request.requested_by_id == staff.pk:
            audit_record(
                actor=_actor(staff),
                action="approval_grant_refused",
                detail={
                    "request": request.pk,
                    "kind": request.kind,
                    "subject": request.subject,
                    "why": "the requester may not approve their own request",
                },
            )
            own = True
        else:
            own = False
            request.state = ApprovalRequest.State.APPROVED
            request.decided_by = staff
            request.decided_at = now()
            request.decision_note = note.strip()[:2000]
            request.job = job_dispatch(
                approval_execute_task,
                kind=f"approval_{request.kind}",
                args={"request_id": request.pk},
                actor=_actor(staff),
            )
            request.save(
                update_fields=["state", "decided_by", "decided_at", "decision_note", "job"]
            )
            audit_record(
                actor=_actor(staff),
                action="approval_grant",
                detail={
                    "request": request.pk,
                    "kind": request.kind,
                    "subject": request.subject,
                    "requested_by": request.requested_by.get_username(),
                    "job": request.job.pk,
                },
            )
    if own:
        raise ApprovalRefused("ご自身の依頼は承認できません。別のスタッフの承認が必要です。")
    return request


def approval_refuse(*, request_id: int, staff: Account, note: str = "") -> ApprovalRequest:
    """Refuse a pending request (by another staff member than the requester); nothing runs."""
    with transaction.atomic():
        request = _pending(request_id)
        if request.requested_by_id == staff.pk:
            raise ApprovalRefused("ご自身の依頼は却下できません。別のスタッフが判断します。")
        request.state = ApprovalRequest.State.REFUSED
        request.decided_by = staff
        request.decided_at = now()
        request.decision_note = note.strip()[:2000]
        request.save(update_fields=["state", "decided_by", "decided_at", "decision_note"])
        audit_record(
            actor=_actor(staff),
            action="approval_refuse",
            detail={
                "request": request.pk,
                "kind": request.kind,
                "subject": request.subject,
                "requested_by": request.requested_by.get_username(),
                "note": request.decision_note,
            },
        )
    return request


@dataclass(frozen=True)
class Execution:
    request: ApprovalRequest
    result: dict[str, Any]


def _run(request: ApprovalRequest, actor: str) -> dict[str, Any]:
    from meisai.backoffice.uploads import upload_import

    if request.kind == ApprovalRequest.Kind.PUBLISH:
        result = statement_publish(month=BillingMonth.parse(request.args["month"]), actor=actor)
        return {
            "month": str(result.month),
            "statements_published": result.statements_published,
            "emails_queued": result.emails_queued,
        }
    args = request.args
    counts = upload_import(
        kind=args["kind"],
        path=args["path"],
        name=args["name"],
        encoding=args.get("encoding"),
        append=bool(args.get("append")),
        actor=actor,
        approved=True,
    )
    if counts.get("status") == ImportBatch.Status.FAILED:
        raise ApprovalRefused(
            f"{args['name']}: 取込できませんでした(問題 {counts.get('problems', 0)}件)。"
        )
    return counts


def approval_execute(*, request_id: int) -> Execution:
    """Carry out an approved request (the worker's part); the request ends done or failed, and
    so does its job (a failure is raised again after it is recorded)."""
    request = ApprovalRequest.objects.select_related("requested_by", "decided_by").get(
        pk=request_id
    )
    if request.state == ApprovalRequest.State.DONE:
        # A task run twice: the work is done already.
        return Execution(request=request, result=request.result)
    if request.state not in (ApprovalRequest.State.APPROVED, ApprovalRequest.State.FAILED):
        raise ApprovalRefused(f"依頼 #{request.pk} は承認されていません。")
    assert request.decided_by is not None
    actor = request.decided_by.get_username()
    detail = {
        "request": request.pk,
        "kind": request.kind,
        "subject": request.subject,
        "requested_by": request.requested_by.get_username(),
        "approved_by": actor,
    }
    try:
        # Outside a transaction of its own: the publication and the import are each one
        # transaction, and a refused import keeps its failed batch (the report).
        result = _run(request, actor)
    except ValueError as error:
        # PublishRefused, a refused file, a re-import no longer possible: recorded, raised again.
        with transaction.atomic():
            request.state = ApprovalRequest.State.FAILED
            request.error = str(error)[:2000]
            request.save(update_fields=["state", "error"])
            audit_record(
                actor=actor, action="approval_failed", detail={**detail, "error": request.error}
            )
        raise
    with transaction.atomic():
        request.state = ApprovalRequest.State.DONE
        request.result = result
        request.error = ""
        request.save(update_fields=["state", "result", "error"])
        audit_record(actor=actor, action="approval_execute", detail={**detail, **result})
    return Execution(request=request, result=result)


# --- the console's direct actions: one staff member is enough --------------------------------


def upload_dry_run_start(
    *, upload: StoredUpload, kind: str, encoding: str | None, append: bool, staff: Account
) -> Job:
    """Check a stored upload on a worker (a dry run: everything checked, nothing kept)."""
    from meisai.backoffice.tasks import console_import_task

    return console_job_request(
        task=console_import_task,
        kind="import_dry_run",
        args={
            "kind": kind,
            "path": str(upload.path),
            "name": upload.name,
            "encoding": encoding,
            "sha256": upload.sha256,
            "dry_run": True,
            "append": append,
        },
        staff=staff,
    )


def _clean_dry_run(job: Job) -> None:
    if not (
        job.kind == "import_dry_run"
        and job.status == Job.Status.DONE
        and job.counts.get("status") == ImportBatch.Status.DRY_RUN
    ):
        raise ApprovalRefused("本番の取込は、問題のなかったドライランからだけ始められます。")


def upload_import_start(*, dry_run: Job, staff: Account) -> Job:
    """Import for real the file of a clean dry run. An ``append`` import, and a usage file for a
    month that already holds imported lines, need a second staff member
    (:func:`import_approval_request`) and are refused here
    (:class:`~meisai.backoffice.uploads.ImportNeedsApproval`)."""
    from meisai.backoffice.tasks import console_import_task

    _clean_dry_run(dry_run)
    args = dry_run.args
    months = months_already_imported(dry_run.counts.get("months", []))
    if months or args.get("append"):
        raise ImportNeedsApproval(needs_approval_message(months, append=bool(args.get("append"))))
    return console_job_request(
        task=console_import_task,
        kind="import",
        args={**args, "dry_run": False, "dry_run_job": dry_run.pk},
        staff=staff,
    )


def close_start(*, month: BillingMonth, staff: Account, dry_run_job: Job | None = None) -> Job:
    """The close of ``month`` on a worker: its dry run without ``dry_run_job``, else the close
    itself, confirmed after that dry run of the same month was shown."""
    from meisai.statements.tasks import statement_close_task

    statement_close_check(month=month)
    if dry_run_job is not None and not (
        dry_run_job.kind == "close"
        and dry_run_job.status == Job.Status.DONE
        and dry_run_job.args.get("month") == str(month)
        and dry_run_job.args.get("dry_run") is True
        and dry_run_job.counts.get("outcome") == "dry_run"
    ):
        raise ApprovalRefused("締めの確定は、同じ月のドライランの結果からだけ行えます。")
    dry_run = dry_run_job is None
    return console_job_request(
        task=statement_close_task,
        kind="close",
        args={"month": str(month), "dry_run": dry_run},
        staff=staff,
    )
