"""py.apply's argument pickles: the kept-function fast path gives what the
full cloudpickle path gives, and notices every change that would change
the pickle (rebound globals, defaults, closures, code, attributes)."""

import pickle

from ipp import serialize

K = 3
L = [1]


def use_k(x):
    return x + K


def use_l(x):
    return L + [x]


def unpack(bufs):
    f, args, kwargs = pickle.loads(bufs[0], buffers=bufs[1:])
    return f(*args, **kwargs)


def fast(bufs):
    return len(bufs) == 1 and b"_pickle" in bytes(bufs[0])


def test_kept_function_follows_rebound_globals():
    global K
    try:
        assert unpack(serialize.pack_apply(use_k, (1,), {})) == 4
        assert fast(serialize.pack_apply(use_k, (1,), {}))
        K = 10
        assert unpack(serialize.pack_apply(use_k, (1,), {})) == 11
        K = "a"
        assert unpack(serialize.pack_apply(lambda: K * 2, (), {})) == "aa"
    finally:
        K = 3


def test_mutable_globals_take_the_full_path_every_time():
    b = serialize.pack_apply(use_l, (2,), {})
    assert not fast(b) and unpack(b) == [1, 2]
    L.append(5)
    try:
        assert unpack(serialize.pack_apply(use_l, (2,), {})) == [1, 5, 2]
    finally:
        del L[1:]


def test_defaults_closures_code_and_attributes_are_noticed():
    def f(x, y=1):
        return x + y

    assert unpack(serialize.pack_apply(f, (1,), {})) == 2
    f.__defaults__ = (5,)
    assert unpack(serialize.pack_apply(f, (1,), {})) == 6

    def g(x, *, z=1):
        return x * z

    assert unpack(serialize.pack_apply(g, (2,), {})) == 2
    g.__kwdefaults__["z"] = 7
    assert unpack(serialize.pack_apply(g, (2,), {})) == 14

    n = 1

    def h():
        return n

    assert unpack(serialize.pack_apply(h, (), {})) == 1
    n = 2
    assert unpack(serialize.pack_apply(h, (), {})) == 2

    f.__code__ = g.__code__
    f.__defaults__ = None
    f.__kwdefaults__ = {"z": 3}
    assert unpack(serialize.pack_apply(f, (2,), {})) == 6
    f.tag = "x"  # attributes travel: the full path
    b = serialize.pack_apply(f, (2,), {})
    assert not fast(b) and pickle.loads(b[0])[0].tag == "x"


def test_arguments_that_are_not_scalars_take_the_full_path():
    b = serialize.pack_apply(use_k, ([1],), {})
    assert not fast(b)
    f, args, _ = pickle.loads(b[0])
    assert args == ([1],)
    big = b"x" * serialize.OOB_BYTES
    b = serialize.pack_apply(len, (big,), {})
    assert len(b) == 2 and unpack(b) == len(big)  # out of band


def test_large_bytes_travel_out_of_band_without_a_copy():
    big = b"y" * serialize.OOB_BYTES
    small = b"z" * 100
    for value in (big, [big, small], (1, {"k": big}), {"a": [big, big]}):
        bufs = serialize.dumps(value)
        assert len(bufs) == 2  # the pickle, then big once (shared, not doubled)
        assert bufs[1].obj is big  # the very object: lent, not copied
        assert pickle.loads(bufs[0], buffers=bufs[1:]) == value
    assert len(serialize.dumps(small)) == 1  # small bytes stay inside
    bufs = serialize.pack_apply(len, (), {"x": big})
    assert len(bufs) == 2 and bufs[1].obj is big
    b = serialize.pack_apply(int, ("12",), {"base": 3})
    assert fast(b) and unpack(b) == 5
