"""Static security checks of CI: bandit on the package, pip-audit on the lock.

Each finding must be listed below with the reason it is accepted; a new one fails the run, and
so does a listed one that no longer occurs (the list stays true). Findings are keyed by bandit's
test id and the file: a new kind of finding, or a known kind in another file, fails.

pip-audit asks PyPI's vulnerability data for every locked package. Where that data cannot be
reached (this machine kind reaches only a package mirror), it says so and the audit is skipped
with a printed warning; a vulnerability it does report fails the run unless listed.

    uv run python scripts/security_scan.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: bandit test ids accepted wherever they occur, with the reason.
ACCEPTED_TESTS = {
    "B101": "assert states an invariant for the type checker (a row the caller locked, a member "
    "that exists); meisai never runs with python -O, and no assert guards input",
}

#: (test id, file) → why that kind of finding is accepted in that file.
ACCEPTED = {
    # SQL built from constants: table and column names come from the models, never from input;
    # every value is a bound parameter.
    (
        "B608",
        "src/meisai/statements/close.py",
    ): "table names from model _meta; values are parameters",
    (
        "B608",
        "src/meisai/points/eligibility.py",
    ): "the eligibility rule's SQL twin: names from the models, values are parameters",
    (
        "B608",
        "src/meisai/notifications/services.py",
    ): "the outbox's COPY staging: names from the model",
    (
        "B608",
        "src/meisai/members/delivery.py",
    ): "the delivery rule's SQL twin: names from the models",
    (
        "B608",
        "src/meisai/imports/formats/usage/writing.py",
    ): "the usage import's staging SQL: names from the model table",
    ("B608", "src/meisai/core/triggers.py"): "trigger DDL from constant table and column names",
    (
        "B608",
        "src/meisai/imports/formats/member_merge.py",
    ): "the members import's staging and merge SQL: table names from the models, values COPY'd",
    (
        "B608",
        "src/meisai/notifications/claims.py",
    ): "the sender's mark and claim: names from the model; strings quoted by libpq's"
    " PQescapeLiteral, the rest ints and isoformat timestamps",
    (
        "B608",
        "src/meisai/statements/partitions.py",
    ): "partition DDL: table names from the models, months checked against YYYY-MM first",
    (
        "B608",
        "src/meisai/statements/purge.py",
    ): "the purge's counts, archive read and drops: table names from the models, months are"
    " parameters",
    (
        "B606",
        "src/meisai/core/management/commands/serve.py",
    ): "execs gunicorn with an argument list, no shell",
    (
        "B606",
        "src/meisai/core/management/commands/worker.py",
    ): "execs Celery with an argument list, no shell",
    (
        "B608",
        "src/meisai/core/metrics.py",
    ): "the outbox depth's count: the table name from the model, values are parameters",
    (
        "B311",
        "src/meisai/demo/generator.py",
    ): "seeded pseudo-random demo data, reproducible on purpose; no secret",
    (
        "B308",
        "src/meisai/statements/charts.py",
    ): "the chart SVG is built from escaped labels and numbers (charts.py escapes every text)",
    (
        "B703",
        "src/meisai/statements/charts.py",
    ): "as B308: the SVG's text is escaped before mark_safe",
    (
        "B308",
        "src/meisai/backoffice/dashboard_charts.py",
    ): "the dashboard's SVG charts: every text escaped, every other value a number",
    ("B703", "src/meisai/backoffice/dashboard_charts.py"): "as B308: escaped before mark_safe",
    (
        "B308",
        "src/meisai/statements/templatetags/statement_rows.py",
    ): "the statement's line rows: every value escaped before mark_safe, as autoescape would"
    " (tests/statements/test_statement_rows.py pins the markup against the template loop)",
    (
        "B703",
        "src/meisai/statements/templatetags/statement_rows.py",
    ): "as B308: every value escaped before mark_safe",
    (
        "B105",
        "src/meisai/audit/security_events.py",
    ): "event labels such as 「パスワード変更」, not passwords",
    (
        "B105",
        "src/meisai/demo/generator.py",
    ): "the demo logins' published password (README), demo data only",
    (
        "B105",
        "src/meisai/config.py",
    ): "the embedded demo key, which production refuses to start with",
}

#: pip-audit vulnerability ids accepted, with the reason (none today).
ACCEPTED_VULNERABILITIES: dict[str, str] = {}


def bandit_problems() -> list[str]:
    run = subprocess.run(
        ["bandit", "-q", "-r", "src/meisai", "-f", "json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    report = json.loads(run.stdout)
    problems, seen = [], set()
    for finding in report["results"]:
        test, path = finding["test_id"], finding["filename"]
        if test in ACCEPTED_TESTS:
            continue
        key = (test, path)
        if key in ACCEPTED:
            seen.add(key)
            continue
        problems.append(
            f"{path}:{finding['line_number']}: {test} {finding['issue_text']} (not accepted)"
        )
    problems += [
        f"{path}: {test} is accepted but no longer found: remove it from the list"
        for test, path in sorted(set(ACCEPTED) - seen)
    ]
    return problems


def pip_audit_problems() -> list[str]:
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as requirements:
        subprocess.run(
            [
                "uv",
                "export",
                "--format",
                "requirements-txt",
                "--no-hashes",
                "--no-emit-project",
                "-q",
                "-o",
                requirements.name,
            ],
            cwd=ROOT,
            check=True,
        )
        run = subprocess.run(
            [
                "pip-audit",
                "-r",
                requirements.name,
                "--no-deps",
                "--disable-pip",
                "--progress-spinner",
                "off",
                "-f",
                "json",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
    try:
        report = json.loads(run.stdout)
    except json.JSONDecodeError:
        print(
            f"security scan: WARNING: pip-audit could not run, skipped: {run.stderr.strip()[-300:]}"
        )
        return []
    dependencies = report["dependencies"]
    unaudited = [d["name"] for d in dependencies if d.get("skip_reason")]
    if dependencies and len(unaudited) == len(dependencies):
        print(
            "security scan: WARNING: pip-audit skipped: the vulnerability data could not be "
            f"reached for any of the {len(dependencies)} locked packages"
        )
        return []
    if unaudited:
        print(f"security scan: WARNING: pip-audit could not audit: {', '.join(unaudited)}")
    return [
        f"{d['name']} {d['version']}: {v['id']} {v.get('description', '')[:120]} (not accepted)"
        for d in dependencies
        for v in d.get("vulns", [])
        if v["id"] not in ACCEPTED_VULNERABILITIES
    ]


def main() -> int:
    problems = bandit_problems()
    print(f"security scan: bandit: {len(problems)} finding(s) not accepted")
    problems += pip_audit_problems()
    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
