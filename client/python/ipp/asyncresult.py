"""ipp.asyncresult — AsyncResult, AsyncMapResult, AsyncHubResult.

An AsyncResult *is* a concurrent.futures.Future: result(),
add_done_callback(), asyncio.wrap_future() and ``await`` work, plus
IPython Parallel's get(timeout), wait, ready, successful, get_dict,
metadata, the timing properties and wait_interactive. Its tasks live in a
C AsyncResult (``_ipp.CAsyncResult``); results arrive while the client
spins, which the calls that wait do themselves. Future-style use
(callbacks, asyncio, concurrent.futures.wait) arms a C done callback and
starts the client's background spinner so the Future completes on its own.
"""

import asyncio
import concurrent.futures
import sys
import threading
import time
from datetime import datetime, timezone

from . import _ipp
from . import error
from . import serialize

_PENDING = "PENDING"
_FINISHED = "FINISHED"

_TS_KEYS = ("submitted", "started", "completed", "received")

# concurrent.futures.Future.__init__ makes a threading.Condition for every
# Future: about 1.1 KB and a microsecond each, for an AsyncResult whose
# waiting is the C client's. Ours is made when something first uses it
# (a thread waiting through the Future API, a callback, concurrent.futures
# .wait); a result that completes before that sets its state under one
# lock shared by all, which is also the lock under which a Condition is
# made, so the two cannot cross. Only where Future's fields are the ones
# known here; any other Python builds them as Future does.
_FUTURE_FIELDS = frozenset(vars(concurrent.futures.Future()))
_LAZY = _FUTURE_FIELDS == {"_condition", "_state", "_result", "_exception", "_waiters",
                           "_done_callbacks"}
_made_lock = threading.Lock()
_DONE_STATES = frozenset(("CANCELLED", "CANCELLED_AND_NOTIFIED", _FINISHED))


def _dt(us):
    return datetime.fromtimestamp(us / 1e6, timezone.utc) if us else None


def _timeout(t):
    """IPython Parallel's timeouts: None or negative = forever."""
    if t is None or t < 0:
        return -1.0
    return float(t)


def _join_parts(parts):
    """gather's merge: arrays concatenated, lists and tuples flattened."""
    if not parts:
        return []
    first = parts[0]
    if type(first).__module__ == "numpy" and type(first).__name__ == "ndarray":
        import numpy

        return numpy.concatenate(parts)
    if isinstance(first, (list, tuple, range)):
        out = []
        for p in parts:
            out.extend(p)
        return out
    return list(parts)


