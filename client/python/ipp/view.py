"""ipp.view — DirectView and LoadBalancedView, as IPython Parallel.

A view turns calls into Python tasks (docs/PYTHON.md: py.apply,
py.execute, py.push, py.pull, py.clear) on a C view, and hands back
AsyncResults. Flags: ``block`` (default False) and ``track`` on every
view, ``targets``; on load-balanced views ``after``, ``follow``,
``timeout``, ``retries``, ``label``, ``requires`` — set with
``set_flags(…)``, for a while with ``with view.temp_flags(…)``, or per
call as keywords where IPython Parallel has them. Every bad use fails
here, before anything is sent.
"""

import builtins
import concurrent.futures
import contextlib
import functools
import numbers
import os

from . import _ipp
from . import error
from . import serialize
from . import _remote
from .asyncresult import AsyncMapResult, AsyncResult, _join_parts
from .dependency import _dep_flag

__all__ = ["View", "DirectView", "LoadBalancedView", "ViewExecutor",
           "RemoteFunction", "ParallelFunction"]

_NOTHING = object()


def _fname(f):
    return getattr(f, "__name__", None) or type(f).__name__


def _check_bool(name, v):
    if not isinstance(v, bool):
        raise error.InvalidUse(f"flag {name} must be True or False, not {v!r}")
    return v


def _check_targets(v, allow_all=True):
    """None, 'all', an engine id, or a list of ids."""
    if v is None or (allow_all and v == "all"):
        return v
    if isinstance(v, bool) or not isinstance(v, (numbers.Integral, list, tuple, range)):
        raise error.InvalidUse(f"targets must be an engine id, a list of ids or 'all', not {v!r}")
    if isinstance(v, numbers.Integral):
        return int(v)
    out = []
    for t in v:
        if isinstance(t, bool) or not isinstance(t, numbers.Integral):
            raise error.InvalidUse(f"targets must hold engine ids (ints), not {t!r}")
        out.append(int(t))
    return out


