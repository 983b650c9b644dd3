#!/bin/bash
# test_ipc.sh CTL_DIR ENG_DIR IPP — peers on the controller's host use
# ipc://, the real binaries end to end. Checks: the connection files name
# the three ipc endpoints and the host; the sockets live in the profile's
# 0700 security/ folder; an engine and a client connect over ipc (the
# engine says so, and no TCP connection reaches the controller's ports
# while tasks run), an engine with IPP_TRANSPORT=tcp over TCP; after a
# kill -9 the controller binds the same socket paths again (the dead
# one's files are in the way) and both engines come back; restarted with
# --no-ipc the files lose the ipc endpoints and the ipc engine moves to
# TCP by itself; another account on this host, which may not open the
# owner's sockets, uses TCP; an engine too slow to read its stop before the
# controller's shutdown still gets it. Every process started is killed by pid on exit.
set -u
ctl=$1/ipp-controller
eng=$2/ipp-engine
ipp=$3
dir=$(mktemp -d /tmp/ipp-ipc-XXXXXX)
export IPP_DIR=$dir
unset IPP_TRANSPORT
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    [ -n "${KEEP:-}" ] || rm -rf "$dir"
}
trap cleanup EXIT
fail() {
    echo "test_ipc: FAIL: $*" >&2
    echo "--- controller log" >&2
    tail -20 "$dir/ctl.log" >&2
    for f in "$dir"/eng*.log; do
        echo "--- $f" >&2
        tail -10 "$f" >&2
    done
    exit 1
}
sec=$dir/profile_default/security
field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get(sys.argv[2], ""))' "$@"; }
# established TCP connections to the controller's port P (its side)
tcp_peers() { ss -Htn state established "( sport = :$1 )" | wc -l; }

start_ctl() {
    "$ctl" --heartbeat-period 0.2 "$@" >>"$dir/ctl.log" 2>&1 &
    ctl_pid=$!
    pids+=($ctl_pid)
    for _ in $(seq 100); do
        [ -s "$sec/ipp-engine.json" ] &&
            [ "$(field "$sec/ipp-engine.json" controller_pid)" = "$ctl_pid" ] && return 0
        sleep 0.1
    done
    fail "the controller wrote no connection files"
}
engines_up() {
    for _ in $(seq 150); do
        "$ipp" status 2>/dev/null | grep -q "^$1 engine" && return 0
        sleep 0.1
    done
    fail "$1 engines did not register: $("$ipp" status 2>&1)"
}

start_ctl
cfile=$sec/ipp-client.json
efile=$sec/ipp-engine.json
[ "$(field "$efile" ipc_engine)" = "ipc://$sec/ipc-engine.sock" ] ||
    fail "ipc_engine in $efile: $(cat "$efile")"
[ "$(field "$cfile" ipc_client)" = "ipc://$sec/ipc-client.sock" ] || fail "ipc_client: $(cat "$cfile")"
[ "$(field "$cfile" ipc_notify)" = "ipc://$sec/ipc-notify.sock" ] || fail "ipc_notify: $(cat "$cfile")"
[ -n "$(field "$cfile" host_id)" ] || fail "no host_id in $cfile"
for s in client notify engine; do
    [ -S "$sec/ipc-$s.sock" ] || fail "no socket $sec/ipc-$s.sock"
done
[ "$(stat -c %a "$sec")" = 700 ] || fail "$sec is mode $(stat -c %a "$sec")"
eport=$(field "$efile" engine_port)
cport=$(field "$cfile" client_port)

"$eng" >"$dir/eng1.log" 2>&1 &
pids+=($!)
engines_up 1
grep -q "connecting to ipc://$sec/ipc-engine.sock" "$dir/eng1.log" ||
    fail "engine 1 did not connect over ipc: $(head -5 "$dir/eng1.log")"
out=$("$ipp" run --wait -- echo ipc-marker-1) || fail "task over ipc failed: $out"
echo "$out" | grep -q ipc-marker-1 || fail "no output over ipc: $out"
[ "$(tcp_peers "$eport")" = 0 ] || fail "a TCP connection on the engine port: $(ss -tn)"
[ "$(tcp_peers "$cport")" = 0 ] || fail "a TCP connection on the client port: $(ss -tn)"