class AsyncResult(concurrent.futures.Future):
    """The tasks one call submitted, and their outcome."""

    # kind: how a task's result buffers become its value.
    #   "apply", "pull", "hub": unpickled;  "none": None (execute, push, …)
    #   "map": unpickled, and for a DirectView each task returns a chunk
    #   "gather": unpickled parts, joined

    def __init__(self, client, car, kind="apply", fname="unknown", single=False,
                 tracker=None, chunked=False, owner=True):
        if _LAZY:
            self._state = _PENDING
            self._result = None
            self._exception = None
            self._waiters = []
            self._done_callbacks = []
        else:
            super().__init__()
        self._client = client
        self._car = car
        self._kind = kind
        self._fname = fname
        self._single = single
        self._tracker = tracker
        self._chunked = chunked
        self._armed = False
        self._values = None
        self._msg_ids = None
        self.owner = owner
        client._track(self)

    # ------------------------------------------------------------ state

    def _finalize(self):
        """Once the C tasks are all finished: complete the Future."""
        if self._state == _FINISHED:
            return
        try:
            value = self._collect()
        except error.RemoteError as e:
            try:
                self.set_exception(e)
            except concurrent.futures.InvalidStateError:
                pass
            return
        except BaseException as e:  # a result that cannot be unpickled here
            try:
                self.set_exception(e)
            except concurrent.futures.InvalidStateError:
                pass
            return
        try:
            self.set_result(value)
        except concurrent.futures.InvalidStateError:
            pass

    def _task_values(self):
        """Each task's value (None for failed ones), unpickled once."""
        if self._values is None:
            car = self._car
            kind = self._kind
            vals = []
            for i in range(len(car)):
                if kind == "none" or car.status(i) != _ipp.STATUS_OK:
                    vals.append(None)
                else:
                    vals.append(serialize.loads(car.result(i)))
            self._values = vals
        return self._values

    def _errors(self):
        car = self._car
        out = []
        for i in range(len(car)):
            t = car.error(i)
            if t is not None:
                out.append(error._remote_error(t))
        return out

    def _collect(self):
        errs = self._errors()
        if errs:
            if self._single or len(errs) == 1 and len(self._car) == 1:
                raise errs[0]
            raise error.CompositeError(
                f"one or more exceptions from call to method: {self._fname}", errs)
        vals = self._task_values()
        return self._shape(vals)

    def _shape(self, vals):
        if self._kind == "gather":
            return _join_parts(vals)
        if self._chunked:
            out = []
            for chunk in vals:
                out.extend(chunk)
            return out
        if self._single:
            return vals[0] if vals else None
        return vals

    def _spin_wait(self, timeout):
        """Wait for the C tasks (in slices, so other threads get the client)."""
        car = self._car
        if car.ready():
            return True
        if timeout < 0:
            while not car.wait(0.25):
                pass
            return True
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return car.wait(0)
            if car.wait(min(left, 0.25)):
                return True

    def _arm(self, later=False):
        """Complete this Future by itself when the tasks finish."""
        if self._armed or self._state == _FINISHED:
            return
        self._armed = True
        self._client._arm(self, later)

    # concurrent.futures.wait / as_completed install waiters through this
    # attribute: arming here (on the spinner, so the waiter is in place
    # first) makes them work without a call that spins.
    @property
    def _waiters(self):
        if not self._armed and self._state != _FINISHED:
            self._arm(later=True)
        return self.__dict__["_waiters_"]

    @_waiters.setter
    def _waiters(self, v):
        self.__dict__["_waiters_"] = v

    @property
    def _condition(self):
        c = self.__dict__.get("_condition_")
        if c is None:
            with _made_lock:
                c = self.__dict__.get("_condition_")
                if c is None:
                    c = self.__dict__["_condition_"] = threading.Condition()
        return c

    @_condition.setter
    def _condition(self, c):
        self.__dict__["_condition_"] = c

    def _settle(self, result, exception):
        """Complete a Future nobody has waited on or called back from yet,
        without making its Condition; False when one exists (the caller
        then goes through Future's own set_result / set_exception)."""
        if "_condition_" in self.__dict__:
            return False
        with _made_lock:
            if "_condition_" in self.__dict__:
                return False
            if self._state in _DONE_STATES:
                raise concurrent.futures.InvalidStateError(f"{self._state}: {self!r}")
            self._result = result
            self._exception = exception
            self._state = _FINISHED
        return True

    def set_result(self, result):
        if not self._settle(result, None):
            super().set_result(result)

    def set_exception(self, exception):
        if not self._settle(None, exception):
            super().set_exception(exception)

    # ------------------------------------------------------------ Future API

    def done(self):
        if self._state == _FINISHED:
            return True
        self._client._spin_quietly()
        if self._car.ready():
            self._finalize()
            return True
        return False

    def running(self):
        return not self.done()

    def cancel(self):
        """Tasks already sent are not cancelled (see abort()): returns False."""
        return False

    def cancelled(self):
        return False

    def result(self, timeout=None):
        """The result; raises the task's RemoteError (or TimeoutError)."""
        return self.get(timeout)

    def exception(self, timeout=None):
        if not self._spin_wait(_timeout(timeout)):
            raise error.TimeoutError("Result not ready.")
        self._finalize()
        return super().exception(0)

    def add_done_callback(self, fn):
        self._arm()
        super().add_done_callback(fn)

    def __await__(self):
        return asyncio.wrap_future(self).__await__()

    # ------------------------------------------------------------ IPython Parallel API

    def get(self, timeout=-1):
        """Wait up to timeout seconds (None/-1: forever) and return the result."""
        if self._state != _FINISHED:
            if not self._spin_wait(_timeout(timeout)):
                raise error.TimeoutError("Result not ready.")
            self._finalize()
        if self._state == _FINISHED:
            # Future.result's answer, without making the Condition it locks
            exc = self._exception
            if exc is None:
                return self._result
            try:
                raise exc
            finally:
                # no cycle through the traceback (as Future does)
                exc = None
                self = None
        return super().result(0)

    @property
    def r(self):
        return self.get()

    def wait(self, timeout=-1):
        """Wait up to timeout seconds for every task; returns ready()."""
        if self._state != _FINISHED and self._spin_wait(_timeout(timeout)):
            self._finalize()
        return self._state == _FINISHED

    def ready(self):
        return self.done()

    def successful(self):
        """Every task succeeded; only meaningful once ready (else raises)."""
        if not self.ready():
            raise AssertionError("Can't call successful() until ready()")
        return self._car.successful()

    def get_dict(self, timeout=-1):
        """{engine_id: result}; a ValueError if an engine ran two of the tasks."""
        res = self.get(timeout)
        eids = self._car.engine_ids()
        if self._single:
            res = [res]
        seen = set()
        for e in eids:
            if e in seen:
                raise ValueError(f"Cannot build dict: {eids.count(e)} tasks ran on engine {e}")
            seen.add(e)
        if self._chunked:
            raise ValueError("get_dict() is not meaningful for a map")
        return dict(zip(eids, res))

    @property
    def msg_ids(self):
        if self._msg_ids is None:
            self._msg_ids = self._car.msg_ids()
        return list(self._msg_ids)

    @property
    def msg_id(self):
        ids = self.msg_ids
        return ids[0] if len(ids) == 1 else ids

    def __len__(self):
        return len(self._car)

    @property
    def engine_id(self):
        eids = self._car.engine_ids()
        return eids[0] if self._single else eids

    def _md(self, i):
        d = self._car.metadata(i)
        for k in _TS_KEYS:
            d[k] = _dt(d[k])
        d["status"] = _ipp.status_name(d["status"])
        for k in ("stdout", "stderr"):
            d[k] = d[k].decode("utf-8", "replace")
        e = d["error"]
        d["error"] = error._remote_error(e) if e is not None else None
        return d

    @property
    def metadata(self):
        """Per task: submitted/started/completed/received (datetimes, UTC),
        engine_id, engine_uuid, stdout, stderr, status, msg_id, after, follow, …;
        one dict for a single-target result."""
        mds = [self._md(i) for i in range(len(self._car))]
        return mds[0] if self._single else mds

    def __getitem__(self, key):
        if isinstance(key, (int, slice)):
            res = self.get()
            if self._single:
                res = [res]
            return res[key]
        if isinstance(key, str):
            md = self.metadata
            return md[key] if self._single else [m[key] for m in md]
        raise TypeError(f"Invalid key type {type(key).__name__!r}, use int, slice or str")

    def __getattr__(self, key):
        # ar.stdout, ar.engine_uuid, … as IPython Parallel (metadata keys)
        if key.startswith("_") or key in ("owner",):
            raise AttributeError(key)
        car = self.__dict__.get("_car")
        if car is None or key not in ("stdout", "stderr", "engine_uuid", "submitted",
                                      "started", "completed", "received", "status"):
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {key!r}")
        return self[key]

    @property
    def progress(self):
        """How many tasks have finished."""
        self._client._spin_quietly()
        return self._car.progress

    @property
    def elapsed(self):
        """Seconds since submission (the wall time once ready)."""
        return self._car.elapsed

    @property
    def serial_time(self):
        """Sum of the tasks' run times (completed - started), in seconds."""
        return self._car.serial_time

    @property
    def wall_time(self):
        """Seconds from the first submission to the last result received."""
        return self._car.wall_time

    def timedelta(self, start, end):
        return self._car.timedelta(start, end)

    def wait_interactive(self, interval=1.0, timeout=-1, return_when=None):
        """wait, printing progress every interval seconds."""
        n = len(self)
        t0 = time.monotonic()
        timeout = _timeout(timeout)
        tty = sys.stdout.isatty() if hasattr(sys.stdout, "isatty") else False
        last = -1
        while not self.ready():
            if timeout >= 0 and time.monotonic() - t0 >= timeout:
                break
            self._spin_wait(interval if timeout < 0 else
                            max(0.0, min(interval, timeout - (time.monotonic() - t0))))
            p = self._car.progress
            if tty:
                print(f"\r{p:4}/{n} tasks finished after {int(self.elapsed):4} s",
                      end="", flush=True)
            elif p != last:
                print(f"{p:4}/{n} tasks finished after {int(self.elapsed):4} s", flush=True)
            last = p
        if tty:
            print()
        print("done")

    def abort(self):
        """Ask the controller to abort the tasks not yet finished."""
        return self._car.abort()

    @property
    def sent(self):
        """ZeroMQ is done with the buffers sent (always True without track=True)."""
        return self._tracker is None or self._tracker.done

    def wait_on_send(self, timeout=None):
        """Wait until the buffers were sent (track=True); raises TimeoutError."""
        if self._tracker is None:
            return
        if not self._tracker.wait(_timeout(timeout)):
            raise error.TimeoutError("Still waiting to be sent")

    def __iter__(self):
        res = self.get()
        if self._single:
            res = [res]
        yield from res

    def __repr__(self):
        state = "finished" if self._state == _FINISHED else "pending"
        return f"<{type(self).__name__}({self._fname}): {state}>"


class AsyncMapResult(AsyncResult):
    """A map's AsyncResult; iterating yields results as they arrive
    (in item order if ordered, else in completion order)."""

    def __init__(self, client, car, fname="unknown", chunked=False, ordered=True,
                 tracker=None, reduce_fn=None):
        super().__init__(client, car, "map", fname, single=False, tracker=tracker,
                         chunked=chunked)
        self.ordered = ordered

    def _one(self, i):
        t = self._car.error(i)
        if t is not None:
            raise error._remote_error(t)
        v = serialize.loads(self._car.result(i))
        return v if self._chunked else [v]

    def __iter__(self):
        car = self._car
        n = len(car)
        if self.ordered:
            for i in range(n):
                while not car.wait_task(i, 0.25):
                    pass
                yield from self._one(i)
        else:
            while True:
                i = car.next(-1)
                if i is None:
                    break
                yield from self._one(i)


class AsyncHubResult(AsyncResult):
    """Results fetched from the controller by msg_id: any client's, any age."""

    def __init__(self, client, car, single=False):
        super().__init__(client, car, "hub", "hub", single=single, owner=False)
