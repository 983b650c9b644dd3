"""ipp.error — the exceptions of the ipp package, with IPython Parallel's names.

Task failures are RemoteErrors (ename, evalue, traceback, engine_info);
the kinds the C library tells apart (aborted, unreachable dependency,
lost engine) are subclasses, so ``except RemoteError`` catches every
failed task and ``except TaskAborted`` just those. Errors of the client
itself (a bad argument, a closed client, a timeout) derive from IppError.
"""

import builtins
import errno
import concurrent.futures

__all__ = [
    "IppError", "KernelError", "RemoteError", "CompositeError", "TimeoutError",
    "UnmetDependency", "ImpossibleDependency", "DependencyTimeout", "InvalidDependency",
    "TaskAborted", "EngineError", "NoEnginesRegistered", "ClientClosed", "InvalidUse",
    "NoSuchResult", "QueryError", "NoSuchEngine", "NoConnectionFile",
]


class IppError(Exception):
    """An error of the ipp client library (``code`` is libipp's ipp_err_t)."""

    code = 0


class KernelError(IppError):
    """Base of the errors about running tasks (IPython Parallel's name)."""


class InvalidUse(IppError, ValueError):
    """A bad argument or flag: refused before anything was sent."""


class NoSuchEngine(InvalidUse, IndexError):
    """No registered engine has that id."""


class ClientClosed(IppError):
    """The client is closed, or its controller announced its shutdown."""


class NoSuchResult(IppError, KeyError):
    """No such msg_id, engine or file."""

    def __str__(self):
        return Exception.__str__(self)


class NoConnectionFile(IppError, FileNotFoundError):
    """Client(): the connection file is not there — no controller has run
    with that profile (or url_file names the wrong file). ``filename`` is
    the file looked for. Also a FileNotFoundError (an OSError)."""

    def __init__(self, filename, profile=None):
        where = f"profile {profile!r}" if profile else "this connection file"
        msg = (f"no connection file {filename}: no controller has been started for {where}. "
               "Start a cluster first (`ipp cluster start -n 4`, or "
               "ipp.Cluster(n=4).start_cluster_sync()), or give Client() the url_file=, "
               "profile= or profile_dir= of one that runs")
        super().__init__(errno.ENOENT, msg, filename)
        self.profile = profile

    def __str__(self):
        return self.strerror


class QueryError(IppError, ValueError):
    """The controller refused a db_query."""


class TimeoutError(KernelError, builtins.TimeoutError):
    """Nothing finished in time. Also a concurrent.futures.TimeoutError."""


assert issubclass(TimeoutError, concurrent.futures.TimeoutError)


class NoEnginesRegistered(KernelError):
    """No engine is registered to take the work."""


class RemoteError(KernelError):
    """A task failed on an engine: ename, evalue, the remote traceback."""

    engine_info = None
    ename = "RemoteError"
    evalue = ""
    traceback = ""

    def __init__(self, ename, evalue, traceback="", engine_info=None):
        super().__init__(ename, evalue)
        self.ename = ename
        self.evalue = evalue
        if isinstance(traceback, (list, tuple)):
            traceback = "\n".join(traceback)
        self.traceback = traceback
        self.engine_info = engine_info or {}

    def __repr__(self):
        eid = self.engine_info.get("engine_id")
        where = f"[{eid}:{self.engine_info.get('method', 'apply')}]" if eid is not None else ""
        return f"{where}{self.ename}({self.evalue!r})"

    def __str__(self):
        return f"{self.ename}({self.evalue})"

    def render_traceback(self):
        """The remote traceback as a list of lines (IPython shows this)."""
        lines = self.traceback.splitlines() if self.traceback else []
        if not lines or not lines[-1].startswith(self.ename):
            lines.append(f"{self.ename}: {self.evalue}")
        return lines

    def print_traceback(self, excid=None):
        print("\n".join(self.render_traceback()))


