"""The engine rebuilds a function the client sends again (its kept pickle)
once, and every call still behaves as if the function had just been
unpickled: fresh closure cells, the engine namespace as its globals."""

import pickle

import pytest

import ipp
from ipp import serialize


def _memo_size(e):
    e.execute("import sys as _s; _m = len(_s.modules['_ipp_boot']._fmemo)", block=True)
    return e.pull("_m", block=True)


def test_a_function_sent_again_is_rebuilt_once_with_fresh_cells_each_call(py):
    e = py[py.ids[0]]

    def make():
        n = 0

        def bump():
            nonlocal n
            n += 1
            return n
        return bump

    bump = make()
    assert len(serialize.pack_apply(bump, (), {})) == 1  # the kept-pickle form
    before = _memo_size(e)
    # Each call starts from the n that was pickled: a kept function whose
    # cells were shared between calls would count 1, 2, 3.
    assert [e.apply_sync(bump) for _ in range(3)] == [1, 1, 1]
    assert _memo_size(e) == before + 1  # rebuilt once, not three times


def test_a_kept_function_gets_its_own_globals_each_call(py):
    e = py[py.ids[0]]

    def count():
        global _memo_calls
        _memo_calls = globals().get("_memo_calls", 0) + 1
        return _memo_calls

    # A function of this module: its globals are those pickled with it,
    # made afresh for every call; writes to them do not pile up.
    assert [e.apply_sync(count) for _ in range(3)] == [1, 1, 1]


def test_a_kept_function_of_main_sees_the_namespace_of_each_call(py):
    e = py[py.ids[0]]
    where = {"__name__": "__main__"}
    exec("def read():\n    return memo_value * 2\n", where)
    read = where["read"]
    assert len(serialize.pack_apply(read, (), {})) == 1
    e.execute("memo_value = 5", block=True)
    assert e.apply_sync(read) == 10
    e.execute("memo_value = 'ab'", block=True)
    assert e.apply_sync(read) == "abab"
    e.execute("del memo_value", block=True)
    with pytest.raises(ipp.RemoteError) as ei:
        e.apply_sync(read)
    assert ei.value.ename == "NameError"


def test_pickle_loads_of_other_values_is_not_kept(py):
    e = py[py.ids[0]]
    before = _memo_size(e)

    class Box:
        # An argument whose pickle is `pickle.loads(bytes)` too: it is
        # rebuilt each time, never shared between calls.
        def __reduce__(self):
            return pickle.loads, (pickle.dumps([1]),)

    def grow(x):
        x.append(2)
        return x

    assert e.apply_sync(grow, Box()) == [1, 2]
    assert e.apply_sync(grow, Box()) == [1, 2]
    assert _memo_size(e) == before
