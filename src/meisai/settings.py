"""Django settings for meisai. Every value comes from ``meisai.config`` (the environment)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

import environ
from csp.constants import NONCE, NONE, SELF

from meisai import config

config.refuse_embedded_secrets()

BASE_DIR = Path(__file__).resolve().parent

DEBUG = config.DEBUG
SECRET_KEY = config.SECRET_KEY
CARD_HASH_KEY = config.CARD_HASH_KEY
ALLOWED_HOSTS = config.ALLOWED_HOSTS
MEISAI_ENV = config.ENVIRONMENT
MEISAI_BASE_URL = config.BASE_URL
MEISAI_ISSUER_NAME = config.ISSUER_NAME
MEISAI_ISSUER_ADDRESS = config.ISSUER_ADDRESS
MEISAI_ISSUER_PHONE = config.ISSUER_PHONE
MEISAI_ISSUER_PHONE_HOURS = config.ISSUER_PHONE_HOURS
MEISAI_MAINTENANCE_WINDOWS = config.MAINTENANCE_WINDOWS
#: The demo outbox page exists only in the embedded default.
MEISAI_DEMO_OUTBOX = not config.IS_PRODUCTION

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "axes",
    # Staff sign in with a password and a TOTP code (backoffice/staff_login.py).
    "django_otp",
    "django_otp.plugins.otp_totp",
    "meisai.core",
    "meisai.audit",
    "meisai.members",
    "meisai.accounts",
    "meisai.imports",
    "meisai.statements",
    "meisai.points",
    "meisai.notifications",
    "meisai.magazines",
    "meisai.backoffice",
]

MIDDLEWARE = [
    "meisai.core.middleware.RequestIdMiddleware",
    # Times everything below, answers without a view included (core.metrics_middleware).
    "meisai.core.metrics_middleware.RequestMetricsMiddleware",
    # Before everything that may answer by itself (the HTTPS redirect, static files, the
    # maintenance page, the lockout page), so that every response carries the policy.
    "csp.middleware.CSPMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Cache-Control: no-store on every answer to a logged-in browser, a registration half-way
    # or an emailed link's page (SPEC 3.10). After WhiteNoise, so static files stay cacheable;
    # outside the session and authentication middleware, so it sees what they found.
    "meisai.core.caching.NoStoreMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "meisai.core.language.ChosenLanguageMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    # Django's, with the logged-in account served from the cache (accounts.account_cache).
    "meisai.accounts.middleware.AuthenticationMiddleware",
    # request.user.is_verified(): whether the session passed a staff member's TOTP code.
    "django_otp.middleware.OTPMiddleware",
    "meisai.accounts.middleware.MaintenanceMiddleware",
    "meisai.accounts.middleware.SessionLimitMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "meisai.urls"
WSGI_APPLICATION = "meisai.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "meisai.core.context_processors.site",
                # CSP_NONCE, for the rare inline <script> or <style> (none of meisai's own).
                "csp.context_processors.nonce",
            ],
        },
    },
]

DATABASES = {"default": environ.Env.db_url_config(config.DATABASE_URL)}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    config.VAR_DIR.mkdir(exist_ok=True)
    # WAL and a busy timeout let the demo server and a command share the file.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    # Django's backend with a health check that sends no query (core/postgresql/base.py).
    DATABASES["default"]["ENGINE"] = "meisai.core.postgresql"
    DATABASES["default"]["CONN_MAX_AGE"] = 60
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
#: The owner's connection (MEISAI_MIGRATE_DATABASE_URL) for the same database, or None when the
#: one role of DATABASE_URL does everything. Not a second alias: ``meisai migrate`` and ``flush``
#: put it in place of ``default`` while they run (core/database_roles.py),
#: so every migration, RunPython and post_migrate handler runs as the owner unchanged.
MEISAI_MIGRATE_DATABASE = (
    environ.Env.db_url_config(config.MIGRATE_DATABASE_URL) if config.MIGRATE_DATABASE_URL else None
)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.Account"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Argon2id first, at the cost chosen for the confirmation day's logins (accounts.hashers,
# docs/deployment.md "Password hashing"): new hashes use it, and every other hash — another
# algorithm or Argon2id of another cost, Django's default included — is upgraded to it on the
# next successful login.
# The enrolment import stores legacy pbkdf2/bcrypt hashes wrapped in Argon2id
# (meisai.accounts.hashers), so a wrong password costs one Argon2id whoever's ID it is; the
# plain legacy hashers stay for hashes stored before the wrapping.
PASSWORD_HASHERS = [
    "meisai.accounts.hashers.MeisaiArgon2PasswordHasher",
    "meisai.accounts.hashers.Argon2WrappedPBKDF2SHA256PasswordHasher",
    "meisai.accounts.hashers.Argon2WrappedPBKDF2SHA1PasswordHasher",
    "meisai.accounts.hashers.Argon2WrappedBCryptSHA256PasswordHasher",
    "meisai.accounts.hashers.Argon2WrappedBCryptPasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "django.contrib.auth.hashers.BCryptPasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
LOGIN_URL = "/login/"
# Password policy (SPEC 3.4), checked on the NFKC form of the password: 8–64 characters, not a
# common password, not containing the login ID, a phone number or the birth date.
AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 8},
    },
    {"NAME": "meisai.accounts.passwords.MaximumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "meisai.accounts.passwords.PersonalDataValidator"},
]

# Sessions: 15 minutes idle, 12 hours absolute (accounts app).
SESSION_COOKIE_AGE = 15 * 60
# The idle expiry is refreshed at most once a minute (accounts.middleware), not on every request.
SESSION_SAVE_EVERY_REQUEST = False
if config.REDIS_URL:
    # Refreshing the idle limit writes the session once a minute: in Redis that is a SET
    # with a TTL, in PostgreSQL a committed UPDATE (a disk flush). Losing Redis
    # logs members out, nothing more.
    SESSION_ENGINE = "django.contrib.sessions.backends.cache"
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
CSRF_FAILURE_VIEW = "meisai.core.views.csrf_failure"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
#: How many reverse proxies stand in front of the web nodes (0: none, their headers ignored).
MEISAI_TRUSTED_PROXIES = config.TRUSTED_PROXIES
if config.TRUSTED_PROXIES > 0:
    # The proxy terminates TLS and says so; without a proxy a client could claim https itself.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
if config.IS_PRODUCTION:
    # The __Host- prefix makes the browser refuse the cookie unless it is Secure, for the whole
    # site (Path=/) and without a Domain: no other host under the domain (a sibling site, a
    # taken-over subdomain) can set or overwrite the session or the CSRF token.
    SESSION_COOKIE_NAME = "__Host-sessionid"
    CSRF_COOKIE_NAME = "__Host-csrftoken"
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SESSION_COOKIE_PATH = CSRF_COOKIE_PATH = "/"
    SESSION_COOKIE_DOMAIN = CSRF_COOKIE_DOMAIN = None
    SECURE_SSL_REDIRECT = config.env.bool("MEISAI_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = 60 * 60 * 24 * 365
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    CSRF_TRUSTED_ORIGINS = [config.BASE_URL]
    # Load balancers probe the health checks, and Prometheus scrapes each node's metrics,
    # over plain HTTP inside the network.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]

# Content-Security-Policy on every response (django-csp): the site's own files only, no inline
# script or style (a template that needs one gives it nonce="{{ CSP_NONCE }}", and the nonce is
# then added to the header of that response), no plugins, no <base>, no framing, and forms post
# only to the site. Email HTML is not a web response and keeps its inline styles.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, NONCE],
        "object-src": [NONE],
        "base-uri": [NONE],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    }
}

# django-axes: 10 failures in a row lock the login ID for 30 minutes (SPEC 3.5).
AXES_FAILURE_LIMIT = 10
AXES_COOLOFF_TIME = 0.5  # hours
AXES_LOCKOUT_PARAMETERS = ["username"]
AXES_RESET_ON_SUCCESS = True
AXES_ENABLED = True
AXES_LOCKOUT_CALLABLE = "meisai.accounts.lockout.lockout_response"
# Login IDs are case-insensitive: count failures of "Taro" and "taro" together.
AXES_USERNAME_CALLABLE = "meisai.accounts.lockout.lockout_username"
# The 30 minutes run from the tenth failure; tries during the lock do not extend it.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_VERBOSE = False
# No AccessLog row per login and logout: logins are security events already (audit), nothing
# reads axes' log, and on the 13th its INSERT and UPDATE were two writes of every visit.
# Failures (AccessAttempt), which the lockout counts, are kept as before.
AXES_DISABLE_ACCESS_LOG = True
# axes' database handler, without its clean-up reads at a login that never failed and at logout.
AXES_HANDLER = "meisai.accounts.axes_handler.MeisaiAxesHandler"

# Japanese is the source language of every text; English comes from the catalogue in the package
# (src/meisai/locale, compiled by scripts/setup) and only when chosen with the footer switch,
# never from Accept-Language (meisai.core.language, docs/i18n.md).
LANGUAGE_CODE = "ja"
LANGUAGES = [("ja", "日本語"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
LANGUAGE_COOKIE_AGE = 60 * 60 * 24 * 365
LANGUAGE_COOKIE_HTTPONLY = True
LANGUAGE_COOKIE_SAMESITE = "Lax"
LANGUAGE_COOKIE_SECURE = config.IS_PRODUCTION
TIME_ZONE = "Asia/Tokyo"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = config.STATIC_ROOT
# The site's own files (src/meisai/static/): ``meisai`` itself is not an installed app, so the
# app-directories finder would miss them and collectstatic would leave site.css out.
STATICFILES_DIRS = [BASE_DIR / "static"]
if not config.IS_PRODUCTION:
    # The embedded default serves static files straight from the source tree (no collectstatic
    # step for the demo); production serves the collected, hashed and compressed copies.
    WHITENOISE_USE_FINDERS = True
    Path(STATIC_ROOT).mkdir(parents=True, exist_ok=True)
MEDIA_ROOT = config.MEDIA_ROOT
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if config.IS_PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}


def _email_settings(url: str) -> dict[str, object]:
    """Map ``EMAIL_URL`` (SPEC 4.2) onto Django's email settings."""
    parts = urlsplit(url)
    scheme = parts.scheme
    if scheme == "console":
        return {"EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"}
    if scheme == "file":
        return {
            "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
            "EMAIL_FILE_PATH": unquote(parts.path),
        }
    if scheme == "locmem":
        return {"EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend"}
    if scheme in {"smtp", "smtp+tls", "smtps"}:
        return {
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": parts.hostname or "localhost",
            "EMAIL_PORT": parts.port
            or (465 if scheme == "smtps" else 587 if scheme == "smtp+tls" else 25),
            "EMAIL_HOST_USER": unquote(parts.username or ""),
            "EMAIL_HOST_PASSWORD": unquote(parts.password or ""),
            "EMAIL_USE_TLS": scheme == "smtp+tls",
            "EMAIL_USE_SSL": scheme == "smtps",
            "EMAIL_TIMEOUT": 20,
        }
    raise environ.ImproperlyConfigured(f"EMAIL_URL scheme {scheme!r} is not supported")


