"""``latc capture …``: set up, run and feed the web data capture from the command line.

Django is imported inside each command (never at import time), so ``import latc.cli`` and the
batch commands stay Django-free. Every command finds its database by ``--db URL`` (or the
``LATC_CAPTURE_DB`` environment variable; default the SQLite file in the data folder) and its data
folder (secret key, import quarantine) by ``--dir`` (or ``LATC_CAPTURE_DIR``; default
``./capture``). Data problems end in one line (exit code 2), never a traceback.
"""

from __future__ import annotations

import os
import secrets
from contextlib import contextmanager
from datetime import datetime, timezone as dt_timezone
from pathlib import Path
from typing import Iterator, List, Optional

import typer
from rich.console import Console

capture_app = typer.Typer(help="Web data capture: audited multicenter forms from the data dictionary (Django).",
                          no_args_is_help=True)
console = Console(soft_wrap=True)  # one line per message: greppable, copyable
err_console = Console(stderr=True, soft_wrap=True)

LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
#: demo passwords: letters and digits (no leading '-' that a shell would take for an option)
_ALPHABET = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def _private_db_file() -> None:
    """The SQLite file holds patient data: readable by its owner only."""
    from django.db import connection

    if connection.vendor == "sqlite":
        path = Path(str(connection.settings_dict.get("NAME") or ""))
        for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            if p.is_file():
                os.chmod(p, 0o600)


def _fail(message: str, code: int = 2) -> None:
    from rich.markup import escape

    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code=code)


def _dir_option():
    return typer.Option(None, "--dir", help="Capture data folder: secret key, SQLite database, import quarantine "
                        "(default: $LATC_CAPTURE_DIR or ./capture).")


def _db_option():
    return typer.Option(None, "--db", help="Database URL: postgresql://user@host:5432/name or sqlite:///path "
                        "(default: $LATC_CAPTURE_DB, $DATABASE_URL, or the SQLite file in --dir).")


def _resolve(data_dir: Optional[Path], db: Optional[str]) -> tuple[Path, Optional[str]]:
    from latc.capture.settings import DB_ENV, DIR_ENV

    d = Path(data_dir or os.environ.get(DIR_ENV) or "capture")
    # precedence: --db, then LATC_CAPTURE_DB, then the twelve-factor DATABASE_URL
    return d, (db or os.environ.get(DB_ENV) or os.environ.get("DATABASE_URL") or None)


@contextmanager
def _django(data_dir: Optional[Path], db: Optional[str], *, need_schema: bool = True, **kw) -> Iterator[Path]:
    """Configure Django for a command; one-line errors for every data or database problem."""
    d, url = _resolve(data_dir, db)
    try:
        from latc.capture.settings import configure

        configure(url, d, **kw)
    except ValueError as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"{d}: cannot use the data folder ({exc.strerror or exc})")
    from django.db import DatabaseError

    from latc.capture.errors import CaptureError

    try:
        if need_schema:
            _check_schema(d)
        yield d
    except CaptureError as exc:
        _fail(str(exc))
    except DatabaseError as exc:
        _fail(f"database error: {str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}")


def _check_schema(d: Path) -> None:
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    plan = MigrationExecutor(connection).migration_plan(MigrationExecutor(connection).loader.graph.leaf_nodes())
    if plan:
        _fail(f"the capture database is not initialised or not up to date: run `latc capture init --dir {d}` "
              "(with the same --db) first")


@capture_app.command()
def init(
    db: Optional[str] = _db_option(),
    data_dir: Optional[Path] = _dir_option(),
) -> None:
    """Create or upgrade the capture database (default: a SQLite file in --dir)."""
    with _django(data_dir, db, need_schema=False) as d:
        from django.db import connection

        from latc.capture.settings import migrate

        migrate()
        _private_db_file()
        where = connection.settings_dict.get("NAME")
        console.print(f"capture database ready ({connection.vendor}: {where}); data folder {d.resolve()}")
        console.print("next: latc capture createuser NAME --role admin, then latc capture serve", highlight=False)


