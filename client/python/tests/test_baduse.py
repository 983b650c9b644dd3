"""Bad use fails clearly, locally, before anything is sent — and the
client (and the cluster) keep working afterwards."""

import os
import threading

import pytest

import ipp
from ipp import _ipp


def test_missing_connection_file(tmp_path):
    path = str(tmp_path / "nope.json")
    with pytest.raises(ipp.error.NoConnectionFile, match="ipp cluster start") as e:
        ipp.Client(url_file=path)
    # an OSError naming the file, not a lookup of a result
    assert isinstance(e.value, FileNotFoundError) and isinstance(e.value, ipp.error.IppError)
    assert not isinstance(e.value, ipp.error.NoSuchResult)
    assert e.value.filename == path and path in str(e.value)


def test_missing_profile(tmp_path, monkeypatch):
    want = str(tmp_path / "profile_nosuch" / "security" / "ipp-client.json")
    with pytest.raises(ipp.error.NoConnectionFile, match="profile 'nosuch'") as e:
        ipp.Client(profile="nosuch", ipp_dir=str(tmp_path))
    assert e.value.filename == want
    # $IPP_PROFILE picks the profile, as for the ipp command
    monkeypatch.setenv("IPP_PROFILE", "fromenv")
    with pytest.raises(ipp.error.NoConnectionFile, match="profile 'fromenv'") as e:
        ipp.Client(ipp_dir=str(tmp_path))
    assert e.value.filename == str(tmp_path / "profile_fromenv" / "security" / "ipp-client.json")
    monkeypatch.setenv("IPP_DIR", str(tmp_path))
    monkeypatch.delenv("IPP_PROFILE")
    with pytest.raises(OSError, match="profile 'default'"):
        ipp.Client()


def test_profile_dir_and_url_file_conflict(tmp_path):
    with pytest.raises(ipp.error.InvalidUse):
        ipp.Client(url_file="a.json", profile_dir=str(tmp_path))


def test_bad_timeout(tmp_path):
    with pytest.raises(ipp.error.InvalidUse):
        ipp.Client(url_file="a.json", timeout=-1)


def test_unknown_keyword():
    with pytest.raises(TypeError):
        ipp.Client(nonsense=1)


def test_profile_dir_connects(cluster):
    c = ipp.Client(profile_dir=os.path.join(cluster.ipp_dir, "profile_" + cluster.profile))
    try:
        assert c.ids == sorted(c.ids) and len(c.ids) == 2
    finally:
        c.close()


def test_closed_client_refuses_everything(cluster):
    c = ipp.Client(profile=cluster.profile, ipp_dir=cluster.ipp_dir)
    dv = c[:]
    lv = c.load_balanced_view()
    c.close()
    c.close()  # idempotent
    assert c.closed
    for call in (lambda: c.ids, lambda: dv.apply_async(int), lambda: lv.apply_async(int),
                 lambda: c.hub_history(), lambda: c.queue_status(), lambda: c[:],
                 lambda: dv.push({"a": 1}), lambda: c.spin()):
        with pytest.raises(ipp.error.ClientClosed):
            call()


def test_unknown_engine_ids(rc):
    for key in (99, -99):
        with pytest.raises(ipp.error.NoSuchEngine):
            rc[key]
    with pytest.raises(ipp.error.NoSuchEngine):
        rc[[0, 99]] if 0 in rc.ids else rc[[rc.ids[0], 99]]
    with pytest.raises(ipp.error.NoSuchEngine):
        rc[10:20]
    with pytest.raises(ipp.error.NoSuchEngine):
        rc.direct_view([12345])
    with pytest.raises(TypeError):
        rc["x"]


def test_unpicklable_argument_fails_locally(rc):
    n = len(rc.hub_history())
    lock = threading.Lock()
    with pytest.raises(TypeError, match="pickle"):
        rc[:].apply_async(lambda x: x, lock)
    with pytest.raises(TypeError, match="pickle"):
        rc.load_balanced_view().map_async(lambda x: x, [lock])
    with pytest.raises(TypeError, match="pickle"):
        rc[:].push({"l": lock})
    assert len(rc.hub_history()) == n  # nothing was sent


def test_not_callable(rc):
    with pytest.raises(TypeError, match="callable"):
        rc[:].apply_async(42)
    with pytest.raises(TypeError, match="callable"):
        rc.load_balanced_view().map(42, [1])


