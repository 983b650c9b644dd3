/* dag.c — `ipp dag submit|status|resume`: DAG workflow files.
 *
 * submit checks the whole file (workflow.c) and only then submits every
 * node, parents before children, each labelled PREFIX/NAME with its
 * dependencies given as the msg_ids of the parents just submitted.
 * status finds each node's latest task by label (db_query) and shows its
 * outcome. resume is a rescue DAG: nodes whose latest task finished ok
 * (or is still pending) are kept with their results; the others — failed,
 * aborted, unreachable, lost, or never submitted — are submitted again
 * from the file, their dependencies pointing at the new ids of re-run
 * parents and at the existing ids of kept ones. The database is the only
 * memory: no state file is written. Owns what one invocation allocates.
 */
#include "tools/ipp/cli.h"
#include "tools/ipp/workflow.h"

#include "proto/clock.h"
#include "proto/msgid.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

_Static_assert(IPP_RETRIES_MAX == 100, "the usage text says retries 0 to 100");

static const cli_cmd_t s_cmd = {
    "dag",
    "usage: ipp dag submit FILE [--label PREFIX] [--wait]\n"
    "       ipp dag status FILE|PREFIX [--label PREFIX] [--wait]\n"
    "       ipp dag resume FILE [--label PREFIX] [--wait]\n"
    "\n"
    "Run a workflow file: a JSON object {\"tasks\": {NAME: TASK, ...}} where TASK is\n"
    "  {\"cmd\": [PROGRAM, ARG...]} | {\"shell\": \"LINE\"} | {\"call\": FN, \"args\": [...]}\n"
    "plus, all optional:\n"
    "  \"after\": [NAME...] or {\"ids\": [NAME...], \"all\": B, \"success\": B, \"failure\": B}\n"
    "  \"follow\": the same, for running where those ran\n"
    "  \"timeout\": S (dependency wait limit), \"retries\": N (0 to 100), \"requires\": [X...],\n"
    "  \"env\": {NAME: VALUE}, \"cwd\": DIR, \"wall_limit\": S, \"targets\": [ENGINE...]\n"
    "Node names are letters, digits, '_', '-' and '.'. The whole file is checked\n"
    "before anything is submitted (unknown names and fields, wrong types, cycles).\n"
    "Each task is labelled PREFIX/NAME; PREFIX is the file's base name without\n"
    "extension unless --label is given. Examples: examples/*.json.\n"
    "\n"
    "submit: submit every node, parents first; print each node's msg_id.\n"
    "status: each node's latest task: status, engine, duration, msg_id. With a\n"
    "  PREFIX instead of a file, every label PREFIX/* found.\n"
    "resume: submit again only the nodes that failed or never finished, keeping\n"
    "  the results of those that finished ok (and letting pending ones run).\n"
    "\n"
    "options:\n"
    "  --wait               wait for the DAG's tasks, then print the status table\n"
    "  --label PREFIX       label prefix (default: from the file name)\n" CLI_COMMON_HELP "\n"
    "exit: 0 ok, 1 a node failed (status: failed or not submitted), 2 usage or a bad\n"
    "file, 3 no controller, or it did not acknowledge every node within\n"
    "--request-timeout (one limit for the whole file; the nodes it did and did not\n"
    "acknowledge are listed), " CLI_EXIT_INTERRUPTED,
};

// What the database says about one node: its latest task.
typedef struct s_latest_t {
    char msg_id[IPP_MSGID_LEN + 1];  // "" when the node has no task
    char status[16];                 // "ok", "error", "pending", …
    int engine;                      // -1 if none
    int64_t started;                 // µs UTC, 0 unknown
    int64_t completed;               // µs UTC, 0 unknown
    int tasks;                       // how many tasks carry the label
} s_latest_t;

