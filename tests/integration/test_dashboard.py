#!/usr/bin/python3
"""test_dashboard.py — the dashboard end to end: a real cluster (`ipp
cluster start -n 2`), a workload (a DAG with a failing node, tasks on both
engines), the real ipp-dashboard process, real HTTP requests, and — with
--browser — Debian's chromium driven headless through chromedriver's
WebDriver protocol.

  test_dashboard.py api     IPP DASHBOARD ARTIFACTS
  test_dashboard.py browser IPP DASHBOARD ARTIFACTS

api: token refusals (403 without or with a wrong token, 200 with it, the
cookie after the first visit), JSON matching the database file, 400 with a
reason for bad parameters, 404 for unknown tasks, the event stream
delivering a task-done event, actions refused without --allow-actions and
without the CSRF token (and nothing changes), resubmit and abort with both.

browser: the pages rendered by the JS — the engines table filled, a task
submitted while the overview is open appearing without a reload, one
stream row per engine with a bar per task, the history filter finding
exactly its tasks, every DAG node with its state's class, the failing
task's error — and a screenshot of each page kept in ARTIFACTS. Exit 77
(a skip) only when the browser cannot start, saying why.

Every process started here is stopped by its pid at the end; every wait is
bounded by a deadline (no timing is asserted).
"""

import base64
import http.client
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