@capture_app.command("add-center")
def add_center(
    code: str = typer.Argument(..., help="Center code as in center_id (e.g. C01)."),
    name: str = typer.Option("", "--name", help="Center name."),
    db: Optional[str] = _db_option(),
    data_dir: Optional[Path] = _dir_option(),
) -> None:
    """Add a center (audited)."""
    with _django(data_dir, db):
        from latc.capture import services

        c = services.create_center(None, code, name)
        console.print(f"center {c.code} ({c.name or 'no name'})")


@capture_app.command()
def createuser(
    username: str = typer.Argument(..., help="Login name."),
    role: str = typer.Option(..., "--role", help="site_entry, site_investigator, monitor, data_manager, statistician or admin."),
    center: List[str] = typer.Option([], "--center", help="Center code (repeat for several); required for site roles and monitors."),
    expires: Optional[str] = typer.Option(None, "--expires", help="Last day of the account YYYY-MM-DD (UTC); it cannot log in after."),
    password_file: Optional[Path] = typer.Option(None, "--password-file", help="Read the password from this file's first line (else prompted)."),
    display_name: str = typer.Option("", "--display-name", help="Full name shown with signatures."),
    db: Optional[str] = _db_option(),
    data_dir: Optional[Path] = _dir_option(),
) -> None:
    """Create an account with its role and centers (audited)."""
    expires_at = None
    if expires:
        try:
            day = datetime.strptime(expires.strip(), "%Y-%m-%d")
        except ValueError:
            _fail(f"--expires {expires!r} is not a date YYYY-MM-DD")
        expires_at = (day.replace(tzinfo=dt_timezone.utc) + _one_day())
    if password_file is not None:
        try:
            lines = password_file.read_text(encoding="utf-8").splitlines()
            password = lines[0] if lines else ""
        except OSError as exc:
            _fail(f"{password_file}: cannot read the password file ({exc.strerror})")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    with _django(data_dir, db):
        from latc.capture import services

        u = services.create_user(None, username, password, role, center, expires_at=expires_at, display_name=display_name)
        console.print(f"user {u.get_username()} ({role}{', centers ' + ', '.join(center) if center else ''}"
                      f"{', expires ' + expires if expires else ''}) created", highlight=False)


def _one_day():
    from datetime import timedelta

    return timedelta(days=1)


@capture_app.command("import")
def import_(
    study: Path = typer.Argument(..., help="Study folder of CSVs, an XLSX workbook, or a REDCap export folder."),
    db: Optional[str] = _db_option(),
    data_dir: Optional[Path] = _dir_option(),
) -> None:
    """Load a study (as `latc validate` reads it) through the same validation; every row audited."""
    with _django(data_dir, db) as d:
        from latc.capture.interchange import import_study

        with console.status(f"importing {study} …"):
            rep = import_study(study, user=None, out=d)
        console.print(f"imported {study} ({rep.format}): {rep.summary()}", highlight=False)
        if rep.centers_created:
            console.print(f"centers created: {', '.join(rep.centers_created)}")
        for form, row, pid, reason, msg in rep.quarantine[:20]:
            console.print(f"  quarantined {form} row {row} ({pid or 'no patient id'}): {reason} — {msg}",
                          highlight=False, soft_wrap=True)
        if len(rep.quarantine) > 20:
            console.print(f"  … {len(rep.quarantine) - 20} more in {rep.quarantine_dir}")


@capture_app.command("import-redcap")
def import_redcap_(
    dictionary: Path = typer.Option(..., "--dictionary", help="The REDCap project's data dictionary CSV."),
    records: Path = typer.Option(..., "--records", help="Its flat raw record export (CSV, raw data)."),
    event_mapping: Optional[Path] = typer.Option(None, "--event-mapping", help="Instrument-event mapping CSV of a longitudinal project."),
    report: Optional[Path] = typer.Option(None, "--report", help="Folder for refused_records.csv (default: DIR/import_redcap)."),
    db: Optional[str] = _db_option(),
    data_dir: Optional[Path] = _dir_option(),
) -> None:
    """Move a REDCap project into capture: record ids, repeat instances and events kept; each record all or nothing."""
    with _django(data_dir, db) as d:
        from latc.capture.redcap_import import REFUSED_FILE, import_redcap

        out = report or d / "import_redcap"
        with console.status(f"importing {records.name} …"):
            rep = import_redcap(dictionary, records, event_mapping=event_mapping, user=None, out=out)
        console.print(f"imported {records.name}: {rep.summary()}", highlight=False)
        if rep.centers_created:
            console.print(f"centers created: {', '.join(rep.centers_created)}")
        for rec, problems in list(rep.refused.items())[:20]:
            console.print(f"  refused {rec}: {problems[0].text()}" + (f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""),
                          highlight=False, soft_wrap=True, markup=False)  # "[rule]" is text, not markup
        if rep.refused:
            console.print(f"  every problem: {out / REFUSED_FILE}; the refused rows are in capture's quarantine", highlight=False)