class View:
    """What DirectView and LoadBalancedView share."""

    _flag_names = ("block", "track", "targets")

    def __init__(self, client, targets=None):
        self.client = client
        self.block = False
        self.track = False
        self._targets = targets
        self._cview = None

    # ------------------------------------------------------------ flags

    def set_flags(self, **kwargs):
        """Set the view's flags (block, track, targets, and on a
        load-balanced view after, follow, timeout, retries, label, requires)."""
        for k in kwargs:
            if k not in self._flag_names:
                raise error.InvalidUse(
                    f"{type(self).__name__} has no flag {k!r} (flags: {', '.join(self._flag_names)})")
        checked = {k: self._check_flag(k, v) for k, v in kwargs.items()}
        for k, v in checked.items():
            self._apply_flag(k, v)

    def _check_flag(self, k, v):
        if k in ("block", "track"):
            return _check_bool(k, v)
        if k == "targets":
            return _check_targets(v)
        return v

    def _apply_flag(self, k, v):
        if k == "targets":
            self.targets = v
        else:
            setattr(self, k, v)

    @contextlib.contextmanager
    def temp_flags(self, **kwargs):
        """with view.temp_flags(block=True, retries=2): … — flags for a while."""
        saved = {k: self._get_flag(k) for k in kwargs if k in self._flag_names}
        self.set_flags(**kwargs)
        try:
            yield
        finally:
            self.set_flags(**saved)

    def _get_flag(self, k):
        return getattr(self, k)

    # ------------------------------------------------------------ apply

    def _view_for(self, targets):
        raise NotImplementedError

    def _submit(self, function, buffers, *, kind, fname, block, track, targets=_NOTHING,
                single=None, cls=AsyncResult, **kw):
        cview, single_t = self._view_for(targets)
        tracker = _ipp.Tracker() if track else None
        car = cview.apply(function, buffers, None, tracker)
        ar = cls(self.client, car, kind, fname, single=single_t if single is None else single,
                 tracker=tracker, **kw)
        if block:
            return ar.get()
        return ar

    def _really_apply(self, f, args, kwargs, block=None, track=None, targets=_NOTHING):
        if not callable(f):
            raise TypeError(f"apply needs a callable, not {type(f).__name__}")
        block = self.block if block is None else _check_bool("block", block)
        track = self.track if track is None else _check_bool("track", track)
        self.client._check_open()
        bufs = serialize.pack_apply(f, args, kwargs)
        return self._submit("py.apply", bufs, kind="apply", fname=_fname(f), block=block,
                            track=track, targets=targets)

    def apply(self, f, *args, **kwargs):
        """f(*args, **kwargs) remotely; blocks if self.block."""
        return self._really_apply(f, args, kwargs)

    def apply_async(self, f, *args, **kwargs):
        """f(*args, **kwargs) remotely; an AsyncResult at once."""
        return self._really_apply(f, args, kwargs, block=False)

    def apply_sync(self, f, *args, **kwargs):
        """f(*args, **kwargs) remotely; waits and returns the result."""
        return self._really_apply(f, args, kwargs, block=True)

    def map_async(self, f, *sequences, **kwargs):
        kwargs["block"] = False
        return self.map(f, *sequences, **kwargs)

    def map_sync(self, f, *sequences, **kwargs):
        kwargs["block"] = True
        return self.map(f, *sequences, **kwargs)

    def imap(self, f, *sequences, **kwargs):
        """map, as an iterator over the results as they arrive."""
        kwargs["block"] = False
        return iter(self.map(f, *sequences, **kwargs))

    # ------------------------------------------------------------ decorators

    def remote(self, block=None, **flags):
        """@view.remote(): calling the function runs it on the view."""

        def deco(f):
            return RemoteFunction(self, f, block=block, **flags)

        return deco

    def parallel(self, dist="b", block=None, **flags):
        """@view.parallel(): calling the function on sequences partitions them
        over the engines; .map(seq) calls it per element."""

        def deco(f):
            return ParallelFunction(self, f, dist=dist, block=block, **flags)

        return deco

    @property
    def executor(self):
        """A concurrent.futures.Executor submitting through this view."""
        return ViewExecutor(self)

    # ------------------------------------------------------------ delegation

    def wait(self, jobs=None, timeout=-1):
        return self.client.wait(jobs, timeout)

    def abort(self, jobs=None, targets=None, block=None):
        return self.client.abort(jobs, targets=targets, block=block)

    def queue_status(self, targets=None, verbose=False):
        return self.client.queue_status(targets if targets is not None else self._targets,
                                        verbose)

    def spin(self):
        self.client.spin()

    def shutdown(self, targets=None, restart=False, hub=False, block=None):
        return self.client.shutdown(targets if targets is not None else self._targets,
                                    restart=restart, hub=hub, block=block)

    def get_result(self, indices_or_msg_ids=None, block=None):
        return self.client.get_result(indices_or_msg_ids, block=block)


def _check_seqs(sequences):
    if not sequences:
        raise error.InvalidUse("map needs at least one sequence")
    lens = []
    for s in sequences:
        try:
            lens.append(len(s))
        except TypeError:
            raise error.InvalidUse(f"map needs sequences with a length, not "
                                   f"{type(s).__name__}") from None
    if len(set(lens)) > 1:
        raise error.InvalidUse(f"map's sequences differ in length: {lens}")
    return lens[0]


def _part(seq, lo, hi):
    """Items [lo, hi) of seq: lists, tuples and arrays sliced, others listed."""
    if isinstance(seq, (list, tuple)) or type(seq).__name__ == "ndarray":
        return seq[lo:hi]
    return list(seq[lo:hi]) if hasattr(seq, "__getitem__") else list(seq)[lo:hi]


