#!/bin/bash
# test_curve.sh CTL_DIR ENG_DIR IPP IPP_QUERY CURVE_PEER — CurveZMQ end to
# end with the real binaries on this host (so over ipc): a controller with
# --curve, keys made by `ipp keys new`, an engine and clients with their
# own keys.
# Checks: a task round trip names its key in the audit; an unknown key, an
# engine key on the client socket and a client key on the engine socket
# are refused with nothing recorded; a key revoked while its client is
# connected is refused on that connection's next request; a client cannot
# purge another's task, an admin can (recorded as the admin's purge); key
# and connection files are 0600 and a readable one is refused, naming it;
# verify passes, and fails once a recorded key name is altered. Every
# process started is killed by pid on exit.
set -u
ctl=$1/ipp-controller
eng=$2/ipp-engine
ipp=$3
query=$4
peer=$5
dir=$(mktemp -d /tmp/ipp-curve-XXXXXX)
export IPP_DIR=$dir
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    rm -rf "$dir"
}
trap cleanup EXIT
fail() {
    echo "test_curve: FAIL: $*" >&2
    echo "--- controller log" >&2
    tail -30 "$dir/ctl.log" >&2
    exit 1
}
sec=$dir/profile_default/security
keys=$sec/keys
db=$dir/profile_default/db/tasks.db

"$ctl" --curve --heartbeat-period 0.2 >"$dir/ctl.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
    [ -s "$sec/ipp-client.json" ] && grep -q curve_server_key "$sec/ipp-client.json" && break
    sleep 0.1
done
grep -q curve_server_key "$sec/ipp-client.json" || fail "no Curve server key in ipp-client.json"

"$ipp" keys new --role engine node1 >"$dir/out" 2>&1 || fail "keys new node1: $(cat "$dir/out")"
"$ipp" keys new --role client alice >"$dir/out" 2>&1 || fail "keys new alice: $(cat "$dir/out")"
"$ipp" keys new --role client bob >"$dir/out" 2>&1 || fail "keys new bob"
"$ipp" keys new --role client carol >"$dir/out" 2>&1 || fail "keys new carol"
# A name is given once.
"$ipp" keys new --role admin alice --out "$dir/alice2.json" >"$dir/out" 2>&1 && fail "a second key named alice"
grep -q "already" "$dir/out" || fail "no reason for refusing a second alice: $(cat "$dir/out")"
# Also at the default path, where alice's file is in the way: the name is
# the reason given, and nothing changes.
"$ipp" keys new --role admin alice >"$dir/out" 2>&1 && fail "a second key named alice (default path)"
grep -q "a key named alice is already recorded (client, created .*); a name is given once" \
    "$dir/out" || fail "the reason for refusing a second alice: $(cat "$dir/out")"
[ "$(sqlite3 "$db" "SELECT role FROM keys WHERE name='alice'")" = client ] || fail "alice changed"

# Files are 0600.
for f in "$sec/curve-server.key" "$sec/ipp-client.json" "$keys/alice.json" "$keys/node1.json"; do
    [ "$(stat -c %a "$f")" = 600 ] || fail "$f is mode $(stat -c %a "$f")"
done

"$eng" --connection "$keys/node1.json" >"$dir/eng.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
    "$ipp" status 2>/dev/null | grep -q "^1 engine" && break
    sleep 0.1
done
"$ipp" status | grep -q "^1 engine" || fail "the engine did not register: $(tail -5 "$dir/eng.log")"

# Round trip with alice's key.
out=$("$ipp" --connection "$keys/alice.json" run --wait -- echo curve-marker-1) ||
    fail "alice's task failed: $out"
echo "$out" | grep -q curve-marker-1 || fail "no output: $out"
id=$("$ipp" --connection "$keys/alice.json" run -- echo second) || fail "alice submit"
"$ipp" --connection "$keys/alice.json" wait "$id" >/dev/null || fail "alice wait"
tasks=$(sqlite3 "$db" "SELECT count(*) FROM tasks")
[ "$tasks" = 2 ] || fail "$tasks tasks recorded, wanted 2"

# The audit names the key, verify passes.
"$query" --db "$db" audit --json >"$dir/audit" || fail "audit"
[ "$(grep -c '"submitted_by": *"alice"' "$dir/audit")" = 2 ] || fail "audit: $(cat "$dir/audit")"
[ "$(sqlite3 "$db" "SELECT count(*) FROM tasks WHERE submitted_by='alice' AND submitted_by_key=1")" = 2 ] ||
    fail "the records do not name alice's key"
"$query" --db "$db" db '{"submitted_by": "alice"}' --json >"$dir/q" || fail "db filter"
[ "$(wc -l <"$dir/q")" = 2 ] || fail "db filter on submitted_by: $(cat "$dir/q")"

