#!/bin/bash
# test_compare_peers.sh BUILD OUT — tools/bench/compare --peers all at tiny
# counts against the build tree BUILD as it is (no rebuild): ipp, IPython
# Parallel, Dask, Celery (Redis) and beanstalkd each run the throughput,
# latency and chain workloads, and each must have produced its figures,
# with no task failed or missing, every ratio against ipp computed, no
# peer skipped and no step failed. compare runs in a session of its own:
# when it has exited, no process of that session (servers, workers,
# clusters) may be left. Correctness only: no figure's size is asserted.
# The figures land in OUT (JSON). Skipped (77) when a peer's Debian
# package is missing: tools/setup installs them.
set -u
build=$1
out=$2
root=$(cd "$(dirname "$0")/../.." && pwd)
missing=""
for pkg in python3-ipyparallel python3-distributed python3-celery python3-redis redis-server beanstalkd; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
    echo "SKIP: missing Debian package(s):$missing (tools/setup installs them)"
    exit 77
fi
tmp=$(mktemp -d /tmp/ipp-compare-peers-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() {
    echo "test_compare_peers: FAIL: $*" >&2
    tail -40 "$tmp/err" >&2
    exit 1
}

# shellcheck disable=SC2016
timeout -k 10 170 setsid -w bash -c 'echo $$ >"$0"; exec "$@"' "$tmp/sid" \
    "$root/tools/bench/compare" --build "$build" --no-build --peers all --quick --no-python \
    --tasks 50 --rounds 20 --chain 10 --dag 30 --out "$out" >"$tmp/out" 2>"$tmp/err"
rc=$?
sid=$(cat "$tmp/sid" 2>/dev/null || echo 0)
left=""
for _ in $(seq 50); do
    left=$(ps -eo pid=,sid=,args= | awk -v s="$sid" '$2 == s')
    [ -z "$left" ] && break
    sleep 0.1
done
if [ -n "$left" ]; then
    # Leave nothing behind even when failing: those pids, by pid.
    # shellcheck disable=SC2046
    kill -KILL $(printf '%s\n' "$left" | awk '{print $1}') 2>/dev/null
    fail "compare left processes behind: $left"
fi
[ "$rc" = 0 ] || fail "compare exited $rc"
[ -s "$out" ] || fail "no JSON in $out"

/usr/bin/python3 - "$out" <<'EOF' || fail "figures missing (above)"
import json, sys

f = json.load(open(sys.argv[1]))
bad = []


def need(name, positive=True):
    v = f.get(name)
    if v is None:
        bad.append("%s missing" % name)
    elif positive and not (isinstance(v, (int, float)) and v > 0):
        bad.append("%s=%r, not a positive number" % (name, v))


def zero(name):
    if f.get(name) != 0:
        bad.append("%s=%r, not 0" % (name, f.get(name)))


for n in ("throughput_hwm1_tasks_per_s", "throughput_hwm0_tasks_per_s", "latency_p50_us",
          "latency_p99_us", "chain_tasks_per_s", "dag_tasks_per_s"):
    need("ipp_" + n)
    need("ipyparallel_" + n)
for p in ("dask", "celery", "beanstalkd"):
    need(p + "_version", positive=False)
    for n in ("throughput_tasks_per_s", "latency_p50_us", "latency_p99_us", "chain_tasks_per_s"):
        need("%s_%s" % (p, n))
    zero(p + "_throughput_failed")
    zero(p + "_chain_failed")
    if f.get(p + "_throughput_tasks") != 50 or f.get(p + "_latency_rounds") != 20 or f.get(p + "_chain_tasks") != 10:
        bad.append("%s did not run 50 / 20 / 10 tasks" % p)
shared = ("throughput_hwm1_tasks_per_s", "throughput_hwm0_tasks_per_s", "latency_p50_us",
          "latency_p99_us", "chain_tasks_per_s")
for p in ("ipyparallel", "dask", "celery", "beanstalkd"):
    for n in shared:
        need("ratio_vs_%s_%s" % (p, n))
for n in shared:
    need("ratio_vs_fastest_" + n)
    if f.get("fastest_peer_" + n) not in ("ipyparallel", "dask", "celery", "beanstalkd"):
        bad.append("fastest_peer_%s=%r" % (n, f.get("fastest_peer_" + n)))
zero("ipp_dag_db_order_violations")
if f.get("compare_peers") != "ipyparallel,dask,celery,beanstalkd":
    bad.append("compare_peers=%r" % f.get("compare_peers"))
if f.get("compare_skipped") != "none":
    bad.append("compare_skipped=%r" % f.get("compare_skipped"))
if f.get("failures") != "none":
    bad.append("failures=%r" % f.get("failures"))
for b in bad:
    print("test_compare_peers: " + b, file=sys.stderr)
sys.exit(1 if bad else 0)
EOF
grep -q "beanstalkd: put/reserve/delete, no results" "$tmp/err" || fail "the table does not say beanstalkd returns no results"
echo "test_compare_peers: every peer produced its figures"
