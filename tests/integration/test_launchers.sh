#!/bin/bash
# test_launchers.sh IPP CTL ENG — `ipp cluster` engine sets with the real
# launchers, each started by this test and killed by pid (namespaces and
# links removed by name) on exit:
#  - bad launcher options and a bad batch template: a clear error, nothing
#    started, nothing recorded;
#  - an engine started before its controller registers once it comes; an
#    engine given $IPP_CONNECTION_INFO alone registers;
#  - MPI (Open MPI's mpiexec): a set of 2 engines runs tasks, each engine
#    has its rank as tag rank=K; status shows the set; a controller restart
#    keeps it; a rank killed is shown in status (the set ended or
#    degraded, the engine gone); stop leaves no engine or mpiexec behind;
#  - Slurm: a one-node Slurm of the test's own (munged, slurmctld, slurmd,
#    generated slurm.conf and key, state in a temp dir); a set of 2 engines
#    under srun, status shows the job RUNNING; an engine killed is shown
#    in status (degraded or ended, the engine gone); stop cancels it
#    (squeue empty after); a bad partition gets sbatch's error;
#  - SSH: an sshd of the test's own (host and user keys generated, root by
#    key only) inside a network namespace with its own veth address as a
#    second host; the controller binds its side of the veth (Curve on), the
#    engines started over ssh connect from the namespace with their own
#    keys; an engine killed there is shown in status (degraded, 1 of 2
#    pids alive, the engine gone); an unreachable host fails alone; a
#    loopback-only controller is refused for a remote host.
# A section skips, saying why, only when its tools are not installed or
# the kernel refuses namespaces.
set -u
ipp=$1
ctl=$2
eng=$3
top=$(mktemp -d /tmp/ipp-launch-XXXXXX)
ns=""
veth=""
slurm_pids=()
cleanup() {
    # The sets first (mpiexec, Slurm jobs, ssh engines), by what the
    # databases recorded, then every process this script started.
    for d in "$top"/*/; do
        [ -f "$d/profile_default/db/tasks.db" ] && IPP_DIR=$d timeout 60 "$ipp" cluster stop --timeout 2 >/dev/null 2>&1
    done
    # Only children still running (`jobs -p`): a pid that has exited may
    # belong to someone else by now.
    for p in $(jobs -p); do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    # The Slurm daemons (they detach): by their pid files' pids, each only
    # while it still runs munged or a slurm daemon.
    ours_slurm() { grep -qE "munged|slurmctld|slurmd" "/proc/$1/cmdline" 2>/dev/null; }
    for p in "${slurm_pids[@]}"; do ours_slurm "$p" && kill "$p"; done
    for _ in $(seq 20); do
        alive=0
        for p in "${slurm_pids[@]}"; do ours_slurm "$p" && alive=1; done
        [ $alive = 0 ] && break
        sleep 0.1
    done
    for p in "${slurm_pids[@]}"; do ours_slurm "$p" && kill -9 "$p"; done
    if [ -n "$ns" ]; then
        # Whatever still runs in the namespace is ours.
        for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
        ip netns del "$ns" 2>/dev/null
    fi
    [ -n "$veth" ] && ip link del "$veth" 2>/dev/null
    rm -rf "$top"
}
trap cleanup EXIT
fail() {
    echo "test_launchers: FAIL: $*" >&2
    for f in "$IPP_DIR"/profile_default/log/*.log; do
        [ -f "$f" ] && { echo "--- $f" >&2; tail -15 "$f" >&2; }
    done
    exit 1
}
# note FILE TITLE: with $IPP_LAUNCHERS_TRANSCRIPT set, append FILE to it.
note() {
    [ -n "${IPP_LAUNCHERS_TRANSCRIPT:-}" ] && { echo "\$ $2"; cat "$1"; } >>"$IPP_LAUNCHERS_TRANSCRIPT"
    return 0
}
skip() { echo "test_launchers: SKIP $1: $2"; }
# fresh NAME: a new $IPP_DIR for one section.
fresh() {
    export IPP_DIR=$top/$1
    mkdir -p "$IPP_DIR"
}
wait_for() { # wait_for SECONDS CMD...: until CMD succeeds
    local t=$1
    shift
    for _ in $(seq $((t * 10))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
    return 1
}
engines_up() { "$ipp" status 2>/dev/null | grep -q "^$1 engine"; }
# set_shows SET REGEX: `ipp cluster status` has a line for SET matching REGEX.
set_shows() { "$ipp" cluster status 2>/dev/null | grep -Eq "^  $1 +$2"; }
# kill_one SET: SIGKILL the first registered engine of SET (by the pid the
# controller recorded, only while it runs ipp-engine); prints its id.
kill_one() {
    local row pid
    row=$(sqlite3 "$IPP_DIR/profile_default/db/tasks.db" "SELECT id, pid FROM engines WHERE uuid LIKE 'set$1-%' AND unregistered IS NULL ORDER BY id LIMIT 1")
    pid=${row#*|}
    grep -q ipp-engine "/proc/$pid/cmdline" 2>/dev/null || return 1
    kill -9 "$pid"
    echo "${row%|*}"
}
export IPP_CONTROLLER=$ctl IPP_ENGINE=$eng

# ---------------------------------------------------------------- bad input
fresh bad
db=$IPP_DIR/profile_default/db/tasks.db
check_refused() { # check_refused WANT_RC TEXT ARGS...: refused, says TEXT, started nothing
    local want=$1 text=$2
    shift 2
    "$ipp" cluster start "$@" >"$top/out" 2>&1
    rc=$?
    [ "$rc" = "$want" ] || fail "cluster start $*: exit $rc, wanted $want: $(cat "$top/out")"
    grep -q -- "$text" "$top/out" || fail "cluster start $*: no '$text' in: $(cat "$top/out")"
    [ -e "$IPP_DIR/profile_default/ipp-controller.pid" ] && fail "cluster start $*: a controller was started"
    [ -e "$db" ] && fail "cluster start $*: a database was made"
}
check_refused 2 "--engines is local, mpi, slurm or ssh" --engines pbs
check_refused 2 "are for --engines slurm" --engines mpi --partition x
check_refused 2 "mpiexec ends the whole job when one rank dies" --engines mpi --restart-engines
check_refused 2 "needs --hosts" --engines ssh
check_refused 1 "not \[USER@\]HOST" --engines ssh --hosts "root@"
check_refused 1 ":PORT needs a port" --engines ssh --hosts "h:99999"
check_refused 1 "/N needs a number" --engines ssh --hosts "h/0"
check_refused 1 "cannot find /nonexistent/mpiexec" --engines mpi --mpiexec /nonexistent/mpiexec
printf '#!/bin/sh\n#SBATCH --ntasks={n}\nsrun {program}\n' >"$top/bad1.tpl"
printf '#!/bin/sh\nsrun {program_and_args\n' >"$top/bad2.tpl"
printf '#!/bin/sh\necho {n}\n' >"$top/bad3.tpl"
if command -v sbatch >/dev/null; then
    check_refused 1 "line 3: unknown variable {program}" --engines slurm --batch-template "$top/bad1.tpl"
    check_refused 1 "line 2: '{' is not closed" --engines slurm --batch-template "$top/bad2.tpl"
    check_refused 1 "never uses {program_and_args}" --engines slurm --batch-template "$top/bad3.tpl"
    check_refused 1 "No such file" --engines slurm --batch-template "$top/none.tpl"
fi
"$ipp" cluster engines add --engines mpi -n 1 >"$top/out" 2>&1
[ $? = 3 ] || fail "engines add without a controller: $(cat "$top/out")"
grep -q "no controller is running" "$top/out" || fail "engines add: $(cat "$top/out")"
echo "test_launchers: bad options refused"

# ---------------------------------------------------------------- before the controller
fresh early
"$eng" --profile default >"$top/early-eng.log" 2>&1 &
early=$!
sleep 3
kill -0 $early 2>/dev/null || fail "an engine started before its controller exited: $(cat "$top/early-eng.log")"
grep -q "waiting for the controller" "$top/early-eng.log" || fail "the early engine did not say it waits: $(cat "$top/early-eng.log")"
"$ctl" --profile default >"$top/early-ctl.log" 2>&1 &
wait_for 30 engines_up 1 || fail "the early engine did not register: $(tail -5 "$top/early-eng.log")"
# An engine given the connection file's JSON in the environment alone.
IPP_CONNECTION_INFO=$(cat "$IPP_DIR/profile_default/security/ipp-engine.json") \
    "$eng" --connection-none 2>/dev/null
IPP_CONNECTION_INFO=$(cat "$IPP_DIR/profile_default/security/ipp-engine.json") \
    "$eng" --profile nosuch >"$top/env-eng.log" 2>&1 &
wait_for 30 engines_up 2 || fail "the engine of IPP_CONNECTION_INFO did not register: $(tail -5 "$top/env-eng.log")"
out=$("$ipp" run --wait -- sh -c 'echo "[${IPP_CONNECTION_INFO:-unset}]"') || fail "run: $out"
echo "$out" | grep -q "\[unset\]" || fail "a task saw the connection info: $out"
"$ipp" shutdown --all >/dev/null 2>&1 || "$ipp" shutdown >/dev/null 2>&1
echo "test_launchers: early engine and IPP_CONNECTION_INFO register"

# ---------------------------------------------------------------- MPI
fresh mpi
if ! command -v mpiexec >/dev/null; then
    skip mpi "mpiexec is not installed (tools/setup installs openmpi-bin)"
else
    # With Curve on loopback: every set gets its engine key, the profile a
    # client key.
    "$ipp" cluster start -n 1 --curve --timeout 60 >"$top/out" 2>&1 || fail "start: $(cat "$top/out")"
    grep -q "(Curve)" "$top/out" || fail "no Curve: $(cat "$top/out")"
    note "$top/out" "IPP_DIR=$IPP_DIR ipp cluster start -n 1 --curve --timeout 60"
    # An mpiexec that fails at once: reported with its last lines, the set failed.
    "$ipp" cluster engines add --engines mpi -n 2 --mpi-args "--no-such-mpiexec-option" \
        --timeout 60 >"$top/out" 2>&1 && fail "a failing mpiexec was accepted"
    grep -q "engine set 2 (mpi): mpiexec (pid [0-9]*) exited with status" "$top/out" ||
        fail "no report of mpiexec's exit: $(cat "$top/out")"
    grep -q "last lines of .*engines-2.log" "$top/out" || fail "no log lines: $(cat "$top/out")"
    grep -q "no-such-mpiexec-option" "$top/out" || fail "the log lines say nothing: $(cat "$top/out")"
    "$ipp" cluster engines add --engines mpi -n 2 --timeout 90 >"$top/out" 2>&1 ||
        fail "engines add --engines mpi: $(cat "$top/out")"
    grep -q "engine set 3 (mpi, pid [0-9]*): 2 engines" "$top/out" || fail "mpi set: $(cat "$top/out")"
    note "$top/out" "ipp cluster engines add --engines mpi -n 2"
    [ "$(sqlite3 "$IPP_DIR/profile_default/db/tasks.db" "SELECT group_concat(name) FROM keys WHERE role='engine' AND revoked IS NULL")" = "set1,set3" ] ||
        fail "engine keys: $(sqlite3 "$IPP_DIR/profile_default/db/tasks.db" "SELECT name, role, revoked FROM keys")"
    grep -q "reachable on 127.0.0.1 only" "$top/out" || fail "no loopback warning: $(cat "$top/out")"
    for r in 0 1; do
        out=$("$ipp" run --wait --require tag:rank=$r -- sh -c 'echo rank=$OMPI_COMM_WORLD_RANK') ||
            fail "a task for rank $r: $out"
        [ "$out" = "rank=$r" ] || fail "the task for tag:rank=$r ran on rank '$out'"
    done
    out=$("$ipp" map -- echo ::: 1 2 3 4 5 6 2>&1) || fail "map over the cluster: $out"
    "$ipp" cluster status >"$top/st" 2>&1 || fail "status: $(cat "$top/st")"
    grep -Eq "^  3 +mpi +2 +2 +running +mpiexec pid [0-9]+ running" "$top/st" || fail "status: $(cat "$top/st")"
    note "$top/st" "ipp cluster status"
    grep -Eq "^  2 +mpi +2 +[0-9-]+ +failed" "$top/st" || fail "status: $(cat "$top/st")"
    mpipid=$(sqlite3 "$IPP_DIR/profile_default/db/tasks.db" "SELECT job_id FROM engine_sets WHERE id=3")
    # A controller restart under the running set: it is still known.
    cpid=$(cat "$IPP_DIR/profile_default/ipp-controller.pid")
    kill -TERM "$cpid"
    wait_for 20 sh -c "! kill -0 $cpid" || fail "the controller did not stop"
    "$ctl" --profile default --curve >"$top/mpi-ctl2.log" 2>&1 &
    restarted=$!
    wait_for 30 engines_up 3 || fail "the engines did not come back after a controller restart"
    "$ipp" cluster status >"$top/st" 2>&1
    grep -Eq "^  3 +mpi +2 +2 +running" "$top/st" || fail "status after a restart: $(cat "$top/st")"
    # Grow and shrink: one more local set, stopped alone.
    "$ipp" cluster engines add -n 1 --tag solo >"$top/out" 2>&1 || fail "engines add: $(cat "$top/out")"
    grep -q "engine set 4 (local): 1 engine" "$top/out" || fail "engines add: $(cat "$top/out")"
    solo=$(sqlite3 "$IPP_DIR/profile_default/db/tasks.db" "SELECT pids FROM engine_sets WHERE id=4")
    "$ipp" cluster engines stop 99 >"$top/out" 2>&1
    [ $? = 1 ] && grep -q "there is no engine set 99" "$top/out" || fail "engines stop 99: $(cat "$top/out")"
    "$ipp" cluster engines stop x >"$top/out" 2>&1
    [ $? = 2 ] && grep -q "'x' is not a set number" "$top/out" || fail "engines stop x: $(cat "$top/out")"
    "$ipp" cluster engines stop 4 >"$top/out" 2>&1 || fail "engines stop 4: $(cat "$top/out")"
    grep -q "engine set 4 (local) stopped" "$top/out" || fail "engines stop 4: $(cat "$top/out")"
    ! grep -q ipp-engine "/proc/$solo/cmdline" 2>/dev/null || fail "the stopped set's engine $solo still runs"
    "$ipp" cluster status >"$top/st" 2>&1
    grep -Eq "^  4 +local +1 +0 +stopped" "$top/st" || fail "status after engines stop: $(cat "$top/st")"
    grep -Eq "^  3 +mpi +2 +2 +running" "$top/st" || fail "engines stop 4 touched set 3: $(cat "$top/st")"
    # A rank killed: mpiexec ends the job, or goes on with one fewer;
    # either way status shows the loss.
    gone=$(kill_one 3) || fail "no running engine of set 3 to kill"
    wait_for 30 set_shows 3 "mpi +2 +[01] +(ended|degraded) .*gone \\(ids? ([0-9]+, )*$gone[,)]" ||
        fail "status does not show the killed rank (engine $gone): $("$ipp" cluster status 2>&1)"
    "$ipp" cluster status >"$top/st" 2>&1
    note "$top/st" "ipp cluster status   # after kill -9 of engine $gone's pid"
    "$ipp" cluster stop >"$top/out" 2>&1 || fail "stop: $(cat "$top/out")"
    grep -q "engine set 3 (mpi) stopped" "$top/out" || fail "stop: $(cat "$top/out")"
    note "$top/out" "ipp cluster stop"
    wait_for 20 sh -c "! kill -0 $restarted" || fail "the restarted controller is still running"
    ! grep -q mpiexec "/proc/$mpipid/cmdline" 2>/dev/null || fail "mpiexec $mpipid is still running"
    for p in $(sqlite3 "$IPP_DIR/profile_default/db/tasks.db" "SELECT pid FROM engines WHERE uuid LIKE 'set3-%'"); do
        ! grep -q ipp-engine "/proc/$p/cmdline" 2>/dev/null || fail "engine pid $p of the MPI set still runs"
    done
    echo "test_launchers: mpi set ran, reported ranks, survived a controller restart, stopped"
fi

# ---------------------------------------------------------------- Slurm
fresh slurm
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
    skip slurm "slurmctld, slurmd or munged is not installed (tools/setup installs slurm-wlm munge)"
elif [ "$(id -u)" != 0 ]; then
    skip slurm "a single-node slurmd of the test's own needs root (it runs jobs as their users)"
else
    sd=$top/slurmd
    mkdir -p "$sd/munge" "$sd/state" "$sd/spool" "$sd/log"
    chmod 700 "$sd/munge"
    head -c 1024 /dev/urandom >"$sd/munge/munge.key"
    chmod 400 "$sd/munge/munge.key"
    port() { /usr/bin/python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
    munged --key-file="$sd/munge/munge.key" --socket="$sd/munge/munge.sock" \
        --pid-file="$sd/munge/munged.pid" --log-file="$sd/munge/munged.log" \
        --seed-file="$sd/munge/seed" -f 2>"$sd/log/munged.err" || fail "munged: $(cat "$sd/log/munged.err")"
    slurm_pids+=("$(cat "$sd/munge/munged.pid")")
    host=$(hostname -s)
    cat >"$sd/slurm.conf" <<C
ClusterName=ipptest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$(port)
SlurmdPort=$(port)
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$sd/munge/munge.sock
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$sd/state
SlurmdSpoolDir=$sd/spool
SlurmctldPidFile=$sd/slurmctld.pid
SlurmdPidFile=$sd/slurmd.pid
SlurmctldLogFile=$sd/log/slurmctld.log
SlurmdLogFile=$sd/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
NodeName=$host NodeAddr=127.0.0.1 CPUs=$(nproc) State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE
C
    export SLURM_CONF=$sd/slurm.conf
    slurmctld -i 2>"$sd/log/slurmctld.err" || fail "slurmctld: $(cat "$sd/log/slurmctld.err")"
    wait_for 10 test -s "$sd/slurmctld.pid"
    slurm_pids+=("$(cat "$sd/slurmctld.pid")")
    slurmd 2>"$sd/log/slurmd.err" || fail "slurmd: $(cat "$sd/log/slurmd.err")"
    wait_for 10 test -s "$sd/slurmd.pid"
    slurm_pids+=("$(cat "$sd/slurmd.pid")")
    wait_for 30 sh -c 'sinfo -h -o %t | grep -q idle' || fail "the Slurm node is not idle: $(sinfo 2>&1; tail -5 "$sd/log/slurmctld.log")"

    # A bad partition: sbatch's own error, nothing left behind.
    "$ipp" cluster start --engines slurm -n 2 --partition nosuch >"$top/out" 2>&1 &&
        fail "a bad partition was accepted"
    grep -q "sbatch refuses these options: sbatch: error: invalid partition" "$top/out" || fail "bad partition: $(cat "$top/out")"
    [ -e "$IPP_DIR/profile_default/db/tasks.db" ] && fail "a bad partition started a controller"
    [ -z "$(squeue -h)" ] || fail "a job is queued after a refused start: $(squeue)"

    "$ipp" cluster start --engines slurm -n 2 --time 10 --sbatch-arg=--job-name=ipp-test-job \
        --timeout 90 >"$top/out" 2>&1 || fail "start --engines slurm: $(cat "$top/out")"
    grep -q "engine set 1 (slurm, job [0-9]*): 2 engines" "$top/out" || fail "slurm set: $(cat "$top/out")"
    note "$top/out" "IPP_DIR=$IPP_DIR SLURM_CONF=$SLURM_CONF ipp cluster start --engines slurm -n 2 --time 10 --sbatch-arg=--job-name=ipp-test-job --timeout 90"
    script=$IPP_DIR/profile_default/log/engines-1.sbatch
    grep -q "^#SBATCH --time=10$" "$script" || fail "no --time in the script: $(cat "$script")"
    # The template names the job already: --sbatch-arg adds no second line.
    [ "$(grep -c -- "--job-name" "$script")" = 1 ] || fail "job name twice: $(cat "$script")"
    grep -q "^srun .*ipp-engine" "$script" || fail "no srun: $(cat "$script")"
    job=$(sqlite3 "$IPP_DIR/profile_default/db/tasks.db" "SELECT job_id FROM engine_sets WHERE id=1")
    [ "$(squeue -h -j "$job" -o %T)" = RUNNING ] || fail "job $job is not running: $(squeue)"
    out=$("$ipp" run --wait --require tag:rank=1 -- sh -c 'echo $SLURM_JOB_ID/$SLURM_PROCID') || fail "run: $out"
    [ "$out" = "$job/1" ] || fail "the task for rank 1 ran in '$out', not job $job rank 1"
    "$ipp" cluster status >"$top/st" 2>&1 || fail "status: $(cat "$top/st")"
    grep -Eq "^  1 +slurm +2 +2 +running +job $job RUNNING" "$top/st" || fail "status: $(cat "$top/st")"
    note "$top/st" "ipp cluster status"
    gone=$(kill_one 1) || fail "no running engine of the Slurm set to kill"
    wait_for 30 set_shows 1 "slurm +2 +[01] +(ended|degraded) .*gone \\(ids? ([0-9]+, )*$gone[,)]" ||
        fail "status does not show the killed engine $gone: $("$ipp" cluster status 2>&1)"
    "$ipp" cluster status >"$top/st" 2>&1
    note "$top/st" "ipp cluster status   # after kill -9 of engine $gone's pid"
    "$ipp" cluster stop >"$top/out" 2>&1 || fail "stop: $(cat "$top/out")"
    grep -q "engine set 1 (slurm) stopped" "$top/out" || fail "stop: $(cat "$top/out")"
    note "$top/out" "ipp cluster stop"
    [ -z "$(squeue -h)" ] || fail "squeue is not empty after stop: $(squeue)"
    "$ipp" cluster status >"$top/st" 2>&1
    grep -Eq "^  1 +slurm +2 +- +stopped" "$top/st" || fail "status after stop: $(cat "$top/st")"
    echo "test_launchers: slurm job submitted, RUNNING in status, cancelled by stop"
fi

# ---------------------------------------------------------------- SSH
fresh ssh
if [ ! -x /usr/sbin/sshd ] || ! command -v ssh >/dev/null || ! command -v ssh-keygen >/dev/null; then
    skip ssh "sshd or ssh is not installed (tools/setup installs openssh-server openssh-client)"
else
    me=$(id -un)
    sdir=$top/sshd
    mkdir -p "$sdir"
    chmod 700 "$sdir"
    ssh-keygen -q -t ed25519 -N "" -f "$sdir/host_key" || fail "ssh-keygen host"
    ssh-keygen -q -t ed25519 -N "" -f "$sdir/user_key" || fail "ssh-keygen user"
    cp "$sdir/user_key.pub" "$sdir/authorized_keys"
    tag=$$
    ns=ipplx$tag
    veth=ipplx${tag}a
    sub=$((tag % 200 + 20))
    here=10.231.$sub.1
    there=10.231.$sub.2
    where=$there
    if ip netns add "$ns" 2>"$top/ns.err" &&
        ip link add "$veth" type veth peer name "ipplx${tag}b" 2>>"$top/ns.err" &&
        ip link set "ipplx${tag}b" netns "$ns" &&
        ip addr add "$here/24" dev "$veth" && ip link set "$veth" up &&
        ip netns exec "$ns" ip addr add "$there/24" dev "ipplx${tag}b" &&
        ip netns exec "$ns" ip link set "ipplx${tag}b" up &&
        ip netns exec "$ns" ip link set lo up; then
        inns=(ip netns exec "$ns")
        sshport=22022
        echo "test_launchers: ssh: a second host in network namespace $ns at $there"
    else
        echo "test_launchers: ssh: no network namespace ($(cat "$top/ns.err")); using 127.0.0.1"
        ip netns del "$ns" 2>/dev/null
        ns=""
        veth=""
        inns=()
        here=127.0.0.1
        where=127.0.0.1
        sshport=$(/usr/bin/python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
    fi
    cat >"$sdir/sshd_config" <<C
Port $sshport
ListenAddress $where
HostKey $sdir/host_key
PidFile $sdir/sshd.pid
AuthorizedKeysFile $sdir/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
C
    cat >"$sdir/ssh_config" <<C
Host *
  IdentityFile $sdir/user_key
  UserKnownHostsFile $sdir/known_hosts
  StrictHostKeyChecking accept-new
  LogLevel ERROR
C
    mkdir -p /run/sshd 2>/dev/null  # sshd's privilege separation folder (root only)
    "${inns[@]}" /usr/sbin/sshd -D -e -f "$sdir/sshd_config" >"$sdir/sshd.log" 2>&1 &
    wait_for 10 ssh -F "$sdir/ssh_config" -p "$sshport" -o BatchMode=yes "$me@$where" true ||
        fail "the test's sshd does not answer: $(cat "$sdir/sshd.log")"
    if [ -n "$ns" ]; then
        # A controller on loopback only: refused for a host elsewhere.
        "$ipp" cluster start --engines ssh --hosts "$me@$where:$sshport" --ssh-args "-F $sdir/ssh_config" \
            --timeout 30 >"$top/out" 2>&1 && fail "a loopback controller was accepted for $where"
        grep -q "reachable on 127.0.0.1 only (loopback), which engines on $where cannot reach" "$top/out" ||
            fail "loopback refusal: $(cat "$top/out")"
        [ -e "$IPP_DIR/profile_default/db/tasks.db" ] && fail "the refused start made a database"
    fi
    # Two entries: the host (2 engines there) and one nobody answers on.
    # The unreachable one from --hosts (set 1), the good one from a hosts
    # file (set 2).
    s1=2
    s2=1
    printf '# the second host\n%s@%s:%s/2   # two engines\n\n' "$me" "$where" "$sshport" >"$top/hosts"
    "$ipp" cluster start -n 1 --ip "$here" --engines ssh --ssh-args "-F $sdir/ssh_config" \
        --hosts "$me@$where:1" --hosts-file "$top/hosts" --timeout 60 >"$top/out" 2>&1
    rc=$?
    [ $rc = 1 ] || fail "start with an unreachable host: exit $rc: $(cat "$top/out")"
    grep -q "ssh $me@$where: could not connect" "$top/out" || fail "no ssh error for the unreachable host: $(cat "$top/out")"
    grep -q "engine set $s1 (ssh on $me@$where:$sshport): 2 engines" "$top/out" || fail "ssh set: $(cat "$top/out")"
    grep -q "(Curve)" "$top/out" || fail "Curve is not on for --ip $here: $(cat "$top/out")"
    note "$top/hosts" "cat $top/hosts"
    note "$top/out" "IPP_DIR=$IPP_DIR ipp cluster start -n 1 --ip $here --engines ssh --ssh-args \"-F $sdir/ssh_config\" --hosts $me@$where:1 --hosts-file $top/hosts --timeout 60"
    grep -q "security/keys/client.json" "$top/out" || fail "no default client key: $(cat "$top/out")"
    key=$(sqlite3 "$IPP_DIR/profile_default/db/tasks.db" "SELECT role FROM keys WHERE name='set$s1'")
    [ "$key" = engine ] || fail "the ssh set has no engine key (got '$key')"
    out=$("$ipp" --connection "$IPP_DIR/profile_default/security/keys/client.json" run --wait -- \
        sh -c 'echo "$(hostname)/$(ip -4 -o addr show 2>/dev/null | grep -c '"$there"')"') ||
        fail "a task with the default client key: $out"
    if [ -n "$ns" ]; then
        [ "${out#*/}" = 1 ] || fail "the task did not run in the namespace: $out"
    fi
    "$ipp" cluster status >"$top/st" 2>&1 || fail "status: $(cat "$top/st")"
    grep -Eq "^  $s1 +ssh +2 +2 +running +2 of 2 pids alive on $where" "$top/st" || fail "status: $(cat "$top/st")"
    grep -Eq "^  $s2 +ssh +1 +- *[0-9-]* +failed" "$top/st" || grep -Eq "^  $s2 +ssh +1 +0 +failed" "$top/st" ||
        fail "the unreachable host's set is not failed: $(cat "$top/st")"
    note "$top/st" "ipp cluster status"
    gone=$(kill_one $s1) || fail "no running engine of the ssh set to kill"
    wait_for 30 set_shows $s1 "ssh +2 +1 +degraded +1 of 2 pids alive on $where.*1 engine gone \\(id $gone\\)" ||
        fail "status does not show the killed engine $gone: $("$ipp" cluster status 2>&1)"
    "$ipp" cluster status >"$top/st" 2>&1
    note "$top/st" "ipp cluster status   # after kill -9 of engine $gone's pid"
    "$ipp" cluster stop >"$top/out" 2>&1 || fail "stop: $(cat "$top/out")"
    grep -q "engine set $s1 (ssh) stopped" "$top/out" || fail "stop: $(cat "$top/out")"
    note "$top/out" "ipp cluster stop"
    for p in $(sqlite3 "$IPP_DIR/profile_default/db/tasks.db" "SELECT pid FROM engines WHERE uuid LIKE 'set$s1-%'"); do
        ! grep -q ipp-engine "/proc/$p/cmdline" 2>/dev/null || fail "engine pid $p of the ssh set still runs"
    done
    revoked=$(sqlite3 "$IPP_DIR/profile_default/db/tasks.db" "SELECT revoked IS NOT NULL FROM keys WHERE name='set$s1'")
    [ "$revoked" = 1 ] || fail "the stopped set's key is not revoked"
    echo "test_launchers: ssh set on $where ran tasks over Curve, the unreachable host failed alone"

    # --restart-engines for ssh: a watcher polls the host and starts an
    # engine that is gone again there, with the same uuid (the same id).
    fresh sshrestart
    sdb=$IPP_DIR/profile_default/db/tasks.db
    "$ipp" cluster start --ip "$here" --engines ssh --restart-engines --ssh-args "-F $sdir/ssh_config" \
        --hosts "$me@$where:$sshport/2" --timeout 60 >"$top/out" 2>&1 || fail "start --restart-engines: $(cat "$top/out")"
    note "$top/out" "IPP_DIR=$IPP_DIR ipp cluster start --ip $here --engines ssh --restart-engines --ssh-args \"-F $sdir/ssh_config\" --hosts $me@$where:$sshport/2 --timeout 60"
    watcher=$(sqlite3 "$sdb" "SELECT job_id FROM engine_sets WHERE id=1")
    grep -q nanny "/proc/$watcher/cmdline" 2>/dev/null || fail "the ssh set has no watcher (job_id '$watcher')"
    wait_for 30 set_shows 1 "ssh +2 +2 +running +2 of 2 pids alive on $where; 0 restarts, 0 lost; watcher pid $watcher running" ||
        fail "status of the watched ssh set: $("$ipp" cluster status 2>&1)"
    row=$(sqlite3 "$sdb" "SELECT id, pid FROM engines WHERE uuid LIKE 'set1-%' ORDER BY id LIMIT 1")
    id=${row%|*}
    old=${row#*|}
    kill_one 1 >/dev/null || fail "no running engine of the watched ssh set to kill"
    back() { # the engine id is registered again, with a live pid other than the killed one
        local pid
        pid=$(sqlite3 "$sdb" "SELECT pid FROM engines WHERE id=$id AND unregistered IS NULL")
        [ -n "$pid" ] && [ "$pid" != "$old" ] && grep -q ipp-engine "/proc/$pid/cmdline" 2>/dev/null
    }
    wait_for 15 back || fail "engine $id (pid $old) is not back: $(sqlite3 "$sdb" "SELECT id, uuid, pid, unregistered FROM engines"); $(cat "$IPP_DIR/profile_default/log/nanny-1.log")"
    new=$(sqlite3 "$sdb" "SELECT pid FROM engines WHERE id=$id")
    wait_for 15 set_shows 1 "ssh +2 +2 +running +2 of 2 pids alive on $where; 1 restart, 0 lost; watcher pid $watcher running" ||
        fail "status after the restart: $("$ipp" cluster status 2>&1)"
    "$ipp" cluster status >"$top/st" 2>&1
    note "$top/st" "ipp cluster status   # after kill -9 of engine $id's pid $old: restarted as pid $new"
    grep -q "engine set1-h0-e.* restarted (pid $new on $me@$where:$sshport)" "$IPP_DIR/profile_default/log/nanny-1.log" ||
        fail "the restart is not logged: $(cat "$IPP_DIR/profile_default/log/nanny-1.log")"
    out=$("$ipp" px --targets "$id" -- sh -c 'echo "pid=$PPID"' 2>&1) || fail "px --targets $id: $out"
    echo "$out" | grep -q "^\[engine $id\]$" || fail "the task did not run on engine $id: $out"
    echo "$out" | grep -q "^pid=$new$" || fail "the task did not run in the restarted engine $new: $out"
    pids=$(sqlite3 "$sdb" "SELECT pid FROM engines WHERE uuid LIKE 'set1-%'")
    "$ipp" cluster stop >"$top/out" 2>&1 || fail "stop of the watched ssh set: $(cat "$top/out")"
    ! grep -q nanny "/proc/$watcher/cmdline" 2>/dev/null || fail "the ssh set's watcher $watcher still runs"
    for p in $pids; do
        ! grep -q ipp-engine "/proc/$p/cmdline" 2>/dev/null || fail "engine pid $p of the watched ssh set still runs"
    done
    echo "test_launchers: an ssh engine killed on $where came back as the same engine $id (pid $old, then $new)"
fi
echo "test_launchers: ok"
