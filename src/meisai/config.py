"""Every environment variable meisai reads, in one table.

Settings import this module and nothing else reads ``os.environ``. With no variable set the
embedded default serves: SQLite under ``var/``, mail to the console and the demo outbox, tasks run
inline. ``MEISAI_ENV=production`` switches to the production defaults and refuses to start with
the embedded secrets.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

#: The working directory's ``var/`` holds the embedded database, uploaded files and mail files.
VAR_DIR = Path.cwd() / "var"

#: Secrets the embedded default uses. Production refuses to start with any of them.
EMBEDDED_SECRET_KEY = "embedded-demo-secret-key-not-for-production-0123456789abcdef"  # noqa: S105
EMBEDDED_CARD_HASH_KEY = "embedded-demo-card-hash-key-not-for-production"  # noqa: S105

env = environ.Env()

ENVIRONMENT: str = env.str("MEISAI_ENV", default="embedded")
if ENVIRONMENT not in {"embedded", "production", "test"}:
    raise ImproperlyConfigured(
        f"MEISAI_ENV must be embedded, production or test, not {ENVIRONMENT!r}"
    )
IS_PRODUCTION = ENVIRONMENT == "production"

DEBUG: bool = env.bool("MEISAI_DEBUG", default=False)
SECRET_KEY: str = env.str("SECRET_KEY", default=EMBEDDED_SECRET_KEY)
CARD_HASH_KEY: str = env.str("CARD_HASH_KEY", default=EMBEDDED_CARD_HASH_KEY)
DATABASE_URL: str = env.str("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'meisai.sqlite3'}")
#: The database owner's URL, for the commands that change the schema (``meisai migrate``) or
#: empty it (``flush``). ``DATABASE_URL`` is then the application's role, which reads and writes
#: rows but owns nothing, so it cannot ``TRUNCATE``, ``ALTER``, disable triggers or drop tables
#: (docs/deployment.md). Unset, the one role of ``DATABASE_URL`` does everything (the embedded
#: default).
MIGRATE_DATABASE_URL: str | None = env.str("MEISAI_MIGRATE_DATABASE_URL", default=None) or None
EMAIL_URL: str = env.str("EMAIL_URL", default="console:")
DEFAULT_FROM_EMAIL: str = env.str(
    "MEISAI_FROM_EMAIL", default="WEB請求明細 <noreply@meisai.example.jp>"
)
BASE_URL: str = env.str("MEISAI_BASE_URL", default="http://127.0.0.1:8000").rstrip("/")
ALLOWED_HOSTS: list[str] = env.list(
    "MEISAI_ALLOWED_HOSTS",
    default=[] if IS_PRODUCTION else ["127.0.0.1", "localhost", "testserver"],
)
REDIS_URL: str | None = env.str("REDIS_URL", default=None)
#: Run tasks in the calling process (the embedded default) or hand them to Celery workers.
TASKS_INLINE: bool = env.bool("MEISAI_TASKS_INLINE", default=not IS_PRODUCTION)
STATIC_ROOT: str = env.str("MEISAI_STATIC_ROOT", default=str(VAR_DIR / "static"))
MEDIA_ROOT: str = env.str("MEISAI_MEDIA_ROOT", default=str(VAR_DIR / "media"))
#: Where ``meisai purge`` writes the archives of the months it drops (with their SHA-256).
ARCHIVE_DIR: str = env.str("MEISAI_ARCHIVE_DIR", default=str(VAR_DIR / "archive"))
LOG_FORMAT: str = env.str("MEISAI_LOG_FORMAT", default="json" if IS_PRODUCTION else "text")
LOG_LEVEL: str = env.str("MEISAI_LOG_LEVEL", default="INFO")
ISSUER_NAME: str = env.str("MEISAI_ISSUER_NAME", default="日専連パートナーズ")
#: The issuer's address and inquiry line, printed at the head of every statement PDF. The
#: defaults are the demo's (a made-up number), not a real office.
ISSUER_ADDRESS: str = env.str(
    "MEISAI_ISSUER_ADDRESS", default="〒020-0021 岩手県盛岡市中央通1丁目1番1号"
)
ISSUER_PHONE: str = env.str("MEISAI_ISSUER_PHONE", default="019-000-0000")
ISSUER_PHONE_HOURS: str = env.str(
    "MEISAI_ISSUER_PHONE_HOURS", default="9:00～17:00(土・日・祝日・年末年始を除く)"
)
#: Addresses told by email when the scheduler finds work for people (e.g. a month not closed).
OPERATOR_EMAILS: list[str] = env.list("MEISAI_OPERATOR_EMAILS", default=[])
#: gunicorn for ``meisai serve``: address to bind, worker processes and threads per worker.
SERVE_BIND: str = env.str("MEISAI_BIND", default="127.0.0.1:8000")
# Two gunicorn processes per core with two threads each (meisai serve's docstring says why).
SERVE_WORKERS: int = env.int("MEISAI_WEB_WORKERS", default=4)
SERVE_THREADS: int = env.int("MEISAI_WEB_THREADS", default=2)
#: Celery worker processes for ``meisai worker``.
WORKER_CONCURRENCY: int = env.int("MEISAI_WORKER_CONCURRENCY", default=2)
#: The bearer token Prometheus sends to ``/metrics`` (web nodes) and to the workers' metrics
#: address; unset, there are no metrics to scrape (404) and workers listen on nothing.
METRICS_TOKEN: str = env.str("MEISAI_METRICS_TOKEN", default="")
#: Where ``meisai worker`` serves its metrics (its main process), when a token is set.
WORKER_METRICS_BIND: str = env.str("MEISAI_WORKER_METRICS_BIND", default="127.0.0.1:9540")
#: Maintenance windows, "start/end" in ISO 8601 with offset, separated by commas.
MAINTENANCE_WINDOWS: list[str] = env.list(
    "MEISAI_MAINTENANCE_WINDOWS", default=["2024-11-13T02:00+09:00/2024-11-13T05:00+09:00"]
)


# --- the business calendar and the paper fee (SPEC 3.1, 3.3) ----------------------------------
# Defaults are the flyer's. A bad value stops the start here, with one line naming the variable,
# rather than surfacing months later as a wrong cutoff or a crashed monthly close.

_WHOLE_NUMBER = re.compile(r"^-?[0-9]+$")
_YEAR_MONTH = re.compile(r"^([0-9]{4})-([0-9]{2})$")


def _whole_number(name: str, default: int, *, low: int, high: int | None, what: str) -> int:
    raw = env.str(name, default=str(default)).strip()
    value = int(raw) if _WHOLE_NUMBER.match(raw) else None
    if value is None or value < low or (high is not None and value > high):
        raise ImproperlyConfigured(f"{name} must be {what}, not {raw!r}")
    return value


def _day_of_month(name: str, default: int) -> int:
    # The 29th to the 31st are missing from some months; a rule that skips a month is no rule.
    return _whole_number(
        name, default, low=1, high=28, what="a day of the month from 1 to 28 (every month has it)"
    )


def _year_month(name: str, default: str) -> str:
    raw = env.str(name, default=default).strip()
    match = _YEAR_MONTH.match(raw)
    if not match or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < 1900:
        raise ImproperlyConfigured(f"{name} must be a month written YYYY-MM, not {raw!r}")
    return raw


#: 締め日: a delivery preference recorded by the end of this day decides that month's statement.
CUTOFF_DAY: int = _day_of_month("MEISAI_CUTOFF_DAY", 9)
#: 請求額確定: statements are published (next business day when it is not one).
CONFIRMATION_DAY: int = _day_of_month("MEISAI_CONFIRMATION_DAY", 13)
#: 引落日: the total is debited (next business day when it is not one).
DEBIT_DAY: int = _day_of_month("MEISAI_DEBIT_DAY", 26)
if CUTOFF_DAY >= CONFIRMATION_DAY:
    # The close needs the month's delivery decided before its statements are confirmed.
    raise ImproperlyConfigured(
        f"MEISAI_CUTOFF_DAY ({CUTOFF_DAY}) must come before "
        f"MEISAI_CONFIRMATION_DAY ({CONFIRMATION_DAY})"
    )
if DEBIT_DAY <= CONFIRMATION_DAY:
    # A member is told the amount before it is debited, never after.
    raise ImproperlyConfigured(
        f"MEISAI_DEBIT_DAY ({DEBIT_DAY}) must come after "
        f"MEISAI_CONFIRMATION_DAY ({CONFIRMATION_DAY})"
    )
#: The first billing month shown online; earlier months are never shown, even if imported.
SERVICE_START: str = _year_month("MEISAI_SERVICE_START", "2024-11")
#: How many billing months, the latest included, a member may see.
HISTORY_MONTHS: int = _whole_number(
    "MEISAI_HISTORY_MONTHS", 13, low=1, high=120, what="a number of months from 1 to 120"
)
#: How many billing months, the latest included, usage lines and statements are kept before
#: ``meisai purge`` may archive and drop them: 120 (ten years) by default, the period for which
#: the Companies Act (会社法 第432条第2項) has accounting books and the important materials of the
#: business kept; 法人税法's seven (up to ten) years for 帳簿書類 fall inside it. Never shorter
#: than the months members see.
RETENTION_MONTHS: int = _whole_number(
    "MEISAI_RETENTION_MONTHS", 120, low=1, high=1200, what="a number of months from 1 to 1200"
)
if RETENTION_MONTHS < HISTORY_MONTHS:
    raise ImproperlyConfigured(
        f"MEISAI_RETENTION_MONTHS ({RETENTION_MONTHS}) must not be shorter than "
        f"MEISAI_HISTORY_MONTHS ({HISTORY_MONTHS}): members would lose months they may see"
    )
#: The first billing month whose paper statements carry the fee.
PAPER_FEE_FROM: str = _year_month("MEISAI_PAPER_FEE_FROM", "2025-04")
#: The paper fee before tax, whole yen.
PAPER_FEE_NET: int = _whole_number(
    "MEISAI_PAPER_FEE_NET", 150, low=0, high=None, what="an amount of whole yen, 0 or more"
)
#: Consumption tax on the fee in whole percent; the tax is rounded down to the yen
#: (billing_calendar.paper_fee_amount says why).
PAPER_FEE_TAX_PERCENT: int = _whole_number(
    "MEISAI_PAPER_FEE_TAX_PERCENT", 10, low=0, high=100, what="a whole percent from 0 to 100"
)
#: How long an emailed password-reset link lives, in minutes (SPEC 3.5); at most a day.
RESET_LINK_MINUTES: int = _whole_number(
    "MEISAI_RESET_LINK_MINUTES", 30, low=1, high=1440, what="a number of minutes from 1 to 1440"
)
#: How long a re-registration of a member who already has an account waits for the owner's
#: address to cancel it before it takes effect, in hours (SPEC 3.4); a week at most.
REREGISTRATION_WAIT_HOURS: int = _whole_number(
    "MEISAI_REREGISTRATION_WAIT_HOURS",
    72,
    low=1,
    high=168,
    what="a number of hours from 1 to 168",
)
#: The largest 会員情報誌 PDF an administrator may upload, in megabytes (SPEC 3.8).
MAGAZINE_MAX_MB: int = _whole_number(
    "MEISAI_MAGAZINE_MAX_MB", 20, low=1, high=200, what="a number of megabytes from 1 to 200"
)
#: The largest import file of the core system a staff member may upload in the console.
IMPORT_UPLOAD_MAX_MB: int = _whole_number(
    "MEISAI_IMPORT_UPLOAD_MAX_MB", 200, low=1, high=4096, what="megabytes from 1 to 4096"
)


# --- the reverse proxies in front of the web nodes ----------------------------------------------

#: How many reverse proxies stand between the clients and the web nodes. Their headers
#: (``X-Forwarded-Proto``, ``X-Forwarded-For``) are believed only when there is one to set them;
#: with 0 anybody could write them and they are ignored.
TRUSTED_PROXIES: int = _whole_number(
    "MEISAI_TRUSTED_PROXIES", 0, low=0, high=None, what="a number of proxies, 0 or more"
)


#: The ``EMAIL_URL`` schemes production accepts: a relay. ``console:`` and ``file:`` would write
#: every message, with its registration link, reset link or login code, to the log or to disk.
_PRODUCTION_EMAIL_SCHEMES = {"smtp", "smtp+tls", "smtps"}


def refuse_embedded_secrets() -> None:
    """Production must never run on the secrets that ship in this file, nor anything that would
    leak: mail written to the log or to files, which carries every emailed link and code."""
    if not IS_PRODUCTION:
        return
    problems = []
    if SECRET_KEY == EMBEDDED_SECRET_KEY or len(SECRET_KEY) < 50:
        problems.append("SECRET_KEY is the embedded default or shorter than 50 characters")
    if CARD_HASH_KEY == EMBEDDED_CARD_HASH_KEY or len(CARD_HASH_KEY) < 32:
        problems.append("CARD_HASH_KEY is the embedded default or shorter than 32 characters")
    if not ALLOWED_HOSTS:
        problems.append("MEISAI_ALLOWED_HOSTS is empty")
    if METRICS_TOKEN and len(METRICS_TOKEN) < 32:
        problems.append("MEISAI_METRICS_TOKEN is shorter than 32 characters")
    if not BASE_URL.startswith("https://"):
        problems.append("MEISAI_BASE_URL must be an https:// address")
    # Only the scheme is named: the rest of the URL may carry the relay's password.
    email_scheme = urlsplit(EMAIL_URL.strip()).scheme.lower()
    if email_scheme not in _PRODUCTION_EMAIL_SCHEMES:
        problems.append(
            "EMAIL_URL must be an SMTP relay (smtp://, smtp+tls:// or smtps://), not "
            f"{email_scheme + ':' if email_scheme else 'a URL without a scheme'} "
            "(console: and file: put every emailed link and code in the log or on disk)"
        )
    if problems:
        raise ImproperlyConfigured("production refuses to start: " + "; ".join(problems))


# --- the two database roles ----------------------------------------------------------------------


def _check_database_roles() -> None:
    """The owner's URL must name the very database the application uses, each with its user:
    migrating one database while the application runs on another, or granting rows to a role
    nobody named, is never what was meant. Only the parts are named, never the passwords."""
    if MIGRATE_DATABASE_URL is None:
        return
    owner = environ.Env.db_url_config(MIGRATE_DATABASE_URL)
    application = environ.Env.db_url_config(DATABASE_URL)
    if "postgresql" not in owner["ENGINE"] or "postgresql" not in application["ENGINE"]:
        raise ImproperlyConfigured(
            "MEISAI_MIGRATE_DATABASE_URL is for PostgreSQL: it and DATABASE_URL must both be "
            "postgres:// URLs"
        )
    for part in ("HOST", "PORT", "NAME"):
        if str(owner[part] or "") != str(application[part] or ""):
            raise ImproperlyConfigured(
                "MEISAI_MIGRATE_DATABASE_URL and DATABASE_URL must name the same database: "
                f"its {part.lower()} is {owner[part] or None!r}, DATABASE_URL's "
                f"{application[part] or None!r}"
            )
    if not owner["USER"] or not application["USER"]:
        raise ImproperlyConfigured(
            "with MEISAI_MIGRATE_DATABASE_URL set, it and DATABASE_URL must each name their role "
            "(postgres://ROLE:PASSWORD@host/db)"
        )


_check_database_roles()