def test_bad_flags(rc):
    lv = rc.load_balanced_view()
    dv = rc[:]
    bad = [dict(retries=-1), dict(retries=101), dict(retries=1.5), dict(timeout=-2),
           dict(timeout="soon"), dict(block="yes"), dict(track=1), dict(label=3),
           dict(targets="some"), dict(requires=[1]), dict(nosuchflag=1),
           dict(after=42)]
    for kw in bad:
        with pytest.raises(ipp.error.InvalidUse):
            lv.set_flags(**kw)
    for kw in (dict(after=["x"]), dict(retries=1), dict(block="no"), dict(targets=[1.5])):
        with pytest.raises(ipp.error.InvalidUse):
            dv.set_flags(**kw)
    # nothing half-set: the view's flags are unchanged
    assert lv.retries == 0 and lv.block is False and lv.timeout == 0
    with pytest.raises(ipp.error.InvalidUse):
        lv.map(int, [1], chunksize=0)
    with pytest.raises(ipp.error.InvalidUse):
        ipp.Dependency([], success=False, failure=False)


def test_bad_namespace_calls(rc):
    dv = rc[:]
    with pytest.raises(ipp.error.InvalidUse):
        dv.push({"not a name": 1})
    with pytest.raises(TypeError):
        dv.push([("a", 1)])
    with pytest.raises(TypeError):
        dv.pull(3)
    with pytest.raises(ipp.error.InvalidUse):
        dv.scatter("a", [1, 2], dist="r")
    with pytest.raises(ipp.error.InvalidUse):
        dv.scatter("1a", [1, 2])
    with pytest.raises(ipp.error.InvalidUse):
        dv.scatter("a", iter([1, 2]))
    with pytest.raises(SyntaxError):
        dv.execute("def (:")
    with pytest.raises(TypeError):
        dv.execute(b"a = 1")
    with pytest.raises(ipp.error.InvalidUse):
        dv.map(lambda a, b: a, [1, 2], [1])
    with pytest.raises(ipp.error.InvalidUse):
        rc.load_balanced_view().map(lambda a: a, 5)
    with pytest.raises(ipp.error.InvalidUse):
        dv.map(lambda a: a)


def test_hub_queries_refuse_bad_input(rc):
    with pytest.raises(ipp.error.InvalidUse):
        rc.get_result("not-a-uuid")
    with pytest.raises(ipp.error.InvalidUse):
        rc.get_result([3.5])
    with pytest.raises(ipp.error.QueryError):
        rc.db_query({"nosuchkey": 1})
    with pytest.raises(ipp.error.InvalidUse):
        rc.db_query("msg_id")
    with pytest.raises(ipp.error.InvalidUse):
        rc.abort()
    with pytest.raises(ipp.error.InvalidUse):
        rc.purge_results()
    with pytest.raises(ipp.error.InvalidUse):
        rc.resubmit([])
    with pytest.raises(ipp.error.InvalidUse):
        rc.wait_for_engines(-1)
    st = rc.result_status(["01a23752-85bd-7013-9217-abe2c6a874b1"])
    assert st == {"pending": [], "completed": [],
                  "unknown": ["01a23752-85bd-7013-9217-abe2c6a874b1"]}
    # the client still works
    assert len(rc.ids) == 2


def test_wait_for_engines_times_out(rc):
    with pytest.raises(ipp.error.TimeoutError, match="engine"):
        rc.wait_for_engines(5, timeout=0.3)
    with pytest.raises(TimeoutError):  # also the builtin / concurrent.futures one
        rc.wait_for_engines(5, timeout=0.1)


def test_tracker_and_partition():
    t = _ipp.Tracker()
    assert t.done and t.pending == 0 and t.wait(0)
    assert [_ipp.partition(16, 4, p) for p in range(4)] == [(0, 4), (4, 8), (8, 12), (12, 16)]
    assert _ipp.partition(5, 2, 0) == (0, 3)
    with pytest.raises(ValueError):
        _ipp.partition(-1, 2, 0)


def test_cluster_bad_use(tmp_path):
    with pytest.raises(ipp.error.InvalidUse):
        ipp.Cluster(n=0)
    with pytest.raises(TypeError):
        ipp.Cluster(n=1, nonsense=True)
    c = ipp.Cluster(n=1, ipp_dir=str(tmp_path), ipp="/nonexistent/ipp")
    with pytest.raises(FileNotFoundError):
        c.start_cluster_sync()
