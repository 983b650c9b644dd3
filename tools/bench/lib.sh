# shellcheck shell=bash disable=SC2154
# tools/bench/lib.sh — what tools/bench/run and tools/bench/compare share:
# building the ipp binaries, starting and stopping clusters by pid,
# collecting name=value figures and writing them as JSON. Sourced, never
# run. Expects bash with `set -euo pipefail`, and before bench_setup:
# $me (the script's name for messages), $build, $nobuild, $keep, $out,
# $step_limit.
#
# Every process started here is in $live until reaped; the EXIT trap
# stops what is left (SIGTERM, then SIGKILL after 5 s), each by its pid.

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

say() { printf '%s: %s\n' "$me" "$*" >&2; }

# bench_setup: the temporary directory, the figure file, the trap.
bench_setup() {
    work=$(mktemp -d "/tmp/ipp-bench-$me-XXXXXX")
    results="$work/results.txt"
    : >"$results"
    live=""       # pids started and not reaped
    ctl=""        # the current ipp-controller
    engines=""    # the current ipp-engines
    failures=""   # names of failed steps
    trap bench_cleanup EXIT
    trap 'exit 130' INT TERM
}

# s_forget PID: drop PID from $live.
# shellcheck disable=SC2086
s_forget() { live=$(printf '%s\n' $live | grep -vx "$1" | tr '\n' ' ' || true); }

# s_stop PID…: SIGTERM each, give it up to 5 s, then SIGKILL; reap.
s_stop() {
    local p i
    for p in "$@"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "$@"; do
        for i in $(seq 100); do
            kill -0 "$p" 2>/dev/null || break
            sleep 0.05
        done
        kill -KILL "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
        s_forget "$p"
    done
}

# s_tree PID: PID and every descendant's pid, children after parents.
s_tree() {
    local p=$1 c
    echo "$p"
    for c in $(ps -o pid= --ppid "$p" 2>/dev/null || true); do
        s_tree "$c"
    done
}

bench_cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    # A script's own processes that are not in $live (started by a driver).
    if declare -F bench_cleanup_extra >/dev/null; then bench_cleanup_extra || true; fi
    # shellcheck disable=SC2086
    [ -n "${live// /}" ] && s_stop $live
    if [ "$keep" = 1 ] || [ -n "$failures" ]; then
        say "kept $work (databases and logs)"
    else
        rm -rf "$work"
    fi
    exit $rc
}

emit() {
    printf '%s=%s\n' "$1" "$2"
    printf '%s=%s\n' "$1" "$2" >>"$results"
}
fail() {
    say "FAILED: $1"
    failures="${failures:+$failures,}$1"
}
# value NAME: the last value emitted under NAME.
value() { sed -n "s/^$1=//p" "$results" | tail -1; }

# bench NAME PROGRAM ARGS…: run one step (bounded by $step_limit seconds),
# keep its name=value lines; a non-zero exit marks NAME failed.
bench() {
    local name=$1
    shift
    if timeout -k 10 "$step_limit" "$@" >"$work/$name.out"; then
        tee -a "$results" <"$work/$name.out"
    else
        tee -a "$results" <"$work/$name.out"
        fail "$name"
    fi
}

# build_ipp: build (unless $nobuild) and find the binaries.
build_ipp() {
    local attempt
    if [ "$nobuild" = 0 ]; then
        if [ ! -f "$build/CMakeCache.txt" ]; then
            say "configuring a Release tree in $build"
            cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >&2
        fi
        # Another build may hold the tree, or a folder may be mid-edit: retry.
        for attempt in 1 2 3 4; do
            if cmake --build "$build" -j"$(nproc)" --target ipp-controller ipp-engine \
                ipp_cli bench_e2e bench_store bench_floor ipp-dashboard >"$build/bench-build.log" 2>&1; then
                break
            fi
            if [ $attempt = 4 ]; then
                tail -30 "$build/bench-build.log" >&2
                say "build failed (log: $build/bench-build.log)"
                exit 1
            fi
            say "build failed (attempt $attempt); retrying in 20 s"
            sleep 20
        done
    fi
    ctl_bin="$build/hub/ipp-controller"
    eng_bin="$build/engine/ipp-engine"
    e2e_bin="$build/tools/bench/bench_e2e"
    store_bin="$build/tools/bench/bench_store"
    floor_bin="$build/tools/bench/bench_floor"
    ipp_bin="$build/tools/ipp/ipp"
    local b
    for b in "$ctl_bin" "$eng_bin" "$ipp_bin" "$e2e_bin" "$store_bin" "$floor_bin"; do
        [ -x "$b" ] || { say "missing $b (build it, or drop --no-build)"; exit 1; }
    done
    build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$build/CMakeCache.txt" 2>/dev/null || true)
    sanitize=$(sed -n 's/^IPP_SANITIZE:[A-Z]*=//p' "$build/CMakeCache.txt" 2>/dev/null || true)
    if [ "${build_type:-}" != Release ] || [ "${sanitize:-OFF}" != OFF ]; then
        say "note: $build is ${build_type:-unknown}, sanitizers ${sanitize:-OFF}: figures not representative"
    fi
}

