"""Access matrix of the capture web UI, generated from the URL list.

Every named route of ``latc.capture.web.urls`` must appear in ``TABLE`` below (a route missing
from it fails the test), and every view must carry an access rule (``view.access``). For each route,
each role (and an anonymous visitor) and each scope (the user's own center C01 / another center C02,
for routes that address a patient or a query), GET and POST are both tried and the status must be
the one in the table:

* ``200`` / ``302`` allowed (a page, or a redirect after an action / an invalid empty form);
* ``403`` the role may not; ``404`` the object does not exist *for this user* (another center's
  patient or query, or a role without patient pages) — direct id/URL manipulation included;
* ``LOGIN`` a redirect to the log-in page (anonymous); ``405`` the method is not accepted.

POST bodies are empty (or name an action with nothing filled in), so an allowed POST re-shows its
form or redirects without changing data that a later request depends on.
"""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from _capture_web import ROLES, named_routes, route_kwargs, seed_web  # noqa: E402

LOGIN = "login"
OK = (200, 302)  # allowed; the exact outcome depends on the (empty) form: re-shown or saved
ANON, SE, SI, MON, DM, STAT, ADM = "anon", "site_entry", "site_investigator", "monitor", "data_manager", "statistician", "admin"
COLS = (ANON, SE, SI, MON, DM, STAT, ADM)


@pytest.fixture(autouse=True)
def _web_templates(capture_settings):
    from _capture_web import ensure_web_templates

    ensure_web_templates()


def row(*codes):
    assert len(codes) == len(COLS)
    return dict(zip(COLS, codes))


def same(code, anon=LOGIN):
    return row(anon, code, code, code, code, code, code)


N405 = same(405, anon=405)
# patient pages: site roles, monitor and data manager see their centers' patients; statistician
# and admin have no patient pages at all (404: no patient exists for them)
VIEW_OWN = row(LOGIN, 200, 200, 200, 200, 404, 404)
VIEW_OTHER = row(LOGIN, 404, 404, 404, 200, 404, 404)

