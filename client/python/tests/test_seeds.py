"""The seeds' examples (IPython Parallel's tutorial, talk and docs),
with the values the seeds show."""

import math
import os
import time
from functools import reduce

import numpy as np
import pytest

import ipp


def as_main(f):
    """f as if typed at the interactive prompt: a __main__ function, which
    the engines run with their namespace as its globals."""
    f.__module__ = "__main__"
    return f


def slow_power(x, i=5):
    import time
    time.sleep(0.2)
    return x ** i


def test_slow_power_everywhere(py):
    rc = py
    dv = rc[:]
    lv = rc.load_balanced_view()
    res = dv.apply(slow_power, 5, 5)
    assert isinstance(res, ipp.AsyncResult)
    assert res.result() == [3125, 3125]
    assert rc[0].apply(slow_power, 4, 4).result() == 256
    assert rc[-1].apply_sync(slow_power, 4, 4) == 256
    assert rc[0:1].apply(slow_power, 3, 3).result() == [27]
    assert rc[::2].apply_sync(slow_power, 3, 3) == [27]
    assert lv.apply(slow_power, 5, 5).result() == 3125
    assert dv.apply_async(slow_power, 2, 2).result() == [4, 4]
    assert lv.apply_async(slow_power, 2, 2).result() == 4
    assert dv.apply_sync(slow_power, 2, 2) == [4, 4]
    assert lv.apply_sync(slow_power, 2, 2) == 4
    assert dv.map_sync(slow_power, range(4)) == [0, 1, 32, 243]
    assert lv.map_sync(slow_power, range(4)) == [0, 1, 32, 243]
    assert list(lv.map(slow_power, range(4))) == [0, 1, 32, 243]


def test_globals_from_namespace(py):
    dv = py[:]
    dv["i"] = 10

    @as_main
    def slow_power(x):
        return x ** i  # noqa: F821 — i lives in the engines' namespace

    assert [py[e].apply_async(slow_power, 5).result() for e in py.ids] == [9765625] * 2
    dv.execute("c = 10", block=True)
    assert dv.apply_sync(as_main(lambda: c)) == [10, 10]  # noqa: F821


PRIMES = [112272535095293, 112582705942171, 112272535095293, 115280095190773,
          115797848077099, 1099726899285419, 17, 18]


def is_prime(n):
    if n % 2 == 0:
        return False
    sqrt_n = int(math.floor(math.sqrt(n)))
    for i in range(3, sqrt_n + 1, 2):
        if n % i == 0:
            return False
    return True


def test_talk_is_prime_and_namespace(py, capsys):
    dview = py[:]
    lview = py.load_balanced_view()
    with dview.sync_imports():
        import math  # noqa: F401
    assert "importing math on engine(s)" in capsys.readouterr().out
    assert lview.map_sync(is_prime, PRIMES) == list(map(is_prime, PRIMES))
    assert dview.map_sync(is_prime, PRIMES) == list(map(is_prime, PRIMES))
    dview["talk"] = "Kaohsiung.py"
    assert dview["talk"] == ["Kaohsiung.py"] * 2
    dview.scatter("a", list(range(8)))
    dview.wait()
    assert dview["a"] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert dview.gather("a", block=True) == list(range(8))
    py[0].scatter("b", list(range(3)), block=True)
    assert py[0]["b"] == [0, 1, 2]

    @dview.parallel(block=True)
    def pmul(xs):
        return [x * 2 for x in xs]

    assert pmul(range(8)) == [x * 2 for x in range(8)]
    assert dview.parallel(block=True)(lambda x: x + 1).map(range(4)) == [1, 2, 3, 4]

    @dview.remote(block=True)
    def where():
        return os.getpid()

    assert len(set(where())) == 2


def test_scatter_gather_and_lists(py):
    dview = py[:]
    assert dview.scatter("a", range(16), block=True) == [None, None]
    assert dview["a"] == [[0, 1, 2, 3, 4, 5, 6, 7], [8, 9, 10, 11, 12, 13, 14, 15]]
    assert dview.gather("a", block=True) == list(range(16))
    dview["a"] = ["foo", "bar"]
    assert dview["a"] == [["foo", "bar"], ["foo", "bar"]]
    dview.push(dict(x=1, y="two"), block=True)
    assert dview.pull(["x", "y"], block=True) == [(1, "two"), (1, "two")]
    assert py[0].pull("y", block=True) == "two"
    assert dview.get("x") == [1, 1]
    dview.update({"z": 3})
    assert dview["z"] == [3, 3]
    arr = np.arange(10.0)
    dview.scatter("arr", arr, block=True)
    assert np.array_equal(dview.gather("arr", block=True), arr)


def test_get_dict_pid_map(py):
    ar = py[:].apply_async(os.getpid)
    pids = ar.get_dict()
    assert sorted(pids) == py.ids and len(set(pids.values())) == 2
    py[:]["pid_map"] = pids
    assert py[:].apply_sync(as_main(lambda: pid_map[min(pid_map)])) == [pids[min(pids)]] * 2  # noqa


