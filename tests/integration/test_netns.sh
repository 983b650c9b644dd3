#!/bin/bash
# test_netns.sh CTL_DIR ENG_DIR IPP — CurveZMQ between two hosts: a
# network namespace stands in for the second machine, joined to this one
# by a veth pair with addresses of its own (10.A.B.1/30 here, .2 there).
# The controller runs here, bound to the veth address with no Curve flag
# (Curve is on by default off loopback); an engine and a client run in the
# namespace with their own keys: tasks run and their results come back.
# A capture on the veth (tcpdump) during a task whose command line and
# output carry a marker must not hold the marker; the same run with
# --insecure must (the capture works). Skipped (exit 77) only where the
# kernel or the account refuses a namespace or a veth pair.
# Every process started is killed by pid, the namespace and the veth are
# deleted by name, on success and on failure.
set -u
ctl=$1/ipp-controller
eng=$2/ipp-engine
ipp=$3
tag=$$
ns=ipp-netns-$tag
veth_here=ipv${tag}h
veth_there=ipv${tag}t
# A /30 of its own, from the pid, in 10.200-249.x.y.
a=$((200 + tag % 50))
b=$(((tag / 50) % 256))
c=$(((tag / 12800) % 64 * 4))
here=10.$a.$b.$((c + 1))
there=10.$a.$b.$((c + 2))
dir=$(mktemp -d /tmp/ipp-netns-XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    ip link del "$veth_here" 2>/dev/null
    ip netns del "$ns" 2>/dev/null
    [ -n "${KEEP:-}" ] || rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
fail() {
    echo "test_netns: FAIL: $*" >&2
    for f in "$dir"/*/ctl.log; do
        [ -f "$f" ] && { echo "--- $f" >&2; tail -20 "$f" >&2; }
    done
    exit 1
}
skip() {
    echo "test_netns: SKIP: $*" >&2
    exit 77
}
# inside CMD…: CMD in the namespace, bounded in time.
inside() { timeout -k 5 60 ip netns exec "$ns" "$@"; }

command -v ip >/dev/null || skip "no ip command (iproute2)"
command -v tcpdump >/dev/null || fail "no tcpdump: run tools/setup"
ip netns add "$ns" 2>"$dir/err" || skip "the kernel refuses a network namespace: $(cat "$dir/err")"
ip link add "$veth_here" type veth peer name "$veth_there" 2>"$dir/err" ||
    skip "the kernel refuses a veth pair: $(cat "$dir/err")"
ip link set "$veth_there" netns "$ns" || fail "cannot move $veth_there into $ns"
ip addr add "$here/30" dev "$veth_here" || fail "address $here"
ip link set "$veth_here" up || fail "$veth_here up"
ip netns exec "$ns" ip addr add "$there/30" dev "$veth_there" || fail "address $there"
ip netns exec "$ns" ip link set "$veth_there" up || fail "$veth_there up"
ip netns exec "$ns" ip link set lo up || fail "lo up in $ns"
for _ in $(seq 50); do
    ip netns exec "$ns" ip -o addr show dev "$veth_there" | grep -q "inet $there.*tentative" || break
    sleep 0.1
done

# start_controller NAME [options…]: a controller in $dir/NAME bound to $here.
start_controller() {
    local name=$1
    shift
    mkdir -p "$dir/$name"
    IPP_DIR=$dir/$name "$ctl" --ip "$here" --heartbeat-period 0.2 "$@" \
        >"$dir/$name/ctl.log" 2>&1 &
    pids+=($!)
    ctlpid=$!
    local sec=$dir/$name/profile_default/security
    for _ in $(seq 200); do
        [ -s "$sec/ipp-engine.json" ] && [ -s "$sec/ipp-client.json" ] && break
        kill -0 $ctlpid 2>/dev/null || fail "the controller ($name) exited"
        sleep 0.1
    done
    [ -s "$sec/ipp-client.json" ] || fail "the controller ($name) wrote no connection files"
}

# wait_engine NAME CLIENT_FILE: until `ipp status` (from the namespace)
# shows one engine.
wait_engine() {
    for _ in $(seq 150); do
        inside "$ipp" --request-timeout 2 --connection "$2" status 2>/dev/null |
            grep -q "^1 engine" && return 0
        sleep 0.2
    done
    fail "($1) the engine in $ns did not register: $(tail -5 "$dir/$1/eng.log")"
}

# capture NAME CLIENT_FILE MARKER: run, from the namespace, a task whose
# command and output hold MARKER while tcpdump records the veth into
# $dir/NAME.pcap; fails unless the output comes back.
capture() {
    local name=$1 conn=$2 marker=$3 out
    tcpdump -i "$veth_here" -n -U --immediate-mode -Z root -s 0 -w "$dir/$name.pcap" tcp >"$dir/$name.tcpdump" 2>&1 &
    local dump=$!
    pids+=($dump)
    for _ in $(seq 100); do
        grep -q "listening on" "$dir/$name.tcpdump" && break
        kill -0 $dump 2>/dev/null || fail "tcpdump: $(cat "$dir/$name.tcpdump")"
        sleep 0.1
    done
    grep -q "listening on" "$dir/$name.tcpdump" || fail "tcpdump did not start"
    out=$(inside "$ipp" --connection "$conn" run --wait -- echo "$marker") ||
        fail "($name) the marker task failed: $out"
    echo "$out" | grep -q "$marker" || fail "($name) no marker in the output: $out"
    sleep 0.3  # the last segments reach the capture
    kill -INT $dump
    wait $dump 2>/dev/null
    grep -q "packets captured" "$dir/$name.tcpdump" || fail "tcpdump: $(cat "$dir/$name.tcpdump")"
    [ -s "$dir/$name.pcap" ] || fail "($name) nothing captured"
}

# ---------------------------------------------------------------- Curve
start_controller curve
grep -q "Curve is on" "$dir/curve/ctl.log" || fail "Curve is not on by default on $here"
sec=$dir/curve/profile_default/security
grep -q "\"ip\": *\"$here\"" "$sec/ipp-client.json" || fail "the connection file: $(cat "$sec/ipp-client.json")"
export IPP_DIR=$dir/curve
"$ipp" keys new --role engine far-engine >"$dir/out" 2>&1 || fail "keys new: $(cat "$dir/out")"
"$ipp" keys new --role client far-client >"$dir/out" 2>&1 || fail "keys new: $(cat "$dir/out")"
unset IPP_DIR
ip netns exec "$ns" "$eng" --connection "$sec/keys/far-engine.json" >"$dir/curve/eng.log" 2>&1 &
pids+=($!)
client=$sec/keys/far-client.json
wait_engine curve "$client"
# The file names the controller's Unix sockets, but the namespace is
# another host: the engine must take TCP.
grep -q ipc_engine "$sec/keys/far-engine.json" || fail "no ipc endpoint in the engine's file"
grep -q "connecting to tcp://$here:" "$dir/curve/eng.log" ||
    fail "the engine in $ns did not connect over TCP: $(head -5 "$dir/curve/eng.log")"
# Tasks run, results come back, to the second host.
for i in 1 2 3; do
    out=$(inside "$ipp" --connection "$client" run --wait -- echo "task $i from $there") ||
        fail "task $i: $out"
    echo "$out" | grep -q "task $i from $there" || fail "task $i: no output: $out"
done
id=$(inside "$ipp" --connection "$client" run -- sh -c 'echo $((6 * 7))') || fail "submit: $id"
inside "$ipp" --connection "$client" wait "$id" >/dev/null || fail "wait $id"
out=$(inside "$ipp" --connection "$client" result "$id") || fail "result $id: $out"
echo "$out" | grep -q "^42$" || fail "result $id: $out"
# The engine is connected from the other host (its TCP connection in the
# namespace goes to $here's engine port), and the tasks name the client's key.
eport=$(sed -n 's/.*"engine_port": *\([0-9]*\).*/\1/p' "$sec/ipp-engine.json")
ip netns exec "$ns" ss -tnH state established "dst $here:$eport" | grep -q "$there" ||
    fail "no connection from $there to $here:$eport: $(ip netns exec "$ns" ss -tn)"
[ "$(sqlite3 "$dir/curve/profile_default/db/tasks.db" \
    "SELECT count(*) FROM tasks WHERE submitted_by='far-client' AND submitted_by_key=1")" = 4 ] ||
    fail "the tasks do not name the key far-client"
marker=ipp-netns-marker-$tag-plaintext
capture curve "$client" "$marker"
if grep -aqF "$marker" "$dir/curve.pcap"; then
    fail "the marker crossed the veth in the clear with Curve on"
fi
# What was captured is the task's traffic, in CurveZMQ MESSAGE commands.
grep -q "^0 packets captured" "$dir/curve.tcpdump" && fail "nothing captured during the Curve task"
grep -aq MESSAGE "$dir/curve.pcap" || fail "no CurveZMQ messages in the capture"
kill -9 "${pids[@]}" 2>/dev/null
for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
pids=()

# ---------------------------------------------------------------- control
start_controller insecure --insecure
grep -q "insecure\|without Curve\|unencrypted" "$dir/insecure/ctl.log" ||
    fail "no warning for --insecure: $(cat "$dir/insecure/ctl.log")"
isec=$dir/insecure/profile_default/security
ip netns exec "$ns" "$eng" --connection "$isec/ipp-engine.json" >"$dir/insecure/eng.log" 2>&1 &
pids+=($!)
wait_engine insecure "$isec/ipp-client.json"
capture insecure "$isec/ipp-client.json" "$marker"
grep -aqF "$marker" "$dir/insecure.pcap" ||
    fail "the control run's capture has no marker: the capture sees nothing useful"
echo "test_netns: ok ($here <-> $there in $ns; marker absent with Curve, present with --insecure)"
