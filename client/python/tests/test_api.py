"""The rest of the seeds' API, each call against the real cluster: the
client's history / metadata / outstanding, hub_history from the
controller, Client.wait and clear, ar.r, abort from an AsyncResult and a
view, progress and elapsed while tasks run."""

import time

import pytest

import ipp


def test_history_in_submission_order_and_hub_history_from_the_controller(py, cluster):
    rc = py
    lv = rc.load_balanced_view()
    before = rc.history
    ars = [lv.apply_async(pow, 2, i) for i in range(5)]
    dar = rc[:].apply_async(abs, -1)
    want = [a.msg_id for a in ars] + dar.msg_ids
    rc.wait(ars + [dar])
    assert rc.history == before + want
    assert [a.r for a in ars] == [1, 2, 4, 8, 16]  # .r is get()
    assert ars[3].result() == 8 and ars[3].get(5) == 8
    # a result fetched by msg_id is not this client's submission
    rc.get_result(want[0]).get()
    assert rc.history == before + want
    # dropping the AsyncResults keeps the history
    del ars, dar
    assert rc.history[-len(want):] == want
    # a second client submitted nothing, but the controller knows them all
    other = ipp.Client(profile=cluster.profile, ipp_dir=cluster.ipp_dir)
    try:
        assert other.history == []
        hub = other.hub_history()
        assert hub[-len(want):] == want or set(want) <= set(hub)
        assert other.get_result(want[2]).get() == 4
    finally:
        other.close()


def test_metadata_and_outstanding_follow_live_results(py):
    rc = py
    lv = rc.load_balanced_view()
    ar = lv.apply_async(time.sleep, 0.5)
    assert ar.msg_id in rc.outstanding
    assert ar.wait(30)
    assert ar.msg_id not in rc.outstanding
    md = rc.metadata[ar.msg_id]
    assert md["status"] == "ok" and md["engine_id"] in rc.ids
    assert md["started"] <= md["completed"]


def test_client_wait_by_msg_id_and_ar_and_timeout(py):
    rc = py
    lv = rc.load_balanced_view()
    a = lv.apply_async(abs, -3)
    b = lv.apply_async(abs, -4)
    assert rc.wait([a.msg_id, b], timeout=30) is True
    slow = lv.apply_async(time.sleep, 3)
    assert rc.wait([slow], timeout=0.1) is False
    assert rc.wait(timeout=30) is True  # everything outstanding
    assert slow.ready() and slow.get() is None


def test_client_clear_empties_the_namespaces_named(py):
    rc = py
    first, second = rc.ids[0], rc.ids[1]
    rc[:].push({"kept": 1}, block=True)
    rc.clear(targets=[first])
    with pytest.raises(ipp.RemoteError) as e:
        rc[first].pull("kept", block=True)
    assert e.value.ename == "NameError"
    assert rc[second].pull("kept", block=True) == 1
    rc.clear()
    with pytest.raises(ipp.RemoteError):
        rc[second].pull("kept", block=True)


def _running(rc, msg_id):
    qs = rc.queue_status(verbose=True)
    return any(msg_id in v["tasks"] for k, v in qs.items() if k != "unassigned")


def test_abort_from_the_result_and_the_view(py):
    rc = py
    lv = rc.load_balanced_view()
    rc[:].push({"survivor": 42}, block=True)
    # Aborted while queued, and while running (well inside time.sleep):
    # either way TaskAborted, and the interpreter — its namespace — lives on.
    for i in range(4):
        ar = lv.apply_async(time.sleep, 30)
        if i >= 2:
            while not _running(rc, ar.msg_id):
                time.sleep(0.005)
            time.sleep(0.3)
        if i % 2:
            ar.abort()
        else:
            lv.abort(ar)
        with pytest.raises(ipp.TaskAborted) as e:
            ar.get(30)
        # stopped before it was scheduled, before it reached Python, or
        # interrupted in it — not by killing the interpreter
        assert "did not stop" not in e.value.evalue, e.value.evalue
        assert "aborted" in e.value.evalue
        assert rc[:].pull("survivor", block=True) == [42] * len(rc.ids)
    assert lv.apply_sync(abs, -2) == 2  # the engines go on


def test_progress_and_elapsed_while_running(py):
    rc = py
    lv = rc.load_balanced_view()
    ar = lv.map_async(time.sleep, [0.05] * 6 + [0.6])
    e0 = ar.elapsed
    assert 0 <= e0 and ar.progress <= 7
    seen = []
    while not ar.ready():
        seen.append(ar.progress)
        time.sleep(0.02)
    assert seen == sorted(seen) and all(0 <= p <= 7 for p in seen)  # it only counts up
    assert ar.progress == 7 and len(ar) == 7
    assert ar.elapsed >= 0.6 and ar.elapsed > e0


def test_only_block_distribution_is_known(py):
    dv = py[:]
    for call in (lambda: dv.scatter("a", [1, 2], dist="r"),
                 lambda: dv.gather("a", dist="r"),
                 lambda: dv.parallel(dist="r")(abs)):
        with pytest.raises(ipp.error.InvalidUse, match="dist='b'"):
            call()
