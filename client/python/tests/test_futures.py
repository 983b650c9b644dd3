"""AsyncResult is a concurrent.futures.Future: callbacks, asyncio,
concurrent.futures.wait, the executor; AsyncMapResult iterates as results
arrive."""

import asyncio
import concurrent.futures
import os
import threading
import time

import pytest

import ipp


def test_is_a_future_with_callbacks(py):
    f = py[-1].apply(os.getpid)
    assert isinstance(f, concurrent.futures.Future)
    got = threading.Event()
    seen = []
    f.add_done_callback(lambda fut: (seen.append(fut.result()), got.set()))
    assert got.wait(30)  # completed by the client's spinner, nobody waited on f
    assert seen == [f.result()] and isinstance(seen[0], int)
    # a callback added once done runs at once
    later = []
    f.add_done_callback(lambda fut: later.append(1))
    assert later == [1]


def test_a_future_nobody_waited_on_never_made_its_condition(py):
    from ipp import asyncresult
    assert asyncresult._LAZY  # this Python's Future has the fields we know
    ar = py[-1].apply_async(lambda: 7)
    assert ar.get(30) == 7  # waited through the C client, not the Future
    assert "_condition_" not in vars(ar) and ar.done() and ar.result() == 7
    bad = py[-1].apply_async(lambda: 1 / 0)
    with pytest.raises(ipp.RemoteError):
        bad.get(30)
    assert "_condition_" not in vars(bad)
    assert isinstance(bad.exception(), ipp.RemoteError)
    with pytest.raises(concurrent.futures.InvalidStateError):
        ar.set_result(8)  # done is done, with or without a Condition
    assert ar.result() == 7


def test_threads_waiting_through_the_future_api_are_woken(py):
    lv = py.load_balanced_view()
    for delay in (0.0, 0.05, 0.3):
        ars = [lv.apply_async(time.sleep, delay) for _ in range(4)]
        got = []
        threads = [threading.Thread(target=lambda a=a: got.append(a.result(timeout=30)))
                   for a in ars]
        for t in threads:
            t.start()
        ars[0].get(30)  # this thread spins the client meanwhile
        for t in threads:
            t.join(30)
        assert not any(t.is_alive() for t in threads)
        assert got == [None] * 4


def test_concurrent_futures_wait_and_as_completed(py):
    lv = py.load_balanced_view()
    fs = [lv.apply_async(time.sleep, 0.1) for _ in range(4)]
    done, not_done = concurrent.futures.wait(fs, timeout=30)
    assert len(done) == 4 and not not_done
    fs = [lv.apply_async(lambda x: x, i) for i in range(6)]
    assert sorted(f.result() for f in concurrent.futures.as_completed(fs, timeout=30)) == \
        list(range(6))


def test_asyncio_awaits_while_another_coroutine_runs(py):
    view = py.load_balanced_view()
    ticks = []

    async def background():
        while True:
            await asyncio.sleep(0.05)
            ticks.append(1)

    async def work():
        bg = asyncio.ensure_future(background())
        r1 = await asyncio.wrap_future(view.apply_async(time.sleep, 0.5))
        r2 = await view.apply_async(lambda: os.getpid())
        bg.cancel()
        return r1, r2

    r1, r2 = asyncio.run(asyncio.wait_for(work(), 60))
    assert r1 is None and isinstance(r2, int)
    assert len(ticks) >= 3  # the loop kept running while we waited


def test_executor(py):
    ex = py.load_balanced_view().executor
    assert isinstance(ex, concurrent.futures.Executor)
    f = ex.submit(pow, 2, 10)
    assert f.result(30) == 1024
    assert list(ex.map(lambda x: x + 1, range(5))) == [1, 2, 3, 4, 5]
    ex.shutdown()
    with pytest.raises(RuntimeError):
        ex.submit(pow, 2, 2)


def test_map_iterates_as_results_arrive(py):
    lv = py.load_balanced_view()
    amr = lv.map(lambda t: (time.sleep(t), t)[1], [0.8, 0.05, 0.05], ordered=False)
    it = iter(amr)
    first = next(it)
    assert first == 0.05  # a fast one came before the slow first item
    assert sorted([first] + list(it)) == [0.05, 0.05, 0.8]
    ordered = lv.map(lambda x: x * 3, range(5))
    assert list(ordered) == [0, 3, 6, 9, 12]
    assert list(lv.imap(lambda x: -x, range(3))) == [0, -1, -2]
    assert len(ordered) == 5 and ordered.progress == 5


def test_get_timeout_and_wait(py):
    ar = py.load_balanced_view().apply_async(time.sleep, 1.0)
    with pytest.raises(ipp.error.TimeoutError):
        ar.get(0.05)
    with pytest.raises(concurrent.futures.TimeoutError):
        ar.result(timeout=0.05)
    assert ar.wait(0.01) is False and not ar.ready()
    with pytest.raises(AssertionError):
        ar.successful()
    assert ar.wait(30) is True and ar.successful()
    assert py.wait([ar], timeout=5) and py.wait(timeout=30)


def test_wait_interactive(py, capsys):
    ar = py.load_balanced_view().map(time.sleep, [0.2] * 4)
    ar.wait_interactive(interval=0.1)
    out = capsys.readouterr().out
    assert "/4 tasks finished" in out and out.strip().endswith("done")


def test_outstanding(py):
    ar = py.load_balanced_view().apply_async(time.sleep, 0.5)
    assert set(ar.msg_ids) <= py.outstanding
    ar.get()
    assert not (set(ar.msg_ids) & py.outstanding)
