"""Every environment variable meisai reads, in one table.

Settings import this module and nothing else reads ``os.environ``. With no variable set the
embedded default serves: SQLite under ``var/``, mail to the console and the demo outbox, tasks run
inline. ``MEISAI_ENV=production`` switches to the production defaults and refuses to start with
the embedded secrets.
"""

from __future__ import annotations

from pathlib import Path

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
LOG_FORMAT: str = env.str("MEISAI_LOG_FORMAT", default="json" if IS_PRODUCTION else "text")
LOG_LEVEL: str = env.str("MEISAI_LOG_LEVEL", default="INFO")
ISSUER_NAME: str = env.str("MEISAI_ISSUER_NAME", default="日専連パートナーズ")
#: Addresses told by email when the scheduler finds work for people (e.g. a month not closed).
OPERATOR_EMAILS: list[str] = env.list("MEISAI_OPERATOR_EMAILS", default=[])
#: gunicorn for ``meisai serve``: address to bind, worker processes and threads per worker.
SERVE_BIND: str = env.str("MEISAI_BIND", default="127.0.0.1:8000")
# Two gunicorn processes per core with two threads each (meisai serve's docstring says why).
SERVE_WORKERS: int = env.int("MEISAI_WEB_WORKERS", default=4)
SERVE_THREADS: int = env.int("MEISAI_WEB_THREADS", default=2)
#: Celery worker processes for ``meisai worker``.
WORKER_CONCURRENCY: int = env.int("MEISAI_WORKER_CONCURRENCY", default=2)
#: Maintenance windows, "start/end" in ISO 8601 with offset, separated by commas.
MAINTENANCE_WINDOWS: list[str] = env.list(
    "MEISAI_MAINTENANCE_WINDOWS", default=["2024-11-13T02:00+09:00/2024-11-13T05:00+09:00"]
)


def refuse_embedded_secrets() -> None:
    """Production must never run on the secrets that ship in this file."""
    if not IS_PRODUCTION:
        return
    problems = []
    if SECRET_KEY == EMBEDDED_SECRET_KEY or len(SECRET_KEY) < 50:
        problems.append("SECRET_KEY is the embedded default or shorter than 50 characters")
    if CARD_HASH_KEY == EMBEDDED_CARD_HASH_KEY or len(CARD_HASH_KEY) < 32:
        problems.append("CARD_HASH_KEY is the embedded default or shorter than 32 characters")
    if not ALLOWED_HOSTS:
        problems.append("MEISAI_ALLOWED_HOSTS is empty")
    if not BASE_URL.startswith("https://"):
        problems.append("MEISAI_BASE_URL must be an https:// address")
    if problems:
        raise ImproperlyConfigured("production refuses to start: " + "; ".join(problems))
