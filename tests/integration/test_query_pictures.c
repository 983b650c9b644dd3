/* test_query_pictures.c — ipp-query gantt and dag against a real
 * controller and two engines: tasks run on both engines and a small
 * workflow with a failing node, then the real ipp-query binary draws them,
 * online, offline (--db) while the controller runs, and offline after it
 * stopped. Each SVG is parsed by Python's XML parser (it must be
 * well-formed) and what it holds is checked against the database: one
 * engine row per engine that ran tasks, one bar per started task (and
 * none for the task that never started), one node per workflow task with
 * its state, the after and follow edges. The refusals: no matching task
 * (exit 1, no file), a FILE that cannot be written (exit 3, nothing left
 * behind), no FILE (exit 2).
 */
#include "harness.h"
#include "test_query_util.h"

#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

typedef char id_t_[IPP_MSGID_LEN + 1];

static h_cluster_t C;
static h_client_t K;

// The stream: three tasks on each engine, directly.
enum { N_STREAM = 6 };
static id_t_ stream_ids[N_STREAM];

// The workflow "wf/": a; b fails after a; c after b (never runs: its
// dependency failed); d follows a; e after a.
enum { W_A, W_B, W_C, W_D, W_E, N_WF };
static id_t_ wf_ids[N_WF];

// Python's XML parser reads an SVG file and prints what it holds as JSON:
// gantt: {"rows": {engine: {msg_id: status}}, "bars": n, "axis": bool,
// "legend": bool}; dag: {"nodes": {msg_id: state}, "after": n, "follow":
// n}. An SVG that is not well-formed XML makes it fail.
static const char PY_SVG[] =
    "import json, sys, xml.etree.ElementTree as ET\n"
    "kind, path = sys.argv[1], sys.argv[2]\n"
    "ns = '{http://www.w3.org/2000/svg}'\n"
    "root = ET.parse(path).getroot()\n"
    "assert root.tag == ns + 'svg', root.tag\n"
    "cls = lambda e: (e.get('class') or '').split()\n"
    "out = {}\n"
    "if kind == 'gantt':\n"
    "    rows = {}\n"
    "    for g in root.iter(ns + 'g'):\n"
    "        if 'engine-row' in cls(g):\n"
    "            bars = [r for r in g.iter(ns + 'rect') if 'task' in cls(r)]\n"
    "            assert all(r.find(ns + 'title') is not None for r in bars)\n"
    "            rows[g.get('data-engine')] = {r.get('data-msg-id'): cls(r)[1] for r in bars}\n"
    "    out['rows'] = rows\n"
    "    out['bars'] = sum(1 for r in root.iter(ns + 'rect') if 'task' in cls(r))\n"
    "    out['axis'] = any('axis' in cls(g) for g in root.iter(ns + 'g'))\n"
    "    out['legend'] = any('legend' in cls(g) for g in root.iter(ns + 'g'))\n"
    "else:\n"
    "    out = {'nodes': {}, 'after': 0, 'follow': 0}\n"
    "    for g in root.iter(ns + 'g'):\n"
    "        c = cls(g)\n"
    "        if 'node' in c:\n"
    "            st = [x[6:] for x in c if x.startswith('state-')]\n"
    "            out['nodes'][g.get('id')[5:]] = st[0] if st else None\n"
    "        if 'edge' in c:\n"
    "            out[c[1]] += 1\n"
    "print(json.dumps(out))\n";

// s_parse_svg: the JSON PY_SVG prints for the file at path (caller owns
// it); fails the test if Python cannot parse it.
static json_t *s_parse_svg(const char *kind, const char *path)
{
    int fd[2];
    ck_assert_int_eq(pipe(fd), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(fd[1], 1);
        close(fd[0]);
        close(fd[1]);
        // Bounded: timeout(1) kills it after 30 s.
        execl("/usr/bin/timeout", "timeout", "30", "/usr/bin/python3", "-c", PY_SVG, kind, path,
              (char *)NULL);
        _exit(127);
    }
    close(fd[1]);
    char buf[65536];
    size_t len = 0;
    ssize_t n;
    while (len < sizeof buf - 1 && (n = read(fd[0], buf + len, sizeof buf - 1 - len)) > 0)
        len += (size_t)n;
    buf[len] = '\0';
    close(fd[0]);
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "python could not parse %s as SVG (status %d)", path, status);
    json_error_t je;
    json_t *j = json_loads(buf, 0, &je);
    ck_assert_msg(j != NULL, "not JSON from python: %s", buf);
    return j;
}

