#!/usr/bin/python3
"""ipp_compare_driver.py — the workloads of tools/bench/run through a Python
client API, for tools/bench/compare: IPython Parallel's `ipyparallel`, or
ipp's own `ipp` package (--api ipp), which has the same API — the script
is the same for both but for the import.

Connects to a running controller (by profile directory), waits for the
engines, runs what it is asked for, and prints name=value lines with the
same names bench_e2e prints, so the two can be set side by side:

  --throughput N   N no-op tasks on a load-balanced view, all submitted
                   (apply_async), then all awaited: tasks/s end to end
                   and submit rate
  --latency M      M sequential apply_async + wait round trips: p50, p99 (µs)
  --sync-latency M M sequential apply_sync round trips: p50, p99 (µs)
  --map N          map_async of a one-argument no-op over range(N) on a
                   load-balanced view (a task per item), awaited: items/s,
                   every result checked
  --chain N        N tasks, each `after` the previous: tasks/s
  --dag N          a random DAG of N no-op tasks, each `after` up to 3
                   distinct earlier nodes drawn uniformly: tasks/s; then
                   every task's `started` is checked against its parents'
                   `completed` (the engines' own timestamps)
  --profile FILE   run the workloads under cProfile and write its stats
                   there (pstats format) — the client side only

Exits 1 if a task failed or the DAG ran out of order. Uses nothing but the
documented Client / View / AsyncResult calls both packages share.
"""

import argparse
import random
import sys
import time


def noop():
    return None


def ident(x):
    return x


def emit(name, value):
    if isinstance(value, float):
        value = "%.0f" % value if abs(value) >= 100 else "%.3f" % value
    print("%s=%s" % (name, value), flush=True)


def failed_count(ars):
    return sum(1 for ar in ars if not ar.successful())


def many(client, view, prefix, n, timeout):
    t0 = time.perf_counter()
    ars = [view.apply_async(noop) for _ in range(n)]
    t1 = time.perf_counter()
    client.wait(ars, timeout=timeout)
    t2 = time.perf_counter()
    bad = failed_count(ars)
    emit(prefix + "_tasks", n)
    emit(prefix + "_tasks_per_s", n / (t2 - t0))
    emit(prefix + "_submit_per_s", n / (t1 - t0))
    emit(prefix + "_failed", bad)
    return bad == 0


def latency(view, prefix, rounds, timeout):
    lat = []
    bad = 0
    for _ in range(rounds):
        t = time.perf_counter()
        ar = view.apply_async(noop)
        ar.wait(timeout)
        if not ar.successful():
            bad += 1
        lat.append((time.perf_counter() - t) * 1e6)
    lat.sort()
    emit(prefix + "_rounds", rounds)
    emit(prefix + "_p50_us", lat[rounds // 2])
    emit(prefix + "_p99_us", lat[(rounds * 99) // 100])
    emit(prefix + "_mean_us", sum(lat) / rounds)
    emit(prefix + "_failed", bad)
    return bad == 0


def sync_latency(view, prefix, rounds):
    lat = []
    for _ in range(rounds):
        t = time.perf_counter()
        view.apply_sync(noop)
        lat.append((time.perf_counter() - t) * 1e6)
    lat.sort()
    emit(prefix + "_rounds", rounds)
    emit(prefix + "_p50_us", lat[rounds // 2])
    emit(prefix + "_p99_us", lat[(rounds * 99) // 100])
    emit(prefix + "_mean_us", sum(lat) / rounds)
    return True


def mapped(view, prefix, n, timeout):
    t0 = time.perf_counter()
    ar = view.map_async(ident, range(n))
    t1 = time.perf_counter()
    out = ar.get(timeout)
    t2 = time.perf_counter()
    wrong = sum(1 for i, v in enumerate(out) if v != i) + abs(len(out) - n)
    emit(prefix + "_items", n)
    emit(prefix + "_items_per_s", n / (t2 - t0))
    emit(prefix + "_submit_per_s", n / (t1 - t0))
    emit(prefix + "_wrong", wrong)
    return wrong == 0


def dependent(client, view, prefix, n, parents, seed, timeout):
    """A chain (parents == 0 means "the previous task") or a random DAG."""
    rng = random.Random(seed)
    ars = []
    graph = []
    t0 = time.perf_counter()
    for i in range(n):
        if parents == 0:
            picks = [i - 1] if i else []
        else:
            picks = rng.sample(range(i), min(i, parents))
        graph.append(picks)
        after = [ars[p].msg_ids[0] for p in picks]
        with view.temp_flags(after=after):
            ars.append(view.apply_async(noop))
    t1 = time.perf_counter()
    client.wait(ars, timeout=timeout)
    t2 = time.perf_counter()
    bad = failed_count(ars)
    edges = sum(len(p) for p in graph)
    emit(prefix + ("_tasks" if parents == 0 else "_nodes"), n)
    emit(prefix + "_edges", edges)
    emit(prefix + "_tasks_per_s", n / (t2 - t0))
    emit(prefix + "_submit_per_s", n / (t1 - t0))
    emit(prefix + "_failed", bad)
    # Order, from the engines' timestamps in each result's metadata.
    violations = 0
    for i, picks in enumerate(graph):
        started = ars[i].metadata["started"]
        for p in picks:
            done = ars[p].metadata["completed"]
            if started is None or done is None or started < done:
                violations += 1
    emit(prefix + "_order_violations", violations)
    return bad == 0 and violations == 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--api", choices=("ipyparallel", "ipp"), default="ipyparallel")
    ap.add_argument("--profile-dir", required=True)
    ap.add_argument("--engines", type=int, default=2)
    ap.add_argument("--prefix", default="")
    ap.add_argument("--throughput", type=int, default=0)
    ap.add_argument("--latency", type=int, default=0)
    ap.add_argument("--sync-latency", type=int, default=0)
    ap.add_argument("--map", type=int, default=0)
    ap.add_argument("--chain", type=int, default=0)
    ap.add_argument("--dag", type=int, default=0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--profile", metavar="FILE")
    a = ap.parse_args()

    if a.api == "ipp":
        import ipp as api
    else:
        import ipyparallel as api

    client = api.Client(profile_dir=a.profile_dir, timeout=60)
    client.wait_for_engines(a.engines, timeout=60)
    view = client.load_balanced_view()
    # Warm-up: the first tasks pay for imports and caches in the engines
    # (ipp's engines start their Python on the first one).
    client[:].apply_sync(noop)
    warm = [view.apply_async(noop) for _ in range(20)]
    client.wait(warm, timeout=a.timeout)

    prof = None
    if a.profile:
        import cProfile

        prof = cProfile.Profile()
        prof.enable()
    ok = True
    p = a.prefix
    if a.throughput:
        ok &= many(client, view, p + "throughput", a.throughput, a.timeout)
    if a.latency:
        ok &= latency(view, p + "latency", a.latency, a.timeout)
    if a.sync_latency:
        ok &= sync_latency(view, p + "sync_latency", a.sync_latency)
    if a.map:
        ok &= mapped(view, p + "map", a.map, a.timeout)
    if a.chain:
        ok &= dependent(client, view, p + "chain", a.chain, 0, a.seed, a.timeout)
    if a.dag:
        ok &= dependent(client, view, p + "dag", a.dag, 3, a.seed, a.timeout)
    if prof is not None:
        prof.disable()
        prof.dump_stats(a.profile)
    client.close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
