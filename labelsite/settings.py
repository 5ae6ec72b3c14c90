"""labelsite settings: one module, configured from the environment (twelve-factor).

Every setting is read from an environment variable (or a `.env` file beside manage.py, which
`make run` writes for the demo). README.md has the table of variables.
"""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# --- Core -------------------------------------------------------------------------------------
DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "insecure-development-key-only-used-with-debug-on"  # noqa: S105
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "labelsite.apps.LabelsiteAdminConfig",  # django.contrib.admin with our start page
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "django_tasks_db",
    # The cache of Wix's data at the bottom, the feature apps on it, the project on top.
    "wixcache",
    "journal",
    "labels",
    "contacts",
    "sync",
    "labelsite",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # After CSRF and authentication: a second submit of a form's key gets the first answer.
    "journal.idempotency.IdempotencyMiddleware",
]

ROOT_URLCONF = "labelsite.urls"
WSGI_APPLICATION = "labelsite.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Security ---------------------------------------------------------------------------------
# Behind HTTPS in production: these default to on whenever DEBUG is off.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
if env.bool("SECURE_PROXY_SSL_HEADER", default=False):
    # Only behind a proxy that sets X-Forwarded-Proto itself (and strips it from clients).
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_HTTPONLY = True
CSRF_FAILURE_VIEW = "labelsite.errors.csrf_failure"
# A form's fields may hold 10 MB (Django's default is 2.5): a pasted list of 100,000 addresses
# for "Label from a list" is about 3 MB. Files are not counted here; they stream to disk.
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
DEFAULT_EXCEPTION_REPORTER_FILTER = "labelsite.errors.ReporterFilter"
X_FRAME_OPTIONS = "DENY"
# No inline scripts or styles anywhere: scripts and <style> need the per-request nonce.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF, CSP.NONCE],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "object-src": [CSP.NONE],
}