class DirectView(View):
    """Runs each call on every engine of its targets; namespace operations."""

    def __init__(self, client, targets="all"):
        super().__init__(client, None)
        self.targets = targets

    @property
    def targets(self):
        return self._targets

    @targets.setter
    def targets(self, v):
        v = _check_targets(v)
        if v is None:
            v = "all"
        self._cview = self._make_cview(v)
        self._targets = v

    def _make_cview(self, targets):
        c = self.client._c()
        if targets == "all":
            return c.direct_view(None)
        ids = [targets] if isinstance(targets, int) else list(targets)
        known = self.client.ids
        for t in ids:
            if t not in known:
                raise error.NoSuchEngine(f"no engine {t} (registered: {known})")
        return c.direct_view(ids)

    def _view_for(self, targets):
        if targets is _NOTHING or targets is None:
            return self._cview, isinstance(self._targets, int)
        targets = _check_targets(targets)
        return self._make_cview(targets), isinstance(targets, int)

    def _target_ids(self, targets=_NOTHING):
        cview, _ = self._view_for(targets)
        return cview.targets()

    def __repr__(self):
        t = self._targets
        return f"<DirectView {t if t != 'all' else self.client.ids}>"

    def __len__(self):
        return len(self._target_ids())

    # ------------------------------------------------------------ map

    def map(self, f, *sequences, block=None, track=None, targets=_NOTHING, **unused):
        """f over the sequences' items, split in one chunk per engine."""
        if unused:
            bad = ", ".join(k for k in unused if k != "chunksize")
            if bad:
                raise error.InvalidUse(f"DirectView.map takes no {bad}")
        if not callable(f):
            raise TypeError(f"map needs a callable, not {type(f).__name__}")
        n = _check_seqs(sequences)
        block = self.block if block is None else _check_bool("block", block)
        track = self.track if track is None else _check_bool("track", track)
        self.client._check_open()
        cview, _ = self._view_for(targets)
        parts = len(cview.targets())
        if parts == 0:
            raise error.NoEnginesRegistered("no engine to map on")
        items = []
        for p in range(parts):
            lo, hi = _ipp.partition(n, parts, p)
            chunk = [_part(s, lo, hi) for s in sequences]
            items.append(serialize.pack_apply(_remote.map_chunk, (f,) + tuple(chunk), {}))
        tracker = _ipp.Tracker() if track else None
        car = cview.map("py.apply", items, None, tracker)
        ar = AsyncMapResult(self.client, car, _fname(f), chunked=True, tracker=tracker)
        return ar.get() if block else ar

    # ------------------------------------------------------------ namespace

    def _blk(self, block):
        return self.block if block is None else _check_bool("block", block)

    def execute(self, code, silent=True, targets=_NOTHING, block=None):
        """Run Python source in every target's namespace; the AsyncResult
        (waited for first when blocking)."""
        if not isinstance(code, str):
            raise TypeError(f"execute needs source text (str), not {type(code).__name__}")
        return self._run_source(code, "<execute>", targets, block)

    def run(self, filename, targets=_NOTHING, block=None):
        """Run a Python file's text in every target's namespace."""
        with open(filename, encoding="utf-8") as f:
            code = f.read()
        return self._run_source(code, os.fspath(filename), targets, block)

    def _run_source(self, code, name, targets, block):
        block = self._blk(block)
        self.client._check_open()
        compile(code, name, "exec")  # a SyntaxError is raised here, before sending
        ar = self._submit("py.execute", [code.encode("utf-8"), name.encode("utf-8")],
                          kind="none", fname="execute", block=False, track=False,
                          targets=targets)
        if block:
            ar.get()
        return ar

    def push(self, ns, targets=_NOTHING, block=None, track=None):
        """Set names in every target's namespace from a dict."""
        if not isinstance(ns, dict):
            raise TypeError(f"push needs a dict of names to values, not {type(ns).__name__}")
        for k in ns:
            if not isinstance(k, str) or not k.isidentifier():
                raise error.InvalidUse(f"push: {k!r} is not a valid name")
        block = self._blk(block)
        track = self.track if track is None else _check_bool("track", track)
        self.client._check_open()
        return self._submit("py.push", serialize.dumps(ns), kind="none", fname="push",
                            block=block, track=track, targets=targets)

    def pull(self, names, targets=_NOTHING, block=None):
        """A name's value (or a list of names' values) from every target."""
        if isinstance(names, str):
            key = names
        elif isinstance(names, (list, tuple)) and all(isinstance(n, str) for n in names):
            key = list(names)
        else:
            raise TypeError("pull needs a name (str) or a list of names")
        block = self._blk(block)
        self.client._check_open()
        return self._submit("py.pull", serialize.dumps(key), kind="pull", fname="pull",
                            block=block, track=False, targets=targets)

    def scatter(self, key, seq, dist="b", flatten=False, targets=_NOTHING, block=None,
                track=None):
        """Partition seq over the targets and push each part as key."""
        if not isinstance(key, str) or not key.isidentifier():
            raise error.InvalidUse(f"scatter: {key!r} is not a valid name")
        if dist != "b":
            raise error.InvalidUse(f"scatter: only dist='b' (blocks) is known, not {dist!r}")
        try:
            n = len(seq)
        except TypeError:
            raise error.InvalidUse("scatter needs a sequence with a length") from None
        block = self._blk(block)
        track = self.track if track is None else _check_bool("track", track)
        self.client._check_open()
        cview, _ = self._view_for(targets)
        parts = len(cview.targets())
        if parts == 0:
            raise error.NoEnginesRegistered("no engine to scatter to")
        items = []
        for p in range(parts):
            lo, hi = _ipp.partition(n, parts, p)
            part = _part(seq, lo, hi)
            if flatten and len(part) == 1:
                part = part[0]
            items.append(serialize.dumps({key: part}))
        tracker = _ipp.Tracker() if track else None
        car = cview.map("py.push", items, None, tracker)
        ar = AsyncResult(self.client, car, "none", "scatter", tracker=tracker)
        return ar.get() if block else ar

    def gather(self, key, dist="b", targets=_NOTHING, block=None):
        """Pull key from every target and join the parts (scatter's inverse)."""
        if not isinstance(key, str):
            raise TypeError("gather needs a name (str)")
        if dist != "b":
            raise error.InvalidUse(f"gather: only dist='b' (blocks) is known, not {dist!r}")
        block = self._blk(block)
        self.client._check_open()
        return self._submit("py.pull", serialize.dumps(key), kind="gather", fname="gather",
                            block=block, track=False, targets=targets, single=False)

    def clear(self, targets=_NOTHING, block=None):
        """Empty every target's namespace."""
        block = self._blk(block)
        self.client._check_open()
        return self._submit("py.clear", [], kind="none", fname="clear", block=block,
                            track=False, targets=targets)

    def get(self, key_s):
        """pull, blocking."""
        return self.pull(key_s, block=True)

    def update(self, ns):
        """push, blocking."""
        return self.push(ns, block=True)

    def __getitem__(self, key):
        if isinstance(key, str):
            return self.get(key)
        raise TypeError("a DirectView is indexed by a name (str)")

    def __setitem__(self, key, value):
        self.update({key: value})

    @contextlib.contextmanager
    def sync_imports(self, local=True, quiet=False):
        """with view.sync_imports(): import numpy — the imports run here
        (if local) and on every target."""
        names = []
        real_import = builtins.__import__

        def recording_import(name, globals=None, locals=None, fromlist=(), level=0):
            depth = recording_import.depth
            recording_import.depth += 1
            try:
                mod = real_import(name, globals, locals, fromlist, level) if local else None
            finally:
                recording_import.depth -= 1
            if depth == 0 and level == 0:
                if fromlist:
                    names.append(f"from {name} import {', '.join(fromlist)}")
                else:
                    names.append(f"import {name}")
            if mod is None:
                import types

                mod = types.ModuleType(name)
            return mod

        recording_import.depth = 0
        builtins.__import__ = recording_import
        try:
            yield
        finally:
            builtins.__import__ = real_import
        for stmt in names:
            if not quiet:
                print(f"{stmt.replace('import', 'importing', 1) if stmt.startswith('import') else stmt} on engine(s)")
            self.execute(stmt, block=True)

    def activate(self, suffix=""):
        """Register %px, %%px, %autopx, %pxresult (with suffix) in IPython."""
        from . import magics

        magics.activate(self, suffix)


