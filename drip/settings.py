"""Django settings: the one place drip reads the environment.

Defaults are the embedded setup (SQLite file, filesystem broker, file outbox, no servers), kept
in one data folder (``DRIP_DATA_DIR``) whatever the current folder, so a fresh checkout runs
with nothing configured. Settings fail closed: a bad value, and in production a missing or
placeholder secret, database, broker or clinic fact, stops the process at start with one
message that lists every problem (``ConfigError``).
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url

from drip.errors import ConfigError

_env = os.environ.get
_problems: list[str] = []  # every problem found; raised together at the end of this module

_TRUE, _FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off"}


def _bool(name: str, default: bool) -> bool:
    """true/false, 1/0, yes/no, on/off in any case; unset or empty is ``default``."""
    raw = (_env(name) or "").strip()
    if not raw:
        return default
    if raw.lower() in _TRUE | _FALSE:
        return raw.lower() in _TRUE
    _problems.append(f"{name}={raw!r} is not a boolean: use true/false, 1/0, yes/no or on/off")
    return default


def _number(name: str, default: str, kind: type[int] | type[float] = float) -> float:
    raw = (_env(name) or "").strip() or default
    try:
        return kind(raw)
    except ValueError:
        _problems.append(f"{name}={raw!r} is not a {kind.__name__}")
        return kind(default)


def _choice(name: str, default: str, allowed: tuple[str, ...]) -> str:
    value = (_env(name) or "").strip().lower() or default
    if value not in allowed:
        _problems.append(f"{name}={value!r} must be one of: {', '.join(allowed)}")
        return default
    return value


def _default_data_dir(base_dir: Path) -> Path:
    """A source checkout keeps its data in its own ``var/``; an installed drip in the user's
    data folder (XDG). Never the current folder: a command run elsewhere finds the same data."""
    if (base_dir / "pyproject.toml").exists():
        return base_dir / "var"
    return Path(_env("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "drip"


BASE_DIR = Path(__file__).resolve().parent.parent
# `drip demo` sets this: a sandbox under the data folder (fresh SQLite file and outbox each run,
# in-memory broker), whatever else the environment says.
DRIP_DEMO = _bool("DRIP_DEMO", False)
DRIP_ENV = _choice("DRIP_ENV", "development", ("development", "production"))
PRODUCTION = DRIP_ENV == "production"
DRIP_DATA_DIR = Path(_env("DRIP_DATA_DIR") or _default_data_dir(BASE_DIR)).expanduser().resolve()


DRIP_DEMO_DIR = DRIP_DATA_DIR / "demo"


def _development_secret_key(data_dir: Path) -> str:
    """A random key made once and kept in the data folder (mode 0600), so development signs
    with a secret nobody else has, and links stay valid across restarts."""
    path = data_dir / "secret_key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        draft = data_dir / f".secret_key.{os.getpid()}"
        draft.write_text(secrets.token_urlsafe(50))
        draft.chmod(0o600)
        try:
            os.link(draft, path)  # atomic: two processes starting at once keep the first key
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_text().strip()


# Values that must never sign or authenticate anything in production.
_PLACEHOLDERS = {"", "dev-insecure-change-me", "change-me", "changeme", "secret", "placeholder"}
_secret_key = (_env("DRIP_SECRET_KEY") or "").strip()
SECRET_KEY = _secret_key or ("" if PRODUCTION else _development_secret_key(DRIP_DATA_DIR))

# DEBUG shows settings and tracebacks to whoever can reach the server: development only, and
# development serves loopback only, so a process that forgets DRIP_ENV cannot expose it.
DEBUG = _bool("DRIP_DEBUG", not PRODUCTION)
_LOOPBACK_HOSTS = ["localhost", "127.0.0.1", "[::1]", "testserver"]
DRIP_PUBLIC_BASE_URL = (
    _env("DRIP_PUBLIC_BASE_URL") or ("" if PRODUCTION else "http://localhost:8000")
).rstrip("/")
_public = urlsplit(DRIP_PUBLIC_BASE_URL)
_public_host = _public.hostname or ""
_listed_hosts = [h.strip() for h in (_env("DRIP_ALLOWED_HOSTS") or "").split(",") if h.strip()]
if PRODUCTION:
    # The public host always: webhooks, links and the compose healthcheck arrive with it.
    ALLOWED_HOSTS = list(dict.fromkeys([h for h in [_public_host, *_listed_hosts] if h]))
else:
    ALLOWED_HOSTS = _LOOPBACK_HOSTS
    if set(_listed_hosts) - set(_LOOPBACK_HOSTS):
        _problems.append(
            "DRIP_ALLOWED_HOSTS: development serves loopback only (DEBUG pages show settings); "
            "set DRIP_ENV=production to serve other hosts"
        )
CSRF_TRUSTED_ORIGINS = [f"{_public.scheme}://{_public.netloc}"] if _public_host else []

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
    "whitenoise.middleware.WhiteNoiseMiddleware",  # static files from gunicorn itself
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
                "drip.staff.alerts.banner",
            ]
        },
    }
]

_database_url = (_env("DATABASE_URL") or "").strip()
_sqlite_file = (DRIP_DEMO_DIR if DRIP_DEMO else DRIP_DATA_DIR) / "drip.sqlite3"
DATABASES = {
    "default": dj_database_url.parse(
        f"sqlite:///{_sqlite_file}" if DRIP_DEMO or not _database_url else _database_url,
        conn_max_age=60,
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
# Static files (the admin's) are served by gunicorn itself (whitenoise). With DRIP_STATIC_ROOT
# set, `drip collectstatic` fills it (the image does, at build) and whitenoise serves it with
# compression; without, whitenoise serves them from the installed apps: nothing to run first.
_static_root = (_env("DRIP_STATIC_ROOT") or "").strip()
STATIC_ROOT = Path(_static_root) if _static_root else None
WHITENOISE_USE_FINDERS = STATIC_ROOT is None

# --- staff accounts and sessions ----------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": f"django.contrib.auth.password_validation.{name}"}
    for name in (
        "UserAttributeSimilarityValidator",
        "MinimumLengthValidator",
        "CommonPasswordValidator",
        "NumericPasswordValidator",
    )
]
# A staff session ends after this long without a request (each request starts the clock again).
DRIP_STAFF_SESSION_IDLE_MIN = _number("DRIP_STAFF_SESSION_IDLE_MIN", "30")
SESSION_COOKIE_AGE = int(DRIP_STAFF_SESSION_IDLE_MIN * 60)
SESSION_SAVE_EVERY_REQUEST = True

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

# --- HTTPS behind the proxy that DRIP_PUBLIC_BASE_URL implies (production) -----------------------
if PRODUCTION:
    # The proxy terminates TLS and says so in X-Forwarded-Proto; it must overwrite that header.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = _bool("DRIP_SSL_REDIRECT", True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # the container healthcheck speaks plain HTTP
    SECURE_HSTS_SECONDS = int(_number("DRIP_HSTS_SECONDS", str(365 * 24 * 3600), int))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = _bool("DRIP_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = _bool("DRIP_HSTS_PRELOAD", False)
    if not SECURE_HSTS_PRELOAD:
        # Preloading binds the whole domain to HTTPS in browsers for months; only the domain's
        # owner can decide that, so it is opt-in and the deployment check does not ask for it.
        SILENCED_SYSTEM_CHECKS = ["security.W021"]
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = True

# --- where the product's default schedules and messages live -------------------------------
DRIP_SCHEDULES_DIR = Path(_env("DRIP_SCHEDULES_DIR", str(BASE_DIR / "schedules")))
DRIP_MESSAGES_DIR = Path(_env("DRIP_MESSAGES_DIR", str(BASE_DIR / "messages")))

# --- the clinic (template variables) ---------------------------------------------------------
_SAMPLE_CLINIC = {
    "clinic_name": "Sample Infusion Clinic",
    "clinic_phone": "(555) 010-0199",
    "clinic_address": "100 Main Street, Suite 2",
    "clinic_instructions": "Please follow the preparation instructions your care team gave you.",
}
_CLINIC_VARIABLES = {
    "clinic_name": "DRIP_CLINIC_NAME",
    "clinic_phone": "DRIP_CLINIC_PHONE",
    "clinic_address": "DRIP_CLINIC_ADDRESS",
    "clinic_instructions": "DRIP_CLINIC_INSTRUCTIONS",
}
DRIP_CLINIC = {
    key: _env(name, "" if PRODUCTION else _SAMPLE_CLINIC[key]).strip()
    for key, name in _CLINIC_VARIABLES.items()
}

# --- replies and alerts (issue 12) ------------------------------------------------------------


def _env_list(name: str) -> list[str]:
    return [item.strip() for item in _env(name, "").split(",") if item.strip()]


# Emails carry this Reply-To (a watched mailbox), so a patient's answer reaches a person.
DRIP_REPLY_TO = _env("DRIP_REPLY_TO", "")
# Who hears about a crisis reply at once (comma-separated): by email and by SMS.
DRIP_ONCALL_EMAILS = _env_list("DRIP_ONCALL_EMAILS")
DRIP_ONCALL_PHONES = _env_list("DRIP_ONCALL_PHONES")
_problems.extend(
    f"DRIP_ONCALL_PHONES has {phone!r}: write each number in E.164 form (+13125550142)"
    for phone in DRIP_ONCALL_PHONES
    if not re.fullmatch(r"\+[1-9][0-9]{6,14}", phone)
)
_problems.extend(
    f"DRIP_ONCALL_EMAILS has {email!r}: not an email address"
    for email in DRIP_ONCALL_EMAILS
    if not re.fullmatch(r"[^@\s,]+@[^@\s,]+\.[^@\s,]+", email)
)
# Twilio's Advanced Opt-Out already answers STOP, START and HELP: drip then stays silent on them.
DRIP_TWILIO_ANSWERS_KEYWORDS = _bool("DRIP_TWILIO_ANSWERS_KEYWORDS", False)
# How often patients hear from us, as the HELP reply says it.
DRIP_SMS_FREQUENCY = _env("DRIP_SMS_FREQUENCY", "Up to 1 msg/day, 3/week")
# The answer to any other reply, at most once a day per sender. {clinic_name} and {clinic_phone}
# are filled in. The staff pages' clinic settings may override it; this is the default.
DRIP_AUTO_REPLY = _env(
    "DRIP_AUTO_REPLY",
    "{clinic_name}: thanks, we got your message. This number is not watched around the clock; "
    "for your care team call {clinic_phone}. If you are in crisis, call or text 988 (24/7), "
    "or call 911 in an emergency.",
)
# Alert notices left 'sending' this long (a worker died mid-call) are tried again.
DRIP_ALERT_LEASE_S = _number("DRIP_ALERT_LEASE_S", "120")
# Local hours (patient's zone, [start, end)) a staff reply from the inbox may go out; a reply
# written outside them waits for the next opening (TCPA quiet hours are 9 PM to 8 AM).
DRIP_STAFF_REPLY_HOURS = (
    int(_number("DRIP_STAFF_REPLY_START_HOUR", "8", int)),
    int(_number("DRIP_STAFF_REPLY_END_HOUR", "21", int)),
)

# --- delivery engine -------------------------------------------------------------------------
DRIP_CHANNELS = _choice("DRIP_CHANNELS", "outbox", ("outbox", "live"))  # live: Twilio + SMTP
DRIP_OUTBOX_DIR = Path(_env("DRIP_OUTBOX_DIR") or DRIP_DATA_DIR / "outbox")
if DRIP_DEMO:
    DRIP_CHANNELS, DRIP_OUTBOX_DIR = "outbox", DRIP_DEMO_DIR / "outbox"
DRIP_DISPATCH_EVERY_S = _number("DRIP_DISPATCH_EVERY_S", "15")
DRIP_CLAIM_BATCH = int(_number("DRIP_CLAIM_BATCH", "1000", int))
DRIP_SEND_BATCH = int(_number("DRIP_SEND_BATCH", "100", int))  # deliveries per Celery task
DRIP_SEND_CONCURRENCY = int(_number("DRIP_SEND_CONCURRENCY", "100", int))  # calls in flight
DRIP_QUEUED_LEASE_S = _number("DRIP_QUEUED_LEASE_S", "300")
# A row 'sending' this long lost its worker: SMS are settled by asking Twilio, emails listed for
# staff. Far above TWILIO_TIMEOUT_S, so a live worker's call is never looked up mid-flight.
DRIP_SENDING_LEASE_S = _number("DRIP_SENDING_LEASE_S", "600")
DRIP_MAX_ATTEMPTS = int(_number("DRIP_MAX_ATTEMPTS", "6", int))
DRIP_RETRY_BASE_S = _number("DRIP_RETRY_BASE_S", "30")
DRIP_RETRY_MAX_S = _number("DRIP_RETRY_MAX_S", "3600")

# Provider limits shared by all workers (0 = none). Twilio: messages/s per number or service.
DRIP_SMS_PER_S = _number("DRIP_SMS_PER_S", "0")
DRIP_EMAIL_PER_S = _number("DRIP_EMAIL_PER_S", "0")

# --- Twilio ------------------------------------------------------------------------------------
TWILIO_ACCOUNT_SID = _env("TWILIO_ACCOUNT_SID", "AC00000000000000000000000000000000")
# No default: an empty token signs nothing (the webhook refuses every callback without one).
TWILIO_AUTH_TOKEN = (_env("TWILIO_AUTH_TOKEN") or "").strip()
TWILIO_FROM_NUMBER = _env("TWILIO_FROM_NUMBER", "")
TWILIO_MESSAGING_SERVICE_SID = _env("TWILIO_MESSAGING_SERVICE_SID", "")
TWILIO_API_BASE_URL = _env("TWILIO_API_BASE_URL", "")  # tests point this at a local server
TWILIO_TIMEOUT_S = _number("TWILIO_TIMEOUT_S", "10")

# --- email (SMTP; drip/channels/email.py) ----------------------------------------------------
EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
EMAIL_HOST = _env("DRIP_SMTP_HOST", "localhost")
EMAIL_PORT = int(_number("DRIP_SMTP_PORT", "25", int))
EMAIL_HOST_USER = _env("DRIP_SMTP_USER", "")
EMAIL_HOST_PASSWORD = _env("DRIP_SMTP_PASSWORD", "")
# STARTTLS: require (refuse a server without it), opportunistic (when offered), off.
DRIP_SMTP_TLS = _choice("DRIP_SMTP_TLS", "opportunistic", ("require", "opportunistic", "off"))
if _env("DRIP_SMTP_STARTTLS") is not None:
    _problems.append("DRIP_SMTP_STARTTLS is replaced by DRIP_SMTP_TLS=require|opportunistic|off")
EMAIL_TIMEOUT = _number("DRIP_SMTP_TIMEOUT_S", "10")
DEFAULT_FROM_EMAIL = _env("DRIP_FROM_EMAIL", "care@clinic.example")

# --- Celery --------------------------------------------------------------------------------------
_broker_url = (_env("DRIP_BROKER_URL") or "").strip()
CELERY_BROKER_URL = "memory://localhost/" if DRIP_DEMO else _broker_url or "filesystem://"
CELERY_BROKER_FOLDER = DRIP_DATA_DIR / "broker"  # queue/, processed/, control/
# Redis visibility timeout (s); 0 keeps Celery's default (1 h). drip's tasks are acked at once and
# carry only due work, so this only matters to the benchmark that shows the naive design's trap.
DRIP_VISIBILITY_TIMEOUT_S = _number("DRIP_VISIBILITY_TIMEOUT_S", "0")
# The shared rate limiter needs Redis; by default the broker's.
DRIP_RATE_LIMIT_REDIS_URL = _env("DRIP_RATE_LIMIT_REDIS_URL", CELERY_BROKER_URL)

# One handler, on the root logger: drip's records and Celery's reach it once each (a handler on
# "drip" as well printed every drip line twice under a worker). caplog sees them too.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "drip": {"level": _env("DRIP_LOG_LEVEL", "INFO")},
        # The SDK logs every request's URL and headers at INFO: noise, one line set per message.
        "twilio.http_client": {"level": "WARNING"},
    },
}


def _production_problems() -> list[str]:
    """What production refuses to start with: every item, so one run shows them all."""
    found = []
    for name, value in (("DRIP_SECRET_KEY", SECRET_KEY), ("TWILIO_AUTH_TOKEN", TWILIO_AUTH_TOKEN)):
        if value.lower() in _PLACEHOLDERS:
            found.append(f"{name} is empty or a placeholder; set a real secret")
    if 0 < len(SECRET_KEY) < 50 and SECRET_KEY.lower() not in _PLACEHOLDERS:
        found.append("DRIP_SECRET_KEY is shorter than 50 characters")
    if DRIP_CHANNELS == "live" and TWILIO_ACCOUNT_SID.strip("AC0") == "":
        found.append("TWILIO_ACCOUNT_SID is empty or the placeholder")
    if not _database_url:
        found.append("DATABASE_URL is not set (production does not fall back to SQLite)")
    if not _broker_url:
        found.append("DRIP_BROKER_URL is not set (production does not fall back to files)")
    if _public.scheme != "https" or not _public_host:
        found.append("DRIP_PUBLIC_BASE_URL must be the public https:// address")
    if DEBUG:
        found.append("DRIP_DEBUG is on; production never shows debug pages")
    for key, name in _CLINIC_VARIABLES.items():
        required = key in ("clinic_name", "clinic_phone")  # address, instructions: optional
        if DRIP_CLINIC[key] == _SAMPLE_CLINIC[key] or (required and not DRIP_CLINIC[key]):
            found.append(f"{name} is {'the sample value' if DRIP_CLINIC[key] else 'empty'}")
    if not (DRIP_ONCALL_EMAILS or DRIP_ONCALL_PHONES):
        found.append(
            "DRIP_ONCALL_EMAILS and DRIP_ONCALL_PHONES are both empty; a crisis reply must reach "
            "a person at once, so name at least one on-call contact"
        )
    return found


# --- crisis route and lock-screen name (issue 10) ----------------------------------------------
# Every email's footer carries this; the last emails of a series say it in the body too. US
# default; a clinic elsewhere sets its own lines. Empty is refused: no email goes out without it.
DRIP_CRISIS_TEXT = _env(
    "DRIP_CRISIS_TEXT",
    "If you are thinking of harming yourself, call or text 988 (the Suicide & Crisis Lifeline, "
    "open 24/7). In an emergency, call 911. This email address and our phone line are not "
    "watched around the clock.",
).strip()
if not DRIP_CRISIS_TEXT:
    _problems.append("DRIP_CRISIS_TEXT is empty; every email must say where to turn in a crisis")
# The name texts show on a lock screen; set it when the clinic's name says what it treats.
DRIP_CLINIC_SMS_NAME = (_env("DRIP_CLINIC_SMS_NAME") or "").strip() or DRIP_CLINIC["clinic_name"]
DRIP_CLINIC.update(crisis_text=DRIP_CRISIS_TEXT, clinic_sms_name=DRIP_CLINIC_SMS_NAME)

# --- guardrails at `drip schedules validate` and `publish` ---------------------------------------
DRIP_EMAIL_MAX_WORDS = int(_number("DRIP_EMAIL_MAX_WORDS", "250", int))
DRIP_READING_GRADE_MAX = _number("DRIP_READING_GRADE_MAX", "8")  # a warning above it
DRIP_SMS_ALLOW_UCS2 = _bool("DRIP_SMS_ALLOW_UCS2", False)  # else every text must be GSM-7


def _raise_problems() -> None:
    problems = _problems + (_production_problems() if PRODUCTION else [])
    if problems:
        listed = "\n".join(f"  - {problem}" for problem in problems)
        raise ConfigError(f"drip cannot start (DRIP_ENV={DRIP_ENV}); fix these settings:\n{listed}")


# --- time limits: nothing in a send task waits forever (issue 9) -----------------------------
# A provider call may look for an earlier copy and then send (SMTP: reconnect and resend), each
# within the provider's timeout, after waiting for its rate-limit slot (a whole group of calls at
# the slowest limit, for one worker; raise this when many workers share a low limit). Past this
# deadline the call is cancelled and retried later as a timeout.
_RATE_WAIT_S = max(
    (DRIP_SEND_CONCURRENCY / per_s for per_s in (DRIP_SMS_PER_S, DRIP_EMAIL_PER_S) if per_s > 0),
    default=0.0,
)
DRIP_SEND_CALL_DEADLINE_S = _number(
    "DRIP_SEND_CALL_DEADLINE_S", str(2 * max(TWILIO_TIMEOUT_S, EMAIL_TIMEOUT) + _RATE_WAIT_S + 5)
)
# A send task starts a group of calls whenever half its window is free, and each group ends by
# its deadline (plus the sender's 2 s grace); the margin covers the database work around them.
# Past the soft limit the task stops (unclaimed rows come back through the queued lease, calls
# in flight through the sending lease, as after a kill); past the hard limit the worker process
# is replaced. Both stay far below DRIP_SENDING_LEASE_S, so a live call is never looked up.
_SEND_GROUPS = -(-DRIP_SEND_BATCH // max(1, DRIP_SEND_CONCURRENCY // 2))
CELERY_TASK_SOFT_TIME_LIMIT = _SEND_GROUPS * (DRIP_SEND_CALL_DEADLINE_S + 2) + 60
CELERY_TASK_TIME_LIMIT = CELERY_TASK_SOFT_TIME_LIMIT + 30


_raise_problems()
