#!/usr/bin/python3
"""The seeds' IPython Parallel examples, on ipp — runnable as it is:

    ipp cluster start -n 4
    PYTHONPATH=build/client/python /usr/bin/python3 examples/python/seeds.py
    ipp cluster stop

Connects to the running cluster ($IPP_DIR, $IPP_PROFILE, as `ipp`), prints
each example's result and checks it (a failed check exits non-zero).
"""

import asyncio
import math
import os

import ipp

PRIMES = [1000000007, 998244353, 1000000009, 999999937, 2147483647, 1000000011,
          1000000021, 999999929] * 4   # the talk used 15-digit ones: slower, same answer


def is_prime(n):  # the talk's
    if n % 2 == 0:
        return False
    sqrt_n = int(math.floor(math.sqrt(n)))
    for i in range(3, sqrt_n + 1, 2):
        if n % i == 0:
            return False
    return True


def slow_power(x, i=5):  # the tutorial's
    import time

    time.sleep(0.1)
    return x**i


def check(what, got, want):
    print(f"{what}: {got!r}")
    if got != want:
        raise SystemExit(f"{what}: expected {want!r}")


async def coroutine(ar, other):
    pid = await ar                      # an AsyncResult is a Future
    check("awaited pid is an engine's", pid in other, True)


def main():
    rc = ipp.Client()                   # or ipp.Cluster(n=4).start_and_connect_sync()
    rc.wait_for_engines(1, timeout=30)
    n = len(rc.ids)
    dview, lview = rc[:], rc.load_balanced_view()

    check("direct apply", dview.apply(slow_power, 5, 5).result(), [3125] * n)
    check("load-balanced apply_sync", lview.apply_sync(slow_power, 5, 5), 3125)
    check("map on engines 0 and 1", rc[0:2].map_sync(slow_power, range(4)),
          [x**5 for x in range(4)])
    check("prime map == builtin map", lview.map_sync(is_prime, PRIMES),
          list(map(is_prime, PRIMES)))
    pids = dview.apply_sync(os.getpid)
    check("one pid per engine", len(set(pids)), n)
    check("get_dict", sorted(dview.apply_async(os.getpid).get_dict()), rc.ids)

    dview.execute("c = 10", block=True)
    check("engine namespace as globals()", dview.apply_sync(lambda: c), [10] * n)  # noqa: F821
    dview["talk"] = "ipp"
    check("dview['talk']", dview["talk"], ["ipp"] * n)
    dview.scatter("a", range(16), block=True)
    parts = dview["a"]                  # one block per engine: [[0, 1, 2, 3], [4, 5, 6, 7], …]
    print(f"dview['a'] after scatter('a', range(16)): {parts!r}")
    check("the blocks, in order", [x for p in parts for x in p], list(range(16)))
    check("gather('a')", dview.gather("a", block=True), list(range(16)))
    with dview.sync_imports():
        import math as _math  # noqa: F401  (also imported on every engine)

    ar = rc[-1].apply(os.getpid)
    ar.add_done_callback(lambda f: print("I got PID: %i" % f.result()))
    asyncio.run(coroutine(ar, pids))
    md = ar.metadata
    check("metadata has started <= completed", md["started"] <= md["completed"], True)

    par = dview.map_async(slow_power, [2] * (4 * n))   # 4 sleeps per engine
    par.wait()
    check("serial_time / wall_time > 1 (a speed-up)", par.serial_time / par.wall_time > 1, True)

    with lview.temp_flags(after=ar, retries=2, label="seeds/after"):
        dep = lview.apply(slow_power, 2)
    msg_id = dep.msg_id
    check("after + retries + label", dep.get(), 32)
    again = ipp.Client()                # any client, any time later
    check("get_result(msg_id) from another client", again.get_result(msg_id).get(), 32)
    again.close()
    rc.close()
    print("all seeds' examples ran")


if __name__ == "__main__":
    main()