@capture_app.command("import-queries")
def import_queries_(
    queries: Path = typer.Argument(..., help="queries.csv written by `latc validate`."),
    db: Optional[str] = _db_option(),
    data_dir: Optional[Path] = _dir_option(),
) -> None:
    """Turn latc validate's query log into open queries on the matching records."""
    with _django(data_dir, db):
        from latc.capture.interchange import import_queries

        rep = import_queries(queries, user=None)
        console.print(rep.summary())
        for qid, pid, form, row, why in rep.unmatched[:20]:
            console.print(f"  no record for {qid or '?'} ({pid or '?'}, {form} row {row or '?'}): {why}", highlight=False)
        if len(rep.unmatched) > 20:
            console.print(f"  … {len(rep.unmatched) - 20} more")


@capture_app.command()
def export(
    out: Path = typer.Option(..., "--out", "-o", help="Folder for study/ (CSV folder), redcap/ and export.json."),
    deidentified: bool = typer.Option(False, "--deidentified", help="Keyed pseudonyms for patient ids; free text and identifier fields blanked."),
    db: Optional[str] = _db_option(),
    data_dir: Optional[Path] = _dir_option(),
) -> None:
    """Export the study as the CSV folder `latc validate` and `latc run` read, plus a REDCap flat export."""
    with _django(data_dir, db):
        from latc.capture.interchange import export_study

        study = export_study(out, user=None, deidentified=deidentified)
        console.print(f"exported{' (de-identified)' if deidentified else ''} → {study} (REDCap: {out / 'redcap'}); "
                      f"next: latc run {study} --out RESULTS", highlight=False)


@capture_app.command("api-token")
def api_token(
    username: str = typer.Argument(..., help="The account the token acts as (same role and centers)."),
    label: str = typer.Option("", "--label", help="What the token is for (shown in the audit trail's count only)."),
    revoke: bool = typer.Option(False, "--revoke", help="Revoke every live token of the account instead."),
    db: Optional[str] = _db_option(),
    data_dir: Optional[Path] = _dir_option(),
) -> None:
    """Make (or revoke) a REDCap-style API token for an account; the token is printed once (docs/capture_api.md)."""
    with _django(data_dir, db):
        from django.contrib.auth import get_user_model

        from latc.capture.api.tokens import create_token, revoke_tokens

        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            _fail(f"no account {username!r} (latc capture createuser makes one)")
        if revoke:
            n = revoke_tokens(None, user)
            console.print(f"{n} API token(s) of {username} revoked", highlight=False)
            return
        token = create_token(None, user, label=label)
        console.print(f"API token of {username} (shown once; store it like a password):", highlight=False)
        print(token)


@capture_app.command("verify-audit")
def verify_audit(
    db: Optional[str] = _db_option(),
    data_dir: Optional[Path] = _dir_option(),
) -> None:
    """Recompute the audit trail's hash chain and replay it against the stored records; exit 1 naming
    the first broken link or the records changed outside the application."""
    with _django(data_dir, db):
        from latc.capture.audit import verify_chain, verify_records

        r = verify_chain()
        if not r.ok:
            _fail(r.message(), code=1)
        console.print(r.message(), highlight=False)
        rc = verify_records()
        if not rc.ok:
            _fail(rc.message(), code=1)
        console.print(rc.message(), highlight=False)


