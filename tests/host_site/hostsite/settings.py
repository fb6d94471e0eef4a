"""Settings of the host site: an ordinary Django site, with its own top-level `core` and
`accounts` apps, a custom user model (unique e-mail, a required field), e-mail sign-in and
DRF tokens, plus the lines the README's "Embed in your Django
site" section lists (marked "storage apps" below). The site's directory (tests/host_site) is
on the Python path of its processes, as a site's root is."""

import os
from urllib.parse import unquote, urlsplit

SECRET_KEY = "host-site-test-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]


def database(url: str) -> dict:
    """The test harness hands the site its database as `KINTO_STORAGE_URL`."""
    parts = urlsplit(url)
    if parts.scheme.startswith("postgres"):
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parts.path.lstrip("/")),
            "USER": unquote(parts.username or ""),
            "HOST": parts.hostname or "",
            "PORT": str(parts.port or ""),
            "CONN_MAX_AGE": 600,
        }
    return {"ENGINE": "django.db.backends.sqlite3", "NAME": "/" + url[len("sqlite:///") :]}


DATABASES = {"default": database(os.environ["KINTO_STORAGE_URL"])}

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    # The site's own apps: top-level packages `core` and `accounts`.
    "core",
    "accounts",
    # The site's own API tokens (DRF), used by its scripts and apps.
    "rest_framework",
    "rest_framework.authtoken",
    # storage apps
    "guardian",
    "kinto_django.core",
    "kinto_django.permissions",
    "kinto_django.buckets",
    "kinto_django.records",
    "kinto_django.accounts",
    "kinto_django.history",
    "kinto_django.notifications",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # storage apps: protocol headers and JSON errors, on the API's URLs only
    "kinto_django.core.api.middleware.ProtocolMiddleware",
]

ROOT_URLCONF = "hostsite.urls"
AUTH_USER_MODEL = "accounts.User"
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
STATIC_URL = "static/"
LOGIN_REDIRECT_URL = "/"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The site's own sign-in: username or e-mail address (the storage apps add no backend).
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "accounts.backends.EmailBackend",
]
# storage apps: guardian's models only, without its anonymous user
ANONYMOUS_USER_NAME = None
GUARDIAN_MONKEY_PATCH_USER = False

# storage apps: a cache every server process shares (pagination tokens, account logins)
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "site_cache",
    }
}
# storage apps: live push across the site's server processes through Redis
if os.environ.get("KINTO_REDIS_URL"):
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [{"address": os.environ["KINTO_REDIS_URL"], "socket_timeout": 15}],
                "prefix": os.environ["KINTO_REDIS_PREFIX"],
            },
        }
    }
else:  # one process only
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# The site's own DRF defaults, for its own APIs: the storage API's views name every class
# they use, so none of these change its behaviour.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAdminUser"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 2,
    "DEFAULT_THROTTLE_CLASSES": ["rest_framework.throttling.AnonRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"anon": "2/day"},
    "UNAUTHENTICATED_USER": None,
}

# storage apps: their settings
KINTO = {
    # The site's users (logged in, or with the site's own DRF tokens), then the API's own
    # accounts and Basic auth.
    "auth_policies": [
        "django",
        "rest_framework.authentication.TokenAuthentication",
        "account",
        "basicauth",
    ],
    "userid_hmac_secret": "host-site-test-userid-secret",
    "account_create_principals": ["system.Everyone"],
    "bucket_create_principals": ["system.Authenticated"],
    "paginate_by": 5,
    "history_enabled": True,
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}

# storage apps, optional: file attachments on records, when the site gives them a folder (the
# site's own storage, declared the Django way). Without the app the API has no attachments.
if os.environ.get("KINTO_ATTACHMENT_BASE_PATH"):
    INSTALLED_APPS.append("kinto_django.attachments")
    STORAGES = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        "kinto_attachments": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": os.environ["KINTO_ATTACHMENT_BASE_PATH"]},
        },
    }
