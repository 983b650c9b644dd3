"""ipp.client — Client: a connection to one ipp controller.

``ipp.Client()`` connects with the default profile's connection file
($IPP_DIR/profile_default/security/ipp-client.json), ``Client(profile=…)``,
``Client(url_file=…)`` or ``Client(profile_dir=…)`` with another. Indexing
gives DirectViews (``rc[0]``, ``rc[::2]``, ``rc[:]``),
``load_balanced_view()`` a LoadBalancedView; the hub queries
(get_result, result_status, queue_status, purge_results, resubmit,
db_query, hub_history, abort, clear, shutdown) are IPython Parallel's.

Nothing runs behind the caller's back until Future-style use asks for it:
waits spin the client themselves; add_done_callback, ``await`` and
concurrent.futures.wait start one background thread (the spinner) that
spins while the client is open.
"""

import base64
import json
import os
import select
import threading
import weakref
from datetime import datetime, timezone

from . import _ipp
from . import error
from .asyncresult import AsyncHubResult, AsyncResult, _timeout
from .view import DirectView, LoadBalancedView

__all__ = ["Client"]

_TIME_KEYS = ("submitted", "started", "completed", "received")


def _to_dt(v):
    if isinstance(v, int):
        return datetime.fromtimestamp(v / 1e6, timezone.utc) if v else None
    if isinstance(v, str):
        try:
            return datetime.fromisoformat(v.replace("Z", "+00:00"))
        except ValueError:
            return v
    return v


def _ids_arg(jobs):
    """msg_ids from msg_ids, AsyncResults, or a list of them."""
    if jobs is None:
        return None
    if isinstance(jobs, (str, AsyncResult)):
        jobs = [jobs]
    out = []
    for j in jobs:
        if isinstance(j, AsyncResult):
            out.extend(j.msg_ids)
        elif isinstance(j, str):
            out.append(j)
        else:
            raise error.InvalidUse(f"expected msg_ids or AsyncResults, not {type(j).__name__}")
    return out


