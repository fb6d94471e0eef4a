"""Django settings of the standalone server.

Everything operators set comes from `KINTO_*` environment variables or the INI file named by
`KINTO_INI` (see `config.py` and the README's configuration table). Development defaults are
unsafe on purpose and announced loudly; `KINTO_PRODUCTION=true` refuses them.
"""

from __future__ import annotations

import sys
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

from kinto_project import config

BASE_DIR = Path(__file__).resolve().parent.parent
VALUES = config.load()
# Shown (path, hash, modification time) in `GET /v1/` so operators can check a deployment.
KINTO_CONFIG_FILE = VALUES.get("ini") or None

DEV_SECRET_KEY = "dev-insecure-secret-key-never-use-in-production"
DEV_USERID_HMAC_SECRET = "dev-insecure-userid-hmac-secret"

PRODUCTION = config.as_bool(VALUES.get("production", "false"))
DEBUG = config.as_bool(VALUES.get("debug", "false"))
SECRET_KEY = VALUES.get("secret_key") or DEV_SECRET_KEY


def database_from_url(url: str) -> dict:
    """A Django DATABASES entry from `postgresql://…` or `sqlite:///path` (`:memory:` too)."""
    parts = urlsplit(url)
    scheme = parts.scheme.split("+")[0]
    options = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    if scheme in {"postgres", "postgresql"}:
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parts.path.lstrip("/")) or "postgres",
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(parts.port or ""),
            # Reuse connections: reconnecting per request costs ~100x in throughput.
            "CONN_MAX_AGE": int(VALUES.get("conn_max_age", "600")),
            "CONN_HEALTH_CHECKS": True,
            "OPTIONS": options,
            "TEST": {"NAME": VALUES.get("test_database_name") or None},
        }
    if scheme == "sqlite":
        path = unquote(url[len("sqlite://") :].split("?")[0]).lstrip("/")
        name = ":memory:" if path in {"", ":memory:"} else "/" + path
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": name,
            "OPTIONS": {
                # Writers take the database lock when their transaction starts, which also
                # serialises timestamp assignment (see core.timestamps).
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    raise ImproperlyConfigured(f"Unsupported storage URL scheme: {parts.scheme!r}")


DEFAULT_SQLITE = f"sqlite:///{BASE_DIR / 'var' / 'kinto.sqlite3'}"
STORAGE_URL = VALUES.get("storage_url") or VALUES.get("database_url")
if not STORAGE_URL:
    import os

    STORAGE_URL = os.environ.get("DATABASE_URL") or DEFAULT_SQLITE
DATABASES = {"default": database_from_url(STORAGE_URL)}
if (
    DATABASES["default"]["ENGINE"].endswith("sqlite3")
    and DATABASES["default"]["NAME"] != ":memory:"
):
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)

ALLOWED_HOSTS = config.as_list(VALUES.get("allowed_hosts", "" if PRODUCTION else "*"))

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    # The operators' admin at /admin/ (see core/admin.py); sessions and messages serve it only.
    "django.contrib.admin",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "guardian",
    "kinto_django.core",
    "kinto_django.permissions",
    "kinto_django.buckets",
    "kinto_django.records",
    "kinto_django.accounts",
    "kinto_django.history",
    "kinto_django.attachments",
    "kinto_django.notifications",
]

MIDDLEWARE = [
    # The admin's static files (answers /static/ only, before anything else runs).
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "kinto_django.core.api.middleware.ProtocolMiddleware",
    # For the admin. API requests never read the session (unless the `django` policy is on),
    # so their responses are unchanged. No CsrfViewMiddleware: the admin's views protect
    # themselves, and the API's Basic-auth writes must not need a token.
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # The admin's pages must not be framed by another site (clickjacking); API responses
    # already say so with `Content-Security-Policy: frame-ancestors 'none'`.
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "kinto_project.urls"
WSGI_APPLICATION = "kinto_project.wsgi.application"
ASGI_APPLICATION = "kinto_project.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

# The admin's CSS and scripts: served by WhiteNoise straight from the installed apps (no
# `collectstatic` needed); `manage.py collectstatic` copies them to STATIC_ROOT for a proxy.
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise warns about a missing one
WHITENOISE_USE_FINDERS = True
# Admin sessions: cookies only over HTTPS in production.
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = PRODUCTION

# django-guardian is here for its permission models: no anonymous user row, no patching.
ANONYMOUS_USER_NAME = None
GUARDIAN_MONKEY_PATCH_USER = False
# guardian's authentication backend is not needed (the API checks object permissions itself):
# its warning about it only confused operators on every `manage.py` command.
SILENCED_SYSTEM_CHECKS = ["guardian.W001"]

# Account passwords: Argon2 (argon2-cffi), PBKDF2 kept to verify older hashes.
PASSWORD_HASHERS = [
    "kinto_django.accounts.passwords.Argon2Hasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]

USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
APPEND_SLASH = False

# The engine enforces its own body limit (see core.conf: max_request_body_bytes).
DATA_UPLOAD_MAX_MEMORY_SIZE = None
DATA_UPLOAD_MAX_NUMBER_FIELDS = 1000

CACHE_URL = VALUES.get("cache_url", "")
if CACHE_URL.startswith("redis"):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": CACHE_URL,
        }
    }