MODE, IPP, DASH, ARTIFACTS = sys.argv[1:5]
SKIP = 77
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def until(pred, timeout=30.0, step=0.1):
    """pred() until it is truthy or the deadline passes; its last value."""
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() > end:
            return v
        time.sleep(step)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Dash:
    """One ipp-dashboard process and requests to it."""

    def __init__(self, env, *args):
        self.p = subprocess.Popen([DASH, "--port", "0", *args], env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        line = self.p.stdout.readline()
        if "token=" not in line:
            raise SystemExit(f"ipp-dashboard did not print its URL: {line!r} "
                             f"{self.p.stderr.read() if self.p.poll() is not None else ''}")
        self.url = line.split()[-1]
        self.base = self.url.split("/?token=")[0]
        self.token = self.url.split("token=")[1]
        self.port = int(self.base.rsplit(":", 1)[1])

    def req(self, path, token=True, method="GET", headers=None, cookie=None):
        """(status, headers, body text) of one request."""
        h = dict(headers or {})
        if token is True:
            h["X-IPP-Token"] = self.token
        elif token:
            h["X-IPP-Token"] = token
        if cookie:
            h["Cookie"] = cookie
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        c.request(method, path, headers=h)
        r = c.getresponse()
        body = r.read().decode("utf-8", "replace")
        c.close()
        return r.status, r.headers, body

    def json(self, path, **kw):
        st, _, body = self.req(path, **kw)
        return st, (json.loads(body) if body.startswith(("{", "[")) else body)

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(30)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        err = self.p.stderr.read()
        return self.p.returncode, err


WORKFLOW = {
    "tasks": {
        "prepare": {"shell": "echo prepared"},
        "left": {"shell": "echo left", "after": ["prepare"]},
        "right": {"shell": "echo right", "after": ["prepare"]},
        "broken": {"shell": "echo boom-on-stderr >&2; exit 3", "after": ["left"]},
        "after-broken": {"shell": "echo never", "after": ["broken"]},
        "join": {"shell": "echo joined", "after": ["left", "right"]},
    }
}


def run(env, *args, check_rc=None):
    r = subprocess.run([IPP, *args], env=env, capture_output=True, text=True, timeout=120)
    if check_rc is not None and r.returncode != check_rc:
        raise SystemExit(f"ipp {' '.join(args)}: exit {r.returncode}: {r.stdout} {r.stderr}")
    return r


def db_rows(path, sql, *params):
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


def workload(env, tmp):
    wf = os.path.join(tmp, "itest.json")
    with open(wf, "w") as f:
        json.dump(WORKFLOW, f)
    run(env, "dag", "submit", wf, "--label", "itest", "--wait")  # exits 1: broken fails
    # Tasks on both engines, whatever the scheduler picked for the DAG.
    for target in ("0", "1"):
        run(env, "run", "--wait", "--targets", target, "--label", f"on-{target}", "--",
            "echo", f"on {target}", check_rc=0)


def test_api(env, tmp, db):
    d = Dash(env)
    dashes = [d]
    try:
        # --- tokens
        st, _, body = d.req("/api/overview", token=False)
        check(st == 403 and "no access token" in body, f"no token: 403 ({st})")
        st, _, _ = d.req("/api/overview", token="0" * 48)
        check(st == 403, f"wrong token: 403 ({st})")
        st, _, _ = d.req("/", token=False)
        check(st == 403, f"page without token: 403 ({st})")
        st, _, _ = d.req("/static/app.js", token=False)
        check(st == 403, f"static file without token: 403 ({st})")
        st, hdr, body = d.req("/?token=" + d.token, token=False)
        cookie = (hdr.get("Set-Cookie") or "").split(";")[0]
        check(st == 200 and "<main" in body and cookie.startswith("ipp_dashboard_token="),
              f"first visit with ?token: 200 and a cookie ({st}, {cookie[:24]}…)")
        check("HttpOnly" in (hdr.get("Set-Cookie") or "") and
              "SameSite=Strict" in (hdr.get("Set-Cookie") or ""), "cookie is HttpOnly, SameSite=Strict")
        st, _, _ = d.req("/api/overview", token=False, cookie=cookie)
        check(st == 200, f"the cookie alone: 200 ({st})")
        st, _, _ = d.req("/api/overview", token=False, cookie="ipp_dashboard_token=" + "1" * 48)
        check(st == 403, f"a wrong cookie: 403 ({st})")

        # --- JSON against the database
        st, o = d.json("/api/overview")
        check(st == 200 and o["online"], "overview: 200, online")
        want = dict(db_rows(db, "SELECT status, count(*) FROM tasks GROUP BY status"))
        for s in ("ok", "error", "unreachable", "pending"):
            check(o["counts"][s] == want.get(s, 0),
                  f"overview count {s} = {o['counts'][s]}, DB {want.get(s, 0)}")
        check(o["counts"]["total"] == sum(want.values()), "overview total matches the DB")
        check(sorted(e["id"] for e in o["engines"]) == [0, 1] and all(e["up"] for e in o["engines"]),
              "overview: engines 0 and 1, up")
        check(all(e["tags"] == ["gpu", "big-mem"] for e in o["engines"]),
              f"overview: the engines' tags ({[e['tags'] for e in o['engines']]})")
        check(all(e["hostname"] == socket.gethostname() for e in o["engines"]), "overview: the engines' host")
        per_engine = dict(db_rows(db, "SELECT engine_id, count(*) FROM tasks WHERE engine_id IS NOT NULL"
                                      " GROUP BY engine_id"))
        for e in o["engines"]:
            check(e["done"] == per_engine.get(e["id"], 0), f"engine {e['id']} done = {e['done']}")
        broken = db_rows(db, "SELECT msg_id FROM tasks WHERE label = 'itest/broken'")[0][0]
        check(any(f["msg_id"] == broken for f in o["recent_failures"]), "recent failures list the broken node")

        st, h = d.json("/api/tasks?label=" + urllib.parse.quote("itest/*") + "&limit=4")
        ids = [t["msg_id"] for t in h["tasks"]]
        while h["next"]:
            st, h = d.json("/api/tasks?label=" + urllib.parse.quote("itest/*") + "&limit=4&before=" + h["next"])
            ids += [t["msg_id"] for t in h["tasks"]]
        want_ids = [r[0] for r in db_rows(db, "SELECT msg_id FROM tasks WHERE label LIKE 'itest/%'"
                                              " ORDER BY submitted DESC, rowid DESC")]
        check(ids == want_ids, f"history label glob, paged by 4: {len(ids)} ids as in the DB ({len(want_ids)})")
        st, h = d.json("/api/tasks?status=error")
        check([t["msg_id"] for t in h["tasks"]] == [broken], "history status=error: the broken node alone")
        st, h = d.json("/api/tasks?engine=1&limit=500")
        check(len(h["tasks"]) == per_engine.get(1, 0), "history engine=1 matches the DB")

        st, t = d.json("/api/task/" + broken)
        check(st == 200 and t["status"] == "error" and t["error"]["ename"] == "CommandFailed",
              "task page: status and error of the broken node")
        check("boom-on-stderr" in (t["stderr"] or ""), "task page: its stderr")
        left = db_rows(db, "SELECT msg_id FROM tasks WHERE label = 'itest/left'")[0][0]
        after = db_rows(db, "SELECT msg_id FROM tasks WHERE label = 'itest/after-broken'")[0][0]
        check([x["msg_id"] for x in t["depends_on"]] == [left], "task page: depends on left")
        check([x["msg_id"] for x in t["dependents"]] == [after], "task page: after-broken depends on it")
        check(len(t["audit_hash"] or "") == 64, "task page: audit hash")

        st, w = d.json("/api/workflow?prefix=itest")
        check(len(w["nodes"]) == 6 and len(w["edges"]) == 6, f"workflow: 6 nodes, 6 edges ({len(w['nodes'])}, {len(w['edges'])})")
        st, hdr, svg = d.req("/api/workflow.svg?prefix=itest")
        import xml.etree.ElementTree as ET
        root = ET.fromstring(svg)
        groups = [g for g in root.iter("{http://www.w3.org/2000/svg}g") if "node" in (g.get("class") or "")]
        check(st == 200 and len(groups) == 6, f"workflow.svg: well-formed XML, 6 nodes ({len(groups)})")
        states = {g.get("id")[5:]: g.get("class").split()[1][6:] for g in groups}
        check(states == dict(db_rows(db, "SELECT msg_id, status FROM tasks WHERE label LIKE 'itest/%'")),
              "workflow.svg: every node's state class as in the DB")

        st, s = d.json("/api/stream?since=0")
        check(st == 200 and sorted(s["engines"]) == [0, 1], "stream: both engines")
        done = db_rows(db, "SELECT count(*) FROM tasks WHERE completed IS NOT NULL")[0][0]
        check(len(s["tasks"]) == done, f"stream since 0: every completed task ({len(s['tasks'])}/{done})")
        st, a = d.json("/api/audit")
        check(st == 200 and a["intact"] and a["checked"] == done, "audit: intact, every completion checked")

        # --- bad input: 400 with the reason, 404 for unknown
        for path, word in (("/api/tasks?status=bogus", "status"), ("/api/tasks?limit=x", "limit"),
                           ("/api/tasks?since=yesterday", "since"), ("/api/tasks?before=zzz", "before"),
                           ("/api/stream?limit=99999", "limit"), ("/api/workflow", "prefix"),
                           ("/api/task/not-a-hex-id!", "task id")):
            st, j = d.json(path)
            check(st == 400 and word in j.get("error", ""), f"{path}: 400 naming {word} ({st} {j})")
        st, j = d.json("/api/task/01a23770-0000-7000-8000-000000000000")
        check(st == 404, f"unknown task id: 404 ({st})")
        st, _, body = d.req("/task/01a23770-0000-7000-8000-000000000000")
        check(st == 404 and "<main" in body, f"unknown task page: a 404 page ({st})")
        st, j = d.json("/api/nothing")
        check(st == 404, "unknown endpoint: 404")

        # --- the event stream
        events = []
        ready = threading.Event()

        def reader():
            c = http.client.HTTPConnection("127.0.0.1", d.port, timeout=60)
            c.request("GET", "/api/events", headers={"X-IPP-Token": d.token})
            r = c.getresponse()
            ready.set()
            name = None
            while True:
                line = r.fp.readline()
                if not line:
                    return
                line = line.decode().rstrip("\n")
                if line.startswith("event: "):
                    name = line[7:]
                elif line.startswith("data: ") and name:
                    events.append((name, json.loads(line[6:])))
                    if name == "task" and events[-1][1]["label"] == "sse-probe":
                        c.close()
                        return

        th = threading.Thread(target=reader, daemon=True)
        th.start()
        ready.wait(30)
        r = run(env, "run", "--wait", "--label", "sse-probe", "--", "echo", "sse")
        got = until(lambda: [e for n, e in events if n == "task" and e.get("label") == "sse-probe"])
        check(bool(got) and got[0]["status"] == "ok", "event stream: the task-done event of a new task")
        th.join(5)

        # --- actions
        ok_id = left
        before = db_rows(db, "SELECT status, resubmitted FROM tasks WHERE msg_id = ?", ok_id)
        st, j = d.json("/api/resubmit?id=" + ok_id, method="POST")
        check(st == 403 and "--allow-actions" in j["error"], f"resubmit without --allow-actions: 403 ({st})")
        st, j = d.json("/api/abort?id=" + ok_id, method="POST")
        check(st == 403, f"abort without --allow-actions: 403 ({st})")
        check(db_rows(db, "SELECT status, resubmitted FROM tasks WHERE msg_id = ?", ok_id) == before,
              "refused actions changed nothing")
        st, cfg = d.json("/api/config")
        check(cfg["allow_actions"] is False and cfg["csrf"] == "", "read-only config hands out no CSRF token")

        a = Dash(env, "--allow-actions")
        dashes.append(a)
        st, cfg = a.json("/api/config")
        check(cfg["allow_actions"] and len(cfg["csrf"]) >= 32, "--allow-actions: config has a CSRF token")
        st, j = a.json("/api/resubmit?id=" + ok_id, method="POST")
        check(st == 403 and "CSRF" in j["error"], f"resubmit without CSRF: 403 ({st})")
        st, j = a.json("/api/resubmit?id=" + ok_id, method="POST", headers={"X-IPP-CSRF": "x" * 48})
        check(st == 403, f"resubmit with a wrong CSRF: 403 ({st})")
        st, j = a.json("/api/resubmit?id=" + ok_id, method="GET", headers={"X-IPP-CSRF": cfg["csrf"]})
        check(st == 405, f"resubmit by GET: 405 ({st})")
        st, j = a.json("/api/resubmit?id=" + ok_id, method="POST", token=False,
                       headers={"X-IPP-CSRF": cfg["csrf"]})
        check(st == 403, f"resubmit with CSRF but no token: 403 ({st})")
        check(db_rows(db, "SELECT status, resubmitted FROM tasks WHERE msg_id = ?", ok_id) == before,
              "refused actions changed nothing")
        st, j = a.json("/api/resubmit?id=" + ok_id, method="POST", headers={"X-IPP-CSRF": cfg["csrf"]})
        new = j.get("new_msg_id") if isinstance(j, dict) else None
        check(st == 200 and new, f"resubmit with token and CSRF: 200, a new task ({st} {j})")
        if new:
            check(until(lambda: db_rows(db, "SELECT status FROM tasks WHERE msg_id = ?", new) == [("ok",)]),
                  "the resubmitted task ran")
        # Abort: a task waiting on a long sleeper stays with the scheduler.
        sleeper = run(env, "run", "--", "sleep", "30", check_rc=0).stdout.strip().split()[-1]
        waiter = run(env, "run", "--after", sleeper, "--", "echo", "late", check_rc=0).stdout.strip().split()[-1]
        st, j = a.json("/api/abort?id=" + waiter, method="POST", headers={"X-IPP-CSRF": cfg["csrf"]})
        check(st == 200 and j.get("aborted") is True, f"abort a waiting task: 200 ({st} {j})")
        check(until(lambda: db_rows(db, "SELECT status FROM tasks WHERE msg_id = ?", waiter) == [("aborted",)]),
              "the aborted task is recorded aborted")
        run(env, "abort", sleeper)
    finally:
        for x in dashes:
            rc, err = x.stop()
            check(rc == 0 and "Sanitizer" not in err, f"dashboard stopped cleanly (exit {rc}) {err[-2000:] if rc else ''}")

    # --- `ipp dashboard` runs the same program
    r = run(env, "dashboard", "--help")
    check(r.returncode == 0 and "usage: ipp-dashboard" in r.stdout, "ipp dashboard --help")
    p = subprocess.Popen([IPP, "dashboard", "--port", "0"], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    check("http://127.0.0.1:" in line and "token=" in line, f"ipp dashboard prints its URL ({line.strip()})")
    p.terminate()
    check(p.wait(30) == 0, "ipp dashboard stops on SIGTERM")
    p.stdout.close()
    p.stderr.close()

    # --- offline: the file alone
    off = Dash({k: v for k, v in env.items()}, "--db", db)
    try:
        st, o = off.json("/api/overview")
        check(st == 200 and not o["online"] and sorted(e["id"] for e in o["engines"]) == [0, 1],
              "offline --db: overview from the file, engines recorded")
        st, cfg = off.json("/api/config")
        check(not cfg["online"], "offline --db: not online")
        # Offline it follows the file: a completion written by the
        # controller (which it does not ask) becomes an event.
        events, ready = [], threading.Event()

        def offline_reader():
            c = http.client.HTTPConnection("127.0.0.1", off.port, timeout=60)
            c.request("GET", "/api/events", headers={"X-IPP-Token": off.token})
            r = c.getresponse()
            ready.set()
            for raw in iter(r.fp.readline, b""):
                line = raw.decode().rstrip("\n")
                if line.startswith("data: ") and '"offline-probe"' in line:
                    events.append(json.loads(line[6:]))
                    c.close()
                    return

        th = threading.Thread(target=offline_reader, daemon=True)
        th.start()
        ready.wait(30)
        run(env, "run", "--wait", "--label", "offline-probe", "--", "echo", "x", check_rc=0)
        check(bool(until(lambda: events)) and events[0]["status"] == "ok",
              "offline --db: a new completion in the file arrives as an event")
        th.join(5)
    finally:
        rc, err = off.stop()
        check(rc == 0 and "Sanitizer" not in err, f"offline dashboard stopped cleanly (exit {rc}) {err[-2000:] if rc else ''}")


# --------------------------------------------------------------- browser

class Driver:
    """chromedriver and one headless chromium session (W3C WebDriver)."""

    def __init__(self, tmp):
        drv = shutil.which("chromedriver") or "/usr/lib/chromium/chromedriver"
        chrome = shutil.which("chromium") or "/usr/bin/chromium"
        if not os.path.exists(drv) or not os.path.exists(chrome):
            print(f"SKIP: no browser here: chromedriver {drv} / chromium {chrome} missing "
                  "(tools/setup installs chromium and chromium-driver)")
            raise SystemExit(SKIP)
        self.port = free_port()
        self.p = subprocess.Popen([drv, f"--port={self.port}"], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        self.base = f"http://127.0.0.1:{self.port}"
        if not until(lambda: self._ok("/status"), 30):
            self.stop()
            print("SKIP: chromedriver did not start")
            raise SystemExit(SKIP)
        caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": chrome,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,1000", f"--user-data-dir={tmp}/chrome"]}}}}
        try:
            self.sid = self._call("POST", "/session", caps)["sessionId"]
        except Exception as e:  # the browser itself cannot start here
            self.stop()
            print(f"SKIP: chromium cannot start headless: {e}")
            raise SystemExit(SKIP)

    def _ok(self, path):
        try:
            with urllib.request.urlopen(self.base + path, timeout=5) as r:
                return r.status == 200
        except OSError:
            return False

    def _call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return json.loads(r.read())["value"] if path != "/session" else json.loads(r.read())["value"]
        except urllib.error.HTTPError as e:
            raise RuntimeError(e.read().decode()[:500])

    def go(self, url):
        self._call("POST", f"/session/{self.sid}/url", {"url": url})

    def js(self, script):
        return self._call("POST", f"/session/{self.sid}/execute/sync", {"script": script, "args": []})

    def wait_js(self, script, timeout=30):
        return until(lambda: self.js(script), timeout, 0.2)

    def shot(self, name):
        png = base64.b64decode(self._call("GET", f"/session/{self.sid}/screenshot"))
        os.makedirs(ARTIFACTS, exist_ok=True)
        with open(os.path.join(ARTIFACTS, name + ".png"), "wb") as f:
            f.write(png)

    def stop(self):
        try:
            if getattr(self, "sid", None):
                self._call("DELETE", f"/session/{self.sid}")
        except Exception:
            pass
        self.p.terminate()
        try:
            self.p.wait(20)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()


