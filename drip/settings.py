"""Django settings: the one place drip reads the environment.

Defaults are the embedded setup (SQLite file, filesystem broker, file outbox, no servers), so a
fresh checkout runs with nothing configured. Production sets ``DRIP_ENV=production`` and real
secrets; placeholder secrets are refused there.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url

from drip.errors import ConfigError

_env = os.environ.get

BASE_DIR = Path(__file__).resolve().parent.parent
DRIP_ENV = _env("DRIP_ENV", "development")  # development | production
DRIP_HOME = Path(_env("DRIP_HOME", str(Path.cwd() / "var"))).resolve()

_PLACEHOLDER = "dev-insecure-change-me"
SECRET_KEY = _env("DRIP_SECRET_KEY", _PLACEHOLDER)
DEBUG = _env("DRIP_DEBUG", "1" if DRIP_ENV == "development" else "0") == "1"
ALLOWED_HOSTS = [
    h for h in _env("DRIP_ALLOWED_HOSTS", "localhost,127.0.0.1,testserver").split(",") if h
]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "drip",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
ROOT_URLCONF = "drip.urls"
WSGI_APPLICATION = "drip.wsgi.application"
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
            ]
        },
    }
]

DATABASES = {
    "default": dj_database_url.parse(
        _env("DATABASE_URL", f"sqlite:///{DRIP_HOME / 'drip.sqlite3'}"), conn_max_age=60
    )
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # Workers and the web share one file: wait for the writer instead of failing at once.
    DATABASES["default"]["OPTIONS"] = {"timeout": 30, "transaction_mode": "IMMEDIATE"}
    DATABASES["default"]["CONN_MAX_AGE"] = 0
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en-us"
USE_I18N = False
STATIC_URL = "static/"
STATIC_ROOT = DRIP_HOME / "static"

# --- staff pages (drip/staff; issue 11, h8) ---------------------------------------------------
INSTALLED_APPS += ["django_otp", "django_otp.plugins.otp_totp", "drip.staff"]
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.contrib.auth.middleware.AuthenticationMiddleware") + 1,
    "django_otp.middleware.OTPMiddleware",
)
LOGIN_URL = "staff:sign-in"
LOGIN_REDIRECT_URL = "staff:today"
# Two-factor sign-in (TOTP): required in production, optional in development.
DRIP_REQUIRE_2FA = _env("DRIP_REQUIRE_2FA", "1" if DRIP_ENV == "production" else "0") == "1"
OTP_TOTP_ISSUER = _env("DRIP_CLINIC_NAME", "Sample Infusion Clinic")
OTP_TOTP_THROTTLE_FACTOR = 0  # drip throttles wrong codes itself, with a message that says so
# Failed sign-ins: after this many for one username from one address, each next try waits longer.
DRIP_SIGN_IN_FREE_TRIES = 3
DRIP_SIGN_IN_WAIT_S = 30  # doubles with each further failure, up to DRIP_SIGN_IN_MAX_WAIT_S
DRIP_SIGN_IN_MAX_WAIT_S = 900
# The clinic's own zone: preselected at enrollment, the zone of the Today page.
DRIP_CLINIC_TIME_ZONE = _env("DRIP_CLINIC_TIME_ZONE", "America/New_York")
DRIP_STAFF_PAGE_SIZE = 25
# --- end staff pages --------------------------------------------------------------------------

# --- where the product's default schedules and messages live -------------------------------
DRIP_SCHEDULES_DIR = Path(_env("DRIP_SCHEDULES_DIR", str(BASE_DIR / "schedules")))
DRIP_MESSAGES_DIR = Path(_env("DRIP_MESSAGES_DIR", str(BASE_DIR / "messages")))

# --- the clinic (template variables) ---------------------------------------------------------
DRIP_CLINIC = {
    "clinic_name": _env("DRIP_CLINIC_NAME", "Sample Infusion Clinic"),
    "clinic_phone": _env("DRIP_CLINIC_PHONE", "(555) 010-0199"),
    "clinic_address": _env("DRIP_CLINIC_ADDRESS", "100 Main Street, Suite 2"),
    "clinic_instructions": _env(
        "DRIP_CLINIC_INSTRUCTIONS",
        "Please follow the preparation instructions your care team gave you.",
    ),
}
DRIP_PUBLIC_BASE_URL = _env("DRIP_PUBLIC_BASE_URL", "http://localhost:8000").rstrip("/")

# --- delivery engine -------------------------------------------------------------------------
DRIP_CHANNELS = _env("DRIP_CHANNELS", "outbox")  # outbox | live (Twilio + SMTP)
DRIP_OUTBOX_DIR = Path(_env("DRIP_OUTBOX_DIR", str(DRIP_HOME / "outbox")))
DRIP_DISPATCH_EVERY_S = float(_env("DRIP_DISPATCH_EVERY_S", "15"))
DRIP_CLAIM_BATCH = int(_env("DRIP_CLAIM_BATCH", "1000"))
DRIP_SEND_BATCH = int(_env("DRIP_SEND_BATCH", "100"))  # deliveries carried by one Celery task
DRIP_SEND_CONCURRENCY = int(
    _env("DRIP_SEND_CONCURRENCY", "100")
)  # provider calls in flight per task
DRIP_QUEUED_LEASE_S = float(_env("DRIP_QUEUED_LEASE_S", "300"))
DRIP_MAX_ATTEMPTS = int(_env("DRIP_MAX_ATTEMPTS", "6"))
DRIP_RETRY_BASE_S = float(_env("DRIP_RETRY_BASE_S", "30"))
DRIP_RETRY_MAX_S = float(_env("DRIP_RETRY_MAX_S", "3600"))

# Provider limits shared by all workers (0 = none). Twilio: messages/s per number or service.
DRIP_SMS_PER_S = float(_env("DRIP_SMS_PER_S", "0"))
DRIP_EMAIL_PER_S = float(_env("DRIP_EMAIL_PER_S", "0"))

# --- Twilio ------------------------------------------------------------------------------------
TWILIO_ACCOUNT_SID = _env("TWILIO_ACCOUNT_SID", "AC00000000000000000000000000000000")
TWILIO_AUTH_TOKEN = _env("TWILIO_AUTH_TOKEN", _PLACEHOLDER)
TWILIO_FROM_NUMBER = _env("TWILIO_FROM_NUMBER", "")
TWILIO_MESSAGING_SERVICE_SID = _env("TWILIO_MESSAGING_SERVICE_SID", "")
TWILIO_API_BASE_URL = _env("TWILIO_API_BASE_URL", "")  # tests point this at a local server
TWILIO_TIMEOUT_S = float(_env("TWILIO_TIMEOUT_S", "10"))

# --- email (Django's SMTP backend) -----------------------------------------------------------
EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
EMAIL_HOST = _env("DRIP_SMTP_HOST", "localhost")
EMAIL_PORT = int(_env("DRIP_SMTP_PORT", "25"))
EMAIL_HOST_USER = _env("DRIP_SMTP_USER", "")
EMAIL_HOST_PASSWORD = _env("DRIP_SMTP_PASSWORD", "")
EMAIL_USE_TLS = _env("DRIP_SMTP_STARTTLS", "0") == "1"
EMAIL_TIMEOUT = float(_env("DRIP_SMTP_TIMEOUT_S", "10"))
DEFAULT_FROM_EMAIL = _env("DRIP_FROM_EMAIL", "care@clinic.example")

# --- Celery --------------------------------------------------------------------------------------
CELERY_BROKER_URL = _env("DRIP_BROKER_URL", "filesystem://")
CELERY_BROKER_FOLDER = DRIP_HOME / "broker"
# Redis visibility timeout (s); 0 keeps Celery's default (1 h). drip's tasks are acked at once and
# carry only due work, so this only matters to the benchmark that shows the naive design's trap.
DRIP_VISIBILITY_TIMEOUT_S = float(_env("DRIP_VISIBILITY_TIMEOUT_S", "0"))
# The shared rate limiter needs Redis; by default the broker's.
DRIP_RATE_LIMIT_REDIS_URL = _env("DRIP_RATE_LIMIT_REDIS_URL", CELERY_BROKER_URL)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {
        "drip": {"handlers": ["console"], "level": _env("DRIP_LOG_LEVEL", "INFO")},
        # The SDK logs every request's URL and headers at INFO: noise, one line set per message.
        "twilio.http_client": {"level": "WARNING"},
    },
}


def _enforce_non_default_secrets() -> None:
    if DRIP_ENV == "development":
        return
    for name, value in (("DRIP_SECRET_KEY", SECRET_KEY), ("TWILIO_AUTH_TOKEN", TWILIO_AUTH_TOKEN)):
        if value == _PLACEHOLDER:
            raise ConfigError(f"{name} is a placeholder; set a real secret for DRIP_ENV={DRIP_ENV}")


_enforce_non_default_secrets()