_LB_FLAGS = ("block", "track", "targets", "after", "follow", "timeout", "retries", "label",
             "requires")


class LoadBalancedView(View):
    """Lets the controller's scheduler pick an engine per task."""

    _flag_names = _LB_FLAGS

    def __init__(self, client, targets=None):
        super().__init__(client, None)
        self._cview = client._c().lb_view()
        self._sched = {"after": None, "follow": None, "timeout": 0, "retries": 0,
                       "label": None, "requires": None, "targets": None}
        if targets is not None:
            self.set_flags(targets=targets)

    def __repr__(self):
        return f"<LoadBalancedView {self._targets if self._targets is not None else 'any'}>"

    def _check_flag(self, k, v):
        if k in ("block", "track"):
            return _check_bool(k, v)
        if k == "targets":
            v = _check_targets(v, allow_all=True)
            if v == "all":
                v = None
            return v
        if k in ("after", "follow"):
            return v
        if k == "timeout":
            if v is None:
                return 0
            if isinstance(v, bool) or not isinstance(v, numbers.Real) or v < 0:
                raise error.InvalidUse(f"timeout must be seconds >= 0 or None, not {v!r}")
            return float(v)
        if k == "retries":
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or not 0 <= v <= 100:
                raise error.InvalidUse(f"retries must be a whole number 0 to 100, not {v!r}")
            return int(v)
        if k == "label":
            if v is not None and not isinstance(v, str):
                raise error.InvalidUse(f"label must be a str or None, not {v!r}")
            return v
        if k == "requires":
            if v is None:
                return None
            if isinstance(v, str):
                v = [v]
            if not all(isinstance(r, str) for r in v):
                raise error.InvalidUse("requires must be a list of 'fn:NAME', 'cmd:PROG' or 'tag:T'")
            return list(v)
        return v

    def _apply_flag(self, k, v):
        if k in ("block", "track"):
            setattr(self, k, v)
            return
        cv = v
        if k in ("after", "follow"):
            cv = _dep_flag(v)
        elif k == "targets":
            cv = [v] if isinstance(v, int) else v
        self._cview.set_flags({k: cv})
        self._sched[k] = v
        if k == "targets":
            self._targets = v

    def _get_flag(self, k):
        if k in ("block", "track"):
            return getattr(self, k)
        return self._sched[k]

    def __getattr__(self, k):
        sched = self.__dict__.get("_sched")
        if sched is not None and k in sched:
            return sched[k]
        raise AttributeError(f"'LoadBalancedView' object has no attribute {k!r}")

    def __setattr__(self, k, v):
        if k in ("after", "follow", "timeout", "retries", "label", "requires", "targets") \
                and "_sched" in self.__dict__:
            self.set_flags(**{k: v})
        else:
            object.__setattr__(self, k, v)

    def _view_for(self, targets):
        if targets is not _NOTHING:
            raise error.InvalidUse("targets on a load-balanced view is a flag: use set_flags")
        return self._cview, True

    def map(self, f, *sequences, block=None, track=None, chunksize=1, ordered=True, **unused):
        """f over the sequences' items, one task per chunk of chunksize items."""
        if unused:
            raise error.InvalidUse(f"LoadBalancedView.map takes no {', '.join(unused)}")
        if not callable(f):
            raise TypeError(f"map needs a callable, not {type(f).__name__}")
        if isinstance(chunksize, bool) or not isinstance(chunksize, int) or chunksize < 1:
            raise error.InvalidUse(f"chunksize must be a whole number >= 1, not {chunksize!r}")
        n = _check_seqs(sequences)
        block = self.block if block is None else _check_bool("block", block)
        track = self.track if track is None else _check_bool("track", track)
        self.client._check_open()
        items = []
        if chunksize == 1:
            lists = [s if isinstance(s, (list, tuple)) else list(s) for s in sequences]
            for args in zip(*lists):
                items.append(serialize.pack_apply(f, args, {}))
        else:
            for lo in range(0, n, chunksize):
                hi = min(n, lo + chunksize)
                chunk = [_part(s, lo, hi) for s in sequences]
                items.append(serialize.pack_apply(_remote.map_chunk, (f,) + tuple(chunk), {}))
        tracker = _ipp.Tracker() if track else None
        car = self._cview.map("py.apply", items, None, tracker)
        ar = AsyncMapResult(self.client, car, _fname(f), chunked=chunksize > 1,
                            ordered=ordered, tracker=tracker)
        return ar.get() if block else ar