// s_time: a timestamp field of a db_query row (ISO text or µs), 0 if none.
static int64_t s_time(const json_t *row, const char *key)
{
    const json_t *v = json_object_get(row, key);
    int64_t us = 0;
    if (json_is_integer(v))
        return json_integer_value(v);
    if (json_is_string(v) && ipp_clock_parse_iso(json_string_value(v), &us) == 0)
        return us;
    return 0;
}

// s_take_row: fold one db_query row into *l when it is newer.
static void s_take_row(s_latest_t *l, const json_t *row)
{
    const char *id = json_string_value(json_object_get(row, "msg_id"));
    if (!id || strlen(id) != IPP_MSGID_LEN)
        return;
    l->tasks++;
    // UUIDv7 text order is submission order: the greatest id is the latest.
    if (l->msg_id[0] && strcmp(id, l->msg_id) < 0)
        return;
    snprintf(l->msg_id, sizeof l->msg_id, "%s", id);
    const char *st = json_string_value(json_object_get(row, "status"));
    snprintf(l->status, sizeof l->status, "%s", st ? st : "unknown");
    const json_t *e = json_object_get(row, "engine_id");
    l->engine = json_is_integer(e) ? (int)json_integer_value(e) : -1;
    l->started = s_time(row, "started");
    l->completed = s_time(row, "completed");
}

// s_query: rows of the tasks whose label matches query_json. NULL
// (message printed) on failure; caller owns the array.
static json_t *s_query(ipp_client_t *client, json_t *query)
{
    char *text = json_dumps(query, JSON_COMPACT);
    if (!text) {
        cli_error("out of memory");
        return NULL;
    }
    const char *keys[] = {"msg_id", "label", "status", "engine_id", "started", "completed"};
    json_t *rows = NULL;
    ipp_error_t err;
    ipp_err_t rc = ipp_client_db_query_json(client, text, keys, 6, 0, &rows, &err);
    free(text);
    if (rc != IPP_OK) {
        cli_error("db_query: %s", err.msg);
        return NULL;
    }
    return rows;
}

// s_label: "PREFIX/NAME" into buf.
static const char *s_label(const char *prefix, const char *name, char *buf, size_t size)
{
    snprintf(buf, size, "%s/%s", prefix, name);
    return buf;
}

// s_latest_of: the latest task of every node of wf into out[wf->n].
// false (message printed) when the controller did not answer.
static bool s_latest_of(ipp_client_t *client, const wf_t *wf, const char *prefix, s_latest_t *out)
{
    json_t *labels = json_array();
    for (size_t i = 0; labels && i < wf->n; i++) {
        char l[512];
        json_array_append_new(labels, json_string(s_label(prefix, wf->nodes[i].name, l, sizeof l)));
        memset(&out[i], 0, sizeof out[i]);
        out[i].engine = -1;
    }
    json_t *q = labels ? json_pack("{s:{s:o}}", "label", "$in", labels) : NULL;
    json_t *rows = q ? s_query(client, q) : NULL;
    json_decref(q);
    if (!rows)
        return false;
    size_t plen = strlen(prefix);
    for (size_t r = 0; r < json_array_size(rows); r++) {
        const json_t *row = json_array_get(rows, r);
        const char *label = json_string_value(json_object_get(row, "label"));
        if (!label || strncmp(label, prefix, plen) != 0 || label[plen] != '/')
            continue;
        long i = wf_find(wf, label + plen + 1);
        if (i >= 0)
            s_take_row(&out[i], row);
    }
    json_decref(rows);
    return true;
}

// s_failed: a status that ends a node without success.
static bool s_failed(const char *status)
{
    return strcmp(status, "error") == 0 || strcmp(status, "aborted") == 0 ||
           strcmp(status, "unreachable") == 0 || strcmp(status, "lost") == 0 ||
           strcmp(status, "unknown") == 0;
}

