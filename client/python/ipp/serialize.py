"""ipp.serialize — the wire formats of docs/PYTHON.md.

Every pickle is protocol 5 with a buffer_callback: numpy arrays,
memoryviews, PickleBuffers and large bytes travel as their own message
buffers after the pickle, never inside it, so they are sent without a
copy (the C layer lends them to ZeroMQ). Results are unpickled over the
received frames (read-only memoryviews), again without a copy.
"""

import io
import pickle
import sys
import types

import cloudpickle

# Bytes objects at least this long go out of band (smaller ones are
# cheaper inside the pickle than as a frame of their own).
OOB_BYTES = 64 * 1024


class _Pickler(cloudpickle.Pickler):
    """cloudpickle, plus every memoryview out of band (large bytes: _lift)."""

    def reducer_override(self, obj):
        t = type(obj)
        if t is memoryview:
            return memoryview, (pickle.PickleBuffer(obj),)
        return super().reducer_override(obj)


class _BigBytes:
    """A large bytes object, pickled out of band (unpickles as bytes)."""

    __slots__ = ("b",)

    def __init__(self, b):
        self.b = b

    def __reduce__(self):
        return bytes, (pickle.PickleBuffer(self.b),)


# The pickler handles bytes itself before any reducer_override could see
# them: large ones are swapped for _BigBytes first, at the top and inside
# lists, tuples and dicts of up to _LIFT_LEN items, _LIFT_DEPTH deep
# (deeper or in other containers they stay inside the pickle).
_LIFT_LEN = 256
_LIFT_DEPTH = 4


def _lift(obj, memo, depth=0):
    t = type(obj)
    if t is bytes:
        if len(obj) < OOB_BYTES:
            return obj
        w = memo.get(id(obj))
        if w is None:
            w = memo[id(obj)] = _BigBytes(obj)
        return w
    if depth >= _LIFT_DEPTH or (t is not list and t is not tuple and t is not dict) or \
            len(obj) > _LIFT_LEN:
        return obj
    if t is dict:
        out = None
        for k, v in obj.items():
            w = _lift(v, memo, depth + 1)
            if w is not v:
                if out is None:
                    out = dict(obj)
                out[k] = w
        return obj if out is None else out
    out = None
    for i, v in enumerate(obj):
        w = _lift(v, memo, depth + 1)
        if w is not v:
            if out is None:
                out = list(obj)
            out[i] = w
    if out is None:
        return obj
    return out if t is list else tuple(out)


def _dump(obj, pickler_cls):
    bufs = []
    f = io.BytesIO()
    obj = _lift(obj, {})
    pickler_cls(f, protocol=5, buffer_callback=bufs.append).dump(obj)
    out = [f.getbuffer()]
    for b in bufs:
        out.append(b.raw())
    return out


def dumps(obj):
    """obj (any value cloudpickle handles) as [pickle, buffer, …]."""
    return _dump(obj, _Pickler)


# ---------------------------------------------------------------- the fast path
#
# Pickling a function of __main__ by value (cloudpickle) costs tens of µs,
# and most calls send the same function again with a few numbers or
# strings. So a function's pickle is kept while nothing it would carry can
# have changed — its code, defaults and closure hold only immutable values,
# and every global name its code uses is bound (or unbound) to the very
# object it was at the first pickle, each a module, a builtin, a class or
# function pickled by reference, an immutable scalar, or the function
# itself — and when the arguments are such scalars too the call is one
# plain pickle: (loads-of-the-kept-bytes, args, kwargs). The engine
# unpickles it exactly as the full form (docs/PYTHON.md, py.apply).
# Anything else takes the full cloudpickle path every time.

_SCALARS = frozenset((int, float, complex, str, bool, type(None), bytes))
_MISSING = object()
_FCACHE_MAX = 256
_fcache = {}   # id(f) → (f, fingerprint, pickle of f)
_names = {}    # code object → the global names it (and code nested in it) may load


def _code_names(code):
    names = _names.get(code)
    if names is None:
        out = set(code.co_names)
        for c in code.co_consts:
            if isinstance(c, types.CodeType):
                out.update(_code_names(c))
        names = tuple(sorted(out))
        if len(_names) > 4 * _FCACHE_MAX:
            _names.clear()
        _names[code] = names
    return names