// s_path: a file name in the cluster's folder, into buf.
static const char *s_path(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", C.dir, name);
    return buf;
}

static bool s_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

// s_entries: how many entries the folder dir has besides . and .. (with
// hidden: only those whose name starts with '.', as temporary files do).
static int s_entries(const char *dir, bool hidden)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0 &&
            (!hidden || e->d_name[0] == '.'))
            n++;
    closedir(d);
    return n;
}

static void s_up(void)
{
    h_up(&C, &K, 2, NULL);
    for (int i = 0; i < N_STREAM; i++) {
        char label[32];
        snprintf(label, sizeof label, "stream/%d", i);
        h_task_t t = {.shell = "sleep 0.05", .target = i % 2, .label = label};
        h_submit(&K, &t, stream_ids[i]);
    }
    h_result_t res[(int)N_WF > (int)N_STREAM ? (int)N_WF : (int)N_STREAM];
    ck_assert_uint_eq(h_collect(&K, stream_ids, N_STREAM, res, 30000), N_STREAM);
    for (int i = 0; i < N_STREAM; i++) {
        ck_assert_int_eq(res[i].status, IPP__STATUS__OK);
        ck_assert_int_eq(res[i].engine_id, i % 2);
    }
    const char *a[] = {wf_ids[W_A]}, *b[] = {wf_ids[W_B]};
    h_task_t wa = {
        .call = "echo", .args = (const char *[]){"a"}, .n_args = 1, .target = -1, .label = "wf/a"};
    h_submit(&K, &wa, wf_ids[W_A]);
    h_task_t wb = {.call = "fail",
                   .args = (const char *[]){"boom"},
                   .n_args = 1,
                   .target = -1,
                   .after = a,
                   .n_after = 1,
                   .label = "wf/b"};
    h_submit(&K, &wb, wf_ids[W_B]);
    h_task_t wc = {.call = "echo",
                   .args = (const char *[]){"c"},
                   .n_args = 1,
                   .target = -1,
                   .after = b,
                   .n_after = 1,
                   .label = "wf/c"};
    h_submit(&K, &wc, wf_ids[W_C]);
    h_task_t wd = {.call = "echo",
                   .args = (const char *[]){"d"},
                   .n_args = 1,
                   .target = -1,
                   .follow = a,
                   .n_follow = 1,
                   .label = "wf/d"};
    h_submit(&K, &wd, wf_ids[W_D]);
    h_task_t we = {.shell = "true", .target = -1, .after = a, .n_after = 1, .label = "wf/e"};
    h_submit(&K, &we, wf_ids[W_E]);
    ck_assert_uint_eq(h_collect(&K, wf_ids, N_WF, res, 30000), N_WF);
    ck_assert_int_eq(res[W_A].status, IPP__STATUS__OK);
    ck_assert_int_eq(res[W_B].status, IPP__STATUS__ERROR);
    ck_assert_int_eq(res[W_C].status, IPP__STATUS__UNREACHABLE);
    ck_assert_int_eq(res[W_D].status, IPP__STATUS__OK);
    ck_assert_int_eq(res[W_E].status, IPP__STATUS__OK);
}