# An unknown key (recorded in another database): refused, nothing recorded.
"$ipp" keys new --role client mallory --db "$dir/other.db" --out "$dir/mallory.json" >/dev/null 2>&1 ||
    fail "keys new mallory"
# The client is told at once that its key was refused (the handshake's
# ERROR), not left to time out; --request-timeout 60 would fail the test
# by its own time limit if it waited.
"$ipp" --request-timeout 60 --connection "$dir/mallory.json" run -- echo nope >"$dir/out" 2>&1
[ $? = 1 ] || fail "an unknown key got in: $(cat "$dir/out")"
grep -q "the controller at ipc://$sec/ipc-client.sock refused the Curve key mallory of $dir/mallory.json" \
    "$dir/out" || fail "unknown key: $(cat "$dir/out")"

# An engine key on the client socket: a client file holding node1's pair.
/usr/bin/python3 - "$keys/alice.json" "$keys/node1.json" "$dir/engkey.json" <<'EOF'
import json, os, sys
c = json.load(open(sys.argv[1])); e = json.load(open(sys.argv[2]))
c["curve_public_key"] = e["curve_public_key"]; c["curve_secret_key"] = e["curve_secret_key"]
fd = os.open(sys.argv[3], os.O_WRONLY | os.O_CREAT, 0o600)
os.write(fd, json.dumps(c).encode()); os.close(fd)
EOF
"$ipp" --request-timeout 60 --connection "$dir/engkey.json" run -- echo nope >"$dir/out" 2>&1
[ $? = 1 ] || fail "an engine key got onto the client socket: $(cat "$dir/out")"
grep -q "refused the Curve key" "$dir/out" || fail "engine key as a client: $(cat "$dir/out")"

# A client key registering as an engine: an engine file with bob's pair.
/usr/bin/python3 - "$keys/node1.json" "$keys/bob.json" "$dir/bobeng.json" <<'EOF'
import json, os, sys
e = json.load(open(sys.argv[1])); c = json.load(open(sys.argv[2]))
e["curve_public_key"] = c["curve_public_key"]; e["curve_secret_key"] = c["curve_secret_key"]
fd = os.open(sys.argv[3], os.O_WRONLY | os.O_CREAT, 0o600)
os.write(fd, json.dumps(e).encode()); os.close(fd)
EOF
"$eng" --connection "$dir/bobeng.json" >"$dir/bobeng.log" 2>&1 &
bobeng=$!
pids+=($bobeng)
for _ in $(seq 50); do
    "$ipp" status | grep -q "[1-9][0-9]* wrong socket, .*" &&
        [ "$(grep -c 'refused (wrong socket): key bob' "$dir/ctl.log")" -ge 1 ] && break
    sleep 0.1
done
grep -q "refused (wrong socket): key bob from" "$dir/ctl.log" || fail "bob as an engine not refused"
grep -q "refused (wrong socket): key node1 from" "$dir/ctl.log" || fail "node1 as a client not refused"
grep -q "refused (unknown key): key .* from localhost:" "$dir/ctl.log" ||
    fail "mallory not logged"
kill -9 $bobeng
"$ipp" status | grep -q "^1 engine" || fail "bob's engine registered"
# Logged once each, however often they retried.
[ "$(grep -c 'refused (wrong socket): key bob' "$dir/ctl.log")" = 1 ] || fail "bob logged more than once"
tasks=$(sqlite3 "$db" "SELECT count(*) FROM tasks")
[ "$tasks" = 2 ] || fail "refused peers recorded tasks: $tasks"
"$ipp" status | grep -q "curve on; refused: [1-9][0-9]* unknown key, [1-9][0-9]* wrong socket" ||
    fail "status: $("$ipp" status | tail -1)"

# Purges: bob may not purge alice's task; the owner (admin) may.
"$ipp" --connection "$keys/bob.json" purge "$id" >"$dir/out" 2>&1
[ $? = 1 ] || fail "bob purged alice's task"
grep -q "permission denied: purge of task $id needs the admin role" "$dir/out" || fail "$(cat "$dir/out")"
[ "$(sqlite3 "$db" "SELECT count(*) FROM tasks WHERE msg_id='$id'")" = 1 ] || fail "record gone"
"$ipp" --connection "$keys/bob.json" purge --all >"$dir/out" 2>&1 && fail "bob purged all"
"$ipp" --connection "$keys/bob.json" shutdown >"$dir/out" 2>&1 && fail "bob shut down"
grep -q "needs the admin role" "$dir/out" || fail "$(cat "$dir/out")"
"$ipp" purge "$id" >"$dir/out" 2>&1 || fail "the owner could not purge: $(cat "$dir/out")"
[ "$(sqlite3 "$db" "SELECT count(*) FROM tasks WHERE msg_id='$id'")" = 0 ] || fail "not purged"
[ "$(sqlite3 "$db" "SELECT purged_by FROM purges")" = owner ] || fail "purge not recorded as owner's"
"$query" --db "$db" verify >"$dir/out" || fail "verify after the purge: $(cat "$dir/out")"