// s_print_table: one line per node; returns CLI_OK when no node failed or
// is missing, else CLI_FAILED.
static int s_print_table(const char *const *names, const s_latest_t *l, size_t n)
{
    size_t w = 4;
    for (size_t i = 0; i < n; i++)
        if (strlen(names[i]) > w)
            w = strlen(names[i]);
    printf("%-*s  %-13s  %-6s  %-9s  %s\n", (int)w, "NODE", "STATUS", "ENGINE", "DURATION",
           "MSG_ID");
    size_t ok = 0, failed = 0, pending = 0, missing = 0;
    for (size_t i = 0; i < n; i++) {
        if (!l[i].msg_id[0]) {
            printf("%-*s  %-13s  %-6s  %-9s  %s\n", (int)w, names[i], "not submitted", "-", "-",
                   "-");
            missing++;
            continue;
        }
        char eng[16], dur[32];
        if (l[i].engine >= 0)
            snprintf(eng, sizeof eng, "%d", l[i].engine);
        else
            snprintf(eng, sizeof eng, "-");
        cli_format_duration(
            l[i].started && l[i].completed ? (double)(l[i].completed - l[i].started) / 1e6 : -1,
            dur, sizeof dur);
        printf("%-*s  %-13s  %-6s  %-9s  %s\n", (int)w, names[i], l[i].status, eng, dur,
               l[i].msg_id);
        if (strcmp(l[i].status, "ok") == 0)
            ok++;
        else if (strcmp(l[i].status, "pending") == 0)
            pending++;
        else
            failed++;
    }
    printf("%zu node%s: %zu ok, %zu pending, %zu failed", n, n == 1 ? "" : "s", ok, pending,
           failed);
    if (missing)
        printf(", %zu not submitted", missing);
    printf("\n");
    return failed || missing ? CLI_FAILED : CLI_OK;
}

// s_wait_ids: wait (progress bar on a terminal) for the tasks ids[0..n).
static int s_wait_ids(ipp_client_t *client, const char *const *ids, size_t n)
{
    if (!n)
        return CLI_OK;
    ipp_error_t err;
    ipp_ar_t *ar = ipp_client_get_result(client, ids, n, &err);
    if (!ar) {
        cli_error("%s", err.msg);
        return CLI_FAILED;
    }
    int rc = CLI_OK;
    if (cli_wait_progress(ar, IPP_FOREVER, true, &err) != IPP_OK) {
        if (cli_interrupted()) {
            rc = cli_left_running(ar);
        } else {
            cli_error("%s", err.msg);
            rc = CLI_FAILED;
        }
    }
    ipp_ar_destroy(&ar);
    return rc;
}

// s_status_wf: status of a workflow's nodes (after waiting for the
// pending ones when wait).
static int s_status_wf(ipp_client_t *client, const wf_t *wf, const char *prefix, bool wait)
{
    s_latest_t *l = calloc(wf->n, sizeof *l);
    const char **names = calloc(wf->n, sizeof *names);
    const char **pend = calloc(wf->n, sizeof *pend);
    int rc = CLI_FAILED;
    if (!l || !names || !pend) {
        cli_error("out of memory");
        goto out;
    }
    if (!s_latest_of(client, wf, prefix, l))
        goto out;
    if (wait) {
        size_t np = 0;
        for (size_t i = 0; i < wf->n; i++)
            if (l[i].msg_id[0] && strcmp(l[i].status, "pending") == 0)
                pend[np++] = l[i].msg_id;
        if (s_wait_ids(client, pend, np) != CLI_OK || !s_latest_of(client, wf, prefix, l))
            goto out;
    }
    for (size_t i = 0; i < wf->n; i++)
        names[i] = wf->nodes[i].name;
    rc = s_print_table(names, l, wf->n);
out:
    free(l);
    free(names);
    free(pend);
    return rc;
}

// Nodes found by label prefix alone.
typedef struct s_found_t {
    cli_strv_t names;                  // node names (label minus "PREFIX/")
    s_latest_t *latest;                // per name
    char (*first)[IPP_MSGID_LEN + 1];  // per name: its first task's id
    size_t cap;                        // room in latest and first
} s_found_t;

