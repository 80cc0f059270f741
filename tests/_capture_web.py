"""Shared set-up of the capture web tests (tests/test_capture_web_*.py): a little data in two
centers, created through the core services as the web would create it."""

from __future__ import annotations

ROLES = ("site_entry", "site_investigator", "monitor", "data_manager", "statistician", "admin")

#: a valid, complete-enough diagnosis record (the branching field distant_metastasis_sites is
#: asked only when cm == 'M1')
DIAGNOSIS = {"histology": "ptc", "diagnosis_basis": "histology", "primary_size_mm": "42", "ct": "T4a",
             "cn": "N1b", "cm": "M0"}


def seed_web(users) -> dict:
    """Patients C01-0001 (center C01) and C02-0001 (C02), each with a diagnosis record and a
    query opened by the data manager on its histology field."""
    from latc.capture import services

    ensure_web_templates()
    dm = users["data_manager"]
    out = {}
    for scope, maker, pid, center in (("own", users["site_entry"], "C01-0001", "C01"),
                                      ("other", users["site_entry_c02"], "C02-0001", "C02")):
        p = services.create_patient(maker, pid, center)
        res = services.save_record(maker, p, "diagnosis", 1, DIAGNOSIS, base_version=None)
        assert res.saved, res.errors
        q = services.open_query(dm, res.record, "histology", "Please confirm the histology against the report.")
        out[scope] = {"pid": pid, "patient": p, "record": res.record, "query": q.pk}
    out["target_user"] = users["statistician"].pk
    return out


def ensure_web_templates() -> None:
    """Until the settings install ``latc.capture.web`` (CONTRACT.md "Requests from web" 1), point
    the template engine at the web UI's templates so the pages render."""
    from pathlib import Path

    from django.apps import apps
    from django.template import engines

    if apps.is_installed("latc.capture.web"):
        return
    import latc.capture.web as web

    d = str(Path(web.__file__).resolve().parent / "templates")
    eng = engines["django"].engine
    if d not in eng.dirs:
        eng.dirs = [*eng.dirs, d]
        for loader in eng.template_loaders:
            if hasattr(loader, "reset"):
                loader.reset()


def named_routes() -> dict:
    """Every named route of the capture URLconf (walked recursively): name → URLPattern."""
    from django.urls import URLPattern, URLResolver, get_resolver

    out = {}

    def walk(patterns, prefix=""):
        for p in patterns:
            if isinstance(p, URLResolver):
                walk(p.url_patterns, prefix + str(p.pattern))
            elif isinstance(p, URLPattern):
                assert p.name, f"route {prefix}{p.pattern} has no name: every route needs one (and a row in TABLE)"
                out[p.name] = p

    walk(get_resolver().url_patterns)
    return out


def route_kwargs(name: str, scope: str, data: dict) -> dict:
    """URL arguments of a route for the own (C01) or other (C02) center's objects."""
    s = data[scope] if scope in ("own", "other") else None
    if name in ("patient", "sign", "lock", "unlock"):
        return {"pid": s["pid"]}
    if name == "record_new":
        return {"pid": s["pid"], "form": "treatments"}
    if name in ("record", "record_delete", "record_verify", "query_open"):
        return {"pid": s["pid"], "form": "diagnosis", "instance": 1}
    if name == "field_history":
        return {"pid": s["pid"], "form": "diagnosis", "instance": 1, "field": "histology"}
    if name == "query":
        return {"pk": s["query"]}
    if name == "user_edit":
        return {"pk": data["target_user"]}
    if name == "static":
        return {"path": "capture/capture.js"}
    return {}