# emit_machine: when, where, what was measured.
emit_machine() {
    emit date "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    emit nproc "$(nproc)"
    emit cpu_model "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
    emit git_commit "$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
    emit build_type "${build_type:-unknown}"
    emit sanitize "${sanitize:-OFF}"
    # Other work on the machine skews every figure: say how busy it was.
    emit loadavg_before "$(cut -d' ' -f1-3 /proc/loadavg)"
}

# start_controller DIR [options…]: an ipp-controller with $IPP_DIR=DIR.
start_controller() {
    local dir=$1
    shift
    IPP_DIR="$dir" "$ctl_bin" --log-level warn "$@" >>"$dir/controller.log" 2>&1 &
    ctl=$!
    live="$live $ctl"
}

# start_cluster DIR [controller options…]: a controller, then
# $cluster_engines engines (2 unless set) once it has written its
# connection files. With --curve among the
# options, each engine gets a key of its own (`ipp keys new --role engine`)
# and the benchmarks connect with the profile's ipp-client.json (the
# owner's admin key), as a user of a Curve controller would.
start_cluster() {
    local dir=$1 i=0 n curve=0 o
    shift
    for o in "$@"; do [ "$o" = --curve ] && curve=1; done
    mkdir -p "$dir"
    start_controller "$dir" "$@"
    while [ ! -f "$dir/profile_default/security/ipp-engine.json" ]; do
        i=$((i + 1))
        if [ $i -gt 600 ] || ! kill -0 "$ctl" 2>/dev/null; then
            cat "$dir/controller.log" >&2
            say "the controller did not start"
            exit 1
        fi
        sleep 0.05
    done
    engines=""
    for n in $(seq "${cluster_engines:-2}"); do
        local conn=()
        if [ $curve = 1 ]; then
            IPP_DIR="$dir" "$ipp_bin" keys new --role engine "bench-engine-$n" >>"$dir/keys.log" 2>&1 ||
                { cat "$dir/keys.log" >&2; say "ipp keys new failed"; exit 1; }
            conn=(--connection "$dir/profile_default/security/keys/bench-engine-$n.json")
        fi
        IPP_DIR="$dir" "$eng_bin" --log-level warn "${conn[@]}" >>"$dir/engine-$n.log" 2>&1 &
        engines="$engines $!"
        live="$live $!"
    done
}
stop_cluster() {
    # shellcheck disable=SC2086
    s_stop $ctl $engines
    ctl="" engines=""
}

# cpu_ns PID…: CPU time so far of every thread of these processes, ns
# (from each thread's schedstat: exact, where /proc/PID/stat counts ticks).
cpu_ns() {
    local p t sum=0 v
    for p in "$@"; do
        for t in /proc/"$p"/task/*/schedstat; do
            v=$(cut -d' ' -f1 "$t" 2>/dev/null) || continue
            sum=$((sum + ${v:-0}))
        done
    done
    echo "$sum"
}

# bench_cpu NAME TASKS COMMAND…: bench NAME COMMAND…, then the controller's
# and the engines' CPU per task during it (µs, one decimal).
bench_cpu() {
    local name=$1 tasks=$2 c0 e0 c1 e1
    shift 2
    # shellcheck disable=SC2086
    c0=$(cpu_ns "$ctl") e0=$(cpu_ns $engines)
    bench "$name" "$@"
    # shellcheck disable=SC2086
    c1=$(cpu_ns "$ctl") e1=$(cpu_ns $engines)
    emit "${name}_cpu_us_per_task_controller" "$(awk -v d=$((c1 - c0)) -v n="$tasks" 'BEGIN { printf "%.1f", d / 1000 / n }')"
    emit "${name}_cpu_us_per_task_engines" "$(awk -v d=$((e1 - e0)) -v n="$tasks" 'BEGIN { printf "%.1f", d / 1000 / n }')"
}

# rss FIELD: the current controller's VmHWM or VmRSS, kB.
rss() { sed -n "s/^$1:[[:space:]]*\([0-9]*\) kB/\1/p" "/proc/$ctl/status" 2>/dev/null || echo -1; }

# write_json: every figure so far as one flat JSON object in $out; then
# exit 1 if a step failed.
write_json() {
    emit loadavg_after "$(cut -d' ' -f1-3 /proc/loadavg)"
    emit failures "${failures:-none}"
    mkdir -p "$(dirname "$out")"
    awk '
        BEGIN { printf "{" }
        {
            i = index($0, "="); name = substr($0, 1, i - 1); val = substr($0, i + 1)
            if (val !~ /^-?[0-9]+(\.[0-9]+)?$/) {
                gsub(/\\/, "\\\\", val); gsub(/"/, "\\\"", val); val = "\"" val "\""
            }
            printf "%s\n  \"%s\": %s", (NR > 1 ? "," : ""), name, val
        }
        END { printf "\n}\n" }' "$results" >"$out.tmp"
    mv "$out.tmp" "$out"
    say "figures written to $out"
    if [ -n "$failures" ]; then
        say "FAILED: $failures"
        exit 1
    fi
}