static void s_found_fini(s_found_t *f)
{
    cli_strv_fini(&f->names);
    free(f->latest);
    free(f->first);
    memset(f, 0, sizeof *f);
}

// s_found_query: every task labelled PREFIX/…, folded per label into f.
// false (message printed) on failure.
static bool s_found_query(ipp_client_t *client, const char *prefix, s_found_t *f)
{
    s_found_fini(f);
    char pattern[600];
    snprintf(pattern, sizeof pattern, "%s/*", prefix);
    json_t *q = json_pack("{s:{s:s}}", "label", "$glob", pattern);
    json_t *rows = q ? s_query(client, q) : NULL;
    json_decref(q);
    if (!rows)
        return false;
    size_t n = json_array_size(rows), plen = strlen(prefix);
    f->cap = n ? n : 1;
    f->latest = calloc(f->cap, sizeof *f->latest);
    f->first = calloc(f->cap, sizeof *f->first);
    bool ok = f->latest && f->first;
    for (size_t r = 0; ok && r < n; r++) {
        const json_t *row = json_array_get(rows, r);
        const char *label = json_string_value(json_object_get(row, "label"));
        const char *id = json_string_value(json_object_get(row, "msg_id"));
        if (!label || !id || strlen(label) <= plen + 1)
            continue;
        const char *name = label + plen + 1;
        size_t k = 0;
        while (k < f->names.n && strcmp(f->names.v[k], name) != 0)
            k++;
        if (k == f->names.n) {
            if (!(ok = cli_strv_push(&f->names, name)))
                break;
            f->latest[k].engine = -1;
            snprintf(f->first[k], sizeof f->first[k], "%s", id);
        }
        s_take_row(&f->latest[k], row);
        if (strcmp(id, f->first[k]) < 0)
            snprintf(f->first[k], sizeof f->first[k], "%s", id);
    }
    json_decref(rows);
    if (!ok)
        cli_error("out of memory");
    return ok;
}

// s_status_prefix: status of every label PREFIX/* (no file at hand), in
// order of each node's first submission.
static int s_status_prefix(ipp_client_t *client, const char *prefix, bool wait)
{
    s_found_t f = {0};
    const char **pend = NULL, **names = NULL;
    s_latest_t *ordered = NULL;
    size_t *order = NULL;
    int rc = CLI_FAILED;
    if (!s_found_query(client, prefix, &f))
        goto out;
    if (!f.names.n) {
        cli_error("no task has a label starting with '%s/'", prefix);
        goto out;
    }
    if (wait) {
        pend = calloc(f.names.n, sizeof *pend);
        if (!pend)
            goto out;
        size_t np = 0;
        for (size_t k = 0; k < f.names.n; k++)
            if (strcmp(f.latest[k].status, "pending") == 0)
                pend[np++] = f.latest[k].msg_id;
        if (np && (s_wait_ids(client, pend, np) != CLI_OK || !s_found_query(client, prefix, &f)))
            goto out;
    }
    size_t n = f.names.n;
    order = calloc(n, sizeof *order);
    names = calloc(n, sizeof *names);
    ordered = calloc(n, sizeof *ordered);
    if (!order || !names || !ordered) {
        cli_error("out of memory");
        goto out;
    }
    for (size_t k = 0; k < n; k++)
        order[k] = k;
    for (size_t a = 1; a < n; a++) {
        for (size_t b = a; b > 0 && strcmp(f.first[order[b - 1]], f.first[order[b]]) > 0; b--) {
            size_t t = order[b];
            order[b] = order[b - 1];
            order[b - 1] = t;
        }
    }
    for (size_t k = 0; k < n; k++) {
        names[k] = f.names.v[order[k]];
        ordered[k] = f.latest[order[k]];
    }
    rc = s_print_table(names, ordered, n);
out:
    s_found_fini(&f);
    free(pend);
    free(names);
    free(ordered);
    free(order);
    return rc;
}