class RemoteFunction:
    """A function that runs on a view when called."""

    def __init__(self, view, f, block=None, **flags):
        if not callable(f):
            raise TypeError("remote needs a callable")
        self.view = view
        self.func = f
        self.block = block
        self.flags = flags
        functools.update_wrapper(self, f)

    def __call__(self, *args, **kwargs):
        block = self.view.block if self.block is None else self.block
        with self.view.temp_flags(**self.flags):
            return self.view._really_apply(self.func, args, kwargs, block=block)


class ParallelFunction(RemoteFunction):
    """Called on sequences: each engine gets its part; .map calls it per element."""

    def __init__(self, view, f, dist="b", block=None, chunksize=None, **flags):
        super().__init__(view, f, block=block, **flags)
        if dist != "b":
            raise error.InvalidUse(f"parallel: only dist='b' is known, not {dist!r}")
        self.chunksize = chunksize

    def __call__(self, *sequences):
        view = self.view
        n = _check_seqs(sequences)
        block = view.block if self.block is None else self.block
        with view.temp_flags(**self.flags):
            if isinstance(view, DirectView):
                parts = len(view._target_ids())
                if parts == 0:
                    raise error.NoEnginesRegistered("no engine to run on")
                items = []
                for p in range(parts):
                    lo, hi = _ipp.partition(n, parts, p)
                    chunk = [_part(s, lo, hi) for s in sequences]
                    items.append(serialize.pack_apply(_remote.call_chunk,
                                                      (self.func,) + tuple(chunk), {}))
                car = view._cview.map("py.apply", items)
                ar = AsyncResult(view.client, car, "gather", _fname(self.func))
            else:
                size = self.chunksize or 1
                items = []
                for lo in range(0, n, size):
                    chunk = [_part(s, lo, min(n, lo + size)) for s in sequences]
                    items.append(serialize.pack_apply(_remote.call_chunk,
                                                      (self.func,) + tuple(chunk), {}))
                car = view._cview.map("py.apply", items)
                ar = AsyncResult(view.client, car, "gather", _fname(self.func))
        return ar.get() if block else ar

    def map(self, *sequences):
        block = self.view.block if self.block is None else self.block
        with self.view.temp_flags(**self.flags):
            return self.view.map(self.func, *sequences, block=block)


class ViewExecutor(concurrent.futures.Executor):
    """concurrent.futures.Executor over a view: submit() returns AsyncResults."""

    def __init__(self, view):
        self.view = view
        self._shutdown = False

    def submit(self, fn, *args, **kwargs):
        if self._shutdown:
            raise RuntimeError("cannot submit after shutdown")
        return self.view.apply_async(fn, *args, **kwargs)

    def map(self, fn, *iterables, timeout=None, chunksize=1):
        if self._shutdown:
            raise RuntimeError("cannot submit after shutdown")
        seqs = [list(it) for it in iterables]
        ar = self.view.map_async(fn, *seqs)
        return iter(ar)

    def shutdown(self, wait=True, cancel_futures=False):
        self._shutdown = True
        if wait:
            self.view.client.wait()
