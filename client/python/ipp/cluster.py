"""ipp.cluster — Cluster: a controller and engines on this machine.

Drives the ``ipp cluster`` command (``ipp cluster start -n N`` in a
profile under $IPP_DIR; ``stop`` at the end), so a cluster started here is
the one `ipp cluster status` shows. The ``ipp`` program is $IPP_BIN if
set, else the one of the build tree this package was built in, else the
first on $PATH.
"""

import asyncio
import os
import shutil
import subprocess

from . import error

__all__ = ["Cluster"]


def _find_ipp():
    p = os.environ.get("IPP_BIN")
    if p:
        return p
    here = os.path.dirname(os.path.abspath(__file__))
    # build tree: BUILD/client/python/ipp/cluster.py → BUILD/tools/ipp/ipp
    cand = os.path.normpath(os.path.join(here, "..", "..", "..", "tools", "ipp", "ipp"))
    if os.access(cand, os.X_OK):
        return cand
    found = shutil.which("ipp")
    if found:
        return found
    raise error.IppError("cannot find the `ipp` program: set $IPP_BIN or put it on $PATH")


class Cluster:
    """Cluster(n=None, profile='default', ipp_dir=None, …): a local cluster."""

    def __init__(self, n=None, profile=None, ipp_dir=None, engines=None, hwm=None,
                 scheme=None, timeout=60, ipp=None, env=None, **unused):
        if unused:
            raise TypeError(f"Cluster() got unexpected arguments: {', '.join(unused)}")
        if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
            raise error.InvalidUse(f"n must be a whole number >= 1, not {n!r}")
        self.n = n
        self.profile = profile or os.environ.get("IPP_PROFILE") or "default"
        self.ipp_dir = os.fspath(ipp_dir) if ipp_dir is not None else None
        self.hwm = hwm
        self.scheme = scheme
        self.timeout = timeout
        self._ipp = ipp
        self.env = dict(env or {})  # for the `ipp` processes: name → value, None removes
        self._running = False
        self._client = None

    def _env(self):
        env = dict(os.environ)
        if self.ipp_dir is not None:
            env["IPP_DIR"] = self.ipp_dir
        for k, v in self.env.items():
            if v is None:
                env.pop(k, None)
            else:
                env[k] = v
        return env

    def _run(self, *args):
        exe = self._ipp or _find_ipp()
        cmd = [exe, "--profile", self.profile, "cluster", *args]
        p = subprocess.run(cmd, env=self._env(), stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if p.returncode != 0:
            raise error.IppError(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stdout}")
        return p.stdout

    def start_cluster_sync(self, n=None):
        """Start the controller and n engines; return once they registered."""
        n = n if n is not None else self.n
        args = ["start"]
        if n is not None:
            args += ["-n", str(n)]
        if self.hwm is not None:
            args += ["--hwm", str(self.hwm)]
        if self.scheme is not None:
            args += ["--scheme", str(self.scheme)]
        if self.timeout is not None:
            args += ["--timeout", str(self.timeout)]
        out = self._run(*args)
        self._running = True
        return out

    def connect_client_sync(self, **kwargs):
        """A Client of this cluster."""
        from .client import Client

        kwargs.setdefault("profile", self.profile)
        if self.ipp_dir is not None:
            kwargs.setdefault("ipp_dir", self.ipp_dir)
        c = Client(cluster=self, **kwargs)
        if self.n:
            c.wait_for_engines(self.n, timeout=self.timeout)
        self._client = c
        return c

    def start_and_connect_sync(self, n=None, **kwargs):
        """start_cluster_sync, then connect_client_sync."""
        self.start_cluster_sync(n)
        try:
            return self.connect_client_sync(**kwargs)
        except BaseException:
            self.stop_cluster_sync()
            raise

    def stop_cluster_sync(self):
        """Stop the controller and the engines (ipp cluster stop)."""
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._running:
            self._running = False
            return self._run("stop")
        return None

    async def start_and_connect(self, n=None, **kwargs):
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, lambda: self.start_and_connect_sync(n, **kwargs))

    async def stop_cluster(self):
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self.stop_cluster_sync)

    def __enter__(self):
        return self.start_and_connect_sync()

    def __exit__(self, *exc):
        self.stop_cluster_sync()

    def __repr__(self):
        return f"<ipp.Cluster profile={self.profile!r} n={self.n} running={self._running}>"