def _by_reference(v):
    """v is pickled as a reference to an importable name, never by value."""
    mod = getattr(v, "__module__", None)
    if not isinstance(mod, str) or mod == "__main__":
        return False
    by_value = cloudpickle.list_registry_pickle_by_value()
    if by_value:
        parts = mod.split(".")
        if any(".".join(parts[:i]) in by_value for i in range(1, len(parts) + 1)):
            return False
    return isinstance(v, (type, types.BuiltinFunctionType)) or (
        isinstance(v, types.FunctionType) and "<locals>" not in v.__qualname__
        and getattr(sys.modules.get(mod), v.__name__, None) is v)


def _fixed(v, f):
    t = type(v)
    return (t in _SCALARS or v is f or t is types.ModuleType or _by_reference(v)
            or (t is tuple and all(type(x) in _SCALARS for x in v)))


def _fingerprint(f):
    """What f's pickle depends on, compared by identity; None when it may
    depend on something mutable (then f is pickled afresh each time)."""
    if type(f) is not types.FunctionType:
        return ("ref",) if _by_reference(f) else None
    if f.__dict__:
        return None
    code = f.__code__
    defaults = f.__defaults__ or ()
    kwdefaults = f.__kwdefaults__ or {}
    cells = []
    for c in f.__closure__ or ():
        try:
            v = c.cell_contents
        except ValueError:
            return None
        if not _fixed(v, f):
            return None
        cells.append(v)
    for v in defaults:
        if not _fixed(v, f):
            return None
    for v in kwdefaults.values():
        if not _fixed(v, f):
            return None
    g = f.__globals__
    bound = []
    for name in _code_names(code):
        v = g.get(name, _MISSING)
        if v is not _MISSING and not _fixed(v, f):
            return None
        bound.append(v)
    return (code, defaults, tuple(kwdefaults.items()), tuple(cells), tuple(bound),
            f.__name__, f.__qualname__, f.__module__)


def _still(hit, f):
    """hit (a kept entry of f) still holds: nothing f's pickle carries was
    rebound since (identity checks only: what was kept is immutable)."""
    if type(f) is not types.FunctionType:
        return True
    fp = hit[1]
    if f.__code__ is not fp[0] or f.__dict__:
        return False
    d = f.__defaults__ or ()
    if d is not fp[1] and d != fp[1]:
        return False
    kw = f.__kwdefaults__
    if (tuple(kw.items()) if kw else ()) != fp[2]:
        return False
    cells = f.__closure__ or ()
    if len(cells) != len(fp[3]):
        return False
    for c, v in zip(cells, fp[3]):
        try:
            if c.cell_contents is not v:
                return False
        except ValueError:
            return False
    g = f.__globals__
    for name, v in zip(_code_names(fp[0]), fp[4]):
        if g.get(name, _MISSING) is not v:
            return False
    return fp[5:] == (f.__name__, f.__qualname__, f.__module__)


def _function_pickle(f):
    """(the kept pickle of f, as a _Kept), or None (not cacheable, or it
    has out-of-band buffers)."""
    hit = _fcache.get(id(f))
    if hit is not None and hit[0] is f and _still(hit, f):
        return hit[2]
    fp = _fingerprint(f)
    if fp is None:
        return None
    parts = _dump(f, _Pickler)
    if len(parts) != 1:
        return None
    kept = _Kept(bytes(parts[0]))
    if len(_fcache) >= _FCACHE_MAX:
        _fcache.clear()
    _fcache[id(f)] = (f, fp, kept)
    return kept


class _Kept:
    """Unpickles as the function whose pickle it carries."""

    __slots__ = ("data",)

    def __init__(self, data):
        self.data = data

    def __reduce__(self):
        return pickle.loads, (self.data,)


def pack_apply(f, args, kwargs):
    """py.apply's argument buffers for f(*args, **kwargs)."""
    args = tuple(args)
    kwargs = dict(kwargs)
    for a in args:
        if type(a) not in _SCALARS or (type(a) is bytes and len(a) >= OOB_BYTES):
            break
    else:
        for a in kwargs.values():
            if type(a) not in _SCALARS or (type(a) is bytes and len(a) >= OOB_BYTES):
                break
        else:
            kept = _function_pickle(f)
            if kept is not None:
                return [pickle.dumps((kept, args, kwargs), protocol=5)]
    return _dump((f, args, kwargs), _Pickler)


def loads(bufs):
    """The value of [pickle, buffer, …] (buffers read-only, not copied)."""
    if not bufs:
        return None
    return pickle.loads(bufs[0], buffers=bufs[1:])
