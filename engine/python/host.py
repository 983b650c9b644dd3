# host.py — the Python half of ipp-python-host: what one Python task does.
#
# ipp-python-host (host.c) embeds CPython, reads task frames from the
# engine's Python plugin and calls run(kind, parts) for each; this module
# turns them into work in the engine namespace (the host's __main__
# module dict) and answers (ok, parts). It owns the namespace and the
# task's sys.stdout/sys.stderr redirection; it never touches the socket
# (C does, through _ipp_host.write) and never lets an exception out of
# run(). The wire formats are docs/PYTHON.md's.

import builtins
import io
import linecache
import pickle
import signal
import sys
import traceback
import types

import _ipp_host

try:
    import cloudpickle
except ImportError as e:  # reported by host.c as the reason Python is unavailable
    raise ImportError(
        "cloudpickle is missing (Debian package python3-cloudpickle): %s" % e) from None

# The op codes of frame.h.
APPLY, EXECUTE, PUSH, PULL, CLEAR = 1, 2, 3, 4, 5
SUMMARY_MAX = 1024


class TaskAborted(BaseException):
    """Raised in a running task when it is aborted."""


class WallTimeExceeded(BaseException):
    """Raised in a running task when its wall-time limit passes."""


# Both are BaseException, so `except Exception:` in user code does not
# swallow them; shown without a module prefix in tracebacks.
for _cls in (TaskAborted, WallTimeExceeded):
    _cls.__module__ = "builtins"


def _on_interrupt(signum, frame):
    # host.c trips SIGINT when a stop request for the running task came;
    # _ipp_host.reason() says which (0: stale, between tasks: ignore).
    why = _ipp_host.reason()
    if why == 1:
        raise TaskAborted("the task was aborted")
    if why == 2:
        raise WallTimeExceeded("the task ran past its wall-time limit")


signal.signal(signal.SIGINT, _on_interrupt)

ns = sys.modules["__main__"].__dict__
_kept = {k: ns[k] for k in ("__name__", "__builtins__") if k in ns}
_this_file = __file__ if "__file__" in globals() else "<ipp-host>"
_executes = 0


class _Raw(io.RawIOBase):
    """sys.stdout/sys.stderr during a task: bytes go to the plugin."""

    def __init__(self, stream):
        super().__init__()
        self._stream = stream

    def writable(self):
        return True

    def write(self, b):
        n = len(b)
        if n:
            _ipp_host.write(self._stream, b)
        return n


def _stream(n):
    return io.TextIOWrapper(io.BufferedWriter(_Raw(n), 65536), encoding="utf-8",
                            errors="backslashreplace", write_through=False)


# The task streams are made once and flushed at the end of every task (a
# fresh pair per task cost a third of a no-op task); one the code closed
# or replaced with an object of its own is made again.
_streams = [None, None]


def _task_streams():
    for i in (0, 1):
        s = _streams[i]
        if s is None or s.closed:
            _streams[i] = _stream(i + 1)
    return _streams[0], _streams[1]


def _dumps(value):
    """A protocol-5 pickle of value and its out-of-band buffers."""
    bufs = []
    try:
        data = pickle.dumps(value, protocol=5, buffer_callback=bufs.append)
    except (pickle.PicklingError, TypeError, AttributeError):
        bufs = []  # lambdas, closures, local classes: cloudpickle can
        data = cloudpickle.dumps(value, protocol=5, buffer_callback=bufs.append)
    return [data] + [b.raw() for b in bufs]


def _loads(parts):
    return pickle.loads(parts[0], buffers=parts[1:])


# A client sends a function it sent before as the same pickled bytes,
# wrapped as `pickle.loads(bytes)` inside the call's pickle (the client's
# kept pickle, docs/PYTHON.md); unpickling it costs most of a no-op task.
# So such a function is unpickled once per distinct bytes and kept as a
# template, and each call gets a copy (_fresh) as unpickling would give
# it: its own globals dict, closure cells and keyword defaults, so nothing
# one call changes reaches the next. Only plain functions whose cells hold
# no callables are kept (what such a cell names would be shared).
_FMEMO_MAX = 256          # templates kept at most (then the memo restarts)
_FMEMO_BYTES = 1 << 16    # larger pickles are unpickled every time
_fmemo = {}               # pickle bytes → the function they unpickle to


def _keepable(f):
    if type(f) is not types.FunctionType or f.__dict__:
        return False
    for c in f.__closure__ or ():
        try:
            v = c.cell_contents
        except ValueError:
            continue
        if callable(v):
            return False
    return True


def _fresh(f):
    g = dict(f.__globals__)
    cells = None
    if f.__closure__:
        cells = []
        for c in f.__closure__:
            try:
                cells.append(types.CellType(c.cell_contents))
            except ValueError:  # unbound
                cells.append(types.CellType())
        cells = tuple(cells)
    h = types.FunctionType(f.__code__, g, f.__name__, f.__defaults__, cells)
    h.__kwdefaults__ = dict(f.__kwdefaults__) if f.__kwdefaults__ else None
    h.__qualname__ = f.__qualname__
    h.__doc__ = f.__doc__
    h.__module__ = f.__module__
    if f.__annotations__:
        h.__annotations__ = dict(f.__annotations__)
    for k, v in g.items():
        if v is f:  # a function naming itself (recursion) names its copy
            g[k] = h
    return h


def _memo_loads(data, *args, **kwargs):
    if args or kwargs or type(data) is not bytes or len(data) > _FMEMO_BYTES:
        return pickle.loads(data, *args, **kwargs)
    f = _fmemo.get(data)
    if f is None:
        f = pickle.loads(data)
        if not _keepable(f):
            return f
        if len(_fmemo) >= _FMEMO_MAX:
            _fmemo.clear()
        _fmemo[data] = f
    return _fresh(f)