# Another account on this host, with a copy of the client file: it may
# not enter the owner's security/ folder, so it uses TCP and gets through.
if [ "$(id -u)" = 0 ] && command -v runuser >/dev/null &&
    runuser -u nobody -- test -x "$ipp" 2>/dev/null; then
    other=$(mktemp -d /tmp/ipp-ipc-other-XXXXXX)
    cp "$cfile" "$other/client.json"
    chown -R nobody "$other"
    chmod 700 "$other"
    out=$(runuser -u nobody -- env HOME="$other" IPP_DIR="$other" \
        timeout 60 "$ipp" --connection "$other/client.json" run --wait -- echo other-marker 2>&1)
    rc=$?
    rm -rf "$other"
    [ $rc = 0 ] || fail "another account's task failed ($rc): $out"
    echo "$out" | grep -q other-marker || fail "no output for another account: $out"
else
    echo "test_ipc: not root, or user nobody cannot run $ipp: the other-account case is skipped"
fi

# Forced to TCP.
IPP_TRANSPORT=tcp "$eng" >"$dir/eng2.log" 2>&1 &
pids+=($!)
engines_up 2
grep -q "connecting to tcp://127.0.0.1:$eport" "$dir/eng2.log" ||
    fail "engine 2 did not connect over TCP: $(head -5 "$dir/eng2.log")"
[ "$(tcp_peers "$eport")" = 1 ] || fail "want one TCP engine connection: $(ss -tn)"
out=$(IPP_TRANSPORT=tcp "$ipp" run --wait -- echo tcp-marker) || fail "task over TCP: $out"
echo "$out" | grep -q tcp-marker || fail "no output over TCP: $out"

# kill -9: the dead controller's socket files stay; the next one binds
# the same paths and both engines register again.
kill -9 "$ctl_pid"
wait "$ctl_pid" 2>/dev/null
[ -S "$sec/ipc-engine.sock" ] || fail "the killed controller's socket file is gone (test premise)"
start_ctl
grep -q "cannot bind ipc" "$dir/ctl.log" && fail "the restarted controller could not bind ipc"
engines_up 2
out=$("$ipp" run --wait -- echo ipc-marker-2) || fail "task after the restart: $out"
echo "$out" | grep -q ipc-marker-2 || fail "no output after the restart: $out"

# --no-ipc: TCP only; the ipc engine finds the controller over TCP.
kill -TERM "$ctl_pid"
wait "$ctl_pid" 2>/dev/null
[ -e "$sec/ipc-engine.sock" ] && fail "a clean stop left $sec/ipc-engine.sock"
start_ctl --no-ipc
[ -z "$(field "$efile" ipc_engine)$(field "$cfile" ipc_client)$(field "$cfile" ipc_notify)" ] ||
    fail "--no-ipc still names ipc: $(cat "$efile" "$cfile")"
engines_up 2
[ "$(tcp_peers "$eport")" = 2 ] || fail "want both engines on TCP: $(ss -tn)"
out=$("$ipp" run --wait -- echo tcp-marker-2) || fail "task with --no-ipc: $out"
echo "$out" | grep -q tcp-marker-2 || fail "no output with --no-ipc: $out"
# A stop the engine has not read yet when the controller goes: the engine
# is frozen (SIGSTOP) while the controller shuts down and for 0.4 s after.
# An engine's socket drops what it has not read when its connection goes,
# so a controller that closed at once took the stop with it and the
# engine stayed, waiting for the next controller; the controller now waits
# (1 s at most) for every engine it stopped to say it leaves.
kill -TERM "$ctl_pid"
wait "$ctl_pid" 2>/dev/null
for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
pids=()
start_ctl
"$eng" >"$dir/eng3.log" 2>&1 &
eng3=$!
pids+=($eng3)
engines_up 1
grep -q "connecting to ipc://" "$dir/eng3.log" || fail "engine 3 is not on ipc"
kill -STOP "$eng3"
"$ipp" shutdown >"$dir/sd.out" 2>&1 || fail "shutdown: $(cat "$dir/sd.out")"
sleep 0.4
kill -CONT "$eng3"
for _ in $(seq 100); do
    kill -0 "$eng3" 2>/dev/null || break
    sleep 0.1
done
kill -0 "$eng3" 2>/dev/null && fail "the engine did not act on the stop: $(tail -3 "$dir/eng3.log")"
wait "$eng3"
rc=$?
[ $rc = 0 ] || fail "the stopped engine exited $rc"
grep -q "stop requested" "$dir/eng3.log" || fail "engine 3 never read the stop"
wait "$ctl_pid" 2>/dev/null
echo "test_ipc: ok"