@capture_app.command()
def backup(
    out: Path = typer.Option(..., "--out", "-o", help="The backup file to write (gzip; mode 0600)."),
    db: Optional[str] = _db_option(),
    data_dir: Optional[Path] = _dir_option(),
) -> None:
    """A portable, checksummed copy of the whole capture database (restores into SQLite or PostgreSQL)."""
    with _django(data_dir, db):
        from latc.capture.backup import backup as make_backup

        m = make_backup(out)
        head = m["audit_head"]
        console.print(f"backup → {out}: {sum(m['counts'].values()):,} rows; audit head #{head['seq']} {head['hash']}; "
                      f"sha256 {m['sha256']}", highlight=False)


@capture_app.command()
def restore(
    backup_file: Path = typer.Argument(..., help="A file written by `latc capture backup`."),
    db: Optional[str] = _db_option(),
    data_dir: Optional[Path] = _dir_option(),
) -> None:
    """Restore a backup into an empty database made by `latc capture init`; the audit chain is re-verified."""
    with _django(data_dir, db):
        from latc.capture.backup import restore as do_restore

        m = do_restore(backup_file)
        head = m["audit_head"]
        console.print(f"restored {backup_file}: {sum(m['counts'].values()):,} rows; audit chain verified, head "
                      f"#{head['seq']} {head['hash']}", highlight=False)


@capture_app.command()
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (loopback unless --public)."),
    port: int = typer.Option(8000, "--port", help="Port."),
    public: bool = typer.Option(False, "--public", help="Allow a non-loopback address (only behind a TLS reverse proxy)."),
    threads: int = typer.Option(8, "--threads", min=1, help="Worker threads of the WSGI server (per worker process); "
                                "with --workers N > 1, 1 runs gunicorn's sync worker (recommended: two per core)."),
    workers: int = typer.Option(1, "--workers", min=1, max=64, help="Worker processes (gunicorn, POSIX only). "
                                "Python runs one thread at a time per process: use about one per CPU core."),
    allowed_host: List[str] = typer.Option([], "--allowed-host", help="Host name the TLS proxy forwards "
                                           "(e.g. capture.example.org; repeatable; also $LATC_CAPTURE_HOSTS, comma-separated)."),
    log_format: Optional[str] = typer.Option(None, "--log-format", help="text (default) or json: one JSON object "
                                             "per line on stderr, for log shipping (also $LATC_CAPTURE_LOG_FORMAT)."),
    db: Optional[str] = _db_option(),
    data_dir: Optional[Path] = _dir_option(),
) -> None:
    """Serve the web forms: waitress (one process, also on Windows) or, with --workers N > 1,
    gunicorn's pre-forked worker processes (POSIX)."""
    _check_host(host, public)
    hosts = ["127.0.0.1", "localhost", "[::1]"] + ([host] if host not in LOOPBACK and host not in ("0.0.0.0", "::") else [])
    hosts += [h.strip() for h in [*allowed_host, *os.environ.get("LATC_CAPTURE_HOSTS", "").split(","),
                                  *os.environ.get("ALLOWED_HOSTS", "").split(",")] if h.strip()]
    if host in ("0.0.0.0", "::"):
        hosts = ["*"]
    if log_format:
        if log_format.lower() not in ("json", "text"):
            _fail(f"--log-format {log_format}: use json or text")
        os.environ["LATC_CAPTURE_LOG_FORMAT"] = log_format.lower()  # read by settings; inherited by gunicorn's workers
    with _django(data_dir, db, allowed_hosts=hosts):
        _serve(host, port, threads, workers)


def _check_host(host: str, public: bool) -> None:
    if host not in LOOPBACK and not public:
        _fail(f"--host {host} is not a loopback address: the server would be reachable from the network without TLS. "
              "Put it behind a TLS reverse proxy (docs/capture.md) and add --public")
    if host not in LOOPBACK:
        err_console.print("[bold yellow]warning:[/] serving on a non-loopback address: passwords and patient data "
                          "cross the network — only behind a TLS-terminating reverse proxy (docs/capture.md); "
                          "set LATC_CAPTURE_TLS=1 for secure cookies", highlight=False)