# route → method → scope ("own" / "other", or "-" for routes without an object) → role → status
TABLE: dict[str, dict[str, dict[str, dict[str, object]]]] = {
    "login": {"GET": {"-": row(200, 302, 302, 302, 302, 302, 302)},
              "POST": {"-": row(200, 200, 200, 200, 200, 200, 200)}},
    "logout": {"GET": {"-": N405}, "POST": {"-": same(302, anon=302)}},
    # public: the log-in page's switch sets a cookie only (a member's choice is saved and audited)
    "set_language": {"GET": {"-": N405}, "POST": {"-": same(302, anon=302)}},
    "otp_verify": {"GET": {"-": same(302)}, "POST": {"-": same(302)}},
    "otp_setup": {"GET": {"-": same(200)}, "POST": {"-": same(200)}},
    "home": {"GET": {"-": same(200)}, "POST": {"-": N405}},
    "patient_new": {"GET": {"-": row(LOGIN, 200, 200, 403, 403, 403, 403)},
                    "POST": {"-": row(LOGIN, 200, 200, 403, 403, 403, 403)}},
    "patient": {"GET": {"own": VIEW_OWN, "other": VIEW_OTHER}, "POST": {"own": N405, "other": N405}},
    "sign": {"GET": {"own": row(LOGIN, 403, 200, 403, 403, 404, 404), "other": row(LOGIN, 404, 404, 404, 403, 404, 404)},
             "POST": {"own": row(LOGIN, 403, 200, 403, 403, 404, 404), "other": row(LOGIN, 404, 404, 404, 403, 404, 404)}},
    "lock": {"GET": {"own": row(LOGIN, 403, 403, 403, 200, 404, 404), "other": row(LOGIN, 404, 404, 404, 200, 404, 404)},
             "POST": {"own": row(LOGIN, 403, 403, 403, 200, 404, 404), "other": row(LOGIN, 404, 404, 404, 200, 404, 404)}},
    "unlock": {"GET": {"own": row(LOGIN, 403, 403, 403, 200, 404, 404), "other": row(LOGIN, 404, 404, 404, 200, 404, 404)},
               "POST": {"own": row(LOGIN, 403, 403, 403, 200, 404, 404), "other": row(LOGIN, 404, 404, 404, 200, 404, 404)}},
    "record_new": {"GET": {"own": row(LOGIN, 200, 200, 403, 403, 404, 404), "other": row(LOGIN, 404, 404, 404, 403, 404, 404)},
                   "POST": {"own": row(LOGIN, OK, OK, 403, 403, 404, 404), "other": row(LOGIN, 404, 404, 404, 403, 404, 404)}},
    "record": {"GET": {"own": VIEW_OWN, "other": VIEW_OTHER},
               "POST": {"own": row(LOGIN, 200, 200, 403, 403, 404, 404), "other": row(LOGIN, 404, 404, 404, 403, 404, 404)}},
    "record_delete": {"GET": {"own": N405, "other": N405},
                      "POST": {"own": row(LOGIN, 302, 302, 403, 403, 404, 404), "other": row(LOGIN, 404, 404, 404, 403, 404, 404)}},
    "record_verify": {"GET": {"own": N405, "other": N405},
                      "POST": {"own": row(LOGIN, 403, 403, 302, 403, 404, 404), "other": row(LOGIN, 404, 404, 404, 403, 404, 404)}},
    "query_open": {"GET": {"own": N405, "other": N405},
                   "POST": {"own": row(LOGIN, 403, 403, 302, 302, 404, 404), "other": row(LOGIN, 404, 404, 404, 302, 404, 404)}},
    "field_history": {"GET": {"own": VIEW_OWN, "other": VIEW_OTHER}, "POST": {"own": N405, "other": N405}},
    "queries": {"GET": {"-": row(LOGIN, 200, 200, 200, 200, 403, 403)}, "POST": {"-": N405}},
    # a role without patient pages is refused before the lookup (403); a C01 user asking for a C02
    # query by its number gets 404 (it does not exist for them)
    "query": {"GET": {"own": row(LOGIN, 200, 200, 200, 200, 403, 403), "other": row(LOGIN, 404, 404, 404, 200, 403, 403)},
              "POST": {"own": row(LOGIN, 200, 200, 403, 403, 404, 404), "other": row(LOGIN, 404, 404, 404, 403, 404, 404)}},
    "export": {"GET": {"-": row(LOGIN, 403, 403, 403, 200, 200, 403)}, "POST": {"-": row(LOGIN, 403, 403, 403, 200, 200, 403)}},
    "audit": {"GET": {"-": row(LOGIN, 403, 403, 403, 200, 403, 200)}, "POST": {"-": N405}},
    "users": {"GET": {"-": row(LOGIN, 403, 403, 403, 403, 403, 200)}, "POST": {"-": N405}},
    "user_new": {"GET": {"-": row(LOGIN, 403, 403, 403, 403, 403, 200)}, "POST": {"-": row(LOGIN, 403, 403, 403, 403, 403, 200)}},
    "user_edit": {"GET": {"-": row(LOGIN, 403, 403, 403, 403, 403, 200)}, "POST": {"-": row(LOGIN, 403, 403, 403, 403, 403, 200)}},
    "static": {"GET": {"-": same(200, anon=200)}, "POST": {"-": N405}},
    # the REDCap-compatible API answers to a token only: a logged-in session without one is 403
    # (the API's own matrix: tests/test_capture_api_access.py)
    "api": {"GET": {"-": N405}, "POST": {"-": same(403, anon=403)}},
    "health": {"GET": {"-": same(200, anon=200)}, "POST": {"-": N405}},
}

#: POST bodies: an action with nothing filled in (never a complete, state-changing form)
POST_DATA = {"query": {"action": "answer"},
             # the version the seeded diagnosis record is at (a POST without it is a conflict: 409)
             "record": {"base_version": "1"}}