class _CallUnpickler(pickle.Unpickler):
    """The unpickler of py.apply: `pickle.loads` inside it is _memo_loads."""

    def find_class(self, module, name):
        if name == "loads" and module in ("pickle", "_pickle"):
            return _memo_loads
        return super().find_class(module, name)


def _loads_call(parts):
    return _CallUnpickler(io.BytesIO(parts[0]), buffers=parts[1:]).load()


def _rebind(f):
    """f rebuilt with the engine namespace as its globals, when it comes
    from the client's __main__; names cloudpickle captured go into the
    namespace only where it lacks them (the engine's values win)."""
    if not isinstance(f, types.FunctionType) or f.__module__ != "__main__":
        return f
    old = f.__globals__
    if old is ns:
        return f
    done = {}

    def rebuilt(g):
        if id(g) in done:
            return done[id(g)]
        h = types.FunctionType(g.__code__, ns, g.__name__, g.__defaults__, g.__closure__)
        h.__kwdefaults__ = g.__kwdefaults__
        h.__qualname__ = g.__qualname__
        h.__doc__ = g.__doc__
        h.__dict__.update(g.__dict__)
        h.__module__ = g.__module__
        done[id(g)] = h
        return h

    new_f = rebuilt(f)
    for k, v in list(old.items()):
        if k.startswith("__") and k.endswith("__"):
            continue
        if isinstance(v, types.FunctionType) and v.__globals__ is old:
            v = rebuilt(v)
        ns.setdefault(k, v)
    return new_f


def _summary(value):
    try:
        r = repr(value)
    except BaseException as e:  # a broken __repr__ must not fail the task
        r = "<repr failed: %s: %s>" % (type(e).__name__, e)
    if len(r) > SUMMARY_MAX:
        r = r[:SUMMARY_MAX - 1] + "\u2026"
    return r.encode("utf-8", "backslashreplace")


def _apply(parts):
    if not parts:
        raise ValueError("py.apply needs a pickle of (f, args, kwargs)")
    call = _loads_call(parts)
    if not isinstance(call, tuple) or len(call) != 3:
        raise TypeError("py.apply: the pickle must hold a tuple (f, args, kwargs)")
    f, args, kwargs = call
    if not callable(f):
        raise TypeError("py.apply: %r is not callable" % (f,))
    value = _rebind(f)(*args, **kwargs)
    out = _dumps(value)
    return [_summary(value)] + out


def _execute(parts):
    global _executes
    if not parts:
        raise ValueError("py.execute needs the source text")
    src = bytes(parts[0]).decode("utf-8")
    _executes += 1
    name = bytes(parts[1]).decode("utf-8") if len(parts) > 1 and parts[1] else \
        "<execute-%d>" % _executes
    # linecache lets tracebacks show the lines of code that never was a file
    linecache.cache[name] = (len(src), None, src.splitlines(True), name)
    exec(compile(src, name, "exec"), ns)
    return [b""]


def _push(parts):
    if not parts:
        raise ValueError("py.push needs a pickle of a dict")
    d = _loads(parts)
    if not isinstance(d, dict):
        raise TypeError("py.push: the pickle must hold a dict, not %s" % type(d).__name__)
    for k in d:
        if not isinstance(k, str):
            raise TypeError("py.push: names must be str, not %s" % type(k).__name__)
    ns.update(d)
    return [b""]


def _get(name):
    if not isinstance(name, str):
        raise TypeError("py.pull: names must be str, not %s" % type(name).__name__)
    try:
        return ns[name]
    except KeyError:
        raise NameError("name %r is not defined" % name) from None


def _pull(parts):
    if not parts:
        raise ValueError("py.pull needs a pickle of a name or a list of names")
    names = _loads(parts)
    if isinstance(names, (list, tuple)):
        value = tuple(_get(n) for n in names)
    else:
        value = _get(names)
    return [_summary(value)] + _dumps(value)


def _clear(parts):
    ns.clear()
    ns.update(_kept)
    return [b""]


_ops = {APPLY: _apply, EXECUTE: _execute, PUSH: _push, PULL: _pull, CLEAR: _clear}


def _strip(te, seen):
    # our own frames go (the user's code is what matters), in chained
    # exceptions too
    while te is not None and id(te) not in seen:
        seen.add(id(te))
        te.stack = traceback.StackSummary.from_list(
            [f for f in te.stack if f.filename != _this_file])
        if te.__cause__ is not None:
            _strip(te.__cause__, seen)
        te = te.__context__


def _format(e):
    te = traceback.TracebackException(type(e), e, e.__traceback__)
    _strip(te, set())
    return "".join(te.format()).encode("utf-8", "backslashreplace")


def _text(s):
    return s.encode("utf-8", "backslashreplace")


def run(kind, parts):
    """One task: (True, [summary, result parts…]) or (False, [ename,
    evalue, traceback]). Never raises."""
    out, err = _task_streams()
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    try:
        try:
            op = _ops.get(kind)
            if op is None:
                raise ValueError("unknown Python task kind %d" % kind)
            return True, op(parts)
        except BaseException as e:
            try:
                evalue = str(e)
            except BaseException:
                evalue = "<str() failed>"
            return False, [_text(type(e).__name__), _text(evalue), _format(e)]
        finally:
            for s in (out, err):
                try:
                    s.flush()
                except BaseException:
                    pass
    finally:
        sys.stdout, sys.stderr = saved