class TaskAborted(RemoteError):
    """The task was aborted (before it ran, or while it ran)."""

    def __init__(self, ename="TaskAborted", evalue="", traceback="", engine_info=None):
        super().__init__(ename, evalue, traceback, engine_info)


class EngineError(RemoteError):
    """The engine running the task died and no retries were left."""

    def __init__(self, ename="EngineError", evalue="", traceback="", engine_info=None):
        super().__init__(ename, evalue, traceback, engine_info)


class UnmetDependency(RemoteError):
    """A dependency of the task is not met here (the scheduler tries elsewhere)."""

    def __init__(self, ename="UnmetDependency", evalue="", traceback="", engine_info=None):
        super().__init__(ename, evalue, traceback, engine_info)


class ImpossibleDependency(UnmetDependency):
    """The task's dependencies can never be met."""

    def __init__(self, ename="ImpossibleDependency", evalue="", traceback="", engine_info=None):
        super().__init__(ename, evalue, traceback, engine_info)


class DependencyTimeout(ImpossibleDependency):
    """The task's dependencies were not met within its timeout."""

    def __init__(self, ename="DependencyTimeout", evalue="", traceback="", engine_info=None):
        super().__init__(ename, evalue, traceback, engine_info)


class InvalidDependency(ImpossibleDependency):
    """A dependency names something that is not a task."""

    def __init__(self, ename="InvalidDependency", evalue="", traceback="", engine_info=None):
        super().__init__(ename, evalue, traceback, engine_info)


class CompositeError(RemoteError):
    """Several tasks failed; ``elist`` holds each one's RemoteError."""

    tb_limit = 4

    def __init__(self, message, elist):
        super().__init__("CompositeError", message)
        self.msg = message
        self.elist = list(elist)

    def __str__(self):
        s = f"{self.msg}"
        for e in self.elist[: self.tb_limit]:
            s += "\n" + repr(e)
        if len(self.elist) > self.tb_limit:
            s += f"\n... {len(self.elist) - self.tb_limit} more exceptions ..."
        return s

    def __repr__(self):
        return f"CompositeError({len(self.elist)} errors)"

    def render_traceback(self, excid=None):
        lines = []
        errs = self.elist if excid is None else [self.elist[excid]]
        for e in errs:
            lines.extend(e.render_traceback())
            lines.append("")
        return lines

    def raise_exception(self, excid=0):
        """Raise the excid'th error of the list."""
        raise self.elist[excid]


# ename → class for a failed task; others are plain RemoteErrors.
_BY_ENAME = {
    "TaskAborted": TaskAborted,
    "EngineError": EngineError,
    "UnmetDependency": UnmetDependency,
    "ImpossibleDependency": ImpossibleDependency,
    "DependencyTimeout": DependencyTimeout,
    "InvalidDependency": InvalidDependency,
}


def _remote_error(t):
    """A RemoteError from _ipp's error tuple (msg_id, ename, evalue, tb, engine, status, code)."""
    from . import _ipp

    msg_id, ename, evalue, tb, engine_id, status, code = t
    cls = _BY_ENAME.get(ename)
    if cls is None:
        cls = {
            _ipp.STATUS_ABORTED: TaskAborted,
            _ipp.STATUS_LOST: EngineError,
            _ipp.STATUS_UNREACHABLE: ImpossibleDependency,
        }.get(status, RemoteError)
    info = {"engine_id": engine_id if engine_id >= 0 else None, "msg_id": msg_id}
    err = cls(ename, evalue, tb, info)
    err.code = code
    return err


def _install():
    from . import _ipp

    _ipp.set_error_classes(IppError, {
        _ipp.ERR_INVALID: InvalidUse,
        _ipp.ERR_TIMEOUT: TimeoutError,
        _ipp.ERR_CLOSED: ClientClosed,
        _ipp.ERR_NOT_FOUND: NoSuchResult,
        _ipp.ERR_QUERY: QueryError,
        _ipp.ERR_NO_ENGINES: NoEnginesRegistered,
        _ipp.ERR_CONN_FILE: IppError,
    })
