#!/bin/bash
# test_restart.sh IPP CTL ENG — local engines restarted by their set's
# watcher: a cluster of 2 local engines on free ports in a temp $IPP_DIR;
# one engine killed with SIGKILL is back within 10 s under the same engine
# id, with 1 restart shown by status; a task sent to that engine id (a
# direct view: ipp px --targets) runs in the new process and succeeds; the
# new pid is what the set's row (engine_sets.pids), PROFILE/engines.pid
# and the controller's engines table record. Then the watcher is killed:
# status calls the set unwatched, an engine killed then stays down and is
# shown gone, and stop (with the controller killed too, so only the
# recorded pids are left to go by) leaves no engine, watcher or
# controller behind (checked by pid). Then an engine that exits 1 on
# every start after its first is given up (status shows the set lost,
# "1 lost" and as many restarts as the log has) and its watcher leaves
# within 30 s.
set -u
ipp=$1
export IPP_CONTROLLER=$2 IPP_ENGINE=$3
export IPP_DIR=$(mktemp -d /tmp/ipp-restart-XXXXXX)
p=$IPP_DIR/profile_default
cleanup() {
    timeout 60 "$ipp" cluster stop --timeout 2 >/dev/null 2>&1
    rm -rf "$IPP_DIR"
}
trap cleanup EXIT
fail() {
    echo "test_restart: FAIL: $*" >&2
    for f in "$p"/log/*.log; do [ -f "$f" ] && { echo "--- $f" >&2; tail -15 "$f" >&2; }; done
    exit 1
}
timeout 90 "$ipp" cluster start -n 2 --timeout 60 >"$IPP_DIR/start.out" || fail "start"
nanny=$(awk '/^nanny /{print $2}' "$p/nanny-1.state")
ctl=$(cat "$p/ipp-controller.pid")
victim=$(awk '$1=="engine" && $2==0 {print $3}' "$p/nanny-1.state")
id=$("$ipp" cluster status | awk -v v="$victim" '$2==v {print $1}')
[ -n "$id" ] || fail "no engine id for pid $victim"
kill -9 "$victim"
ok=0
for _ in $(seq 100); do
    st=$("$ipp" cluster status)
    new=$(awk '$1=="engine" && $2==0 {print $3}' "$p/nanny-1.state")
    if [ "$new" != "$victim" ] && echo "$st" | awk -v i="$id" -v n="$new" '$1==i && $2==n && $3=="up"' | grep -q . &&
        echo "$st" | grep -q "1 restart,"; then ok=1; break; fi
    sleep 0.1
done
[ $ok = 1 ] || fail "engine $id not back: $st"
grep -q "restarted" "$p/log/nanny-1.log" || fail "restart not logged"
db=$p/db/tasks.db
# A task for that engine id alone runs in the new process.
out=$("$ipp" px --targets "$id" -- sh -c 'echo "ppid=$PPID"' 2>&1) || fail "px --targets $id: $out"
echo "$out" | grep -q "^\[engine $id\]$" || fail "the task did not run on engine $id: $out"
echo "$out" | grep -q "^ppid=$new$" || fail "the task did not run in the restarted engine $new: $out"
# Where the pids are recorded, the new one is (the watcher writes the row
# within 2 s of a change).
recorded() { sqlite3 "$db" "SELECT pids FROM engine_sets WHERE id=1" | grep -qx "$1"; }
for _ in $(seq 50); do recorded "$new" && grep -qx "$new" "$p/engines.pid" && break; sleep 0.1; done
recorded "$new" || fail "engine_sets.pids is not the new pid $new: $(sqlite3 "$db" "SELECT pids FROM engine_sets")"
recorded "$victim" && fail "engine_sets.pids still names the killed pid $victim"
grep -qx "$new" "$p/engines.pid" || fail "engines.pid lacks the new pid $new: $(cat "$p/engines.pid")"
grep -qx "$victim" "$p/engines.pid" && fail "engines.pid still names the killed pid $victim"
[ "$(sqlite3 "$db" "SELECT pid FROM engines WHERE id=$id")" = "$new" ] ||
    fail "the engines table has not the new pid: $(sqlite3 "$db" "SELECT id, uuid, pid FROM engines")"
"$ipp" cluster status | grep -q "(2 of 2 started by .ipp cluster start. running)" ||
    fail "status does not see both engines: $("$ipp" cluster status)"

# The watcher killed: its engines are unwatched, and status says so.
kill -9 "$nanny"
for _ in $(seq 50); do [ -d "/proc/$nanny" ] || break; sleep 0.1; done
st=$("$ipp" cluster status)
echo "$st" | grep -Eq "^  1 +local +2 +2 +unwatched .*watcher pid $nanny gone: engines unwatched" ||
    fail "status does not call the set unwatched: $st"
other=$(awk '$1=="engine" && $2==1 {print $3}' "$p/nanny-1.state")
oid=$(echo "$st" | awk -v v="$other" '$2==v {print $1}')
kill -9 "$other"
ok=0
for _ in $(seq 150); do
    st=$("$ipp" cluster status)
    echo "$st" | grep -Eq "^  1 +local +2 +1 +unwatched .*1 engine gone \(id $oid\)" && { ok=1; break; }
    sleep 0.1
done
[ $ok = 1 ] || fail "status does not show engine $oid gone: $st"
grep -q "ipp-engine" "/proc/$other/cmdline" 2>/dev/null && fail "engine $other was restarted without a watcher"
engines=$(awk '$1=="engine" {print $3}' "$p/nanny-1.state")
kill -9 "$ctl"
for _ in $(seq 50); do [ -d "/proc/$ctl" ] || break; sleep 0.1; done
timeout 60 "$ipp" cluster stop >/dev/null || fail "stop"
sleep 0.5
for q in $nanny $ctl $engines; do
    grep -qE "ipp" "/proc/$q/cmdline" 2>/dev/null && fail "pid $q still running after stop"
done

# An engine that dies at once on every restart.
export IPP_DIR=$IPP_DIR/giveup
p=$IPP_DIR/profile_default
mkdir -p "$IPP_DIR"
cat >"$IPP_DIR/eng.sh" <<EOS
#!/bin/sh
[ -e "$IPP_DIR/started" ] && exit 1
touch "$IPP_DIR/started"
exec "$3" "\$@"
EOS
chmod +x "$IPP_DIR/eng.sh"
IPP_ENGINE=$IPP_DIR/eng.sh timeout 90 "$ipp" cluster start -n 1 --timeout 60 >/dev/null ||
    fail "start (give up)"
nanny=$(awk '/^nanny /{print $2}' "$p/nanny-1.state")
kill -9 "$(awk '$1=="engine" {print $3}' "$p/nanny-1.state")"
for _ in $(seq 300); do
    grep -q "lost" "$p/nanny-1.state" && ! [ -d "/proc/$nanny" ] && break
    sleep 0.1
done
grep -q "lost" "$p/nanny-1.state" || fail "engine never given up"
[ -d "/proc/$nanny" ] && fail "watcher $nanny still running after giving up"
grep -q "given up" "$p/log/nanny-1.log" || fail "loss not logged"
# Every restart counted: status shows as many as the log has.
n=$(grep -c "restarted (pid" "$p/log/nanny-1.log")
[ "$n" -ge 4 ] || fail "only $n restarts logged before giving up"
st=$("$ipp" cluster status)
echo "$st" | grep -Eq "^  1 +local +1 +0 +lost +0 pids alive, $n restarts, 1 lost; watcher pid $nanny gone(;.*)?$" ||
    fail "status does not show the set lost after $n restarts: $st"
timeout 60 "$ipp" cluster stop >/dev/null || fail "stop (give up)"
export IPP_DIR=${IPP_DIR%/giveup}
echo "test_restart: ok"