// s_submit_nodes: submit the nodes marked in run[], in topological order,
// labelled PREFIX/NAME; ids[i] holds each node's msg_id: for nodes not
// run, the existing one (the dependencies of re-run children point at
// it), for the others it gets the new one. Waits at most timeout for the
// controller to acknowledge them all. CLI_OK, CLI_FAILED (a node refused)
// or CLI_UNREACHABLE (not all acknowledged; which were is printed).
static int s_submit_nodes(ipp_client_t *client, double timeout, const wf_t *wf, const char *prefix,
                          const bool *run, char (*ids)[IPP_MSGID_LEN + 1])
{
    ipp_error_t err;
    ipp_view_t *view = ipp_client_lb_view(client, &err);
    ipp_ar_t **ars = calloc(wf->n, sizeof *ars);
    const char **dep_ids = NULL;
    const char **names = NULL;
    ipp_buf_t *bufs = NULL;
    int rc = CLI_FAILED;
    size_t most = 1;
    for (size_t i = 0; i < wf->n; i++) {
        size_t k = wf->nodes[i].after.n + wf->nodes[i].follow.n + wf->nodes[i].n_args;
        most = k > most ? k : most;
    }
    dep_ids = calloc(most, sizeof *dep_ids);
    bufs = calloc(most, sizeof *bufs);
    if (!view || !ars || !dep_ids || !bufs) {
        cli_error("%s", view ? "out of memory" : err.msg);
        goto out;
    }
    for (size_t k = 0; k < wf->n; k++) {
        size_t i = wf->order[k];
        if (!run[i])
            continue;
        const wf_node_t *nd = &wf->nodes[i];
        ipp_task_t t;
        memset(&t, 0, sizeof t);
        t.kind = nd->kind;
        if (nd->kind == IPP_TASK_CALL) {
            t.function = nd->call;
            for (size_t a = 0; a < nd->n_args; a++) {
                bufs[a].data = nd->args[a];
                bufs[a].size = strlen(nd->args[a]);
                bufs[a].free_fn = NULL;
            }
            t.args = bufs;
            t.n_args = nd->n_args;
        } else {
            t.argv = (const char *const *)nd->argv;
            t.argc = nd->argc;
            t.shell = nd->shell;
            t.env = (const char *const *)nd->env;
            t.n_env = nd->n_env;
            t.cwd = nd->cwd;
            t.wall_limit = nd->wall_limit;
        }
        char label[512];
        ipp_flags_t f;
        memset(&f, 0, sizeof f);
        f.set = IPP_FLAG_LABEL | IPP_FLAG_RETRIES | IPP_FLAG_TIMEOUT;
        f.label = s_label(prefix, nd->name, label, sizeof label);
        f.retries = nd->retries;
        f.timeout = nd->timeout;
        ipp_dependency_t after = IPP_DEPENDENCY_INIT, follow = IPP_DEPENDENCY_INIT;
        size_t used = 0;
        if (nd->after.n) {
            after.ids = dep_ids + used;
            for (size_t d = 0; d < nd->after.n; d++)
                dep_ids[used++] = ids[nd->after.nodes[d]];
            after.n_ids = nd->after.n;
            after.all = nd->after.all;
            after.success = nd->after.success;
            after.failure = nd->after.failure;
            f.set |= IPP_FLAG_AFTER;
            f.after = &after;
        }
        if (nd->follow.n) {
            follow.ids = dep_ids + used;
            for (size_t d = 0; d < nd->follow.n; d++)
                dep_ids[used++] = ids[nd->follow.nodes[d]];
            follow.n_ids = nd->follow.n;
            follow.all = nd->follow.all;
            follow.success = nd->follow.success;
            follow.failure = nd->follow.failure;
            f.set |= IPP_FLAG_FOLLOW;
            f.follow = &follow;
        }
        if (nd->n_requires) {
            f.set |= IPP_FLAG_REQUIRES;
            f.requires = (const char *const *)nd->requires;
            f.n_requires = nd->n_requires;
        }
        if (nd->n_targets) {
            f.set |= IPP_FLAG_TARGETS;
            f.targets = nd->targets;
            f.n_targets = nd->n_targets;
        }
        ars[i] = ipp_view_submit(view, &t, &f, &err);
        if (!ars[i]) {
            cli_error("node '%s': %s", nd->name, err.msg);
            goto out;
        }
        snprintf(ids[i], IPP_MSGID_LEN + 1, "%s", ipp_ar_msg_id(ars[i], 0));
    }
    names = calloc(wf->n, sizeof *names);
    if (!names) {
        cli_error("out of memory");
        goto out;
    }
    for (size_t i = 0; i < wf->n; i++)
        names[i] = wf->nodes[i].name;
    // One deadline for the whole submission, not one per node.
    rc = cli_wait_accepted(client, ars, wf->n, names, "nodes", timeout);
    if (rc == CLI_UNREACHABLE)
        cli_error("once the controller answers, `ipp dag status` shows what it recorded and "
                  "`ipp dag resume` submits the rest");
out:
    for (size_t i = 0; ars && i < wf->n; i++)
        ipp_ar_destroy(&ars[i]);
    free(ars);
    free(dep_ids);
    free(names);
    free(bufs);
    ipp_view_destroy(&view);
    return rc;
}