// s_check_gantt: gantt of everything and of the stream's label prefix,
// asked as mode says (NULL: online; {"--db", path}).
static void s_check_gantt(const char *const *mode, const char *tag)
{
    char path[700], name[64];
    snprintf(name, sizeof name, "gantt-%s.svg", tag);
    s_path(path, sizeof path, name);
    qt_run_t r;
    qt_runv(&r, 60, mode, (const char *[]){"gantt", "--svg", path, NULL});
    ck_assert_msg(r.status == 0, "%s: gantt exit %d: %s", tag, r.status, r.err);
    ck_assert_ptr_nonnull(strstr(r.out, "on 2 engines"));
    qt_run_fini(&r);
    json_t *g = s_parse_svg("gantt", path);
    json_t *rows = json_object_get(g, "rows");
    // One row per engine that ran tasks: both.
    ck_assert_uint_eq(json_object_size(rows), 2);
    ck_assert_int_eq(h_db_int(&C, "SELECT count(DISTINCT engine_id) FROM tasks"
                                  " WHERE started IS NOT NULL"),
                     2);
    // One bar per started task, every bar in a row; the task that never
    // started is not drawn.
    int64_t started = h_db_int(&C, "SELECT count(*) FROM tasks WHERE started IS NOT NULL");
    ck_assert_int_eq(started, N_STREAM + N_WF - 1);
    ck_assert_int_eq(json_integer_value(json_object_get(g, "bars")), started);
    size_t in_rows = 0;
    const char *eng;
    json_t *bars;
    json_object_foreach(rows, eng, bars) in_rows += json_object_size(bars);
    ck_assert_int_eq((int64_t)in_rows, started);
    for (int i = 0; i < N_STREAM; i++) {
        const char *e = i % 2 ? "1" : "0";
        const char *st = qt_str(json_object_get(rows, e), stream_ids[i]);
        ck_assert_msg(st && strcmp(st, "ok") == 0, "%s: task %d not an ok bar on engine %s", tag, i,
                      e);
    }
    bool failed_drawn = false, unreached_drawn = false;
    json_object_foreach(rows, eng, bars)
    {
        const char *st = qt_str(bars, wf_ids[W_B]);
        failed_drawn = failed_drawn || (st && strcmp(st, "error") == 0);
        unreached_drawn = unreached_drawn || json_object_get(bars, wf_ids[W_C]);
    }
    ck_assert_msg(failed_drawn, "%s: the failing task has no error bar", tag);
    ck_assert_msg(!unreached_drawn, "%s: the task that never started is drawn", tag);
    ck_assert(json_is_true(json_object_get(g, "axis")));
    ck_assert(json_is_true(json_object_get(g, "legend")));
    json_decref(g);

    // --label as a prefix, then as a glob: the stream's tasks only; a
    // --since an hour back still keeps them.
    const char *const sel[][5] = {{"--label", "stream/", NULL},
                                  {"--label", "stream/[0-9]", "--since", "1h", NULL}};
    for (size_t k = 0; k < 2; k++) {
        const char *args[10] = {"gantt", "--svg", path};
        for (size_t i = 0; sel[k][i]; i++)
            args[3 + i] = sel[k][i];
        qt_runv(&r, 60, mode, args);
        ck_assert_msg(r.status == 0, "%s: gantt %s exit %d: %s", tag, sel[k][1], r.status, r.err);
        qt_run_fini(&r);
        g = s_parse_svg("gantt", path);
        ck_assert_int_eq(json_integer_value(json_object_get(g, "bars")), N_STREAM);
        ck_assert_uint_eq(json_object_size(json_object_get(g, "rows")), 2);
        json_decref(g);
    }
}

// s_check_dag: dag of "wf/" as SVG and DOT.
static void s_check_dag(const char *const *mode, const char *tag)
{
    char svg[700], dot[700], name[64];
    snprintf(name, sizeof name, "dag-%s.svg", tag);
    s_path(svg, sizeof svg, name);
    snprintf(name, sizeof name, "dag-%s.dot", tag);
    s_path(dot, sizeof dot, name);
    qt_run_t r;
    qt_runv(&r, 60, mode,
            (const char *[]){"dag", "--label", "wf/", "--svg", svg, "--dot", dot, NULL});
    ck_assert_msg(r.status == 0, "%s: dag exit %d: %s", tag, r.status, r.err);
    ck_assert_ptr_nonnull(strstr(r.out, "5 tasks, 4 edges"));
    qt_run_fini(&r);
    json_t *d = s_parse_svg("dag", svg);
    json_t *nodes = json_object_get(d, "nodes");
    ck_assert_uint_eq(json_object_size(nodes), N_WF);
    static const char *const want[N_WF] = {"ok", "error", "unreachable", "ok", "ok"};
    for (int i = 0; i < N_WF; i++) {
        const char *st = qt_str(nodes, wf_ids[i]);
        ck_assert_msg(st && strcmp(st, want[i]) == 0, "%s: node %d state %s, not %s", tag, i,
                      st ? st : "missing", want[i]);
    }
    ck_assert_int_eq(json_integer_value(json_object_get(d, "after")), 3);
    ck_assert_int_eq(json_integer_value(json_object_get(d, "follow")), 1);
    json_decref(d);
    // The DOT text names every task and draws the follow edge dashed.
    FILE *f = fopen(dot, "r");
    ck_assert_ptr_nonnull(f);
    char text[16384];
    size_t len = fread(text, 1, sizeof text - 1, f);
    text[len] = '\0';
    fclose(f);
    ck_assert_ptr_nonnull(strstr(text, "digraph"));
    for (int i = 0; i < N_WF; i++)
        ck_assert_ptr_nonnull(strstr(text, wf_ids[i]));
    ck_assert_ptr_nonnull(strstr(text, "style=dashed"));
    // A file has no dashboard to link to.
    ck_assert_ptr_null(strstr(text, "URL="));
}

