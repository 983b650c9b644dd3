#!/bin/bash
# test_restart.sh IPP CTL ENG — local engines restarted by their set's
# watcher: a cluster of 2 local engines on free ports in a temp $IPP_DIR;
# one engine killed with SIGKILL is back within 10 s under the same engine
# id, with 1 restart shown by status; stop leaves no engine, watcher or
# controller behind (checked by pid). Then an engine that exits 1 on
# every start after its first is given up (lost, status says so) and its
# watcher leaves within 30 s.
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
engines=$(awk '$1=="engine" {print $3}' "$p/nanny-1.state")
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
"$ipp" cluster status | grep -q "1 lost" || fail "status does not show the lost engine"
grep -q "given up" "$p/log/nanny-1.log" || fail "loss not logged"
timeout 60 "$ipp" cluster stop >/dev/null || fail "stop (give up)"
export IPP_DIR=${IPP_DIR%/giveup}
echo "test_restart: ok"
