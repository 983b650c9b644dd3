"""Results any client can fetch, the hub queries, dependencies and
failures: after/follow/timeout/retries, aborts, an engine killed mid-task."""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time

import pytest

import ipp


def test_second_process_fetches_results_by_msg_id(py, cluster):
    ar = py.load_balanced_view().apply_async(lambda: {"answer": 42})
    ar.get()
    code = textwrap.dedent(f"""
        import ipp
        rc = ipp.Client(profile={cluster.profile!r}, ipp_dir={cluster.ipp_dir!r})
        ar = rc.get_result({ar.msg_id!r})
        print(ar.get(30))
        print(rc.result_status([{ar.msg_id!r}])["completed"])
        rc.close()
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["{'answer': 42}", f"['{ar.msg_id}']"]


def test_first_process_exits_then_second_fetches(py, cluster):
    code = textwrap.dedent(f"""
        import ipp, time
        rc = ipp.Client(profile={cluster.profile!r}, ipp_dir={cluster.ipp_dir!r})
        ar = rc.load_balanced_view().apply_async(lambda: (time.sleep(0.5), 'late')[1])
        print(ar.msg_id)
        rc.close()   # leaves before the task finished
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    msg_id = out.stdout.strip()
    hub = py.get_result(msg_id)
    assert isinstance(hub, ipp.AsyncHubResult)
    assert hub.get(30) == "late"  # waited for by notification, then fetched
    assert py.get_result([msg_id]).get(30) == ["late"]


def test_db_query_result_status_history(py):
    lv = py.load_balanced_view()
    with lv.temp_flags(label="pytest/dbq"):
        ar = lv.map(lambda x: x + 1, range(3))
    ar.get()
    rows = py.db_query({"label": "pytest/dbq"}, keys=["msg_id", "submitted", "completed",
                                                       "engine_id", "status"])
    assert sorted(r["msg_id"] for r in rows) == sorted(ar.msg_ids)
    for r in rows:
        assert r["status"] == "ok" and r["submitted"] <= r["completed"]
        assert r["submitted"].tzinfo is not None and r["engine_id"] in py.ids
    st = py.result_status(ar.msg_ids, status_only=False)
    assert sorted(st["completed"]) == sorted(ar.msg_ids) and st["pending"] == []
    assert sorted(st[m] for m in ar.msg_ids) == [1, 2, 3]
    hist = py.hub_history()
    assert set(ar.msg_ids) <= set(hist)
    qs = py.queue_status()
    assert set(qs) == set(py.ids) | {"unassigned"}
    assert all(set(v) == {"queue", "tasks", "completed"} for k, v in qs.items()
               if k != "unassigned")


def test_resubmit_and_purge(py):
    lv = py.load_balanced_view()
    ar = lv.apply_async(lambda: 5)
    assert ar.get() == 5
    again = py.resubmit(ar.msg_ids)
    assert again.get(30) == [5] and again.msg_ids != ar.msg_ids
    assert py.purge_results(jobs=again.msg_ids) == 1
    assert py.result_status(again.msg_ids)["unknown"] == again.msg_ids


def test_after_follow_and_dependency_failure(py):
    lv = py.load_balanced_view()
    first = lv.apply_async(lambda: (time.sleep(0.3), os.getpid())[1])
    with lv.temp_flags(after=first):
        second = lv.apply_async(time.time)
    assert second.get(30) >= first.metadata["completed"].timestamp() - 0.01
    with lv.temp_flags(follow=first):
        same = lv.apply_async(os.getpid)
    assert same.get(30) == first.get()
    assert same.metadata["engine_id"] == first.metadata["engine_id"]
    assert second.metadata["after"] == first.msg_ids
    ok = lv.apply_async(int)
    ok.get()
    # a dependency met only by failure: it succeeded, so this can never run
    with lv.temp_flags(after=ipp.Dependency(ok, success=False, failure=True)):
        never = lv.apply_async(int)
    with pytest.raises(ipp.ImpossibleDependency):
        never.get(30)
    # nothing changed on the view after the with blocks
    assert lv.after is None and lv.follow is None


def test_dependency_timeout(py):
    lv = py.load_balanced_view()
    slow = lv.apply_async(time.sleep, 3)
    with lv.temp_flags(after=slow, timeout=0.2):
        waits = lv.apply_async(int)
    with pytest.raises(ipp.DependencyTimeout):
        waits.get(30)
    slow.get()


def test_abort(py):
    lv = py.load_balanced_view()
    blockers = [lv.apply_async(time.sleep, 1.0) for _ in py.ids]
    with lv.temp_flags(after=blockers):
        victim = lv.apply_async(int)
    victim.abort()
    with pytest.raises(ipp.TaskAborted):
        victim.get(30)
    for b in blockers:
        b.get(30)


def test_abort_running_with_tasks_queued_behind(py, tmp_path):
    # The tasks behind the running one are on the engine, most of them
    # already handed to its Python host: aborting the running one ends it
    # alone, and every one behind runs once, in order.
    dv = py[py.ids[0]]
    dv.execute("log = []", block=True)
    marker = str(tmp_path / "running")
    running = dv.execute("import time\nopen(%r, 'w').close()\ntime.sleep(30)\n" % marker)
    behind = [dv.execute("log.append(%d)" % i) for i in range(6)]
    for _ in range(3000):
        if os.path.exists(marker):
            break
        time.sleep(0.01)
    assert os.path.exists(marker)
    running.abort()
    with pytest.raises(ipp.TaskAborted):
        running.get(30)
    for ar in behind:
        ar.get(30)
    assert dv.pull("log", block=True) == list(range(6))


def test_require_and_depend(py):
    lv = py.load_balanced_view()

    @ipp.require("json")
    def dumps(x):
        import json
        return json.dumps(x)

    assert lv.apply_sync(dumps, [1]) == "[1]"

    @ipp.require("no_such_module_here")
    def never(x):
        return x

    with pytest.raises(ipp.UnmetDependency):
        lv.apply_sync(never, 1)

    @ipp.depend(lambda: False)
    def gated():
        return 1

    with pytest.raises(ipp.UnmetDependency):
        lv.apply_sync(gated)


@pytest.fixture
def lonely_cluster():
    d = tempfile.mkdtemp(prefix="ipp-pytest-kill-")
    c = ipp.Cluster(n=2, ipp_dir=d, profile="kill", timeout=60, env={"LD_PRELOAD": None})
    rc = c.start_and_connect_sync()
    try:
        yield rc
    finally:
        c.stop_cluster_sync()
        shutil.rmtree(d, ignore_errors=True)


def test_engine_killed_mid_apply(lonely_cluster, py):
    rc = lonely_cluster
    rc.wait_for_engines(2, timeout=30)
    e0, e1 = rc.ids
    # the interpreter runs in a process of its own: killing it fails the
    # task, and the engine goes on with a fresh interpreter
    host = rc[e0].apply_sync(os.getpid)
    doomed = rc[e0].apply_async(time.sleep, 30)
    time.sleep(0.5)
    os.kill(host, signal.SIGKILL)
    with pytest.raises(ipp.RemoteError):
        doomed.get(60)
    assert rc[e0].apply_sync(lambda: 1) == 1
    # now the engine itself
    pid = rc.engines[e0]["pid"]
    assert pid and pid != host
    ar = rc[e0].apply_async(time.sleep, 30)
    lv = rc.load_balanced_view()
    with lv.temp_flags(retries=2, targets=[e0, e1]):
        retried = lv.apply_async(lambda: (time.sleep(1.5), os.getpid())[1])
    time.sleep(0.5)
    os.kill(pid, signal.SIGKILL)
    with pytest.raises(ipp.EngineError):
        ar.get(60)
    # the retried task ran on a survivor, or had already gone to it
    assert isinstance(retried.get(60), int)
