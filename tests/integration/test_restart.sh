#!/bin/bash
# test_restart.sh IPP CTL ENG — local engines restarted by their set's
# watcher: a cluster of 2 local engines on free ports in a temp $IPP_DIR;
# one engine killed with SIGKILL is back within 10 s under the same engine
# id, with 1 restart shown by status; a task sent to that engine id (a
# direct view: ipp px --targets) runs in the new process and succeeds; the
# new pid is what the set's row (engine_sets.pids), PROFILE/engines.pid
# and the controller's engines table record. Then the watcher is killed:
# status calls the set unwatched, an engine killed then stays down and is
# shown gone; `engines watch 1` starts a new watcher, which starts that
# engine again (same id) and restarts the one it took over when that is
# killed; a second `engines watch 1` is refused. Then stop (with the
# controller killed too, so only the
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
# A new watcher takes over: the engine that runs is kept, the one killed
# is started again under its id, and one killed after is restarted too.
"$ipp" cluster engines watch 1 >"$IPP_DIR/watch.out" 2>&1 || fail "engines watch 1: $(cat "$IPP_DIR/watch.out")"
nanny2=$(awk '/^nanny /{print $2}' "$p/nanny-1.state")
grep -q "engine set 1 (local) watched again: watcher pid $nanny2$" "$IPP_DIR/watch.out" ||
    fail "engines watch 1: $(cat "$IPP_DIR/watch.out")"
[ "$(sqlite3 "$db" "SELECT job_id FROM engine_sets WHERE id=1")" = "$nanny2" ] || fail "the set's row does not name watcher $nanny2"
"$ipp" cluster engines watch 1 >"$IPP_DIR/watch.out" 2>&1 && fail "a second watcher was started"
grep -q "engine set 1 is watched already (watcher pid $nanny2)" "$IPP_DIR/watch.out" || fail "engines watch 1 again: $(cat "$IPP_DIR/watch.out")"
"$ipp" cluster engines watch 9 >"$IPP_DIR/watch.out" 2>&1
[ $? = 1 ] && grep -q "there is no engine set 9" "$IPP_DIR/watch.out" || fail "engines watch 9: $(cat "$IPP_DIR/watch.out")"
"$ipp" cluster engines watch >"$IPP_DIR/watch.out" 2>&1
[ $? = 2 ] && grep -q "which sets" "$IPP_DIR/watch.out" || fail "engines watch: $(cat "$IPP_DIR/watch.out")"
back() { # back ID OLDPID RESTARTS: engine ID up in another pid, status shows RESTARTS, watched
    st=$("$ipp" cluster status)
    echo "$st" | awk -v i="$1" -v o="$2" '$1==i && $2!=o && $3=="up"' | grep -q . &&
        echo "$st" | grep -Eq "^  1 +local +2 +2 +running +2 pids alive, $3 restarts, 0 lost; watcher pid $nanny2 running"
}
for _ in $(seq 150); do back "$oid" "$other" 2 && break; sleep 0.1; done
back "$oid" "$other" 2 || fail "engine $oid not back under the new watcher: $st"
kill -9 "$new"
for _ in $(seq 150); do back "$id" "$new" 3 && break; sleep 0.1; done
back "$id" "$new" 3 || fail "the engine taken over ($new, id $id) was not restarted: $st"
grep -q "taken over) ended" "$p/log/nanny-1.log" || fail "the taken-over engine's end is not logged"
engines=$(awk '$1=="engine" {print $3}' "$p/nanny-1.state")
kill -9 "$ctl"
for _ in $(seq 50); do [ -d "/proc/$ctl" ] || break; sleep 0.1; done
timeout 60 "$ipp" cluster stop >/dev/null || fail "stop"
sleep 0.5
for q in $nanny $nanny2 $ctl $engines; do
    grep -qE "ipp" "/proc/$q/cmdline" 2>/dev/null && fail "pid $q still running after stop"
done
san=$(grep -lE "ERROR: [A-Za-z]+Sanitizer|runtime error:" "$p"/log/*.log)
[ -n "$san" ] && fail "sanitizer reports in $san"

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