def wsgi_app():
    """The WSGI application ``serve`` runs: Django with /static/ served from the app folders (nginx
    serves it in production); a suspicious static path ('/static/..%2f..') is answered 400 and
    logged by Django's security logger, never a 500 with a traceback; a missing static file is a
    plain 404 (the site's 404 page needs the middleware a static request does not pass)."""
    from django.contrib.staticfiles.handlers import StaticFilesHandler
    from django.core.exceptions import SuspiciousOperation
    from django.core.handlers.exception import response_for_exception
    from django.core.wsgi import get_wsgi_application
    from django.http import Http404, HttpResponseNotFound

    class Static(StaticFilesHandler):
        def get_response(self, request):  # noqa: ANN001
            try:
                return self.serve(request)
            except Http404:
                return HttpResponseNotFound("not found", content_type="text/plain")
            except SuspiciousOperation as exc:
                return response_for_exception(request, exc)

    return Static(get_wsgi_application())


def warm_up() -> None:
    """Do once, before the first request, what every process would otherwise do on its first save:
    import pandas and the validation rules, load the dictionary, compile the page templates. With
    gunicorn it runs in the master process (``preload_app``), and the forked workers share it; the
    database is not touched."""
    from django.template.loader import get_template

    from latc.capture import services
    from latc.capture.validation import validate_casebook

    validate_casebook(services.dictionary(), {})
    folder = Path(__file__).parent / "web" / "templates" / "capture"
    for t in sorted(folder.glob("*.html")):
        get_template(f"capture/{t.name}")


def _serve(host: str, port: int, threads: int, workers: int = 1) -> None:
    from latc.capture.settings import behind_tls

    if workers > 1:
        _serve_gunicorn(host, port, threads, workers, behind_tls())
        return
    from waitress import serve as waitress_serve

    app = wsgi_app()
    warm_up()
    proxy = {}
    if behind_tls():
        # the TLS proxy on this machine: waitress takes the scheme and the client address from its
        # X-Forwarded-Proto / X-Forwarded-For (untrusted senders' X-Forwarded-* are dropped)
        proxy = dict(trusted_proxy="127.0.0.1", trusted_proxy_count=1,
                     trusted_proxy_headers={"x-forwarded-proto", "x-forwarded-for"}, clear_untrusted_proxy_headers=True)
    console.print(f"latc capture on http://{host if ':' not in host else '[' + host + ']'}:{port}/ (Ctrl-C stops)"
                  + (" — behind a TLS proxy (LATC_CAPTURE_TLS)" if proxy else ""), highlight=False)
    waitress_serve(app, host=host.strip("[]"), port=port, threads=threads, ident="latc-capture", **proxy)


def _serve_gunicorn(host: str, port: int, threads: int, workers: int, tls: bool) -> None:
    """gunicorn with ``workers`` pre-forked processes of ``threads`` threads each (``gthread``).

    Every state the processes share lives in the database (sessions, django-axes' failed-login
    counts, the audit chain's lock), so any worker may answer any request. Behind the TLS proxy
    the scheme comes from X-Forwarded-Proto sent by 127.0.0.1 only; the client address is read by
    the application itself (:func:`latc.capture.services.client_addr_of`)."""
    try:
        from gunicorn.app.base import BaseApplication
    except ImportError:  # Windows: gunicorn needs fork
        _fail("--workers needs gunicorn, which runs on POSIX systems only; on this system serve with one "
              "process (--threads) or run several `latc capture serve` behind the reverse proxy")
    from django.db import connections

    connections.close_all()  # no database connection may cross the fork
    bind = f"[{host.strip('[]')}]:{port}" if ":" in host else f"{host}:{port}"
    # one thread per process: gunicorn's sync worker, which takes a connection only when idle, so the
    # kernel hands each request to a free process (gthread keeps a keep-alive connection on the
    # process that accepted it, however busy; Python runs one of its threads at a time)
    options = {"bind": [bind], "workers": workers, "threads": threads,
               "worker_class": "sync" if threads == 1 else "gthread",
               "timeout": 120, "graceful_timeout": 20, "preload_app": True, "proc_name": "latc-capture", "accesslog": None,
               "errorlog": "-", "loglevel": "warning", "control_socket_disable": True,
               "forwarded_allow_ips": "127.0.0.1" if tls else "",
               "secure_scheme_headers": {"X-FORWARDED-PROTO": "https"} if tls else {}}

    class _App(BaseApplication):
        def load_config(self) -> None:
            for k, v in options.items():
                if k in self.cfg.settings:
                    self.cfg.set(k, v)

        def load(self):  # in the master process, before the workers fork (preload_app)
            app = wsgi_app()
            warm_up()
            connections.close_all()
            return app

    console.print(f"latc capture on http://{bind}/ — {workers} worker processes × {threads} threads (Ctrl-C stops)"
                  + (" — behind a TLS proxy (LATC_CAPTURE_TLS)" if tls else ""), highlight=False)
    _App().run()