def test_metadata_and_timing(py):
    dv = py[:]
    ar = dv.apply_async(time.sleep, 0.5)
    ar.get()
    md = ar.metadata
    assert len(md) == 2
    for m in md:
        for k in ("submitted", "started", "completed", "received"):
            assert m[k].tzinfo is not None
        assert m["submitted"] <= m["started"] <= m["completed"] <= m["received"]
        assert m["engine_id"] in py.ids and m["engine_uuid"]
        assert m["status"] == "ok" and m["msg_id"] in ar.msg_ids
        assert m["after"] == [] and m["follow"] == []
        assert m["stdout"] == "" and m["stderr"] == ""
    assert ar.serial_time >= 1.0
    assert ar.serial_time / ar.wall_time > 1  # the speedup of two parallel sleeps
    assert ar.elapsed >= 0.5 and ar.progress == 2 and len(ar) == 2
    assert ar.successful() and ar.ready()
    assert py[0].apply_async(print, "hello").get() is None
    one = py[0].apply_async(lambda: print("to out") or os.write(2, b"") or 7)
    assert one.get() == 7 and one.stdout == "to out\n" and one["stdout"] == "to out\n"
    assert one.metadata["summary"] == "7"  # the engine's repr of the value
    err = py[0].apply_async(lambda: __import__("sys").stderr.write("to err") and 1 / 0)
    with pytest.raises(ipp.RemoteError):
        err.get()
    assert err.stderr == "to err"
    assert set(py.metadata) >= set(ar.msg_ids)


def test_rms_map_reduce(py):
    view = py.load_balanced_view()
    X = np.linspace(0, 100)
    add = lambda a, b: a + b  # noqa: E731
    sq = lambda x: x * x  # noqa: E731
    local = math.sqrt(reduce(add, map(sq, X)) / len(X))
    assert local == 58.028845747399714
    assert math.sqrt(reduce(add, view.map(sq, X)) / len(X)) == pytest.approx(58.028845747399714)
    assert math.sqrt(reduce(add, py[:].map(sq, X)) / len(X)) == pytest.approx(58.028845747399714)


def test_execute_run_pull(py, tmp_path):
    dv = py[:]
    ar = dv.execute("import os\nq = 6 * 7\nprint('executed')")
    assert isinstance(ar, ipp.AsyncResult)
    ar.get()
    assert ar.stdout == ["executed\n", "executed\n"]
    assert dv.pull("q", block=True) == [42, 42]
    script = tmp_path / "script.py"
    script.write_text("r = q + 1\n")
    dv.run(str(script), block=True)
    assert dv["r"] == [43, 43]
    bad = dv.execute("raise ValueError('from execute')")
    with pytest.raises(ipp.CompositeError) as ei:
        bad.get()
    assert {e.ename for e in ei.value.elist} == {"ValueError"}
    dv.clear(block=True)
    with pytest.raises(ipp.CompositeError):
        dv.pull("q", block=True)


def test_closures(py):
    k = 3

    def outer(n):
        def inner(x):
            return x * n + k
        return inner

    f = outer(5)
    assert py.load_balanced_view().map_sync(f, range(4)) == [3, 8, 13, 18]
    assert py[:].apply_sync(lambda: f(1)) == [8, 8]


def test_numpy_in_and_out_and_tracking(py):
    A = np.arange(2_000_000, dtype=np.float64).reshape(1000, 2000)
    lv = py.load_balanced_view()
    ar = lv.apply_async(lambda a: (a.flags.writeable, float(a.sum()), a.shape), A)
    assert ar.get() == (False, float(A.sum()), A.shape)
    back = py[0].apply_sync(lambda a: a * 2, A)
    assert np.array_equal(back, A * 2)
    mv = memoryview(bytearray(b"x" * 100_000))
    assert py[0].apply_sync(lambda m: (type(m).__name__, len(m)), mv) == ("memoryview", 100_000)
    big = b"y" * 200_000
    assert py[0].apply_sync(lambda b: (type(b).__name__, len(b)), big) == ("bytes", 200_000)
    with lv.temp_flags(track=True):
        tr = lv.apply_async(lambda a: a.shape, A)
    tr.wait_on_send(10)
    assert tr.sent
    assert tr.get() == A.shape
    assert lv.apply_async(int).sent  # nothing tracked: sent at once


def test_remote_error_with_traceback(py):
    def fails(x):
        raise KeyError(f"no {x}")

    ar = py.load_balanced_view().apply_async(fails, "key")
    with pytest.raises(ipp.RemoteError) as ei:
        ar.get()
    e = ei.value
    assert e.ename == "KeyError" and "no key" in e.evalue
    assert "fails" in e.traceback and "raise KeyError" in e.traceback
    assert e.engine_info["engine_id"] in py.ids
    assert ar.ready() and not ar.successful()
    assert ar.metadata["status"] == "error"
    with pytest.raises(ipp.CompositeError) as ci:
        py[:].apply_sync(fails, 1)
    assert len(ci.value.elist) == 2 and all(x.ename == "KeyError" for x in ci.value.elist)
