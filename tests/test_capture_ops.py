"""Operations of `latc capture` (issue #13, items 4 and 5): backup and restore, /health, settings
from the environment, Django's deployment check, and rate limits with 429 answers."""

from __future__ import annotations

import gzip
import os
import secrets
import subprocess
import sys

import pytest

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def latc(*args, env=None, timeout=600):
    return subprocess.run([sys.executable, "-m", "latc.cli", "capture", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def small_study(tmp_path_factory):
    from latc.synth import write_synthetic_study

    out = tmp_path_factory.mktemp("ops_synth")
    write_synthetic_study(out, n_patients=10, n_centers=2, seed=3, fmt="csv", inject_errors=4)
    return out / "study"


def _targets(tmp_path):
    """Restore targets: a fresh SQLite database, and a fresh PostgreSQL one when a server answers."""
    from latc.capture.settings import create_postgres_database, drop_postgres_database, postgres_reachable

    out = [("sqlite", None, None)]
    if postgres_reachable() is None:
        name = f"latc_ops_{secrets.token_hex(4)}"
        drop_postgres_database(name)
        out.append(("postgresql", create_postgres_database(name), name))
    return out


def test_backup_wipe_restore_gives_the_same_chain_and_export(small_study, tmp_path):
    from latc.capture.settings import drop_postgres_database

    a = tmp_path / "A"
    assert latc("init", "--dir", a).returncode == 0
    assert latc("import", small_study, "--dir", a).returncode == 0
    p = latc("backup", "--out", tmp_path / "bk" / "capture.backup", "--dir", a)
    assert p.returncode == 0, p.stderr
    bk = tmp_path / "bk" / "capture.backup"
    assert oct(bk.stat().st_mode & 0o777) == "0o600"
    head = latc("verify-audit", "--dir", a).stdout.splitlines()[0].split("head ")[-1]
    assert latc("export", "--out", tmp_path / "exp_A", "--dir", a).returncode == 0
    for vendor, url, name in _targets(tmp_path):
        d = tmp_path / f"B_{vendor}"
        db = ["--db", url] if url else []
        try:
            assert latc("init", "--dir", d, *db).returncode == 0
            p = latc("restore", bk, "--dir", d, *db)
            assert p.returncode == 0, p.stdout + p.stderr
            v = latc("verify-audit", "--dir", d, *db)
            assert v.returncode == 0 and v.stdout.splitlines()[0].endswith(head), v.stdout
            assert latc("export", "--out", tmp_path / f"exp_{vendor}", "--dir", d, *db).returncode == 0
            for sub in ("study", "redcap"):
                for f in sorted((tmp_path / "exp_A" / sub).iterdir()):
                    assert f.read_bytes() == (tmp_path / f"exp_{vendor}" / sub / f.name).read_bytes(), (vendor, f.name)
            again = latc("restore", bk, "--dir", d, *db)  # not into a database that holds a study
            assert again.returncode == 2 and "not empty" in again.stdout + again.stderr
        finally:
            if name:
                drop_postgres_database(name)
    # a changed byte in the data is refused before anything is written
    raw = gzip.decompress(bk.read_bytes())
    i = raw.index(b'"C01-')
    tampered = tmp_path / "tampered.backup"
    tampered.write_bytes(gzip.compress(raw[:i + 2] + b"9" + raw[i + 3:]))
    c = tmp_path / "C"
    assert latc("init", "--dir", c).returncode == 0
    p = latc("restore", tampered, "--dir", c)
    assert p.returncode == 2 and "checksum mismatch" in p.stdout + p.stderr
    assert len((p.stdout + p.stderr).strip().splitlines()) == 1


def test_health(capture_db, capture_users):
    from django.test import Client

    from latc.capture import services
    from latc.capture.models import AuditEntry

    services.create_patient(capture_users["site_entry"], "C01-0001", "C01")
    r = Client().get("/health")
    assert r.status_code == 200
    body = r.json()
    last = AuditEntry.objects.order_by("-seq").first()
    assert body["status"] == "ok" and body["migrations"] == "applied" and body["database"]["reachable"]
    assert body["audit"] == {"entries": AuditEntry.objects.count(), "head_seq": last.seq, "head_hash": last.entry_hash}
    assert "C01-0001" not in r.content.decode()
    assert Client().post("/health").status_code == 405


def test_settings_from_environment(tmp_path):
    db = tmp_path / "from_env.sqlite3"
    p = latc("init", "--dir", tmp_path / "d", env={"DATABASE_URL": f"sqlite:///{db}"})
    assert p.returncode == 0 and db.is_file() and not (tmp_path / "d" / "capture.sqlite3").exists()
    weak = latc("init", "--dir", tmp_path / "e", env={"SECRET_KEY": "changeme"})
    assert weak.returncode == 2 and "SECRET_KEY" in weak.stdout + weak.stderr
    key = secrets.token_urlsafe(60)
    code = ("import os; from pathlib import Path; from latc.capture.settings import build_settings;"
            f"s = build_settings(None, Path({str(tmp_path / 'f')!r})); print(s['SECRET_KEY'] == os.environ['SECRET_KEY'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, "SECRET_KEY": key})
    assert out.stdout.strip() == "True" and not (tmp_path / "f" / "secret_key").exists()


def test_check_deploy_passes_with_production_settings(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}  # a test-only switch
    code = ("from pathlib import Path; from latc.capture.settings import configure;"
            f"configure(None, Path({str(tmp_path)!r}), allowed_hosts=['capture.example.org'], tls=True);"
            "from django.core.management import call_command; call_command('check', deploy=True, fail_level='WARNING')")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env={**env, "SECRET_KEY": secrets.token_urlsafe(60)})
    assert p.returncode == 0, p.stderr[-2000:]
    assert "no issues" in p.stdout + p.stderr
    # without TLS the same check fails: the test would notice a setting gone missing
    code_plain = code.replace("tls=True", "tls=False")
    p = subprocess.run([sys.executable, "-c", code_plain], capture_output=True, text=True,
                       env={**env, "SECRET_KEY": secrets.token_urlsafe(60)})
    assert p.returncode != 0 and "SECURE_HSTS_SECONDS" in p.stderr


def test_login_and_api_rate_limits_answer_429(capture_db, capture_users):
    from django.test import Client, override_settings

    from latc.capture.api.tokens import create_token
    from latc.capture.models import AuditEntry

    with override_settings(LATC_RATE_LOGIN_ADDR=(3, 60)):
        c = Client()
        codes = [c.post("/login/", {"username": "nobody", "password": "x"}).status_code for _ in range(4)]
        assert codes[:3] == [200, 200, 200] and codes[3] == 429
        r = c.post("/login/", {"username": "site.entry", "password": "x"})
        assert r.status_code == 429 and int(r["Retry-After"]) >= 1 and b"log-in attempts" in r.content
    assert AuditEntry.objects.filter(action="login_rate_limited").count() == 2
    tok = create_token(None, capture_users["site_entry"])
    with override_settings(LATC_RATE_API_TOKEN=(2, 60)):
        c = Client()
        codes = [c.post("/api/", {"token": tok, "content": "version"}).status_code for _ in range(3)]
        assert codes == [200, 200, 429]
        r = c.post("/api/", {"token": tok, "content": "version"})
        assert r.status_code == 429 and "error" in r.json() and int(r["Retry-After"]) >= 1
    with override_settings(LATC_RATE_API_BAD_TOKEN=(2, 60)):
        c = Client()
        codes = [c.post("/api/", {"token": "F" * 32, "content": "version"}).status_code for _ in range(3)]
        assert codes == [403, 403, 429]


def test_rate_counter_is_exact_under_concurrency(capture_db):
    """Concurrent processes' requests never lose a count (one UPDATE … count + 1 per hit)."""
    import threading

    from django.db import connections

    from latc.capture import ratelimit
    from latc.capture.models import RateBucket

    if capture_db.vendor != "postgresql":
        pytest.skip("SQLite serialises writers anyway; the race is PostgreSQL's")
    now = 1_000_000.0

    def worker():
        for _ in range(10):
            ratelimit.hit("api_token", "same-token", now=now)
        connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert list(RateBucket.objects.values_list("count", flat=True)) == [40]


def test_json_log_lines_carry_no_identifiers(tmp_path):
    """`LATC_CAPTURE_LOG_FORMAT=json`: every stderr line of the server is one JSON object (UTC time,
    level, logger, message; the request's method, path without query, status, duration), and a phone
    number or e-mail address typed into a URL is masked."""
    import json

    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    code = ("from pathlib import Path; from latc.capture.settings import configure, migrate;"
            f"configure(None, Path({str(tmp_path)!r}), allowed_hosts=['testserver']); migrate();"
            "from django.test import Client; c = Client();"
            "c.get('/patients/0612345678/?q=jane.doe@example.org'); c.get('/login/?next=/x/0612345678');"
            "c.get('/health'); c.get('/static/..%2f..%2fjane.doe@example.org')")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env={**env, "LATC_CAPTURE_LOG_FORMAT": "json"}, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    lines = [json.loads(line) for line in p.stderr.splitlines() if line.strip()]
    reqs = [x for x in lines if x["logger"] == "latc.capture.request"]
    assert {x["path"] for x in reqs} >= {"/login/", "/health"}
    for x in lines:
        assert x["time"].endswith("+00:00") and x["level"] and x["message"] is not None
    for x in reqs:
        assert set(x) >= {"method", "path", "status", "duration_ms"} and "?" not in x["path"]
    assert any(x["status"] == 200 and x["path"] == "/health" for x in reqs)
    assert "0612345678" not in p.stderr and "jane.doe" not in p.stderr and "example.org" not in p.stderr
    bad = latc("serve", "--log-format", "xml", "--dir", tmp_path / "s")
    assert bad.returncode == 2 and "log-format" in bad.stderr


def test_json_formatter_masks_message_path_and_traceback():
    import io
    import json
    import logging

    from latc._logging import IdentifierFilter, JsonFormatter

    buf = io.StringIO()
    h = logging.StreamHandler(buf)
    h.addFilter(IdentifierFilter())
    h.setFormatter(JsonFormatter())
    log = logging.getLogger("latc.test_json_formatter")
    log.propagate = False
    log.addHandler(h)
    try:
        try:
            raise ValueError("patient jane.doe@example.org")
        except ValueError:
            log.exception("GET /patients/%s failed", "0612345678", extra={"path": "/p/0612345678", "status": 500})
    finally:
        log.removeHandler(h)
    rec = json.loads(buf.getvalue())
    assert rec["level"] == "ERROR" and rec["logger"] == "latc.test_json_formatter" and rec["status"] == 500
    assert "0612345678" not in buf.getvalue() and "jane.doe" not in buf.getvalue()
    assert "ValueError" in rec["exception"]


def test_allowed_hosts_and_log_format_from_environment(tmp_path, monkeypatch):
    from latc.capture.settings import build_settings

    monkeypatch.setenv("ALLOWED_HOSTS", "capture.example.org, backup.example.org")
    monkeypatch.setenv("LATC_CAPTURE_HOSTS", "other.example.org")
    monkeypatch.setenv("LATC_CAPTURE_LOG_FORMAT", "json")
    s = build_settings(None, tmp_path, allowed_hosts=["localhost"])
    assert s["ALLOWED_HOSTS"] == ["localhost", "other.example.org", "capture.example.org", "backup.example.org"]
    assert s["LOGGING"]["handlers"]["stderr"]["formatter"] == "json"
    monkeypatch.setenv("LATC_CAPTURE_LOG_FORMAT", "xml")
    with pytest.raises(ValueError, match="LATC_CAPTURE_LOG_FORMAT"):
        build_settings(None, tmp_path)
