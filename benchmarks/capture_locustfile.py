"""Locust user of ``benchmarks/bench_capture.py``: a research nurse entering new patients.

Each simulated user logs in with its own site-entry account, then loops: create a patient, fill
the patients form, the eligibility form, the diagnosis form and two lab results (each page
fetched first, as a browser does, then — after the user's think time, the nurse typing — posted
with its CSRF token and ``base_version``). A save is *acknowledged* when the
server answers with the redirect to the saved record; acknowledged saves are written to
``BENCH_ACK`` (JSON lines) so the driver can check afterwards that each one is in the database and
in the audit chain. Configuration comes from the driver through environment variables.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import threading

from locust import HttpUser, between, events, task

ACCOUNTS = json.loads(open(os.environ["BENCH_ACCOUNTS"]).read())
CASEBOOKS = json.loads(open(os.environ["BENCH_TEMPLATES"]).read())  # [{"patients": row, "eligibility": row, "diagnosis": row, "labs": [rows]}]
ACK_PATH = os.environ["BENCH_ACK"]
_next_account = itertools.count()
_ack_lock = threading.Lock()
_acks: list[dict] = []
SAVED = re.compile(r"/patients/(?P<pid>[^/]+)/(?P<form>[a-z_]+)/(?P<instance>\d+)/$")


@events.quitting.add_listener
def _write_acks(environment, **kwargs):  # noqa: ANN001
    with open(ACK_PATH, "w") as fh:
        for a in _acks:
            fh.write(json.dumps(a) + "\n")


class Nurse(HttpUser):
    # seconds between pages: BENCH_THINK "min,max" (the driver's --think; 5-15 s is a nurse typing a
    # form, 0.5-1.5 s a stress test far beyond what people do). Taken before every post (filling the
    # page just fetched) and between patients; BENCH_THINK_PER_PAGE=0: only between patients (the
    # load model of the first runs: a whole casebook posted in a burst)
    wait_time = between(*map(float, os.environ.get("BENCH_THINK", "0.5,1.5").split(",")))
    per_page = os.environ.get("BENCH_THINK_PER_PAGE", "1") != "0"

    def on_start(self) -> None:
        k = next(_next_account)
        self.account = ACCOUNTS[k % len(ACCOUNTS)]
        self.seq = itertools.count(1)
        self.uid = k
        self.client.get("/login/", name="login page")
        r = self.client.post("/login/", data={"username": self.account["username"], "password": self.account["password"],
                                              "csrfmiddlewaretoken": self._csrf()}, name="login", allow_redirects=False)
        if r.status_code != 302:
            raise RuntimeError(f"login failed for {self.account['username']}: {r.status_code}")

    def _csrf(self) -> str:
        return self.client.cookies.get("csrftoken", "")

    def _post_form(self, url: str, form: str, row: dict, name: str) -> str | None:
        page = self.client.get(url, name=f"{name} page")
        m = re.search(r'name="base_version" value="(\d*)"', page.text)
        data = {f"f-{k}": v for k, v in row.items() if k not in ("patient_id", "center_id")}
        data.update({"csrfmiddlewaretoken": self._csrf(), "base_version": m.group(1) if m else "", "status": "complete"})
        if self.per_page:
            self.wait()  # the nurse fills the page
        with self.client.post(url, data=data, name=name, allow_redirects=False, catch_response=True) as r:
            loc = r.headers.get("Location", "")
            hit = SAVED.search(loc) if r.status_code == 302 else None
            if hit is None:
                r.failure(f"{form}: not saved (HTTP {r.status_code})")
                return None
            r.success()
            with _ack_lock:
                _acks.append({"patient_id": hit["pid"], "form": hit["form"], "instance": int(hit["instance"]),
                              "user": self.account["username"]})
            return hit["pid"]

    @task
    def enter_patient(self) -> None:
        center = self.account["center"]
        pid = f"{center}-{500000 + self.uid * 2000 + next(self.seq)}"
        with self.client.post("/patients/new/", data={"patient_id": pid, "center": center, "csrfmiddlewaretoken": self._csrf()},
                              name="create patient", allow_redirects=False, catch_response=True) as r:
            if r.status_code != 302:
                r.failure(f"patient not created (HTTP {r.status_code})")
                return
            r.success()
            with _ack_lock:
                _acks.append({"patient_id": pid, "form": None, "instance": None, "user": self.account["username"]})
        book = CASEBOOKS[(self.uid * 7919 + next(self.seq)) % len(CASEBOOKS)]  # one synthetic patient's rows
        for form in ("patients", "eligibility", "diagnosis"):
            self._post_form(f"/patients/{pid}/{form}/1/", form, book[form], f"save {form}")
        for row in book["labs"][:2]:
            self._post_form(f"/patients/{pid}/labs/new/", "labs", row, "save lab")