# --- Database ---------------------------------------------------------------------------------
# SQLite file by default; PostgreSQL with DATABASE_URL=postgres://user:pass@host:5432/name.
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server read while the worker writes; IMMEDIATE avoids lock upgrades.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": (
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-65536; "
                "PRAGMA wal_autocheckpoint=16384;"
            ),
        }
    )
    # The created-date index carries the contact id for PostgreSQL's index-only walks; SQLite's
    # indexes hold the rowid (the id) anyway, so its "non-key columns ignored" warning is moot.
    SILENCED_SYSTEM_CHECKS = ["models.W040"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth, i18n, static -----------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")

# --- Background tasks (django.tasks + django-tasks-db) ----------------------------------------
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

# --- Wix --------------------------------------------------------------------------------------
# The API key has no default: it only ever comes from the environment (see labelsite.wix.config).
WIX_API_BASE_URL = env.str("WIX_API_BASE_URL", default="https://www.wixapis.com")
WIX_API_KEY = env.str("WIX_API_KEY", default="")
WIX_SITE_ID = env.str("WIX_SITE_ID", default="")
# The site's budget, shared by every process on every machine (kept in the database).
WIX_MAX_REQUESTS_PER_MINUTE = env.int("WIX_MAX_REQUESTS_PER_MINUTE", default=200)
# Of that budget, what background work (syncs, bulk job polls) leaves for people's clicks.
WIX_INTERACTIVE_RESERVE = env.int("WIX_INTERACTIVE_RESERVE", default=40)
WIX_CONNECT_TIMEOUT = env.float("WIX_CONNECT_TIMEOUT", default=5.0)
WIX_READ_TIMEOUT = env.float("WIX_READ_TIMEOUT", default=30.0)
WIX_MAX_RETRIES = env.int("WIX_MAX_RETRIES", default=5)
# Retries wait a random time up to BASE * 2^attempt seconds, never more than CAP.
WIX_BACKOFF_BASE = env.float("WIX_BACKOFF_BASE", default=0.5)
WIX_BACKOFF_CAP = env.float("WIX_BACKOFF_CAP", default=30.0)
# Or labelsite as a Wix app: its id and secret (OAuth client credentials) and this site's app
# instance id. Webhooks carrying another instance id (the app on another site) are ignored.
WIX_APP_ID = env.str("WIX_APP_ID", default="")
WIX_APP_SECRET = env.str("WIX_APP_SECRET", default="")
WIX_APP_INSTANCE_ID = env.str("WIX_APP_INSTANCE_ID", default="")
# Wix signs webhooks (RS256 JWT); the public key as PEM text, or the path of a PEM file.
WIX_WEBHOOK_PUBLIC_KEY = env.str("WIX_WEBHOOK_PUBLIC_KEY", default="", multiline=True)
WIX_WEBHOOK_PUBLIC_KEY_FILE = env.str("WIX_WEBHOOK_PUBLIC_KEY_FILE", default="")

# --- Sync -------------------------------------------------------------------------------------
# Contacts per page read from Wix (Wix's maximum is 1000).
SYNC_PAGE_SIZE = env.int("SYNC_PAGE_SIZE", default=1000)
# Incremental runs fetch contacts updated since the last run's start minus this margin.
SYNC_WATERMARK_MARGIN_SECONDS = env.int("SYNC_WATERMARK_MARGIN_SECONDS", default=300)
# A running sync whose heartbeat is older than this is taken as dead and resumed by the next run.
SYNC_STALE_AFTER_SECONDS = env.int("SYNC_STALE_AFTER_SECONDS", default=300)
# A full run that would delete more than this share of the cached contacts, and more than
# SYNC_MASS_DELETE_MIN of them, stops before deleting and waits for a person to confirm.
SYNC_MASS_DELETE_SHARE = env.float("SYNC_MASS_DELETE_SHARE", default=0.10)
SYNC_MASS_DELETE_MIN = env.int("SYNC_MASS_DELETE_MIN", default=50)
# The worker runs an incremental sync this often (0 turns periodic syncs off).
SYNC_INTERVAL_SECONDS = env.int("SYNC_INTERVAL_SECONDS", default=300)

# --- Labels -----------------------------------------------------------------------------------
# A Wix bulk job not finished after this long is reported as stuck (and can be looked at again).
LABEL_JOB_DEADLINE_SECONDS = env.int("LABEL_JOB_DEADLINE_SECONDS", default=900)
# How long a deleted or merged-away label can be restored with Undo.
LABEL_UNDO_SECONDS = env.int("LABEL_UNDO_SECONDS", default=86400)

# --- Operation journal ------------------------------------------------------------------------
# A change whose process died before it ended is settled against Wix by the worker: at once when
# the process ran on this machine, else after this long without progress.
OPERATION_STALE_SECONDS = env.int("OPERATION_STALE_SECONDS", default=600)
# How often the worker looks for such changes (0: only `manage.py settle_operations`).
OPERATION_SETTLE_INTERVAL_SECONDS = env.int("OPERATION_SETTLE_INTERVAL_SECONDS", default=30)
# How often the worker counts every saved audience for its size over time (0 = never).
AUDIENCE_SIZE_INTERVAL_SECONDS = env.int("AUDIENCE_SIZE_INTERVAL_SECONDS", default=600)
# The regular pass over living labels (besides the one every write queues; 0 = only those).
LIVING_LABEL_INTERVAL_SECONDS = env.int("LIVING_LABEL_INTERVAL_SECONDS", default=300)
# A change queues a pass this much later; changes until then join it (0 = at once).
LIVING_PASS_DELAY_SECONDS = env.float("LIVING_PASS_DELAY_SECONDS", default=2.0)

# --- Logging ----------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # Django's own handlers (a bare console one while DEBUG is on) would print each of its lines
    # a second time: everything goes through the root's one handler instead.
    "loggers": {"django": {"handlers": [], "level": "INFO", "propagate": True}},
}
