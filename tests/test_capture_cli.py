"""latc capture commands in a fresh process each (exit codes, one-line errors, no tracebacks):
init, add-center, createuser, import, import-queries, export, verify-audit (and a tampered trail),
serve's refusal of a public address."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

import pytest

pytest.importorskip("django")

PASSWORD = "Lenvatinib-2024-neck"


def latc(*args, timeout=300, env=None):
    e = {**os.environ, **(env or {})}
    e.pop("LATC_CAPTURE_DB", None)
    p = subprocess.run([sys.executable, "-m", "latc.cli", "capture", *map(str, args)], capture_output=True, text=True,
                       timeout=timeout, env=e)
    assert "Traceback" not in p.stderr + p.stdout, p.stderr
    return p


@pytest.fixture(scope="module")
def small_study(tmp_path_factory):
    from latc.synth import write_synthetic_study

    out = tmp_path_factory.mktemp("capture_cli_synth")
    write_synthetic_study(out, n_patients=12, n_centers=2, seed=3, fmt="csv", inject_errors=4)
    return out / "study"


def test_cli_end_to_end_and_tamper(tmp_path, small_study):
    d = tmp_path / "cap"
    pw = tmp_path / "pw.txt"
    pw.write_text(PASSWORD + "\n")
    p = latc("verify-audit", "--dir", d)
    assert p.returncode == 2 and "latc capture init" in p.stderr
    p = latc("init", "--dir", d)
    assert p.returncode == 0, p.stderr
    assert (d / "capture.sqlite3").is_file() and oct((d / "secret_key").stat().st_mode & 0o777) == "0o600"
    assert latc("add-center", "C01", "--name", "Center one", "--dir", d).returncode == 0
    p = latc("createuser", "nurse", "--role", "site_entry", "--center", "C01", "--password-file", pw,
             "--expires", "2031-12-31", "--dir", d)
    assert p.returncode == 0, p.stderr
    p = latc("createuser", "nurse2", "--role", "site_entry", "--center", "C77", "--password-file", pw, "--dir", d)
    assert p.returncode == 2 and "unknown center" in p.stderr and len(p.stderr.strip().splitlines()) <= 2
    p = latc("createuser", "boss", "--role", "emperor", "--password-file", pw, "--dir", d)
    assert p.returncode == 2 and "unknown role" in p.stderr
    weak = tmp_path / "weak.txt"
    weak.write_text("12345\n")
    p = latc("createuser", "dm", "--role", "data_manager", "--password-file", weak, "--dir", d)
    assert p.returncode == 2 and "password refused" in p.stderr
    p = latc("import", small_study, "--dir", d)
    assert p.returncode == 0, p.stderr
    assert "12 patients" in p.stdout
    p = latc("import", tmp_path / "nothing-here", "--dir", d)
    assert p.returncode == 2 and "no such file or folder" in p.stderr
    p = latc("export", "--out", tmp_path / "exp", "--dir", d)
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "exp/study/patients.csv").read_text().count("\n") == 13
    subprocess.run([sys.executable, "-m", "latc.cli", "validate", tmp_path / "exp/study", "--out", tmp_path / "val"],
                   capture_output=True, timeout=300, check=True)
    p = latc("import-queries", tmp_path / "val/queries.csv", "--dir", d)
    assert p.returncode == 0 and "queries opened" in p.stdout, p.stderr
    p = latc("verify-audit", "--dir", d)
    assert p.returncode == 0 and "intact" in p.stdout, p.stderr
    # an attacker with the database file: drops the trigger, edits an entry
    con = sqlite3.connect(d / "capture.sqlite3")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        con.execute("UPDATE capture_auditentry SET new_value = 'x' WHERE seq = 7")
    con.execute("DROP TRIGGER capture_audit_no_update")
    con.execute("UPDATE capture_auditentry SET new_value = 'x' WHERE seq = 7")
    con.commit()
    con.close()
    p = latc("verify-audit", "--dir", d)
    assert p.returncode == 1 and "#7" in p.stderr and "BROKEN" in p.stderr


def test_serve_refuses_a_public_address_without_public(tmp_path):
    p = latc("serve", "--host", "0.0.0.0", "--dir", tmp_path, timeout=120)
    assert p.returncode == 2 and "TLS" in p.stderr


def test_cli_on_postgresql(tmp_path):
    from latc.capture import settings as cs

    why = cs.postgres_reachable()
    if why:
        pytest.skip(why)
    name = f"latc_capture_cli_{os.getpid()}"
    url = cs.create_postgres_database(name)
    try:
        pw = tmp_path / "pw.txt"
        pw.write_text(PASSWORD)
        assert latc("init", "--db", url, "--dir", tmp_path).returncode == 0
        p = latc("createuser", "admin1", "--role", "admin", "--password-file", pw, "--dir", tmp_path,
                 env={"LATC_CAPTURE_DB": url})  # the env var is dropped by latc(); --db needed
        assert p.returncode == 2  # the SQLite default in --dir was never initialised
        p = latc("createuser", "admin1", "--role", "admin", "--password-file", pw, "--db", url, "--dir", tmp_path)
        assert p.returncode == 0, p.stderr
        p = latc("verify-audit", "--db", url, "--dir", tmp_path)
        assert p.returncode == 0 and "1 entries" in p.stdout, p.stdout + p.stderr
    finally:
        cs.drop_postgres_database(name)
    p = latc("verify-audit", "--db", "postgresql://postgres@127.0.0.1:5432/latc_no_such_db_x", "--dir", tmp_path)
    assert p.returncode == 2 and "database error" in p.stderr


def test_demo_sets_up_logins_once(tmp_path):
    out = tmp_path / "demo"
    p = latc("demo", "--out", out, "--patients", "12", "--centers", "2", "--no-serve", timeout=600)
    assert p.returncode == 0, p.stderr
    logins = out / "logins.txt"
    assert oct(logins.stat().st_mode & 0o777) == "0o600"
    rows = [line.split("\t") for line in logins.read_text().splitlines()[1:]]
    # site entry, investigator and monitor per center; data manager, statistician, admin once
    assert sorted(r[0] for r in rows) == sorted(
        [f"{r}.c0{i}" for r in ("site.entry", "site.investigator", "monitor") for i in (1, 2)]
        + ["data.manager", "statistician", "admin"])
    for user, role, center, pw in rows:
        assert len(pw) == 16 and p.stdout.count(pw) == 1  # printed once
    assert oct((out / "capture.sqlite3").stat().st_mode & 0o777) == "0o600"
    again = latc("demo", "--out", out, "--no-serve")
    assert again.returncode == 2 and "already holds" in again.stderr
    v = latc("verify-audit", "--dir", out)
    assert v.returncode == 0 and "intact" in v.stdout


def test_served_app_answers_a_static_path_probe_with_400_not_500(capture_sqlite_db):
    # '/static/..%2f..%2fviews.py' makes Django's static handler raise SuspiciousFileOperation; the
    # application `latc capture serve` runs answers 400 (and logs it), serves real static files
    from django.test.client import RequestFactory

    from latc.capture.commands import wsgi_app

    app = wsgi_app()

    def call(path):
        status = []
        body = b"".join(app(RequestFactory()._base_environ(PATH_INFO=path, REQUEST_METHOD="GET"),
                            lambda s, h, *a: status.append(s)))
        return status[0], body

    status, body = call("/static/../../views.py")
    assert status.startswith("400"), status
    assert b"def " not in body
    status, body = call("/static/capture/capture.js")
    assert status.startswith("200") and b"function" in body
    status, body = call("/static/capture/no-such-file.js")  # was a 500: the 404 page needs request.user
    assert status.startswith("404"), status


@pytest.mark.parametrize("threads", [2, 1])
def test_serve_with_worker_processes_answers_and_keeps_one_audit_chain(tmp_path, threads):
    # `latc capture serve --workers 2` (gunicorn; --threads 1: its sync worker): the processes share
    # the database, so failed logins answered by either process land in one intact audit chain; a
    # real login checks the deployed password hasher (Argon2id, not the tests' MD5)
    import re
    import socket
    import subprocess
    import time
    import urllib.parse
    import urllib.request
    from http.cookiejar import CookieJar

    import pytest

    pytest.importorskip("gunicorn")
    data = tmp_path / "cap"
    assert latc("init", "--dir", data).returncode == 0
    pw = tmp_path / "pw.txt"
    pw.write_text(PASSWORD)
    assert latc("createuser", "dm1", "--role", "data_manager", "--password-file", pw, "--dir", data).returncode == 0
    with sqlite3.connect(data / "capture.sqlite3") as db:
        (stored,) = db.execute("select password from auth_user where username = 'dm1'").fetchone()
    assert stored.startswith("argon2$argon2id$")  # Django's Argon2PasswordHasher: argon2$argon2id$v=19$m=…
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "latc.cli", "capture", "serve", "--dir", str(data), "--port", str(port), "--workers", "2",
                             "--threads", str(threads)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/login/", timeout=2)
                break
            except OSError:
                time.sleep(0.2)
        jar = CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        for _ in range(4):  # several requests: more than one process answers
            page = opener.open(base + "/login/", timeout=10).read().decode()
            assert "csrfmiddlewaretoken" in page
            token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)[1]
            body = urllib.parse.urlencode({"username": "nobody.here", "password": "wrong", "csrfmiddlewaretoken": token})
            r = opener.open(urllib.request.Request(base + "/login/", data=body.encode(), headers={"Referer": base + "/login/"}),
                            timeout=10)
            assert r.status == 200  # the login page again, with its message
        page = opener.open(base + "/login/", timeout=10).read().decode()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)[1]
        body = urllib.parse.urlencode({"username": "dm1", "password": PASSWORD, "csrfmiddlewaretoken": token})
        home = opener.open(urllib.request.Request(base + "/login/", data=body.encode(), headers={"Referer": base + "/login/"}),
                           timeout=30).read().decode()
        assert "Log out</button>" in home and "Wrong username" not in home, home[:800]  # logged in
        assert urllib.request.urlopen(base + "/static/capture/capture.js", timeout=5).status == 200
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert f"2 worker processes × {threads} threads" in out
    v = latc("verify-audit", "--dir", data)
    assert v.returncode == 0 and "intact" in v.stdout, v.stdout + v.stderr
    n = re.search(r"intact: ([\d,]+) entries", v.stdout)
    assert n and int(n[1].replace(",", "")) >= 4  # four failed logins, one per request, from both processes