class Client:
    """A connection to an ipp controller, as IPython Parallel's Client."""

    def __init__(self, url_file=None, profile=None, profile_dir=None, ipp_dir=None,
                 timeout=10, username=None, cluster=None, **unused):
        for k in unused:
            if k not in ("context", "debug", "sshserver", "sshkey", "password", "paramiko",
                         "ipython_dir", "connection_info"):
                raise TypeError(f"Client() got an unexpected keyword argument {k!r}")
        if profile_dir is not None:
            if url_file is not None:
                raise error.InvalidUse("give url_file or profile_dir, not both")
            url_file = os.path.join(os.fspath(profile_dir), "security", "ipp-client.json")
        if url_file is not None:
            url_file = os.fspath(url_file)
        if timeout is not None and timeout <= 0:
            raise error.InvalidUse(f"timeout must be > 0 seconds, not {timeout!r}")
        # $IPP_PROFILE as the ipp command has it (libipp itself knows only "default").
        profile = profile or os.environ.get("IPP_PROFILE") or None
        try:
            self._cc = _ipp.Client(url_file, profile, ipp_dir, float(timeout or 10), username)
        except error.NoSuchResult as e:
            # libipp: "PATH: no such connection file (…)"
            path, sep, _ = str(e).rpartition(": no such connection file")
            if not sep:
                raise
            raise error.NoConnectionFile(
                path, None if url_file is not None else
                (profile or "default")) from None
        self.cluster = cluster
        self.profile = profile or "default"
        self._live = weakref.WeakSet()     # AsyncResults of this client, for outstanding/metadata
        self._history = []                 # msg_ids submitted through this client, in order
        self._hist_pending = []            # C AsyncResults whose msg_ids are not in it yet
        self._armed = set()                # AsyncResults completing themselves (kept alive)
        self._arm_queue = []               # to arm on the spinner thread
        self._spinner = None
        self._wake = None
        self._stop = False
        self._mu = threading.Lock()
        self.block = False

    # ------------------------------------------------------------ plumbing

    def _c(self):
        return self._cc

    def _check_open(self):
        if self._cc.closed:
            raise error.ClientClosed("the client is closed")

    def _track(self, ar):
        self._live.add(ar)
        if ar.owner:
            # history: the C results' msg_ids are read in batches, so that
            # submitting stays one append and no result is kept for long.
            h = self._hist_pending
            h.append(ar._car)
            if len(h) >= 1024:
                self._flush_history()

    def _flush_history(self):
        h, self._hist_pending = self._hist_pending, []
        for car in h:
            self._history.extend(car.msg_ids())

    def _spin_quietly(self):
        if not self._cc.closed:
            try:
                self._cc.spin(0)
            except error.ClientClosed:
                pass

    def _arm(self, ar, later=False):
        """Complete ar's Future when its tasks finish (on the spinner if later)."""
        self._check_open()
        with self._mu:
            self._armed.add(ar)
            if later:
                self._arm_queue.append(ar)
        if not later:
            ar._car.arm(self._fired(ar))
        self._ensure_spinner()
        if later:
            self._poke()

    def _fired(self, ar):
        ref = weakref.ref(ar)

        def fire():
            a = ref()
            if a is not None:
                with self._mu:
                    self._armed.discard(a)
                a._finalize()

        return fire

    def _poke(self):
        if self._wake is not None:
            try:
                os.write(self._wake[1], b"x")
            except OSError:
                pass

    def _ensure_spinner(self):
        if self._spinner is not None:
            return
        with self._mu:
            if self._spinner is not None:
                return
            self._wake = os.pipe()
            t = threading.Thread(target=self._spin_loop, name="ipp-spinner", daemon=True)
            self._spinner = t
        t.start()

    def _spin_loop(self):
        cc = self._cc
        rd = self._wake[0]
        try:
            fd = cc.fd
        except error.IppError:
            return
        while not self._stop:
            try:
                r, _, _ = select.select([fd, rd], [], [], 0.05)
            except (OSError, ValueError):
                break
            if rd in r:
                try:
                    os.read(rd, 512)
                except OSError:
                    pass
            if self._stop:
                break
            with self._mu:
                todo, self._arm_queue = self._arm_queue, []
            try:
                for ar in todo:
                    ar._car.arm(self._fired(ar))
                cc.spin(0)
            except error.ClientClosed:
                break
            except Exception:  # a callback's error was reported; keep spinning
                pass

    # ------------------------------------------------------------ engines

    @property
    def ids(self):
        """The ids of the registered engines, ascending."""
        self._check_open()
        self._spin_quietly()
        return self._cc.ids()

    def __len__(self):
        return len(self.ids)

    @property
    def engines(self):
        """Every engine known: id → {uuid, hostname, pid, registered, alive}."""
        self._check_open()
        out = {}
        for eid, uuid, host, pid, reg, alive in self._cc.engines():
            out[eid] = {"uuid": uuid, "hostname": host, "pid": pid,
                        "registered": datetime.fromtimestamp(reg / 1e6, timezone.utc)
                        if reg else None, "alive": alive}
        return out

    def wait_for_engines(self, n=None, timeout=-1, block=True, interactive=None, widget=None):
        """Wait until at least n engines are registered (TimeoutError)."""
        self._check_open()
        if n is None:
            n = len(self.ids) or 1
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise error.InvalidUse(f"n must be a whole number >= 0, not {n!r}")
        t = _timeout(timeout)
        self._cc.wait_for_engines(n, t if t >= 0 else 1e9)
        return None

    def __getitem__(self, key):
        """rc[0], rc[-1], rc[0:3], rc[::2], rc[:], rc[[0, 2]] → DirectView."""
        ids = self.ids
        if isinstance(key, bool):
            raise TypeError("engine index must be an int, slice or list")
        if isinstance(key, int):
            try:
                target = ids[key]
            except IndexError:
                raise error.NoSuchEngine(f"no engine at index {key} (registered: {ids})") from None
            return DirectView(self, target)
        if isinstance(key, slice):
            targets = ids[key]
            if not targets:
                raise error.NoSuchEngine(f"no engines in {key} (registered: {ids})")
            return DirectView(self, targets)
        if isinstance(key, (list, tuple, range)):
            for t in key:
                if t not in ids:
                    raise error.NoSuchEngine(f"no engine {t} (registered: {ids})")
            return DirectView(self, list(key))
        raise TypeError(f"engine index must be an int, slice or list, not {type(key).__name__}")

    def direct_view(self, targets="all", **kwargs):
        """A DirectView on targets ('all': the engines registered at each call)."""
        self._check_open()
        v = DirectView(self, targets)
        if kwargs:
            v.set_flags(**kwargs)
        return v

    def load_balanced_view(self, targets=None, **kwargs):
        """A LoadBalancedView (targets: the engines it may use)."""
        self._check_open()
        v = LoadBalancedView(self, targets)
        if kwargs:
            v.set_flags(**kwargs)
        return v

    def executor(self, targets=None):
        return self.load_balanced_view(targets).executor

    # ------------------------------------------------------------ results

    def spin(self):
        """Handle everything that arrived."""
        self._check_open()
        self._cc.spin(0)

    @property
    def outstanding(self):
        """msg_ids of the unfinished tasks of this client's live AsyncResults
        (a task whose AsyncResult was dropped is not followed any more:
        ``get_result(msg_id)`` or ``hub_history()`` find it)."""
        self._spin_quietly()
        out = set()
        for ar in list(self._live):
            car = ar._car
            if not car.ready():
                for i, mid in enumerate(car.msg_ids()):
                    if car.status(i) == _ipp.STATUS_PENDING:
                        out.add(mid)
        return out

    @property
    def history(self):
        """msg_ids of every task submitted through this client, in
        submission order (``hub_history()``: every client's, from the
        controller)."""
        self._flush_history()
        return list(self._history)

    @property
    def metadata(self):
        """msg_id → metadata, for this client's live AsyncResults (a dropped
        AsyncResult's metadata is gone from here; ``db_query`` or
        ``get_result(msg_id).metadata`` fetch it from the controller)."""
        out = {}
        for ar in list(self._live):
            md = ar.metadata
            for m in (md if isinstance(md, list) else [md]):
                out[m["msg_id"]] = m
        return out

    def wait(self, jobs=None, timeout=-1):
        """Wait for jobs (msg_ids or AsyncResults; None: everything
        outstanding); True if all finished within timeout."""
        self._check_open()
        t = _timeout(timeout)
        if jobs is None:
            try:
                self._cc.wait(t)
            except error.TimeoutError:
                return False
            return True
        ars = [j for j in (jobs if isinstance(jobs, (list, tuple, set)) else [jobs])]
        ids = [j for j in ars if isinstance(j, str)]
        ars = [j for j in ars if isinstance(j, AsyncResult)]
        if ids:
            ars.append(self.get_result(ids))
        import time

        deadline = None if t < 0 else time.monotonic() + t
        for ar in ars:
            left = -1 if deadline is None else max(0.0, deadline - time.monotonic())
            if not ar.wait(left):
                return False
        return True

    def get_result(self, indices_or_msg_ids=None, block=None, owner=False):
        """An AsyncHubResult for msg_ids of any client (an AsyncResult of
        this client is returned as it is)."""
        self._check_open()
        if isinstance(indices_or_msg_ids, AsyncResult):
            return indices_or_msg_ids
        single = isinstance(indices_or_msg_ids, (str, int))
        if indices_or_msg_ids is None:
            indices_or_msg_ids = [-1]
        if single:
            indices_or_msg_ids = [indices_or_msg_ids]
        ids = []
        hist = None
        for x in indices_or_msg_ids:
            if isinstance(x, int) and not isinstance(x, bool):
                if hist is None:
                    hist = self.hub_history()
                try:
                    ids.append(hist[x])
                except IndexError:
                    raise error.NoSuchResult(f"no task at history index {x}") from None
            elif isinstance(x, str):
                ids.append(x)
            else:
                raise error.InvalidUse(f"get_result takes msg_ids or indices, not {x!r}")
        car = self._cc.get_result(ids)
        ar = AsyncHubResult(self, car, single=single)
        block = self.block if block is None else block
        if block:
            ar.wait()
        return ar

    def result_status(self, msg_ids, status_only=True):
        """{'pending': [...], 'completed': [...], 'unknown': [...]} (and the
        completed results by msg_id when status_only is False)."""
        self._check_open()
        ids = _ids_arg(msg_ids)
        pending, completed, unknown = self._cc.result_status(ids)
        out = {"pending": pending, "completed": completed, "unknown": unknown}
        if not status_only and completed:
            ar = self.get_result(completed)
            ar.wait()
            for i, mid in enumerate(completed):
                err = ar._car.error(i)
                out[mid] = (error._remote_error(err) if err is not None
                            else ar._task_values()[i])
        return out

    def queue_status(self, targets="all", verbose=False):
        """{engine_id: {'queue', 'tasks', 'completed'}, 'unassigned': n}."""
        self._check_open()
        if targets in (None, "all"):
            t = None
        elif isinstance(targets, int):
            t = [targets]
        else:
            t = list(targets)
        engines, unassigned, uids = self._cc.queue_status(t, bool(verbose))
        out = {}
        for eid, queued, running, completed, qids, rids in engines:
            if verbose:
                out[eid] = {"queue": qids, "tasks": rids, "completed": completed}
            else:
                out[eid] = {"queue": queued, "tasks": running, "completed": completed}
        out["unassigned"] = uids if verbose else unassigned
        if isinstance(targets, int) and targets in out:
            return out[targets]
        return out

    def purge_results(self, jobs=(), targets=()):
        """Forget completed records: jobs (msg_ids, AsyncResults or 'all')
        and/or those run by targets. Returns how many went."""
        self._check_open()
        if jobs == "all":
            return self._cc.purge_results(None, True, None)
        ids = _ids_arg(list(jobs) if jobs else []) or []
        eng = [targets] if isinstance(targets, int) else list(targets or [])
        if not ids and not eng:
            raise error.InvalidUse("purge_results needs jobs, targets or jobs='all'")
        return self._cc.purge_results(ids, False, eng)

    def purge_everything(self):
        return self.purge_results("all")

    def resubmit(self, indices_or_msg_ids=None, block=None):
        """Run tasks again (as new tasks); an AsyncHubResult of the new ones."""
        self._check_open()
        ids = _ids_arg(indices_or_msg_ids)
        if not ids:
            raise error.InvalidUse("resubmit needs msg_ids")
        ar = AsyncHubResult(self, self._cc.resubmit(ids), single=len(ids) == 1 and
                            isinstance(indices_or_msg_ids, str))
        if (self.block if block is None else block):
            ar.wait()
        return ar

    def db_query(self, query, keys=None, limit=0):
        """Records matching query (a dict of TaskRecord keys to values or
        {'$op': value} tests) as a list of dicts; timestamps as datetimes,
        buffers as bytes."""
        self._check_open()
        if not isinstance(query, dict):
            raise error.InvalidUse("db_query needs a dict")

        def enc(o):
            if isinstance(o, datetime):
                if o.tzinfo is None:
                    o = o.replace(tzinfo=timezone.utc)
                return int(o.timestamp() * 1e6)
            raise TypeError(f"cannot put {type(o).__name__} in a query")

        text = self._cc.db_query(json.dumps(query, default=enc),
                                 list(keys) if keys is not None else None, int(limit))
        rows = []
        for line in text.splitlines():
            if not line.strip():
                continue
            r = json.loads(line)
            for k in _TIME_KEYS:
                if k in r:
                    r[k] = _to_dt(r[k])
            for k in ("buffers", "result_buffers"):
                if isinstance(r.get(k), list):
                    r[k] = [base64.b64decode(b) if isinstance(b, str) else b for b in r[k]]
            rows.append(r)
        return rows

    def hub_history(self):
        """Every msg_id the controller knows, in submission order."""
        self._check_open()
        return self._cc.history()

    def abort(self, jobs=None, targets=None, block=None):
        """Abort jobs and/or everything queued on targets."""
        self._check_open()
        ids = _ids_arg(jobs)
        t = [targets] if isinstance(targets, int) else (list(targets) if targets else None)
        if not ids and not t:
            raise error.InvalidUse("abort needs jobs or targets")
        aborted, not_pending = self._cc.abort(ids, t)
        return None

    def clear(self, targets=None, block=None):
        """Clear the engines' namespaces: the engine's own and its Python one
        (waits until both are empty)."""
        self._check_open()
        t = None if targets in (None, "all") else ([targets] if isinstance(targets, int)
                                                   else list(targets))
        self._cc.clear(t)
        ar = DirectView(self, "all" if t is None else t).clear(block=False)
        try:
            ar.get()
        except error.RemoteError as e:
            # engines without the Python plugin have no Python namespace
            errs = e.elist if isinstance(e, error.CompositeError) else [e]
            if not all("py.clear" in str(x.evalue) for x in errs):
                raise
        return None

    def shutdown(self, targets="all", restart=False, hub=False, block=None):
        """Stop engines (and the controller with hub=True)."""
        self._check_open()
        if restart:
            raise error.InvalidUse("restart is not supported: start engines with `ipp cluster`")
        t = None if targets in (None, "all") else ([targets] if isinstance(targets, int)
                                                   else list(targets))
        self._cc.shutdown(t, bool(hub))
        return None

    # ------------------------------------------------------------ lifetime

    def close(self, linger=None):
        """Disconnect; the client cannot be used afterwards (idempotent)."""
        self._stop = True
        self._poke()
        t = self._spinner
        if t is not None and t is not threading.current_thread():
            t.join(5)
        self._cc.close()
        with self._mu:
            self._armed.clear()
            self._arm_queue.clear()
        if self._wake is not None:
            for fd in self._wake:
                try:
                    os.close(fd)
                except OSError:
                    pass
            self._wake = None

    @property
    def closed(self):
        return self._cc.closed

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        if self._cc.closed:
            return "<ipp.Client closed>"
        return f"<ipp.Client {self._cc.connection_file}>"

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass
