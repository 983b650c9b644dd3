#!/usr/bin/python3
"""peers_driver.py — the throughput, latency and chain workloads of
tools/bench/compare on other task systems, for --peers:

  --system dask        Dask distributed: a LocalCluster of 2 worker
                       processes, 1 thread each, started and closed here
                       (their pids are written to --pid-file)
  --system celery      Celery, Redis as broker and result backend; the
                       redis-server and 2 solo-pool workers are started by
                       tools/bench/compare (--redis-port)
  --system beanstalkd  beanstalkd with its binlog, no results; the server
                       is started by tools/bench/compare, and so are the 2
                       workers: this script with --beanstalk-worker

Workloads, as in ipp_compare_driver.py (after 20 warm-up tasks):
  --throughput N  N no-op tasks submitted, then all awaited: tasks/s end to
                  end and submit rate. beanstalkd: N jobs put, done when
                  the workers have deleted all N (the tube's cmd-delete)
  --latency M     M sequential submit-and-wait round trips: p50, p99 (µs).
                  Dask: submit().result(); Celery: delay().get();
                  beanstalkd: put, a worker reserves and deletes it and
                  puts a reply on a reply tube, the driver reserves that
  --chain N       N tasks, each depending on the previous: tasks/s. Dask:
                  submit(f, previous_future); Celery: a chain() of N
                  immutable signatures; beanstalkd: the worker that
                  deletes job k puts job k+1, the last one replies

Prints name=value lines (throughput_tasks_per_s, latency_p50_us, …).
Exits 1 if a task failed or went missing.
"""

import argparse
import os
import socket
import sys
import time


def noop(*_args):
    return None


def emit(name, value):
    if isinstance(value, float):
        value = "%.0f" % value if abs(value) >= 100 else "%.3f" % value
    print("%s=%s" % (name, value), flush=True)


def emit_latency(lat):
    lat.sort()
    n = len(lat)
    emit("latency_rounds", n)
    emit("latency_p50_us", lat[n // 2])
    emit("latency_p99_us", lat[(n * 99) // 100])
    emit("latency_mean_us", sum(lat) / n)


def emit_rate(prefix, n, t0, t1, t2):
    emit(prefix + "_tasks", n)
    emit(prefix + "_tasks_per_s", n / (t2 - t0))
    emit(prefix + "_submit_per_s", n / (t1 - t0))


def descendants(pid):
    """Every live descendant of pid, from /proc (children after parents)."""
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        kids.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        for c in kids.get(todo.pop(0), []):
            out.append(c)
            todo.append(c)
    return out


# ---------------------------------------------------------------- Dask


def run_dask(a):
    # Only errors from distributed's loggers (the workers inherit this):
    # at close, workers still heartbeating the scheduler log tracebacks.
    os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "error")
    import dask
    from distributed import Client, LocalCluster, wait

    dask.config.set({"temporary-directory": a.dir, "distributed.worker.daemon": False})
    ok = True
    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        local_directory=a.dir,
    ) as cluster, Client(cluster) as client:
        client.wait_for_workers(2, timeout=60)
        if a.pid_file:
            with open(a.pid_file, "w") as f:
                f.write(" ".join(str(p) for p in descendants(os.getpid())) + "\n")
        wait([client.submit(noop, i, pure=False) for i in range(20)], timeout=a.timeout)
        if a.throughput:
            n = a.throughput
            t0 = time.perf_counter()
            fs = [client.submit(noop, i, pure=False) for i in range(n)]
            t1 = time.perf_counter()
            wait(fs, timeout=a.timeout)
            t2 = time.perf_counter()
            bad = sum(1 for f in fs if f.status != "finished")
            emit_rate("throughput", n, t0, t1, t2)
            emit("throughput_failed", bad)
            ok &= bad == 0
            del fs
        if a.latency:
            lat = []
            for _ in range(a.latency):
                t = time.perf_counter()
                client.submit(noop, pure=False).result(timeout=a.timeout)
                lat.append((time.perf_counter() - t) * 1e6)
            emit_latency(lat)
        if a.chain:
            n = a.chain
            t0 = time.perf_counter()
            f = client.submit(noop, pure=False)
            fs = [f]
            for _ in range(n - 1):
                f = client.submit(noop, f, pure=False)
                fs.append(f)
            t1 = time.perf_counter()
            wait(fs, timeout=a.timeout)
            t2 = time.perf_counter()
            bad = sum(1 for f in fs if f.status != "finished")
            emit_rate("chain", n, t0, t1, t2)
            emit("chain_failed", bad)
            ok &= bad == 0
    return ok


# ---------------------------------------------------------------- Celery


def run_celery(a):
    import celery

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    os.environ["PEERS_REDIS_PORT"] = str(a.redis_port)
    from peers_celery_app import app, noop as cnoop

    ok = True
    # Both workers up: a broadcast ping answered by two distinct node names
    # (workers sharing a name share one pidbox queue, and only one of them
    # would answer). limit=2 returns as soon as both have.
    deadline = time.monotonic() + 60
    while True:
        names = set()
        for reply in app.control.ping(timeout=1.0, limit=2) or []:
            names.update(reply)
        if len(names) >= 2:
            break
        if time.monotonic() > deadline:
            print("celery: %d of 2 workers answered a ping (%s)" % (len(names), ", ".join(sorted(names))),
                  file=sys.stderr)
            return False
        time.sleep(0.1)
    # Warm-up, bounded: a worker that takes no tasks fails here, not later.
    for r in [cnoop.delay() for _ in range(20)]:
        r.get(timeout=min(a.timeout, 60))
    if a.throughput:
        n = a.throughput
        t0 = time.perf_counter()
        rs = [cnoop.delay() for _ in range(n)]
        t1 = time.perf_counter()
        bad = 0
        for r in rs:
            try:
                r.get(timeout=a.timeout)
            except Exception:
                bad += 1
        t2 = time.perf_counter()
        emit_rate("throughput", n, t0, t1, t2)
        emit("throughput_failed", bad)
        ok &= bad == 0
    if a.latency:
        lat = []
        for _ in range(a.latency):
            t = time.perf_counter()
            cnoop.delay().get(timeout=a.timeout)
            lat.append((time.perf_counter() - t) * 1e6)
        emit_latency(lat)
    if a.chain:
        n = a.chain
        t0 = time.perf_counter()
        r = celery.chain(*[cnoop.si() for _ in range(n)]).apply_async()
        t1 = time.perf_counter()
        r.get(timeout=a.timeout)
        t2 = time.perf_counter()
        # Every link succeeded. A worker sends the next link before it
        # stores its own result, so the last one may finish before the one
        # before it is stored: wait for each, then ask its state.
        bad = 0
        p = r
        links = 0
        while p is not None:
            links += 1
            try:
                p.get(timeout=min(a.timeout, 60))
            except Exception:
                pass
            if p.state != "SUCCESS":
                bad += 1
            p = p.parent
        bad += abs(links - n)
        emit_rate("chain", n, t0, t1, t2)
        emit("chain_failed", bad)
        ok &= bad == 0
    app.close()
    return ok


# ---------------------------------------------------------------- beanstalkd


class Beanstalk:
    """Just enough of beanstalkd's text protocol: use, watch, ignore, put,
    reserve, delete, stats-tube."""

    def __init__(self, port, timeout=600):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise ConnectionError("beanstalkd closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode()

    def _body(self, n):
        while len(self.buf) < n + 2:
            chunk = self.s.recv(65536)
            if not chunk:
                raise ConnectionError("beanstalkd closed the connection")
            self.buf += chunk
        body, self.buf = self.buf[:n], self.buf[n + 2 :]
        return body

    def _cmd(self, cmd, expect, data=None):
        msg = cmd.encode() + b"\r\n"
        if data is not None:
            msg += data + b"\r\n"
        self.s.sendall(msg)
        line = self._line()
        if line.split()[0] != expect:
            raise RuntimeError("beanstalkd: %s -> %s" % (cmd, line))
        return line.split()[1:]

    def use(self, tube):
        self._cmd("use " + tube, "USING")

    def watch(self, tube):
        self._cmd("watch " + tube, "WATCHING")

    def ignore(self, tube):
        self._cmd("ignore " + tube, "WATCHING")

    def put(self, data, ttr=60):
        return int(self._cmd("put 0 0 %d %d" % (ttr, len(data)), "INSERTED", data)[0])

    def reserve(self):
        jid, n = self._cmd("reserve", "RESERVED")
        return int(jid), self._body(int(n))

    def delete(self, jid):
        self._cmd("delete %d" % jid, "DELETED")

    def stats_tube(self, tube):
        (n,) = self._cmd("stats-tube " + tube, "OK")
        out = {}
        for line in self._body(int(n)).decode().splitlines():
            if ": " in line:
                k, v = line.split(": ", 1)
                out[k] = v.strip()
        return out


def beanstalk_worker(port):
    """Reserve from `jobs`, delete; "r" jobs reply on `replies`; "c K N"
    jobs put "c K+1 N" (the next link), the last one replies."""
    b = Beanstalk(port, timeout=None)  # reserve waits as long as it must
    b.watch("jobs")
    b.ignore("default")
    b.use("replies")
    while True:
        jid, body = b.reserve()
        b.delete(jid)
        if body == b"r":
            b.put(b"%d" % jid)
        elif body.startswith(b"c "):
            k, n = (int(x) for x in body.split()[1:])
            if k + 1 < n:
                b.use("jobs")
                b.put(b"c %d %d" % (k + 1, n))
                b.use("replies")
            else:
                b.put(b"done")


def run_beanstalkd(a):
    b = Beanstalk(a.beanstalk_port)
    b.use("jobs")
    b.watch("replies")
    b.ignore("default")

    def deleted():
        return int(b.stats_tube("jobs")["cmd-delete"])

    def drain_until(target, timeout):
        deadline = time.monotonic() + timeout
        while deleted() < target:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.0005)
        return True

    # Warm-up, and both workers present.
    deadline = time.monotonic() + 60
    while int(b.stats_tube("jobs")["current-watching"]) < 2:
        if time.monotonic() > deadline:
            print("beanstalkd: the workers are not watching", file=sys.stderr)
            return False
        time.sleep(0.05)
    base = deleted()
    for _ in range(20):
        b.put(b"t")
    ok = drain_until(base + 20, a.timeout)
    if a.throughput:
        n = a.throughput
        base = deleted()
        t0 = time.perf_counter()
        for _ in range(n):
            b.put(b"t")
        t1 = time.perf_counter()
        done = drain_until(base + n, a.timeout)
        t2 = time.perf_counter()
        emit_rate("throughput", n, t0, t1, t2)
        emit("throughput_failed", n - (deleted() - base))
        ok &= done
    if a.latency:
        lat = []
        for _ in range(a.latency):
            t = time.perf_counter()
            jid = b.put(b"r")
            rid, body = b.reserve()
            b.delete(rid)
            if body != b"%d" % jid:
                ok = False
            lat.append((time.perf_counter() - t) * 1e6)
        emit_latency(lat)
    if a.chain:
        n = a.chain
        base = deleted()
        t0 = time.perf_counter()
        b.put(b"c 0 %d" % n)
        t1 = time.perf_counter()
        rid, body = b.reserve()
        b.delete(rid)
        t2 = time.perf_counter()
        bad = (body != b"done") + abs(n - (deleted() - base))
        emit_rate("chain", n, t0, t1, t2)
        emit("chain_failed", bad)
        ok &= bad == 0
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--system", choices=("dask", "celery", "beanstalkd"))
    ap.add_argument("--dir", default=".", help="the peer's temporary directory")
    ap.add_argument("--pid-file", help="dask: write the cluster's process ids here")
    ap.add_argument("--redis-port", type=int)
    ap.add_argument("--beanstalk-port", type=int)
    ap.add_argument("--beanstalk-worker", action="store_true",
                    help="be a beanstalkd worker (runs until stopped)")
    ap.add_argument("--throughput", type=int, default=0)
    ap.add_argument("--latency", type=int, default=0)
    ap.add_argument("--chain", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=600)
    a = ap.parse_args()
    if a.beanstalk_worker:
        if not a.beanstalk_port:
            ap.error("--beanstalk-worker needs --beanstalk-port")
        beanstalk_worker(a.beanstalk_port)
        return 0
    if a.system is None:
        ap.error("--system is required")
    if a.system == "celery" and not a.redis_port:
        ap.error("--system celery needs --redis-port")
    if a.system == "beanstalkd" and not a.beanstalk_port:
        ap.error("--system beanstalkd needs --beanstalk-port")
    run = {"dask": run_dask, "celery": run_celery, "beanstalkd": run_beanstalkd}[a.system]
    return 0 if run(a) else 1


if __name__ == "__main__":
    sys.exit(main())