// s_check_refusals: no match → 1 and no file; an unwritable FILE → 3 and
// nothing left behind; no FILE → 2.
static void s_check_refusals(const char *const *mode, const char *tag)
{
    char out[700], dir[700], sub[760];
    s_path(out, sizeof out, "none.svg");
    qt_run_t r;
    qt_runv(&r, 60, mode, (const char *[]){"gantt", "--svg", out, "--label", "nothing/", NULL});
    ck_assert_msg(r.status == 1, "%s: gantt with no match exit %d", tag, r.status);
    ck_assert_ptr_nonnull(strstr(r.err, "no task that ran"));
    qt_run_fini(&r);
    qt_runv(&r, 60, mode, (const char *[]){"dag", "--label", "nothing/", "--svg", out, NULL});
    ck_assert_msg(r.status == 1, "%s: dag with no match exit %d", tag, r.status);
    ck_assert_ptr_nonnull(strstr(r.err, "no task has a label starting with 'nothing/'"));
    qt_run_fini(&r);
    // Nothing completed since a time to come.
    qt_runv(&r, 60, mode, (const char *[]){"gantt", "--svg", out, "--since", "2100-01-01", NULL});
    ck_assert_msg(r.status == 1, "%s: gantt --since in the future exit %d", tag, r.status);
    qt_run_fini(&r);
    ck_assert_msg(!s_exists(out), "%s: a file was written for no match", tag);

    // A folder that does not exist, and a FILE that is a folder.
    s_path(dir, sizeof dir, "pictures");
    ck_assert_int_eq(mkdir(dir, 0755), 0);
    snprintf(sub, sizeof sub, "%s/missing/x.svg", dir);
    const char *const *cases[] = {
        (const char *[]){"gantt", "--svg", sub, NULL},
        (const char *[]){"gantt", "--svg", dir, NULL},
        (const char *[]){"dag", "--label", "wf/", "--svg", dir, NULL},
        (const char *[]){"dag", "--label", "wf/", "--dot", dir, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        qt_runv(&r, 60, mode, cases[i]);
        ck_assert_msg(r.status == 3, "%s: unwritable case %zu exit %d: %s", tag, i, r.status,
                      r.err);
        ck_assert_ptr_nonnull(strstr(r.err, "cannot write"));
        ck_assert_str_eq(r.out, "");
        qt_run_fini(&r);
        // No temporary file left beside FILE (or inside the folder).
        ck_assert_int_eq(s_entries(dir, false), 0);
        ck_assert_int_eq(s_entries(C.dir, true), 0);
    }
    ck_assert_int_eq(rmdir(dir), 0);

    // No FILE: a usage error, before anything is asked.
    const char *const *usage[] = {
        (const char *[]){"gantt", NULL},
        (const char *[]){"gantt", "--svg", NULL},
        (const char *[]){"dag", "--label", "wf/", NULL},
        (const char *[]){"dag", "--label", "wf/", "--dot", NULL},
    };
    for (size_t i = 0; i < sizeof usage / sizeof *usage; i++) {
        qt_runv(&r, 60, mode, usage[i]);
        ck_assert_msg(r.status == 2, "%s: usage case %zu exit %d", tag, i, r.status);
        ck_assert_ptr_nonnull(strstr(r.err, "usage: ipp-query"));
        qt_run_fini(&r);
    }
}

START_TEST(test_pictures)
{
    s_up();
    const char *const db[] = {"--db", C.db_path, NULL};
    s_check_gantt(NULL, "online");
    s_check_dag(NULL, "online");
    s_check_refusals(NULL, "online");
    s_check_gantt(db, "offline");
    s_check_dag(db, "offline");
    s_check_refusals(db, "offline");
    // With the controller gone, the file alone.
    h_client_close(&K);
    int bad = h_cluster_stop(&C);
    ck_assert_msg(bad == 0, "%d processes did not stop cleanly", bad);
    s_check_gantt(db, "stopped");
    s_check_dag(db, "stopped");
    // Online with no controller: the controller cannot be reached.
    qt_run_t r;
    char out[700];
    qt_run(&r, 60, (const char *[]){"gantt", "--svg", s_path(out, sizeof out, "x.svg"), NULL});
    ck_assert_int_eq(r.status, 3);
    ck_assert(!s_exists(out));
    qt_run_fini(&r);
    h_cluster_fini(&C);
}
END_TEST

static Suite *s_suite(void)
{
    Suite *s = suite_create("query_pictures");
    TCase *tc = tcase_create("pictures");
    tcase_set_timeout(tc, 200);
    tcase_add_test(tc, test_pictures);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return h_main(s_suite());
}
