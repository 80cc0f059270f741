"""Django settings of the capture application, configured in code (no settings module on disk).

``configure(db_url, data_dir)`` is the one way in: it calls ``django.conf.settings.configure`` and
``django.setup()``. The batch pipeline never imports this module (``latc run`` stays Django-free).

Database: ``None`` → a SQLite file ``<data_dir>/capture.sqlite3`` opened with ``BEGIN IMMEDIATE``
transactions (writers queue instead of failing with "database is locked" half way); a
``postgresql://user@host:port/name`` URL for a real deployment (parsed by dj-database-url).
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Iterable

#: environment variable: set to 1 when the server runs behind a TLS-terminating reverse proxy
#: (secure cookies, HSTS, X-Forwarded-Proto trusted)
TLS_ENV = "LATC_CAPTURE_TLS"
#: environment variables read by ``latc capture`` commands when --db / --dir are not given
DB_ENV = "LATC_CAPTURE_DB"
DIR_ENV = "LATC_CAPTURE_DIR"
#: environment variable: "json" → one JSON object per log line (``latc capture serve --log-format``)
LOG_FORMAT_ENV = "LATC_CAPTURE_LOG_FORMAT"
#: environment variables adding host names the proxy forwards (comma-separated; both read, the
#: twelve-factor ALLOWED_HOSTS and latc's LATC_CAPTURE_HOSTS), after those given in code / --allowed-host
HOSTS_ENVS = ("LATC_CAPTURE_HOSTS", "ALLOWED_HOSTS")

SQLITE_NAME = "capture.sqlite3"
SECRET_FILE = "secret_key"


def default_db_url(data_dir: Path) -> str:
    return f"sqlite:///{(Path(data_dir) / SQLITE_NAME).resolve()}"


def database_settings(db_url: str | None, data_dir: Path) -> dict:
    """The Django ``DATABASES['default']`` entry for a URL (None: SQLite in ``data_dir``)."""
    import dj_database_url

    url = db_url or default_db_url(data_dir)
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if not (url.startswith("sqlite:") or url.startswith("postgresql:")):
        raise ValueError(f"database URL {url!r}: only sqlite:///path and postgresql://… are supported")
    cfg = dj_database_url.parse(url, conn_max_age=0)
    if cfg["ENGINE"] == "django.db.backends.sqlite3":
        cfg.setdefault("OPTIONS", {})
        # BEGIN IMMEDIATE: a writer takes the lock when its transaction starts, so concurrent saves
        # queue (busy timeout) instead of failing on lock upgrade; also serialises audit appends
        cfg["OPTIONS"].update({"transaction_mode": "IMMEDIATE", "timeout": 20,
                               "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"})
    cfg["ATOMIC_REQUESTS"] = False
    return cfg


#: environment variable that gives the secret key instead of the file (e.g. from a secrets manager)
SECRET_ENV = "SECRET_KEY"


def secret_key(data_dir: Path) -> str:
    """``$SECRET_KEY`` when set (at least 50 characters, not Django's insecure placeholder), else the
    key in ``<data_dir>/secret_key``, generated once (file mode 0600)."""
    env = os.environ.get(SECRET_ENV, "").strip()
    if env:
        if len(env) < 50 or env.startswith("django-insecure") or len(set(env)) < 5:
            raise ValueError(f"${SECRET_ENV} is too weak for a deployment (at least 50 random characters; "
                             "leave it unset to use the generated key file)")
        return env
    path = Path(data_dir) / SECRET_FILE
    if path.is_file():
        key = path.read_text(encoding="utf-8").strip()
        if key:
            return key
    Path(data_dir).mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(50)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(key + "\n")
    os.chmod(path, 0o600)
    return key


def log_format() -> str:
    """``json`` when ``$LATC_CAPTURE_LOG_FORMAT`` says so, else ``line``."""
    value = os.environ.get(LOG_FORMAT_ENV, "").strip().lower() or "line"
    if value not in ("json", "line", "text"):
        raise ValueError(f"${LOG_FORMAT_ENV}={value!r}: use json or text")
    return "json" if value == "json" else "line"


def env_hosts(hosts: Iterable[str]) -> list[str]:
    """``hosts`` followed by those of ``$ALLOWED_HOSTS`` / ``$LATC_CAPTURE_HOSTS`` (comma-separated)."""
    out = list(hosts)
    for name in HOSTS_ENVS:
        out += [h.strip() for h in os.environ.get(name, "").split(",") if h.strip() and h.strip() not in out]
    return out


def behind_tls(flag: bool | None = None) -> bool:
    if flag is not None:
        return flag
    return os.environ.get(TLS_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def build_settings(db_url: str | None, data_dir: Path, *, debug: bool = False,
                   allowed_hosts: Iterable[str] = ("127.0.0.1", "localhost", "[::1]"),
                   tls: bool | None = None) -> dict:
    """The settings dictionary (exposed for inspection and tests)."""
    data_dir = Path(data_dir)
    tls = behind_tls(tls)
    s = dict(
        DEBUG=debug,
        SECRET_KEY=secret_key(data_dir),
        ALLOWED_HOSTS=env_hosts(allowed_hosts),
        DATABASES={"default": database_settings(db_url, data_dir)},
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        INSTALLED_APPS=[
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",
            "django.contrib.messages",
            "django.contrib.staticfiles",
            "axes",
            "django_otp",
            "django_otp.plugins.otp_totp",
            "latc.capture",
            "latc.capture.web.apps.CaptureWebConfig",  # the web UI: templates/capture, static/capture
        ],
        MIDDLEWARE=[
            "latc.capture.web.requestlog.RequestLogMiddleware",  # first: the duration covers all the rest
            "django.middleware.security.SecurityMiddleware",
            "django.middleware.csp.ContentSecurityPolicyMiddleware",
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.middleware.common.CommonMiddleware",
            "django.middleware.csrf.CsrfViewMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            "django_otp.middleware.OTPMiddleware",
            "django.contrib.messages.middleware.MessageMiddleware",
            "latc.capture.web.i18n.LanguageMiddleware",  # the user's language (docs/capture.md "Languages")
            "django.middleware.clickjacking.XFrameOptionsMiddleware",
            # last, as django-axes asks: turns a lockout into its response
            "axes.middleware.AxesMiddleware",
        ],
        ROOT_URLCONF="latc.capture.web.urls",
        TEMPLATES=[{
            "BACKEND": "django.template.backends.django.DjangoTemplates",
            "DIRS": [],
            "APP_DIRS": True,
            "OPTIONS": {"context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]},
        }],
        STATIC_URL="/static/",
        STATIC_ROOT=str(data_dir / "static"),
        AUTHENTICATION_BACKENDS=[
            "axes.backends.AxesStandaloneBackend",  # first: refuses a locked-out user before the password check
            # ModelBackend + refuses accounts without a membership or past Membership.expires_at
            "latc.capture.scoping.MembershipBackend",
        ],
        # Argon2id first (OWASP Password Storage Cheat Sheet's first choice; Django's recommended
        # hasher, its defaults t=2, m=100 MiB, p=8 exceed OWASP's minimum m=19 MiB, t=2, p=1): memory-hard,
        # and per login a third of the time and half the CPU of Django 6.1's PBKDF2 (1.5 M iterations).
        # PBKDF2 stays listed, so older hashes still verify and are re-hashed with Argon2id at login.
        PASSWORD_HASHERS=DEPLOYED_PASSWORD_HASHERS,
        AUTH_PASSWORD_VALIDATORS=[
            {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
            {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
            {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
            {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
        ],
        LOGIN_URL="/login/",
        LOGIN_REDIRECT_URL="/",
        # sessions: 30 minutes of inactivity, renewed on each request, gone with the browser
        SESSION_COOKIE_AGE=30 * 60,
        SESSION_SAVE_EVERY_REQUEST=True,
        SESSION_EXPIRE_AT_BROWSER_CLOSE=True,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        CSRF_COOKIE_HTTPONLY=False,
        CSRF_COOKIE_SAMESITE="Strict",
        SECURE_CONTENT_TYPE_NOSNIFF=True,
        SECURE_REFERRER_POLICY="same-origin",
        X_FRAME_OPTIONS="DENY",
        SESSION_COOKIE_SECURE=tls,
        CSRF_COOKIE_SECURE=tls,
        # django-axes: 5 failures lock the username for 30 minutes
        AXES_FAILURE_LIMIT=5,
        AXES_COOLOFF_TIME=timedelta(minutes=30),
        AXES_LOCKOUT_PARAMETERS=["username"],
        AXES_RESET_ON_SUCCESS=True,
        AXES_VERBOSE=False,
        AXES_LOCKOUT_TEMPLATE="capture/locked_out.html",
        # Content-Security-Policy (Django 6.1): only this server's scripts, styles and forms
        SECURE_CSP=_csp(),
        OTP_TOTP_ISSUER="LATC capture",
        USE_TZ=True,
        TIME_ZONE="UTC",
        # Django's own texts (form errors, password rules) in the user's language; latc's texts come
        # from latc.capture.web.i18n (docs/capture.md "Languages"); dates are formatted explicitly (ISO)
        USE_I18N=True,
        LANGUAGE_CODE="en",
        LANGUAGES=[("en", "English"), ("zh-hans", "简体中文")],
        LANGUAGE_COOKIE_SECURE=tls,
        LANGUAGE_COOKIE_HTTPONLY=True,
        LANGUAGE_COOKIE_SAMESITE="Lax",
        # the server log (stderr; gunicorn's and waitress's own lines go there too): server errors
        # (django.request 5xx with their traceback), security events (django.security: a forged
        # Host header, a static path probe) and latc's own records; every line through latc's
        # identifier filter, so a phone number typed into a URL is not written to the log
        LOGGING={"version": 1, "disable_existing_loggers": False,
                 "filters": {"no_identifiers": {"()": "latc._logging.IdentifierFilter"}},
                 "formatters": {"line": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
                                "json": {"()": "latc._logging.JsonFormatter"}},
                 "handlers": {"null": {"class": "logging.NullHandler"},
                              "stderr": {"class": "logging.StreamHandler", "filters": ["no_identifiers"],
                                         "formatter": log_format()}},
                 "loggers": {"axes": {"handlers": ["null"], "propagate": False},
                             "django.request": {"handlers": ["stderr"], "level": "ERROR", "propagate": False},
                             "django.security": {"handlers": ["stderr"], "level": "WARNING", "propagate": False},
                             "latc": {"handlers": ["stderr"], "level": "INFO", "propagate": False}}},
        LATC_CAPTURE_DIR=str(data_dir),
    )
    if tls:
        s.update(
            SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https"),
            # the proxy redirects http → https; should a plain-http request still reach the
            # application (a misrouted proxy), Django redirects it too — except /health, which
            # monitoring asks on the loopback port directly
            SECURE_SSL_REDIRECT=True,
            SECURE_REDIRECT_EXEMPT=[r"^health$"],
            SECURE_HSTS_SECONDS=31536000,
        )
    # `check --deploy` warnings that are decisions, not omissions (docs/capture.md "Production checklist"):
    # axes.W006 — lockout per user name (documented trade-off); the per-address limit is
    #   latc.capture.ratelimit ("login_addr") in the login view instead of axes' IP lockout;
    # security.W005 / W021 — HSTS for subdomains and browser preload commit every subdomain of the
    #   hospital's domain (and are hard to undo): the hospital's decision, set at its proxy
    s["SILENCED_SYSTEM_CHECKS"] = ["axes.W006", "security.W005", "security.W021"]
    return s


def _csp() -> dict:
    from django.utils.csp import CSP

    return {"default-src": [CSP.SELF], "script-src": [CSP.SELF], "style-src": [CSP.SELF],
            "img-src": [CSP.SELF, "data:"], "object-src": [CSP.NONE], "base-uri": [CSP.SELF],
            "form-action": [CSP.SELF], "frame-ancestors": [CSP.NONE]}


#: password hashers of a deployment: new hashes are Argon2id (argon2-cffi); PBKDF2 hashes (Django's
#: default, which latc used until December 2026) still verify and become Argon2id at the next login
DEPLOYED_PASSWORD_HASHERS = ["django.contrib.auth.hashers.Argon2PasswordHasher",
                             "django.contrib.auth.hashers.PBKDF2PasswordHasher",
                             "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher"]


def configure(db_url: str | None, data_dir: Path, *, debug: bool = False,
              allowed_hosts: Iterable[str] = ("127.0.0.1", "localhost", "[::1]"), tls: bool | None = None) -> None:
    """Configure Django for the capture application and run ``django.setup()``.

    A second call in the same process (tests, CliRunner) keeps the settings and points the default
    database at ``db_url`` (see :func:`switch_database`).
    """
    import django
    from django.conf import settings

    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    if settings.configured:
        switch_database(db_url or default_db_url(data_dir), data_dir)
        return
    settings.configure(**build_settings(db_url, data_dir, debug=debug, allowed_hosts=allowed_hosts, tls=tls))
    django.setup()


def switch_database(db_url: str, data_dir: Path | None = None) -> None:
    """Point the ``default`` connection at another database (tests; a second CLI call in-process)."""
    from django.conf import settings
    from django.db import connections

    cfg = database_settings(db_url, Path(data_dir or settings.LATC_CAPTURE_DIR))
    current = connections.settings["default"]
    key = ("ENGINE", "NAME", "HOST", "PORT", "USER")
    if all(str(current.get(k) or "") == str(cfg.get(k) or "") for k in key):
        return
    connections.close_all()
    try:
        delattr(connections._connections, "default")
    except AttributeError:
        pass
    # asgiref keeps a second, context-variable store for code that runs while an event loop is
    # running in this thread (Playwright's sync API does): a connection opened there would outlive
    # the switch and keep pointing at the previous database
    cvar = getattr(getattr(connections._connections, "_storage", None), "cvar", None)
    stale = getattr(cvar, "default", None) if cvar is not None else None
    if stale is not None:
        stale.close()
        delattr(cvar, "default")
    full = dict(current)
    for k in ("HOST", "PORT", "USER", "PASSWORD", "OPTIONS", "CONN_MAX_AGE", "CONN_HEALTH_CHECKS"):
        full.pop(k, None)
    full.update(cfg)
    full.setdefault("OPTIONS", {})
    for k, v in (("HOST", ""), ("PORT", ""), ("USER", ""), ("PASSWORD", ""), ("CONN_MAX_AGE", 0),
                 ("CONN_HEALTH_CHECKS", False)):
        full.setdefault(k, v)
    connections.settings["default"] = full
    settings.DATABASES["default"] = full


def migrate(verbosity: int = 0) -> None:
    """Create or upgrade the schema of the configured database."""
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=verbosity)


# -- tests -----------------------------------------------------------------------------------------

#: where tests look for a PostgreSQL server (trust authentication on the development machines)
TEST_PG_ENV = "LATC_CAPTURE_TEST_PG"
TEST_PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/postgres"


#: tests hash with MD5 first (Django's own advice for test speed: a real hash takes 0.15-0.5 s);
#: Argon2id and PBKDF2 stay listed so that tests can check the deployed hashers verify
TEST_PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *DEPLOYED_PASSWORD_HASHERS]


def configure_for_tests(data_dir: Path) -> None:
    """Configure Django once for a test session (SQLite in ``data_dir``, fast test hasher)."""
    from django.conf import settings

    if settings.configured:
        return
    configure(None, data_dir, debug=False, allowed_hosts=("127.0.0.1", "localhost", "testserver"))
    settings.PASSWORD_HASHERS = TEST_PASSWORD_HASHERS


def postgres_admin_url() -> str:
    return os.environ.get(TEST_PG_ENV, TEST_PG_DEFAULT)


def postgres_reachable(timeout: float = 2.0) -> str | None:
    """None when a PostgreSQL server answers at :func:`postgres_admin_url`, else the reason."""
    try:
        import psycopg

        with psycopg.connect(_libpq(postgres_admin_url()), connect_timeout=int(max(1, timeout))) as c:
            c.execute("select 1")
        return None
    except Exception as exc:  # noqa: BLE001 - any failure means "skip"
        return f"PostgreSQL not reachable at {postgres_admin_url()}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def create_postgres_database(name: str, template: str | None = None) -> str:
    """Create database ``name`` on the test server (optionally from a template); returns its URL."""
    import psycopg
    from psycopg import sql

    admin = postgres_admin_url()
    with psycopg.connect(_libpq(admin), autocommit=True) as c:
        c.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        if template:
            c.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(template)))
        else:
            c.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    base = admin.rsplit("/", 1)[0]
    return f"{base}/{name}"


def drop_postgres_database(name: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(_libpq(postgres_admin_url()), autocommit=True) as c:
        c.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