def test_browser(env, tmp, db):
    d = Dash(env)
    b = Driver(tmp)
    try:
        b.go(d.url)
        n = b.wait_js("return document.body.dataset.ready === '1' && "
                      "document.querySelectorAll('#engines tbody tr.engine').length")
        check(n == 2, f"overview: the JS filled the engines table with 2 engines ({n})")
        ups = b.js("return [...document.querySelectorAll('#engines tbody tr.engine td:nth-child(2)')].map(e => e.textContent)")
        check(ups == ["up", "up"], f"overview: both engines up ({ups})")
        tags = b.js("return [...document.querySelectorAll('#engines tbody tr.engine td:nth-child(5)')].map(e => e.textContent)")
        check(tags == ["gpu, big-mem"] * 2, f"overview: the engines' tags ({tags})")
        total = db_rows(db, "SELECT count(*) FROM tasks")[0][0]
        shown = b.wait_js(f"return document.getElementById('count-total').textContent === '{total}'")
        check(bool(shown), f"overview: {total} tasks, as in the DB")
        check(b.js("return !location.search.includes('token')"), "the token left the address bar")
        # Live: a task submitted now appears without a reload.
        b.js("window.__marker = 1")
        new = run(env, "run", "--wait", "--label", "live-probe", "--", "echo", "live").returncode
        live_id = db_rows(db, "SELECT msg_id FROM tasks WHERE label = 'live-probe'")[0][0]
        seen = b.wait_js(f"return !!document.querySelector('#live-tasks li[data-msg-id=\"{live_id}\"]')")
        check(new == 0 and bool(seen) and b.js("return window.__marker === 1"),
              "overview: a task submitted while open appears, without a reload")
        b.shot("overview")

        b.go(d.base + "/stream?since=0")
        rows = b.wait_js("return document.querySelectorAll('#stream-chart g.row').length")
        check(rows == 2, f"stream: one row per engine ({rows})")
        done = db_rows(db, "SELECT count(*) FROM tasks WHERE completed IS NOT NULL AND started IS NOT NULL"
                           " AND engine_id IS NOT NULL")[0][0]
        bars = b.js("return document.querySelectorAll('#stream-chart rect.bar').length")
        check(bars == done, f"stream: a bar per task that ran ({bars}/{done})")
        per_row = b.js("return [0,1].map(e => document.querySelectorAll(`#stream-chart rect.bar[data-engine=\"${e}\"]`).length)")
        check(all(x > 0 for x in per_row), f"stream: bars on both engines' rows ({per_row})")
        b.shot("stream")

        b.go(d.base + "/history?label=" + urllib.parse.quote("itest/*"))
        got = b.wait_js("return document.querySelectorAll('#history tbody tr[data-msg-id]').length")
        want = set(r[0] for r in db_rows(db, "SELECT msg_id FROM tasks WHERE label LIKE 'itest/%'"))
        ids = set(b.js("return [...document.querySelectorAll('#history tbody tr[data-msg-id]')].map(r => r.dataset.msgId)"))
        check(ids == want, f"history: the label filter finds exactly the workflow's tasks ({got}/{len(want)})")
        b.shot("history")

        b.go(d.base + "/workflow?prefix=itest")
        n = b.wait_js("return document.querySelectorAll('#dag g.node').length")
        check(n == 6, f"workflow: 6 nodes drawn ({n})")
        classes = b.js("return Object.fromEntries([...document.querySelectorAll('#dag g.node')].map(g => [g.id.slice(5), g.getAttribute('class')]))")
        states = dict(db_rows(db, "SELECT msg_id, status FROM tasks WHERE label LIKE 'itest/%'"))
        check(all(f"state-{states.get(k)}" in (v or "") for k, v in classes.items()) and len(classes) == 6,
              "workflow: every node has its state's class")
        b.shot("workflow")

        broken = db_rows(db, "SELECT msg_id FROM tasks WHERE label = 'itest/broken'")[0][0]
        b.go(d.base + "/task/" + broken)
        name = b.wait_js("var e = document.getElementById('error-name'); return e && e.textContent")
        check(bool(name) and "CommandFailed" in name, f"task page: the error ({name})")
        check("boom-on-stderr" in b.js("return document.getElementById('stderr').textContent"),
              "task page: its stderr")
        check(b.js("return !!document.getElementById('traceback')"), "task page: the traceback section")
        b.shot("task")

        b.go(d.base + "/task/01a23770-0000-7000-8000-000000000000")
        nf = b.wait_js("var e = document.querySelector('main h1'); return e && e.textContent === 'Not found'")
        check(bool(nf), "unknown task: the page says not found")

        b.go(d.base + "/audit")
        st = b.wait_js("var e = document.getElementById('audit-status'); return e && e.textContent")
        check(bool(st) and "intact" in st, f"audit page: intact ({st})")
        b.shot("audit")
    finally:
        b.stop()
        rc, err = d.stop()
        check(rc == 0 and "Sanitizer" not in err, f"dashboard stopped cleanly (exit {rc}) {err[-2000:] if rc else ''}")


def main():
    tmp = tempfile.mkdtemp(prefix="ipp-dash-")
    os.chmod(tmp, 0o700)
    env = dict(os.environ, IPP_DIR=tmp, IPP_PROFILE="default")
    env.pop("LD_PRELOAD", None)
    db = os.path.join(tmp, "profile_default", "db", "tasks.db")
    started = False
    try:
        run(env, "cluster", "start", "-n", "2", "--tag", "gpu", "--tag", "big-mem", check_rc=0)
        started = True
        workload(env, tmp)
        (test_api if MODE == "api" else test_browser)(env, tmp, db)
    finally:
        if started:
            run(env, "cluster", "stop")
        shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        print(f"{len(failures)} checks failed:\n  " + "\n  ".join(failures))
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