# Revoked while connected: carol's next request on the same connection is refused.
mkfifo "$dir/go"
"$peer" "$keys/carol.json" <"$dir/go" >"$dir/peer.out" 2>&1 &
peerpid=$!
pids+=($peerpid)
exec 9>"$dir/go"
for _ in $(seq 100); do grep -q "^first:" "$dir/peer.out" && break; sleep 0.1; done
grep -q "^first: ok" "$dir/peer.out" || fail "carol: $(cat "$dir/peer.out")"
"$ipp" keys revoke carol >"$dir/out" 2>&1 || fail "revoke: $(cat "$dir/out")"
grep -q "the controller has read key carol again" "$dir/out" || fail "not told: $(cat "$dir/out")"
echo go >&9
exec 9>&-
wait $peerpid
grep -q "^second: IPP_ERR_DENIED .*key carol is revoked" "$dir/peer.out" ||
    fail "carol after revocation: $(cat "$dir/peer.out")"
"$ipp" keys list | grep -q "^carol .* client .*Z  *[0-9T:-]*Z *$" || fail "list: $("$ipp" keys list)"

# An engine key revoked while its engine runs a task: the engine is
# unregistered by the time `ipp keys revoke` returns (not after its missed
# heartbeats), and its task fails as for a death.
"$ipp" keys new --role engine node2 >"$dir/out" 2>&1 || fail "keys new node2: $(cat "$dir/out")"
"$eng" --connection "$keys/node2.json" >"$dir/eng2.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
    "$ipp" status 2>/dev/null | grep -q "^2 engines" && break
    sleep 0.1
done
"$ipp" status | grep -q "^2 engines" || fail "node2 did not register: $(tail -5 "$dir/eng2.log")"
e2=$(sqlite3 "$db" "SELECT id FROM engines ORDER BY id DESC LIMIT 1")
long=$("$ipp" --connection "$keys/alice.json" run --targets "$e2" -- sleep 60) || fail "submit: $long"
running_on_e2() { "$ipp" status | awk -v e="$e2" '$1 == e && $3 == 1 { ok = 1 } END { exit !ok }'; }
for _ in $(seq 100); do
    running_on_e2 && break
    sleep 0.1
done
running_on_e2 || fail "the task is not running on engine $e2: $("$ipp" status)"
"$ipp" keys revoke node2 >"$dir/out" 2>&1 || fail "revoke node2: $(cat "$dir/out")"
"$ipp" status >"$dir/status" 2>&1
grep -q "^1 engine" "$dir/status" || fail "node2's engine is still registered: $(cat "$dir/status")"
grep -q "engine $e2 (.*) unregistered: its key node2 was revoked" "$dir/ctl.log" ||
    fail "no unregistration logged for node2"
"$ipp" --connection "$keys/alice.json" wait "$long" >/dev/null 2>&1
"$ipp" --connection "$keys/alice.json" result "$long" >"$dir/out" 2>&1
grep -q "EngineError" "$dir/out" || fail "the task of the revoked engine: $(cat "$dir/out")"

# A key file others may read is refused, naming it.
chmod 640 "$keys/alice.json"
"$ipp" --connection "$keys/alice.json" status >"$dir/out" 2>&1 && fail "a 0640 key file was used"
grep -q "$keys/alice.json: mode 0640" "$dir/out" || fail "$(cat "$dir/out")"
# So is a server key file others may read (another profile's controller).
mkdir -p "$dir/profile_other/security"
chmod 700 "$dir/profile_other" "$dir/profile_other/security"
cp "$sec/curve-server.key" "$dir/profile_other/security/"
chmod 644 "$dir/profile_other/security/curve-server.key"
timeout 20 "$ctl" --curve --profile other >"$dir/out" 2>&1 && fail "a 0644 server key was used"
grep -q "profile_other/security/curve-server.key: mode 0644" "$dir/out" || fail "$(cat "$dir/out")"
# Altering the recorded key name breaks the chain.
"$query" --db "$db" verify >"$dir/out" || fail "verify: $(cat "$dir/out")"
sqlite3 "$db" "UPDATE tasks SET submitted_by='mallory'"
"$query" --db "$db" verify >"$dir/out" 2>&1 && fail "verify passed over an altered key name"
grep -q "BROKEN" "$dir/out" || fail "verify: $(cat "$dir/out")"
echo "test_curve: ok"