globals().update(_email_settings(config.EMAIL_URL))
DEFAULT_FROM_EMAIL = config.DEFAULT_FROM_EMAIL
SERVER_EMAIL = config.DEFAULT_FROM_EMAIL

# Celery: Redis in production; inline (eager) in the embedded default and tests.
CELERY_BROKER_URL = config.REDIS_URL or "memory://localhost/"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = config.TASKS_INLINE
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = TIME_ZONE
# A task may run long (a national close): redeliver an unacknowledged one after 2 hours only.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 2 * 60 * 60}
CELERY_WORKER_CONCURRENCY = config.WORKER_CONCURRENCY
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE_FILENAME = str(config.VAR_DIR / "celerybeat-schedule")
MEISAI_OPERATOR_EMAILS = config.OPERATOR_EMAILS
#: Prometheus's bearer token for /metrics and the workers' metrics (core.metrics_views).
MEISAI_METRICS_TOKEN = config.METRICS_TOKEN
MEISAI_WORKER_METRICS_BIND = config.WORKER_METRICS_BIND
MEISAI_SERVE = {
    "bind": config.SERVE_BIND,
    "workers": config.SERVE_WORKERS,
    "threads": config.SERVE_THREADS,
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "meisai.core.logging.RequestIdFilter"},
        "sensitive": {"()": "meisai.core.logging.SensitiveDataFilter"},
    },
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(request_id)s %(message)s",
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": config.LOG_FORMAT,
            "filters": ["request_id", "sensitive"],
        }
    },
    "root": {"handlers": ["console"], "level": config.LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# The logged-in account is served from the cache (accounts.account_cache) only when every process
# shares it: a per-process cache would not see another process deactivate the account.
MEISAI_ACCOUNT_CACHE = bool(config.REDIS_URL)

# Rendered statement bodies (a confirmed statement never changes). With Redis (production) every
# worker shares them and they outlive gunicorn's worker recycling; else each process keeps its own.
CACHES = {
    "default": (
        {
            "BACKEND": "meisai.core.cache.RedisCache",
            "LOCATION": config.REDIS_URL,
            "KEY_PREFIX": "meisai",
        }
        if config.REDIS_URL
        else {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "meisai-default",
            "OPTIONS": {"MAX_ENTRIES": 20000},
        }
    )
}

# meisai's business calendar and paper fee (SPEC 3.1, 3.3): configuration, not code, read and
# checked from the environment by config.py; meisai.billing_calendar is its only reader.
MEISAI_CALENDAR = {
    "service_start": config.SERVICE_START,
    "history_months": config.HISTORY_MONTHS,
    "registration_cutoff_day": config.CUTOFF_DAY,
    "confirmation_day": config.CONFIRMATION_DAY,
    "debit_day": config.DEBIT_DAY,
    "paper_fee_start": config.PAPER_FEE_FROM,
    "paper_fee_net": config.PAPER_FEE_NET,
    "paper_fee_tax_percent": config.PAPER_FEE_TAX_PERCENT,
}
MEISAI_TERMS_VERSION = "2024-11"
#: Minutes an emailed password-reset link lives (SPEC 3.5; meisai.accounts.links reads it).
MEISAI_RESET_LINK_MINUTES = config.RESET_LINK_MINUTES
#: Hours a re-registration waits for the owner's address (SPEC 3.4; accounts.reregistration).
MEISAI_REREGISTRATION_WAIT_HOURS = config.REREGISTRATION_WAIT_HOURS
#: The issuer an authenticator app shows beside a staff member's TOTP entry (django-otp).
OTP_TOTP_ISSUER = f"{config.ISSUER_NAME} WEB請求明細"
#: The largest 会員情報誌 PDF an upload may be (SPEC 3.8; magazines.services reads it).
MEISAI_MAGAZINE_MAX_BYTES = config.MAGAZINE_MAX_MB * 1024 * 1024
#: The largest import file the console accepts (backoffice.uploads reads it).
MEISAI_IMPORT_UPLOAD_MAX_BYTES = config.IMPORT_UPLOAD_MAX_MB * 1024 * 1024
#: Months kept before ``meisai purge`` may drop them, and where it archives them
#: (meisai.statements.purge reads both).
MEISAI_RETENTION_MONTHS = config.RETENTION_MONTHS
MEISAI_ARCHIVE_DIR = config.ARCHIVE_DIR

# Login IDs are unique without regard to case through a functional unique constraint
# (accounts.Account.Meta), which this check cannot see.
SILENCED_SYSTEM_CHECKS = ["auth.W004"]
# axes.W006 asks to lock by client address too. Deliberately not: Japanese mobile carriers put
# many members behind one address (carrier-grade NAT), so ten failures from one address would
# lock out strangers. Addresses are throttled by meisai.accounts.throttles.THROTTLES
# ("login_failure": 100 failed logins an hour; "login_ids_per_client": 30 distinct IDs an hour;
# "clients_per_login_id": 10 distinct addresses a day), and a login from a new browser needs the emailed
# one-time code anyway, so a guessed password alone opens nothing.
SILENCED_SYSTEM_CHECKS += ["axes.W006"]
