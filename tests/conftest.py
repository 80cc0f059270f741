"""Shared test set-up."""

# latc first: its import points numba's on-disk cache (NUMBA_CACHE_DIR) at the user cache folder before
# any test module imports scanpy / decoupler / squidpy, whose numba functions pick the cache place
# when they are decorated (otherwise *.nbi/*.nbc land in the installed packages' folders).
import latc  # noqa: F401


# -- latc capture (Django): a fresh, migrated database per test, SQLite and PostgreSQL ------------
# Django is imported only when a capture fixture is used, so the rest of the suite stays Django-free.
import os as _os
import shutil as _shutil
from dataclasses import dataclass as _dataclass
from itertools import count as _count

import pytest as _pytest


@_dataclass(frozen=True)
class CaptureDB:
    vendor: str  # "sqlite" or "postgresql"
    url: str
    name: str


_capture_seq = _count(1)


@_pytest.fixture(scope="session")
def capture_settings(tmp_path_factory):
    """Django configured for the capture app (once per session); the capture data folder."""
    from latc.capture import settings as cs

    d = tmp_path_factory.mktemp("capture_settings")
    cs.configure_for_tests(d)
    return d


@_pytest.fixture(scope="session")
def _capture_sqlite_template(capture_settings, tmp_path_factory):
    from latc.capture import settings as cs

    path = tmp_path_factory.mktemp("capture_tpl") / "template.sqlite3"
    cs.switch_database(f"sqlite:///{path}")
    cs.migrate()
    from django.db import connections

    connections.close_all()
    for suffix in ("-wal", "-shm"):
        p = path.with_name(path.name + suffix)
        if p.exists():
            p.unlink()
    return path


@_pytest.fixture(scope="session")
def _capture_pg_template(capture_settings):
    from latc.capture import settings as cs

    why = cs.postgres_reachable()
    if why:
        _pytest.skip(why)
    name = f"latc_capture_test_{_os.getpid()}_tpl"
    url = cs.create_postgres_database(name)
    cs.switch_database(url)
    cs.migrate()
    from django.db import connections

    connections.close_all()
    yield name
    connections.close_all()
    cs.drop_postgres_database(name)


@_pytest.fixture(params=["sqlite", "postgresql"])
def capture_db(request, capture_settings, tmp_path):
    """A fresh migrated capture database as Django's default connection (one per test):
    SQLite always; PostgreSQL when a server is reachable (skipped with the reason otherwise)."""
    from django.db import connections

    from latc.capture import services
    from latc.capture import settings as cs

    services.dictionary.cache_clear()
    if request.param == "sqlite":
        tpl = request.getfixturevalue("_capture_sqlite_template")
        path = tmp_path / "capture.sqlite3"
        _shutil.copyfile(tpl, path)
        url = f"sqlite:///{path}"
        cs.switch_database(url)
        yield CaptureDB("sqlite", url, str(path))
        connections.close_all()
    else:
        tpl = request.getfixturevalue("_capture_pg_template")
        name = f"latc_capture_test_{_os.getpid()}_{next(_capture_seq)}"
        url = cs.create_postgres_database(name, template=tpl)
        cs.switch_database(url)
        yield CaptureDB("postgresql", url, name)
        connections.close_all()
        cs.drop_postgres_database(name)


@_pytest.fixture
def capture_sqlite_db(request, capture_settings, tmp_path):
    """Like capture_db, SQLite only (for tests whose subject is not the database)."""
    from django.db import connections

    from latc.capture import settings as cs

    tpl = request.getfixturevalue("_capture_sqlite_template")
    path = tmp_path / "capture.sqlite3"
    _shutil.copyfile(tpl, path)
    url = f"sqlite:///{path}"
    cs.switch_database(url)
    yield CaptureDB("sqlite", url, str(path))
    connections.close_all()


CAPTURE_TEST_PASSWORD = "Lenvatinib-2024-neck"


def _make_capture_users():
    from latc.capture import services
    from latc.capture.models import Role

    for code, name in (("C01", "Center one"), ("C02", "Center two")):
        services.create_center(None, code, name)
    users = {}
    for role in Role.values:
        centers = ["C01"] if role in ("site_entry", "site_investigator", "monitor") else []
        users[role] = services.create_user(None, role.replace("_", "."), CAPTURE_TEST_PASSWORD, role, centers,
                                           display_name=f"{role} user")
    # the same site roles at the other center, to check that centers do not see each other
    users["site_entry_c02"] = services.create_user(None, "site.entry.c02", CAPTURE_TEST_PASSWORD, "site_entry", ["C02"])
    users["monitor_c02"] = services.create_user(None, "monitor.c02", CAPTURE_TEST_PASSWORD, "monitor", ["C02"])
    return users


@_pytest.fixture
def capture_users(capture_db):
    """Centers C01 and C02; one user per role (site roles and monitor at C01) plus
    ``site_entry_c02`` and ``monitor_c02``; every password is CAPTURE_TEST_PASSWORD."""
    return _make_capture_users()


@_pytest.fixture
def capture_sqlite_users(capture_sqlite_db):
    return _make_capture_users()
