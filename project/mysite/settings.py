"""Settings for the kit's project.

Everything that differs between a laptop, a test run and a classroom comes from the
environment, with safe development defaults. REDIS_URL picks the channel layer.
"""

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from mysite import redis_url

BASE_DIR = Path(__file__).resolve().parent.parent


def env_list(name, default):
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "dev-only-not-secret-change-me-in-production")
# Off unless asked for: debug pages show tracebacks and settings to anyone who can reach the server.
DEBUG = os.environ.get("DJANGO_DEBUG", "0").lower() in ("1", "true", "yes", "on")
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
# Pages served from another origin (a proxy in front), e.g. https://kit.example: for forms and
# the dashboard socket alike (mysite/origins.py); the page's own origin needs no entry.
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "daphne",  # first, so that `runserver` serves ASGI (HTTP and WebSocket)
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "echo",
    "chat",
    "devices",
    "axes",  # login throttling (django-axes): see AXES_* below
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # answers a locked-out login with 429
]

# Login throttling: after AXES_FAILURE_LIMIT wrong passwords for one username from one address,
# that pair is locked out (429) for AXES_COOLOFF_TIME hours; a good login resets the count.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = int(os.environ.get("AXES_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = 0.25
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True

ROOT_URLCONF = "mysite.urls"
ASGI_APPLICATION = "mysite.asgi.application"  # not mysite.routing.application (Channels 2)

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("DJANGO_DB_PATH", str(BASE_DIR / "db.sqlite3")),
        # Several server processes may share one file (scaling out); wait, don't fail. IMMEDIATE:
        # a transaction takes the write lock up front, so update_or_create waits for it instead of
        # failing at once with "database is locked" when another process writes meanwhile.
        "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE"},
    }
}

# The channel layer: Redis when REDIS_URL is set, else the in-memory layer (one process only).
# REDIS_URL may name several Redis servers, separated by commas: shards of one layer (mysite/redis_url.py).
REDIS_URL = os.environ.get("REDIS_URL", "")
# Which channels-redis layer: "core" (sorted sets, BZPOPMIN) or "pubsub" (PUBLISH/SUBSCRIBE). They never
# see each other's messages: every process sharing the Redis (server, manage.py, scripts) must agree.
CHANNEL_LAYER = os.environ.get("CHANNEL_LAYER", "core")
# channels-redis's two classes, each with a check that this process agrees with the server's layer, and
# the core one with direct sends on the right shard (channels_redis#221): mysite/layers.py, notebook 05b.
CHANNEL_LAYER_BACKENDS = {
    "core": "mysite.layers.RedisChannelLayer",
    "pubsub": "mysite.layers.RedisPubSubChannelLayer",
}
if CHANNEL_LAYER not in CHANNEL_LAYER_BACKENDS:
    raise ImproperlyConfigured(f"CHANNEL_LAYER={CHANNEL_LAYER!r}: core or pubsub")
if REDIS_URL:
    try:
        # socket_connect_timeout: a stopped Redis fails fast instead of hanging requests.
        hosts = redis_url.channel_layer_hosts(REDIS_URL, socket_connect_timeout=2)
    except redis_url.BadRedisUrl as exc:
        raise ImproperlyConfigured(f"REDIS_URL: {exc}") from None
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": CHANNEL_LAYER_BACKENDS[CHANNEL_LAYER],
            "CONFIG": {"hosts": hosts, "prefix": os.environ.get("CHANNEL_LAYER_PREFIX", "asgi")},
        }
    }
    if CHANNEL_LAYER == "core":
        # All sockets of one server process share one Redis inbox, and the capacity counts
        # that inbox (not each socket): the default 100 silently drops pushes under load.
        CHANNEL_LAYERS["default"]["CONFIG"]["capacity"] = int(os.environ.get("CHANNEL_LAYER_CAPACITY", "1000"))
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# The HTTP API refuses bodies over 64 KiB with 413 (see mysite/api.py).
API_MAX_BODY_BYTES = 64 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = API_MAX_BODY_BYTES

LOGIN_URL = "/admin/login/"
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    # group_send's over-capacity reports reach the API request that caused them (mysite/overload.py).
    "filters": {"layer_drops": {"()": "mysite.overload.CountDrops"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        # The project's own loggers (getLogger(__name__)): the API's and the dashboard's.
        "mysite.api": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "devices.dashboard": {"handlers": ["console"], "level": "INFO", "propagate": False},
        # Django's and daphne's runserver lines print once, here, not again through root's handler.
        "django": {"handlers": ["console"], "level": "INFO", "propagate": False},
        # A bad Host header already gets its 400 (and an access log line): no traceback per probe.
        "django.security.DisallowedHost": {"handlers": [], "level": "CRITICAL", "propagate": False},
        "channels_redis.core": {"level": "INFO", "filters": ["layer_drops"]},
    },
}