// Parsed arguments of the dag subcommands.
typedef struct s_args_t {
    const char *target;  // FILE or PREFIX
    const char *prefix;  // --label
    bool wait;           // --wait
} s_args_t;

// s_parse: options and the one positional argument. CLI_OK or CLI_USAGE
// (-1 for --help, already printed).
static int s_parse(cli_t *cli, int argc, char **argv, s_args_t *a)
{
    enum { O_LABEL = CLI_O_FIRST, O_WAIT };
    static const struct option opts[] = {
        CLI_COMMON_OPTIONS,
        {"label", required_argument, NULL, O_LABEL},
        {"wait", no_argument, NULL, O_WAIT},
        {NULL, 0, NULL, 0},
    };
    memset(a, 0, sizeof *a);
    int c;
    while ((c = cli_getopt(cli, &s_cmd, argc, argv, ":h", opts)) != -1) {
        switch (c) {
        case 'h':
            cli_help(&s_cmd);
            return -1;
        case O_LABEL:
            a->prefix = optarg;
            break;
        case O_WAIT:
            a->wait = true;
            break;
        default:
            return CLI_USAGE;
        }
    }
    if (optind >= argc)
        return cli_usage_error(&s_cmd, "%s needs a workflow file%s", argv[0],
                               strcmp(argv[0], "status") == 0 ? " or a label prefix" : "");
    if (optind + 1 < argc)
        return cli_usage_error(&s_cmd, "unexpected argument '%s'", argv[optind + 1]);
    a->target = argv[optind];
    if (a->prefix && !wf_valid_prefix(a->prefix))
        return cli_usage_error(&s_cmd,
                               "--label '%s': a prefix is letters, digits, '_', '-', '.' and "
                               "'/' (not first or last)",
                               a->prefix);
    return CLI_OK;
}

// s_load: the workflow file and its prefix. NULL (messages printed) when
// the file is bad.
static wf_t *s_load(const s_args_t *a, char *prefix, size_t size)
{
    char *errors = NULL;
    wf_t *wf = wf_load(a->target, &errors);
    if (!wf) {
        fputs(errors ? errors : "ipp: out of memory\n", stderr);
        free(errors);
        cli_error("%s: not submitted", a->target);
        return NULL;
    }
    if (a->prefix)
        snprintf(prefix, size, "%s", a->prefix);
    else
        wf_prefix_of(a->target, prefix, size);
    if (!wf_valid_prefix(prefix)) {
        cli_error("%s: the file name gives the label prefix '%s', which is not fit for "
                  "labels; give one with --label",
                  a->target, prefix);
        wf_destroy(&wf);
    }
    return wf;
}