def test_every_route_is_in_the_table_and_every_view_has_a_rule(capture_db):
    routes = named_routes()
    missing = sorted(set(routes) - set(TABLE))
    assert not missing, f"routes without an access expectation in TABLE: {missing}"
    stale = sorted(set(TABLE) - set(routes))
    assert not stale, f"TABLE names routes that no longer exist: {stale}"
    for name, p in routes.items():
        assert hasattr(p.callback, "access"), f"view of route {name!r} has no access rule (@rule)"
        methods = p.callback.access.methods
        for method in ("GET", "POST"):
            assert method in TABLE[name], f"{name}: no {method} expectation"
            if method not in methods:
                cells = TABLE[name][method]
                assert all(v == 405 for c in cells.values() for v in c.values()), f"{name} {method} must be 405"


def test_access_matrix(capture_db, capture_users):
    from django.test import Client
    from django.urls import reverse

    data = seed_web(capture_users)
    routes = named_routes()
    failures, checked = [], 0
    for role in (ANON,) + ROLES:
        client = Client()
        for name in sorted(routes):
            for method, scopes in TABLE[name].items():
                for scope, expect_by_role in scopes.items():
                    if role == ANON:
                        client.logout()
                    else:
                        client.force_login(capture_users[role])
                    url = reverse(name, kwargs=route_kwargs(name, scope, data))
                    if method == "GET":
                        resp = client.get(url)
                    else:
                        resp = client.post(url, POST_DATA.get(name, {}))
                    got = resp.status_code
                    want = expect_by_role[role]
                    checked += 1
                    if want == LOGIN:
                        ok = got == 302 and resp["Location"].startswith("/login/")
                    elif isinstance(want, tuple):
                        ok = got in want
                    else:
                        ok = got == want
                    if not ok:
                        failures.append(f"{role:17} {method:4} {name:14} {scope:5} {url}: got {got}"
                                        f"{' → ' + resp['Location'] if got == 302 else ''}, want {want}")
    assert checked > 300
    assert not failures, f"{len(failures)} of {checked} access checks failed:\n" + "\n".join(failures)


def test_other_center_objects_never_leak_in_pages(capture_db, capture_users):
    """Lists and dashboards of a C01 user never name a C02 patient, whatever the filter says."""
    from django.test import Client

    data = seed_web(capture_users)
    other = data["other"]["pid"]
    for role in (SE, SI, MON):
        c = Client()
        c.force_login(capture_users[role])
        for url in ("/", "/?center=C02", f"/?q={other}", "/queries/", "/queries/?status=all&center=C02",
                    f"/queries/?patient={other}"):
            resp = c.get(url)
            assert resp.status_code == 200, (role, url)
            # (the search box echoes what was typed; a patient shows as a link to its casebook)
            assert f"/patients/{other}/" not in resp.content.decode(), f"{role} sees {other} on {url}"
        # the dashboard filtered on another center says it is not theirs (it said "No patients yet
        # in C02. Create the first one.", which is false and invited creating patients there)
        page = c.get("/?center=C02").content.decode()
        assert "C02 is not one of your centers" in page and "No patients yet in C02" not in page
    dm = Client()
    dm.force_login(capture_users[DM])
    assert f"/patients/{other}/" in dm.get("/").content.decode()
    assert f"/patients/{other}/" in dm.get("/queries/?status=all").content.decode()


def test_expired_or_roleless_user_is_signed_out(capture_db, capture_users):
    from datetime import timedelta

    from django.test import Client
    from django.utils import timezone

    seed_web(capture_users)
    user = capture_users[SE]
    c = Client()
    c.force_login(user)
    assert c.get("/").status_code == 200
    m = user.membership
    m.expires_at = timezone.now() - timedelta(minutes=1)
    m.save()
    user.__dict__.pop("_latc_membership", None)
    resp = c.get("/")
    assert resp.status_code == 302 and resp["Location"].startswith("/login/")
    # signed out: the session no longer authenticates
    assert c.get("/queries/")["Location"].startswith("/login/")