@capture_app.command()
def demo(
    out: Path = typer.Option(..., "--out", "-o", help="Folder for the demo database, logins.txt and the synthetic study."),
    patients: int = typer.Option(60, "--patients", "-n", help="Synthetic patients to load."),
    centers: int = typer.Option(3, "--centers", "-k", help="Number of centers."),
    seed: int = typer.Option(20261125, "--seed", help="Seed of the synthetic cohort."),
    inject_errors: int = typer.Option(8, "--inject-errors", help="Planted data errors (become queries / quarantine)."),
    no_serve: bool = typer.Option(False, "--no-serve", help="Set up only; do not start the server."),
    port: int = typer.Option(8000, "--port", help="Port of the demo server (loopback only)."),
) -> None:
    """A ready-to-try capture: synthetic multicenter cohort imported into SQLite, one login per role
    and center (passwords printed once and written to OUT/logins.txt), then the server."""
    from latc.synth import write_synthetic_study

    if patients < 1 or centers < 1:
        _fail("--patients and --centers must be at least 1")
    out.mkdir(parents=True, exist_ok=True)
    if (out / "capture.sqlite3").exists():
        _fail(f"{out} already holds a capture database; choose a new folder or `latc capture serve --dir {out}`")
    with console.status(f"synthesising {patients} patients in {centers} centers …"):
        try:
            write_synthetic_study(out / "synthetic", n_patients=patients, n_centers=centers, seed=seed, fmt="csv",
                                  inject_errors=inject_errors)
        except ValueError as exc:
            _fail(str(exc))
    with _django(out, None, need_schema=False) as d:
        from latc.capture import services
        from latc.capture.interchange import import_study
        from latc.capture.models import Center, Role
        from latc.capture.settings import migrate

        migrate()
        _private_db_file()
        with console.status("importing the synthetic study …"):
            rep = import_study(out / "synthetic" / "study", user=None, out=d)
        console.print(f"imported: {rep.summary()}", highlight=False)
        codes = list(Center.objects.values_list("code", flat=True))
        logins = []
        with console.status("creating one login per role and center …"):
            for role in Role.values:
                scoped = role in (Role.SITE_ENTRY, Role.SITE_INVESTIGATOR, Role.MONITOR)
                for code in (codes if scoped else [None]):
                    name = role.replace("_", ".") + (f".{code.lower()}" if code else "")
                    pw = "".join(secrets.choice(_ALPHABET) for _ in range(16))
                    services.create_user(None, name, pw, role, [code] if code else [],
                                         display_name=f"Demo {Role(role).label}{' ' + code if code else ''}")
                    logins.append((name, role, code or "all" if role == Role.DATA_MANAGER else (code or "-"), pw))
        text = "username\trole\tcenter\tpassword\n" + "".join(f"{u}\t{r}\t{c}\t{p}\n" for u, r, c, p in logins)
        path = out / "logins.txt"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(path, 0o600)
        console.print("logins (shown once; also in " + str(path) + ", readable by you only):", highlight=False)
        for u, r, c, p in logins:
            console.print(f"  {u:<28} {r:<18} {c:<5} {p}", highlight=False)
        if no_serve:
            console.print(f"start it with: latc capture serve --dir {out}", highlight=False)
            return
        _serve("127.0.0.1", port, 8)