static int s_submit(cli_t *cli, int argc, char **argv)
{
    s_args_t a;
    int rc = s_parse(cli, argc, argv, &a);
    if (rc != CLI_OK)
        return rc < 0 ? CLI_OK : rc;
    char prefix[256];
    wf_t *wf = s_load(&a, prefix, sizeof prefix);
    if (!wf)
        return CLI_USAGE;
    ipp_client_t *client = NULL;
    bool *run = calloc(wf->n, sizeof *run);
    char(*ids)[IPP_MSGID_LEN + 1] = calloc(wf->n, sizeof *ids);
    if (!run || !ids) {
        cli_error("out of memory");
        rc = CLI_FAILED;
        goto out;
    }
    if ((rc = cli_connect(cli, &client)) != CLI_OK)
        goto out;
    for (size_t i = 0; i < wf->n; i++)
        run[i] = true;
    if ((rc = s_submit_nodes(client, cli->timeout, wf, prefix, run, ids)) != CLI_OK)
        goto out;
    size_t w = 4;
    for (size_t i = 0; i < wf->n; i++)
        w = strlen(wf->nodes[i].name) > w ? strlen(wf->nodes[i].name) : w;
    printf("%-*s  %s\n", (int)w, "NODE", "MSG_ID");
    for (size_t k = 0; k < wf->n; k++) {
        size_t i = wf->order[k];
        printf("%-*s  %s\n", (int)w, wf->nodes[i].name, ids[i]);
    }
    fflush(stdout);
    if (a.wait)
        rc = s_status_wf(client, wf, prefix, true);
out:
    ipp_client_destroy(&client);
    free(run);
    free(ids);
    wf_destroy(&wf);
    return rc;
}

// s_is_file: path names an existing regular file.
static bool s_is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int s_status(cli_t *cli, int argc, char **argv)
{
    s_args_t a;
    int rc = s_parse(cli, argc, argv, &a);
    if (rc != CLI_OK)
        return rc < 0 ? CLI_OK : rc;
    ipp_client_t *client = NULL;
    if (s_is_file(a.target)) {
        char prefix[256];
        wf_t *wf = s_load(&a, prefix, sizeof prefix);
        if (!wf)
            return CLI_USAGE;
        rc = cli_connect(cli, &client);
        if (rc == CLI_OK)
            rc = s_status_wf(client, wf, prefix, a.wait);
        wf_destroy(&wf);
        ipp_client_destroy(&client);
        return rc;
    }
    const char *prefix = a.prefix ? a.prefix : a.target;
    size_t len = strlen(a.target);
    if (!a.prefix && (strchr(a.target, '.') && len > 5 && strcmp(a.target + len - 5, ".json") == 0))
        return cli_usage_error(&s_cmd, "no workflow file %s", a.target);
    if (!wf_valid_prefix(prefix))
        return cli_usage_error(&s_cmd, "'%s' is neither a workflow file nor a label prefix",
                               prefix);
    rc = cli_connect(cli, &client);
    if (rc == CLI_OK)
        rc = s_status_prefix(client, prefix, a.wait);
    ipp_client_destroy(&client);
    return rc;
}