elif config.as_bool(VALUES.get("readonly", "false")):
    # A read-only node may run on a replica that refuses writes, and password checks and the
    # heartbeat write to the cache: each process keeps its own.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "kinto",
        }
    }
else:
    # Shared by every server process, unlike a per-process memory cache.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "kinto_cache",
        }
    }

# Live push (notifications/): events cross server processes through Redis when
# `redis_url` is set; otherwise the in-memory layer serves the clients of one process.
REDIS_URL = VALUES.get("redis_url", "")
REDIS_SOCKET_TIMEOUT = 15
# A channel (one per server process) may hold this many undelivered events.
CHANNEL_CAPACITY = 10000
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # A read timeout longer than the layer's blocking pops (5 s): redis-py 8
                # defaults to 5 s, which failed every idle receive.
                "hosts": [{"address": REDIS_URL, "socket_timeout": REDIS_SOCKET_TIMEOUT}],
                "prefix": VALUES.get("redis_prefix", "kinto"),
                "capacity": CHANNEL_CAPACITY,
            },
        }
    }
else:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels.layers.InMemoryChannelLayer",
            "CONFIG": {"capacity": CHANNEL_CAPACITY},
        }
    }

REST_FRAMEWORK = {"UNAUTHENTICATED_USER": None}

# Every KINTO_* value not consumed above is handed to the apps (core.conf reads it lazily).
KINTO = {key: value for key, value in VALUES.items() if key not in config.PROJECT_VARIABLES}
KINTO.setdefault("userid_hmac_secret", DEV_USERID_HMAC_SECRET)
# Attached files go to var/attachments unless another folder or backend is configured.
if "attachment_base_path" not in KINTO:
    KINTO["attachment_base_path"] = str(BASE_DIR / "var" / "attachments")
    Path(KINTO["attachment_base_path"]).mkdir(parents=True, exist_ok=True)
# The standalone server serves its metrics (restrict /v1/__metrics__ at the proxy); the apps
# in a host site do not unless the site asks (the endpoint answers anybody).
KINTO.setdefault("metrics_enabled", "true")

# `json`: every log line is one JSON object (log pipelines), the default in production;
# `text`: plain messages, plus one timestamped `kinto.request.summary` line per API request.
LOG_FORMAT = VALUES.get("log_format") or ("json" if PRODUCTION else "text")
if LOG_FORMAT not in {"json", "text"}:
    raise ImproperlyConfigured(f"KINTO_LOG_FORMAT must be json or text, not {LOG_FORMAT!r}")
LOG_HANDLER = {"class": "logging.StreamHandler", "filters": ["request_id"]}
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "kinto_django.core.observability.logging.RequestIdFilter"}},
    "formatters": {
        "json": {"()": "kinto_django.core.observability.logging.JSONFormatter"},
        "text": {"format": "%(message)s"},
        "text_summary": {"format": "%(asctime)s %(message)s"},
    },
    "handlers": {
        "console": {**LOG_HANDLER, "formatter": LOG_FORMAT},
        "summary": {
            **LOG_HANDLER,
            "formatter": "json" if LOG_FORMAT == "json" else "text_summary",
        },
    },
    "root": {"handlers": ["console"], "level": VALUES.get("log_level", "INFO").upper()},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "kinto.request.summary": {"handlers": ["summary"], "propagate": False},
    },
}

if PRODUCTION:
    problems = []
    if SECRET_KEY == DEV_SECRET_KEY:
        problems.append("KINTO_SECRET_KEY is not set (the development secret is refused)")
    if KINTO["userid_hmac_secret"] in {"", DEV_USERID_HMAC_SECRET}:
        problems.append("KINTO_USERID_HMAC_SECRET is not set (the development secret is refused)")
    if DEBUG:
        problems.append("KINTO_DEBUG is on")
    flush_included = "kinto.plugins.flush" in config.as_list(KINTO.get("includes", ""))
    if config.as_bool(KINTO.get("flush_endpoint_enabled", "false")) or flush_included:
        problems.append("KINTO_FLUSH_ENDPOINT_ENABLED would let anyone erase all data")
    if not ALLOWED_HOSTS:
        problems.append("KINTO_ALLOWED_HOSTS is empty")
    if problems:
        raise ImproperlyConfigured("Refusing to start in production mode: " + "; ".join(problems))
elif SECRET_KEY == DEV_SECRET_KEY and "pytest" not in sys.modules:
    print(
        "WARNING: development mode with built-in secrets; never expose this server. "
        "Set KINTO_PRODUCTION=true with real secrets for production.",
        file=sys.stderr,
    )
