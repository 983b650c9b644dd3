# shellcheck shell=bash disable=SC2154
# tools/bench/scale.sh — the figures of `tools/bench/run --scale`: whether
# what the default run measures holds as the counts grow a hundredfold.
# Sourced by run after bench_setup and emit_machine, never run alone: it
# uses run's counts ($s_*) and lib.sh's clusters and figures, so every
# process it starts is in $live and stopped by pid like the rest, and a
# failed check fails the run the same way.
#
# Each part has a fresh cluster in its own $IPP_DIR under $work. The
# ratios are of figures of this same run, so a busy machine moves both
# sides of each.

# scale_ratio NUM DEN: figure NUM over figure DEN, two decimals; -1 if
# either is missing or DEN is not positive.
scale_ratio() {
    awk -v n="$(value "$1")" -v d="$(value "$2")" \
        'BEGIN { if (d > 0 && n != "") printf "%.2f", n / d; else print -1 }'
}

# 1. One burst of s_burst no-op tasks at the default hwm 1, so nearly all
#    of them wait in the controller's queue: its VmRSS before and at the
#    peak (bench_e2e burst samples /proc/PID/status), and the completion
#    rate in successive tenths of the tasks, last over first — a rate that
#    falls as the backlog drains would mean a per-task cost growing with
#    the backlog.
export IPP_DIR="$work/scale-burst"
say "scale: $s_burst no-op tasks in one burst, hwm 1, in $IPP_DIR"
start_cluster "$IPP_DIR"
bench_cpu scale_burst "$s_burst" "$e2e_bin" burst --tasks "$s_burst" --rss-pid "$ctl" \
    --slices 10 --timeout "$step_limit" --prefix scale_burst
emit scale_burst_vmhwm_kb "$(rss VmHWM)"
emit scale_burst_rss_after_kb "$(rss VmRSS)"
emit scale_burst_rss_anon_after_kb "$(rss RssAnon)"
stop_cluster

# 2. Throughput at hwm 0 with 2 engines, then with s_engines on a fresh
#    cluster: on 2 cores more engines add no CPU, so the figure says what
#    the controller's per-engine bookkeeping (scheduling, heartbeats)
#    costs as the engine count grows.
export IPP_DIR="$work/scale-engines-2"
say "scale: $s_eng_tasks no-op tasks, hwm 0, 2 engines, in $IPP_DIR"
start_cluster "$IPP_DIR" --hwm 0
bench_cpu scale_engines_2 "$s_eng_tasks" "$e2e_bin" throughput --tasks "$s_eng_tasks" \
    --engines 2 --prefix scale_engines_2
stop_cluster
export IPP_DIR="$work/scale-engines-many"
say "scale: $s_eng_tasks no-op tasks, hwm 0, $s_engines engines, in $IPP_DIR"
cluster_engines=$s_engines
start_cluster "$IPP_DIR" --hwm 0
# shellcheck disable=SC2034  # read by start_cluster (lib.sh)
cluster_engines=2
emit scale_engines_many_engines "$s_engines"
bench_cpu scale_engines_many "$s_eng_tasks" "$e2e_bin" throughput --tasks "$s_eng_tasks" \
    --engines "$s_engines" --prefix scale_engines_many
emit scale_engines_many_rss_kb "$(rss VmRSS)"
stop_cluster
emit scale_engines_ratio "$(scale_ratio scale_engines_many_tasks_per_s scale_engines_2_tasks_per_s)"

# 3. A DAG of s_dag_small nodes, then one of s_dag_large (up to 3 parents
#    each, as in the default run) on the same cluster at hwm 1; both
#    checked from the task database: every node ok, every edge there, no
#    node started before a parent completed.
export IPP_DIR="$work/scale-dag"
say "scale: DAGs of $s_dag_small and $s_dag_large nodes in $IPP_DIR"
start_cluster "$IPP_DIR"
dbd="$IPP_DIR/profile_default/db/tasks.db"
for size in small large; do
    nodes=$s_dag_small
    [ $size = large ] && nodes=$s_dag_large
    bench "scale_dag_$size" "$e2e_bin" dag --nodes "$nodes" --parents 3 --seed 1 \
        --label "scale-dag-$size" --timeout "$step_limit" --prefix "scale_dag_$size"
    bench "scale_dag_${size}_order" "$store_bin" order-check --db "$dbd" \
        --label "scale-dag-$size" --nodes "$nodes" --edges "$(value "scale_dag_${size}_edges")" \
        --prefix "scale_dag_$size"
done
stop_cluster
emit scale_dag_ratio "$(scale_ratio scale_dag_large_tasks_per_s scale_dag_small_tasks_per_s)"

# 4. s_rec completed records written straight into a fresh profile's
#    database (bench_store fill: the controller's own writer), then a
#    controller started on that file: seconds until it answers a query,
#    then result_status of s_ids ids sampled from the records (each must
#    come back completed) and a label glob of one group (1,000 rows). The
#    file was just written, so its pages are in the page cache: the start
#    is cold for the controller, not for the disk.
export IPP_DIR="$work/scale-records"
mkdir -p "$IPP_DIR/profile_default/db"
chmod -R go-rwx "$IPP_DIR"
dbr="$IPP_DIR/profile_default/db/tasks.db"
say "scale: filling $dbr with $s_rec completed records"
bench scale_fill "$store_bin" fill --db "$dbr" --records "$s_rec" --sample "$s_ids" \
    --ids "$work/scale-ids.txt" --group 1000 --prefix scale_fill
emit scale_records "$s_rec"
since=$(date +%s%N)
start_cluster "$IPP_DIR"
bench scale_cold_start "$e2e_bin" restart --since-ns "$since" --engines 2 --timeout 120 \
    --prefix scale_cold_start
emit scale_cold_start_rss_kb "$(rss VmRSS)"
group_no=$((s_rec / 2 / 1000))
group_rows=$((s_rec - group_no * 1000))
[ $group_rows -gt 1000 ] && group_rows=1000
glob=$(printf 'bench-%06d-*' "$group_no")
say "scale: result_status of $s_ids ids, db_query label $glob"
bench scale_query "$e2e_bin" query --ids "$work/scale-ids.txt" --glob "$glob" \
    --expect-rows "$group_rows" --repeat 3 --timeout 120 --prefix scale_query
emit scale_query_rss_kb "$(rss VmRSS)"
emit scale_query_rss_anon_kb "$(rss RssAnon)"
stop_cluster