static int s_resume(cli_t *cli, int argc, char **argv)
{
    s_args_t a;
    int rc = s_parse(cli, argc, argv, &a);
    if (rc != CLI_OK)
        return rc < 0 ? CLI_OK : rc;
    char prefix[256];
    wf_t *wf = s_load(&a, prefix, sizeof prefix);
    if (!wf)
        return CLI_USAGE;
    ipp_client_t *client = NULL;
    s_latest_t *l = calloc(wf->n, sizeof *l);
    bool *run = calloc(wf->n, sizeof *run);
    char(*ids)[IPP_MSGID_LEN + 1] = calloc(wf->n, sizeof *ids);
    if (!l || !run || !ids) {
        cli_error("out of memory");
        rc = CLI_FAILED;
        goto out;
    }
    if ((rc = cli_connect(cli, &client)) != CLI_OK)
        goto out;
    rc = CLI_FAILED;
    if (!s_latest_of(client, wf, prefix, l))
        goto out;
    size_t n_run = 0, n_tasks = 0;
    for (size_t i = 0; i < wf->n; i++) {
        n_tasks += (size_t)l[i].tasks;
        run[i] = !l[i].msg_id[0] || s_failed(l[i].status);
        n_run += run[i];
        if (!run[i])
            snprintf(ids[i], sizeof ids[i], "%s", l[i].msg_id);
    }
    if (n_tasks == 0) {
        cli_error("no task of '%s' was ever submitted (labels %s/*); use `ipp dag submit`",
                  a.target, prefix);
        goto out;
    }
    if (n_run == 0) {
        printf("nothing to resume: every node of '%s' finished ok or is still pending\n", prefix);
        rc = a.wait ? s_status_wf(client, wf, prefix, true) : CLI_OK;
        goto out;
    }
    // A kept pending node waiting on a node about to re-run waits on the old,
    // failed task: say so, it will most likely end unreachable.
    for (size_t i = 0; i < wf->n; i++) {
        if (run[i] || strcmp(l[i].status, "pending") != 0)
            continue;
        const wf_dep_t *deps[2] = {&wf->nodes[i].after, &wf->nodes[i].follow};
        for (int d = 0; d < 2; d++)
            for (size_t k = 0; k < deps[d]->n; k++)
                if (run[deps[d]->nodes[k]])
                    cli_error("warning: node '%s' is still pending on the failed task of '%s'; "
                              "resume again once it has finished",
                              wf->nodes[i].name, wf->nodes[deps[d]->nodes[k]].name);
    }
    if ((rc = s_submit_nodes(client, cli->timeout, wf, prefix, run, ids)) != CLI_OK)
        goto out;
    size_t w = 4;
    for (size_t i = 0; i < wf->n; i++)
        w = strlen(wf->nodes[i].name) > w ? strlen(wf->nodes[i].name) : w;
    printf("%-*s  %-6s  %-36s  %s\n", (int)w, "NODE", "ACTION", "MSG_ID", "BEFORE");
    for (size_t k = 0; k < wf->n; k++) {
        size_t i = wf->order[k];
        char before[64];
        if (!l[i].msg_id[0])
            snprintf(before, sizeof before, "never submitted");
        else
            snprintf(before, sizeof before, "%s", l[i].status);
        if (run[i])
            printf("%-*s  %-6s  %-36s  %s\n", (int)w, wf->nodes[i].name, "rerun", ids[i], before);
        else
            printf("%-*s  %-6s  %s\n", (int)w, wf->nodes[i].name, "keep", ids[i]);
    }
    printf("resubmitted %zu of %zu nodes\n", n_run, wf->n);
    fflush(stdout);
    if (a.wait)
        rc = s_status_wf(client, wf, prefix, true);
out:
    ipp_client_destroy(&client);
    free(l);
    free(run);
    free(ids);
    wf_destroy(&wf);
    return rc;
}

int cli_cmd_dag(cli_t *cli, int argc, char **argv)
{
    if (argc < 2)
        return cli_usage_error(&s_cmd, "which: submit, status or resume?");
    const char *what = argv[1];
    if (strcmp(what, "-h") == 0 || strcmp(what, "--help") == 0)
        return cli_help(&s_cmd);
    cli_getopt_reset();
    if (strcmp(what, "submit") == 0)
        return s_submit(cli, argc - 1, argv + 1);
    if (strcmp(what, "status") == 0)
        return s_status(cli, argc - 1, argv + 1);
    if (strcmp(what, "resume") == 0)
        return s_resume(cli, argc - 1, argv + 1);
    return cli_usage_error(&s_cmd, "unknown subcommand '%s' (submit, status, resume)", what);
}
