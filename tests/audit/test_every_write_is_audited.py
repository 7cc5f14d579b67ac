"""Every service that changes state writes its audit row (SPEC 3.10): a walk over the code.

The walk reads every service module of the package (everything but models, views, forms,
selectors, admin, URLs, tasks, commands, templates tags, migrations and triggers) and follows
each public function through the functions it calls. A function *writes* when it, or one it
calls, creates, saves, updates or deletes rows (through the ORM or in SQL); it *audits* when it,
or one it calls, calls ``audit_record``. A public function that writes without auditing must be
on :data:`ALLOWED` with the reason; the tests of each service assert the exact rows.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

import meisai

PACKAGE = Path(meisai.__file__).parent

#: Modules that are not services (their writes, if any, are checked where they call services).
NOT_SERVICES = re.compile(
    r"(^|/)(models|views|forms|selectors|admin|urls|apps|tasks|triggers|middleware|"
    r"context_processors|settings|config|wsgi|cli|celery_app|schedules)\.py$"
    r"|(^|/)(migrations|management|templatetags|demo)/"
    # The import formats' loaders run only inside ``imports.services.import_file``, which audits.
    r"|^imports/formats/"
    r"|^audit/(services|security_events)\.py$"
)

#: Public functions that write without an audit row, each with the reason.
ALLOWED = {
    # Anonymous visitors' and members' own traffic: security events, not staff-visible changes.
    "accounts/registration.py:registration_consent_record": "step 3 of a visitor's registration; the consent row is the record (SPEC 3.4)",
    "accounts/registration.py:registration_start": "sends the registration link; the registration row is the record",
    "accounts/registration.py:registration_verify": "a visitor's identity check; failures are counted per card, the account is audited when it is created",
    "accounts/registration.py:registration_confirm": "sends the completion link; audited when the account is created",
    "accounts/card_locks.py:card_failure_record": "counts a failed identity check (the per-card lock's own record)",
    "accounts/throttles.py:throttle_allows": "counts a request against a throttle",
    "accounts/throttles.py:throttle_count": "counts a request against a throttle",
    "accounts/throttles.py:login_throttled": "counts a login against its throttles; a refusal is a security event",
    "accounts/throttles.py:throttle_refused": "writes the security event of a refused request (no member's data changes)",
    "accounts/throttles.py:login_code_resend_refusal": "counts a member's own 「コードを再送する」 against its throttle; a refusal is a security event",
    "accounts/login.py:login_finish": "a login: the session row is its record",
    "accounts/sessions.py:account_session_record": "remembers a session so that it can be ended",
    "accounts/sessions.py:account_sessions_end": "part of the change that ends them (password, reset, re-registration), which is audited",
    "accounts/new_browsers.py:login_challenge_issue": "sends a login code; the challenge row is its record",
    "accounts/new_browsers.py:login_challenge_answer": "counts a code try",
    "accounts/new_browsers.py:browser_remember": "remembers a browser after a code; the row is its record",
    "accounts/new_browsers.py:browser_is_remembered": "notes when a remembered browser was last used",
    "accounts/recovery.py:password_reset_request": "sends a reset link; audited when the password is reset",
    "accounts/recovery.py:login_id_reminder_send": "emails the login ID to the address on file; the outbox row is its record",
    "accounts/links.py:account_link_issue": "part of the change or reset that sends the link, audited there",
    "accounts/notices.py:account_notice_send": "part of the change it reports, audited there",
    # Schema work run by ``meisai migrate`` as the owner: no member's or staff member's data changes.
    "statements/partitions.py:partition_tables": "migration statements 0005 turns the two tables into partitioned ones; every row is kept as it was",
    # Mail and background work: their own records.
    "notifications/services.py:email_enqueue_many": "queues mail for a caller whose change is audited; the outbox row is the record",
    "notifications/services.py:email_enqueue": "queues mail for a caller whose change is audited; the outbox row is the record",
    "notifications/services.py:email_enqueue_query": "queues a publication's mail; the publication is audited, the outbox rows are the record",
    "notifications/services.py:outbox_kick": "asks the sender to deliver mail already queued",
    "notifications/sender.py:outbox_send_due": "delivers queued mail; each message records its own state and attempts",
    "core/jobs.py:job_create": "the job row is the record of background work",
    "core/jobs.py:job_dispatch": "the job row is the record of background work",
    "core/jobs.py:job_run": "updates the job row of the work it runs",
    "magazines/services.py:magazine_settings_get": "creates the single settings row, switched off, the first time it is read",
    "statements/pdf.py:statement_pdf_fingerprint_check": "records the SHA-256 of the first PDF served, once (the fingerprint is the record)",
    "statements/pdf.py:statements_pdf_render": "records the missing PDF fingerprints of a month",
    "statements/publish.py:operators_alert_not_closed": "emails the operators; the outbox row is the record",
}

_WRITE_METHODS = {"create", "bulk_create", "update_or_create", "get_or_create", "delete", "save"}
#: Receivers whose save/delete/update are not rows of the database.
_NOT_ROWS = {"canvas", "cache", "buffer", "handle", "file", "writer", "session", "store"}
#: SQL that writes (meisai writes its SQL in capitals; prose in docstrings does not match).
_SQL_WRITE = re.compile(
    r"\b(INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|COPY\s+\w+\s+(\(|FROM))"
)


@dataclass
class Function:
    where: str
    #: (module path, function name) of every package function it calls or passes on.
    uses: set[tuple[str, str]] = field(default_factory=set)
    writes: bool = False
    audits: bool = False


def _chain(node: ast.AST) -> list[str]:
    """``a.b().c`` → ["a", "b", "c"]: the names along an attribute chain."""
    parts = []
    while isinstance(node, ast.Attribute | ast.Call):
        if isinstance(node, ast.Call):
            node = node.func
            continue
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return list(reversed(parts))


def _module_path(dotted: str) -> str | None:
    """``meisai.accounts.login`` → ``accounts/login.py`` (None outside the package)."""
    if not dotted.startswith("meisai."):
        return None
    relative = Path(*dotted.split(".")[1:])
    if (PACKAGE / relative).with_suffix(".py").is_file():
        return relative.with_suffix(".py").as_posix()
    if (PACKAGE / relative / "__init__.py").is_file():
        return (relative / "__init__.py").as_posix()
    return None


def _aliases(tree: ast.Module) -> tuple[dict[str, tuple[str, str]], dict[str, str]]:
    """Names a module imports: name → (module, function), and name → module."""
    functions: dict[str, tuple[str, str]] = {}
    modules: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                name = alias.asname or alias.name
                as_module = _module_path(f"{node.module}.{alias.name}")
                if as_module:
                    modules[name] = as_module
                elif source := _module_path(node.module):
                    functions[name] = (source, alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if (source := _module_path(alias.name)) and alias.asname:
                    modules[alias.asname] = source
    return functions, modules


def _read(path: Path) -> dict[str, Function]:
    tree = ast.parse(path.read_text())
    here = path.relative_to(PACKAGE).as_posix()
    imported, modules = _aliases(tree)
    defined = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    functions = {}
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef):
            continue
        function = Function(where=f"{here}:{node.name}")
        for inner in ast.walk(node):
            if isinstance(inner, ast.Name):
                if inner.id in defined:
                    function.uses.add((here, inner.id))
                elif inner.id in imported:
                    function.uses.add(imported[inner.id])
                if inner.id == "audit_record":
                    function.audits = True
            if isinstance(inner, ast.Attribute):
                chain = _chain(inner)
                if len(chain) == 2 and chain[0] in modules:
                    function.uses.add((modules[chain[0]], chain[1]))
            if isinstance(inner, ast.Call) and isinstance(inner.func, ast.Attribute):
                chain = _chain(inner.func)
                method, receiver = chain[-1], chain[:-1]
                rows = not (set(receiver) & _NOT_ROWS)
                if rows and (
                    method in _WRITE_METHODS
                    or (method == "update" and ("objects" in receiver or "filter" in receiver))
                    or (
                        method in {"set", "add", "remove", "clear"}
                        and "objects" not in receiver
                        and any(name.endswith("products") for name in receiver)
                    )
                ):
                    function.writes = True
            text = inner.value if isinstance(inner, ast.Constant) else None
            if isinstance(text, str) and _SQL_WRITE.search(text):
                function.writes = True
        functions[node.name] = function
    return functions


def _walk() -> dict[str, Function]:
    every: dict[tuple[str, str], Function] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        here = path.relative_to(PACKAGE).as_posix()
        if here.startswith(("migrations/",)) or "/migrations/" in here:
            continue
        for name, function in _read(path).items():
            every[(here, name)] = function
    # Follow the uses until nothing changes: a caller writes or audits when a callee does.
    changed = True
    while changed:
        changed = False
        for function in every.values():
            for used in function.uses:
                other = every.get(used)
                if other is None:
                    continue
                if other.writes and not function.writes:
                    function.writes = changed = True
                if other.audits and not function.audits:
                    function.audits = changed = True
    return {
        function.where: function
        for (here, name), function in every.items()
        if not NOT_SERVICES.search(here) and not name.startswith("_")
    }


def test_every_public_write_function_writes_an_audit_row_or_says_why_not():
    public = _walk()
    unaudited = sorted(where for where, f in public.items() if f.writes and not f.audits)
    missing = [where for where in unaudited if where not in ALLOWED]
    assert missing == [], "write functions without an audit row (audit them or add a reason)"


def test_the_allow_list_names_only_unaudited_write_functions():
    public = _walk()
    stale = sorted(
        where
        for where in ALLOWED
        if where not in public or not public[where].writes or public[where].audits
    )
    assert stale == []


def test_the_walk_sees_the_services_that_audit():
    audited = {where for where, f in _walk().items() if f.writes and f.audits}
    assert {
        "statements/close.py:statement_close",
        "statements/publish.py:statement_publish",
        "members/services.py:delivery_preference_change",
        "points/services.py:campaign_upsert",
        "magazines/services.py:magazines_switch",
        "magazines/services.py:magazine_issue_upload",
        "accounts/changes.py:account_password_change",
        "accounts/registration_completion.py:registration_complete",
        "statements/exports.py:export_fees",
    } <= audited
