/* hubcmd.c — the subcommands that ask the controller about tasks that
 * exist: wait, result, status, purge, resubmit, abort, shutdown.
 *
 * Any client may ask about any task at any time: results come from the
 * controller's database through AsyncHubResults (libipp get_result), so a
 * task submitted by a process long gone is fetched like one's own. Tasks
 * are named by msg_id or selected with --label PATTERN (a glob over the
 * label, through db_query). Owns what one invocation allocates.
 */
#include "tools/ipp/cli.h"

#include "proto/msgid.h"

#include <jansson.h>
#include <limits.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

// Tasks named on the command line.
typedef struct s_sel_t {
    cli_strv_t ids;     // msg_ids given
    cli_strv_t labels;  // --label patterns given
} s_sel_t;

static void s_sel_fini(s_sel_t *s)
{
    cli_strv_fini(&s->ids);
    cli_strv_fini(&s->labels);
}

// s_sel_positional: the remaining arguments as ids. CLI_OK or CLI_USAGE.
static int s_sel_positional(const cli_cmd_t *cmd, s_sel_t *s, int argc, char **argv, bool required)
{
    for (int i = optind; i < argc; i++)
        if (!cli_add_id(cmd, &s->ids, argv[i]))
            return CLI_USAGE;
    if (required && !s->ids.n && !s->labels.n)
        return cli_usage_error(cmd, "which tasks? give msg_ids or --label PATTERN");
    return CLI_OK;
}

// s_sel_connect: connect to the controller (*client, the caller's to
// destroy), then add the tasks of every --label pattern to s->ids.
// CLI_OK, the connection's failure code, or CLI_FAILED (message printed)
// when a pattern matches nothing.
static int s_sel_connect(cli_t *cli, s_sel_t *s, ipp_client_t **client)
{
    int rc = cli_connect(cli, client);
    if (rc != CLI_OK)
        return rc;
    for (size_t i = 0; i < s->labels.n; i++) {
        long n = cli_select_label(*client, s->labels.v[i], &s->ids);
        if (n < 0)
            return (int)-n;
        if (n == 0) {
            cli_error("no task has a label matching '%s'", s->labels.v[i]);
            return CLI_FAILED;
        }
    }
    return CLI_OK;
}

#define S_SEL_HELP                                                                                 \
    "  --label PATTERN      the tasks whose label matches (glob: * ? [..]; repeatable)\n"

enum { O_LABEL = CLI_O_FIRST, O_TIMEOUT, O_JSON, O_WAIT, O_ALL, O_ENGINE, O_VERBOSE, O_TARGETS };

// ------------------------------------------------------------ wait

static const cli_cmd_t s_wait_cmd = {
    "wait",
    "usage: ipp wait [--timeout S] [--label PATTERN]... [ID...]\n"
    "\n"
    "Wait until the tasks finished (a progress bar on a terminal), whoever\n"
    "submitted them, then print how they ended; failures are listed on stderr.\n"
    "\n"
    "options:\n"
    "  --timeout S          give up after S seconds (default: wait as long as it takes)\n" S_SEL_HELP
        CLI_COMMON_HELP "\n"
    "exit: 0 every task succeeded, 1 one failed, is unknown or the wait timed out,\n"
    "2 usage, 3 no controller, " CLI_EXIT_INTERRUPTED,
};

int cli_cmd_wait(cli_t *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_COMMON_OPTIONS,
        {"label", required_argument, NULL, O_LABEL},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {NULL, 0, NULL, 0},
    };
    s_sel_t sel = {0};
    double timeout = IPP_FOREVER;
    ipp_client_t *client = NULL;
    ipp_ar_t *ar = NULL;
    int rc = CLI_USAGE;
    int c;
    while ((c = cli_getopt(cli, &s_wait_cmd, argc, argv, ":h", opts)) != -1) {
        if (c == 'h') {
            rc = cli_help(&s_wait_cmd);
            goto out;
        } else if (c == O_LABEL) {
            if (!cli_strv_push(&sel.labels, optarg))
                goto out;
        } else if (c == O_TIMEOUT) {
            if (!cli_parse_double(optarg, 0, &timeout)) {
                cli_usage_error(&s_wait_cmd, "--timeout needs a number of seconds, not '%s'",
                                optarg);
                goto out;
            }
        } else {
            goto out;
        }
    }
    if ((rc = s_sel_positional(&s_wait_cmd, &sel, argc, argv, true)) != CLI_OK)
        goto out;
    if ((rc = s_sel_connect(cli, &sel, &client)) != CLI_OK)
        goto out;
    rc = CLI_FAILED;
    ipp_error_t err;
    ar = ipp_client_get_result(client, (const char *const *)sel.ids.v, sel.ids.n, &err);
    if (!ar) {
        cli_error("%s", err.msg);
        rc = cli_fail_code(err.code);
        goto out;
    }
    ipp_err_t w = cli_wait_progress(ar, timeout, true, &err);
    if (w != IPP_OK && cli_interrupted()) {
        rc = cli_left_running(ar);
        goto out;
    }
    size_t n = ipp_ar_len(ar), ok = 0, failed = 0, pending = 0;
    for (size_t i = 0; i < n; i++) {
        ipp_status_t st = ipp_ar_status(ar, i);
        if (st == IPP_STATUS_OK)
            ok++;
        else if (st == IPP_STATUS_PENDING)
            pending++;
        else
            failed += cli_print_failure(ar, i, NULL);
    }
    printf("%zu task%s: %zu ok, %zu failed", n, n == 1 ? "" : "s", ok, failed);
    if (pending)
        printf(", %zu pending", pending);
    printf("\n");
    if (w == IPP_ERR_TIMEOUT)
        cli_error("timed out after %g s with %zu task%s unfinished", timeout, pending,
                  pending == 1 ? "" : "s");
    else if (w != IPP_OK)
        cli_error("%s", err.msg);
    rc = (w == IPP_OK && !failed && !pending) ? CLI_OK
         : w == IPP_ERR_CLOSED                ? CLI_UNREACHABLE
                                              : CLI_FAILED;
out:
    ipp_ar_destroy(&ar);
    ipp_client_destroy(&client);
    s_sel_fini(&sel);
    return rc;
}

// ------------------------------------------------------------ result

static const cli_cmd_t s_result_cmd = {
    "result",
    "usage: ipp result [--json] [--wait] [--label PATTERN]... [ID...]\n"
    "\n"
    "Show what the tasks did (status, engine, timestamps, error, stdout, stderr,\n"
    "a call's results) from the controller's database: any task, whoever\n"
    "submitted it, however long ago. A pending task is shown as pending unless\n"
    "--wait.\n"
    "\n"
    "options:\n"
    "  --json               one JSON object per task and line (timestamps ISO 8601 UTC)\n"
    "  --wait               wait for pending tasks to finish first\n" S_SEL_HELP CLI_COMMON_HELP
    "\n"
    "exit: 0 every task succeeded, 1 one failed, is pending or unknown, 2 usage,\n"
    "3 no controller.\n",
};

// s_json_bytes: bytes as a JSON string (invalid UTF-8 bytes become '?').
static json_t *s_json_bytes(const void *data, size_t len)
{
    if (!data || !len)
        return json_string("");
    json_t *s = json_stringn(data, len);
    if (s)
        return s;
    char *copy = malloc(len);
    if (!copy)
        return NULL;
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++)
        copy[i] = p[i] >= 0x80 || p[i] == 0 ? '?' : (char)p[i];
    s = json_stringn(copy, len);
    free(copy);
    return s;
}

// s_json_buf: a result buffer: a string when it is UTF-8, else {"base64": …}.
static json_t *s_json_buf(const ipp_buf_t *b)
{
    json_t *s = b->size ? json_stringn(b->data, b->size) : json_string("");
    if (s)
        return s;
    size_t len = sodium_base64_encoded_len(b->size, sodium_base64_VARIANT_ORIGINAL);
    char *text = malloc(len);
    if (!text)
        return NULL;
    sodium_bin2base64(text, len, b->data, b->size, sodium_base64_VARIANT_ORIGINAL);
    json_t *o = json_pack("{s:s}", "base64", text);
    free(text);
    return o;
}

// s_json_time: a timestamp as ISO text, null when unknown.
static json_t *s_json_time(int64_t us)
{
    char buf[40];
    return us > 0 ? json_string(cli_format_time(us, buf, sizeof buf)) : json_null();
}

// s_json_ids: a list of msg_ids.
static json_t *s_json_ids(const char *const *ids, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        json_array_append_new(a, json_string(ids[i]));
    return a;
}

// s_result_json: task i as one JSON line on stdout.
static void s_result_json(const ipp_ar_t *ar, size_t i)
{
    ipp_metadata_t md;
    if (ipp_ar_metadata(ar, i, &md) != IPP_OK)
        return;
    json_t *o = json_object();
    if (!o)
        return;
    json_object_set_new(o, "msg_id", json_string(md.msg_id));
    json_object_set_new(o, "label", md.label ? json_string(md.label) : json_null());
    json_object_set_new(o, "status", json_string(ipp_status_name(md.status)));
    json_object_set_new(o, "engine_id",
                        md.engine_id >= 0 ? json_integer(md.engine_id) : json_null());
    json_object_set_new(o, "engine_uuid",
                        md.engine_uuid ? json_string(md.engine_uuid) : json_null());
    json_object_set_new(o, "submitted", s_json_time(md.submitted));
    json_object_set_new(o, "started", s_json_time(md.started));
    json_object_set_new(o, "completed", s_json_time(md.completed));
    json_object_set_new(o, "received", s_json_time(md.received));
    json_object_set_new(o, "duration",
                        md.started && md.completed
                            ? json_real((double)(md.completed - md.started) / 1e6)
                            : json_null());
    json_object_set_new(o, "attempts", md.attempts ? json_integer(md.attempts) : json_null());
    json_object_set_new(o, "exit_status",
                        md.exit_status >= 0 ? json_integer(md.exit_status) : json_null());
    json_object_set_new(o, "signal", md.term_signal ? json_integer(md.term_signal) : json_null());
    json_object_set_new(o, "stdout", s_json_bytes(md.stdout_data, md.stdout_len));
    json_object_set_new(o, "stderr", s_json_bytes(md.stderr_data, md.stderr_len));
    json_object_set_new(o, "stdout_truncated", json_boolean(md.stdout_truncated));
    json_object_set_new(o, "stderr_truncated", json_boolean(md.stderr_truncated));
    size_t nb = 0;
    const ipp_buf_t *b = ipp_ar_result(ar, i, &nb);
    json_t *res = json_array();
    for (size_t k = 0; res && k < nb; k++)
        json_array_append_new(res, s_json_buf(&b[k]));
    json_object_set_new(o, "result", res ? res : json_null());
    json_object_set_new(o, "summary", md.summary ? json_string(md.summary) : json_null());
    if (md.error) {
        json_t *tb = json_array();
        for (size_t k = 0; tb && k < md.error->n_traceback; k++)
            json_array_append_new(tb, json_string(md.error->traceback[k]));
        json_object_set_new(
            o, "error",
            json_pack("{s:s?, s:s?, s:o, s:o}", "ename", md.error->ename, "evalue",
                      md.error->evalue, "traceback", tb ? tb : json_array(), "engine_id",
                      md.error->engine_id >= 0 ? json_integer(md.error->engine_id) : json_null()));
    } else {
        json_object_set_new(o, "error", json_null());
    }
    json_object_set_new(o, "after", s_json_ids(md.after, md.n_after));
    json_object_set_new(o, "follow", s_json_ids(md.follow, md.n_follow));
    char *text = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(9));
    if (text) {
        printf("%s\n", text);
        free(text);
    }
    json_decref(o);
}

// s_result_text: task i for people.
static void s_result_text(const ipp_ar_t *ar, size_t i, bool first)
{
    ipp_metadata_t md;
    if (ipp_ar_metadata(ar, i, &md) != IPP_OK)
        return;
    char t[40], dur[32];
    if (!first)
        printf("\n");
    printf("== %s%s%s%s\n", md.msg_id, md.label ? " (label " : "", md.label ? md.label : "",
           md.label ? ")" : "");
    printf("status     %s\n", ipp_status_name(md.status));
    if (md.engine_id >= 0)
        printf("engine     %d%s%s%s\n", md.engine_id, md.engine_uuid ? " (" : "",
               md.engine_uuid ? md.engine_uuid : "", md.engine_uuid ? ")" : "");
    if (md.submitted)
        printf("submitted  %s\n", cli_format_time(md.submitted, t, sizeof t));
    if (md.started)
        printf("started    %s\n", cli_format_time(md.started, t, sizeof t));
    if (md.completed)
        printf("completed  %s\n", cli_format_time(md.completed, t, sizeof t));
    if (md.started && md.completed)
        printf("duration   %s\n",
               cli_format_duration((double)(md.completed - md.started) / 1e6, dur, sizeof dur));
    if (md.attempts > 1)
        printf("attempts   %d\n", md.attempts);
    if (md.exit_status >= 0 && md.status != IPP_STATUS_PENDING)
        printf("exit       %d\n", md.exit_status);
    if (md.term_signal)
        printf("signal     %d\n", md.term_signal);
    if (md.error)
        printf("error      %s%s%s\n", md.error->ename ? md.error->ename : "?",
               md.error->evalue && *md.error->evalue ? ": " : "",
               md.error->evalue ? md.error->evalue : "");
    if (md.n_after) {
        printf("after     ");
        for (size_t k = 0; k < md.n_after; k++)
            printf(" %s", md.after[k]);
        printf("\n");
    }
    if (md.stdout_len) {
        printf("--- stdout%s\n", md.stdout_truncated ? " (truncated by the engine)" : "");
        fwrite(md.stdout_data, 1, md.stdout_len, stdout);
        if (((const char *)md.stdout_data)[md.stdout_len - 1] != '\n')
            printf("\n");
    }
    if (md.stderr_len) {
        printf("--- stderr%s\n", md.stderr_truncated ? " (truncated by the engine)" : "");
        fwrite(md.stderr_data, 1, md.stderr_len, stdout);
        if (((const char *)md.stderr_data)[md.stderr_len - 1] != '\n')
            printf("\n");
    }
    size_t nb = 0;
    const ipp_buf_t *b = ipp_ar_result(ar, i, &nb);
    if (md.summary) {
        // a summarised value (a pickle) is for programs, not for a terminal
        printf("--- result (summary; %zu buffer%s in --json)\n%s\n", nb, nb == 1 ? "" : "s",
               md.summary);
    } else if (nb) {
        printf("--- result\n");
        for (size_t k = 0; k < nb; k++) {
            fwrite(b[k].data, 1, b[k].size, stdout);
            if (!b[k].size || ((const char *)b[k].data)[b[k].size - 1] != '\n')
                printf("\n");
        }
    }
}

int cli_cmd_result(cli_t *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_COMMON_OPTIONS,
        {"label", required_argument, NULL, O_LABEL},
        {"json", no_argument, NULL, O_JSON},
        {"wait", no_argument, NULL, O_WAIT},
        {NULL, 0, NULL, 0},
    };
    s_sel_t sel = {0};
    bool json = false, wait = false;
    ipp_client_t *client = NULL;
    ipp_ar_t *ar = NULL;
    ipp_result_status_t rs;
    memset(&rs, 0, sizeof rs);
    int rc = CLI_USAGE;
    int c;
    while ((c = cli_getopt(cli, &s_result_cmd, argc, argv, ":h", opts)) != -1) {
        if (c == 'h') {
            rc = cli_help(&s_result_cmd);
            goto out;
        } else if (c == O_LABEL) {
            if (!cli_strv_push(&sel.labels, optarg))
                goto out;
        } else if (c == O_JSON) {
            json = true;
        } else if (c == O_WAIT) {
            wait = true;
        } else {
            goto out;
        }
    }
    if ((rc = s_sel_positional(&s_result_cmd, &sel, argc, argv, true)) != CLI_OK)
        goto out;
    if ((rc = s_sel_connect(cli, &sel, &client)) != CLI_OK)
        goto out;
    rc = CLI_FAILED;
    ipp_error_t err;
    const char *const *ids = (const char *const *)sel.ids.v;
    size_t n = sel.ids.n;
    if (!wait && ipp_client_result_status(client, ids, n, &rs, &err) != IPP_OK) {
        cli_error("%s", err.msg);
        rc = cli_fail_code(err.code);
        goto out;
    }
    ar = ipp_client_get_result(client, ids, n, &err);
    if (!ar) {
        cli_error("%s", err.msg);
        rc = cli_fail_code(err.code);
        goto out;
    }
    // Wait for every record, but not (without --wait) for pending tasks.
    for (size_t i = 0; i < n; i++) {
        bool pending = false;
        for (size_t k = 0; !wait && k < rs.pending.n && !pending; k++)
            pending = strcmp(rs.pending.v[k], ipp_ar_msg_id(ar, i)) == 0;
        if (pending)
            continue;
        if (ipp_ar_wait_task(ar, i, wait ? IPP_FOREVER : cli->timeout, &err) != IPP_OK) {
            cli_error("%s: %s", ipp_ar_msg_id(ar, i), err.msg);
            rc = CLI_UNREACHABLE;
            goto out;
        }
    }
    bool bad = false;
    for (size_t i = 0; i < n; i++) {
        if (json)
            s_result_json(ar, i);
        else
            s_result_text(ar, i, i == 0);
        bad |= ipp_ar_status(ar, i) != IPP_STATUS_OK;
    }
    rc = bad ? CLI_FAILED : CLI_OK;
out:
    ipp_result_status_fini(&rs);
    ipp_ar_destroy(&ar);
    ipp_client_destroy(&client);
    s_sel_fini(&sel);
    return rc;
}

// ------------------------------------------------------------ status

static const cli_cmd_t s_status_cmd = {
    "status",
    "usage: ipp status [--verbose]\n"
    "\n"
    "The queues: per engine, tasks waiting, running and completed; the tasks the\n"
    "scheduler has not given to an engine yet; how many messages the controller\n"
    "refused since it started (bad signature, stale, replayed…), by reason, when\n"
    "there were any; and with Curve, how many connections and requests were\n"
    "refused, by reason.\n"
    "\n"
    "options:\n"
    "  -v, --verbose        list the msg_ids too\n" CLI_COMMON_HELP "\n"
    "exit: 0 ok, 2 usage, 3 no controller.\n",
};

int cli_cmd_status(cli_t *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_COMMON_OPTIONS,
        {"verbose", no_argument, NULL, 'v'},
        {NULL, 0, NULL, 0},
    };
    bool verbose = false;
    int c;
    while ((c = cli_getopt(cli, &s_status_cmd, argc, argv, ":hv", opts)) != -1) {
        if (c == 'h')
            return cli_help(&s_status_cmd);
        if (c != 'v')
            return CLI_USAGE;
        verbose = true;
    }
    if (optind < argc)
        return cli_usage_error(&s_status_cmd, "unexpected argument '%s'", argv[optind]);
    ipp_client_t *client = NULL;
    int rc = cli_connect(cli, &client);
    if (rc != CLI_OK)
        return rc;
    ipp_queue_status_t qs;
    ipp_error_t err;
    if (ipp_client_queue_status(client, NULL, 0, verbose, &qs, &err) != IPP_OK) {
        cli_error("%s", err.msg);
        ipp_client_destroy(&client);
        return cli_fail_code(err.code);
    }
    printf("%-6s  %6s  %7s  %9s\n", "ENGINE", "QUEUED", "RUNNING", "COMPLETED");
    long long done = 0;
    int queued = 0, running = 0;
    for (size_t i = 0; i < qs.n_engines; i++) {
        const ipp_engine_queue_t *q = &qs.engines[i];
        printf("%-6d  %6d  %7d  %9lld\n", q->engine_id, q->queued, q->running,
               (long long)q->completed);
        for (size_t k = 0; k < q->running_ids.n; k++)
            printf("        running %s\n", q->running_ids.v[k]);
        for (size_t k = 0; k < q->queued_ids.n; k++)
            printf("        queued  %s\n", q->queued_ids.v[k]);
        done += q->completed;
        queued += q->queued;
        running += q->running;
    }
    printf("%zu engine%s; %d queued, %d running, %lld completed; %d unassigned\n", qs.n_engines,
           qs.n_engines == 1 ? "" : "s", queued, running, done, qs.unassigned);
    for (size_t k = 0; k < qs.unassigned_ids.n; k++)
        printf("        unassigned %s\n", qs.unassigned_ids.v[k]);
    if (qs.curve)
        printf("curve on; refused: %lld unknown key, %lld wrong socket, %lld revoked, "
               "%lld not permitted\n",
               (long long)qs.refused_unknown_key, (long long)qs.refused_wrong_socket,
               (long long)qs.refused_revoked, (long long)qs.refused_denied);
    if (qs.n_refused_messages) {
        unsigned long long all = 0;
        for (size_t k = 0; k < qs.n_refused_messages; k++)
            all += (unsigned long long)qs.refused_messages[k].count;
        printf("refused messages: %llu (", all);
        for (size_t k = 0; k < qs.n_refused_messages; k++)
            printf("%s%s %llu", k ? ", " : "", qs.refused_messages[k].reason,
                   (unsigned long long)qs.refused_messages[k].count);
        printf(")\n");
    }
    ipp_queue_status_fini(&qs);
    ipp_client_destroy(&client);
    return CLI_OK;
}

// ------------------------------------------------------------ purge

static const cli_cmd_t s_purge_cmd = {
    "purge",
    "usage: ipp purge [--label PATTERN]... [ID...]\n"
    "       ipp purge --all\n"
    "       ipp purge --engine N [--engine N]...\n"
    "\n"
    "Forget completed tasks: their records leave the database (the audit chain\n"
    "records the purge). A pending task refuses the whole request.\n"
    "\n"
    "options:\n"
    "  --all                every completed task\n"
    "  --engine N           the tasks engine N ran (repeatable)\n" S_SEL_HELP CLI_COMMON_HELP "\n"
    "exit: 0 purged, 1 refused (a task is pending), 2 usage, 3 no controller.\n",
};

int cli_cmd_purge(cli_t *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_COMMON_OPTIONS,
        {"label", required_argument, NULL, O_LABEL},
        {"all", no_argument, NULL, O_ALL},
        {"engine", required_argument, NULL, O_ENGINE},
        {NULL, 0, NULL, 0},
    };
    s_sel_t sel = {0};
    bool all = false;
    int engines[256];
    size_t n_engines = 0;
    ipp_client_t *client = NULL;
    int rc = CLI_USAGE;
    int c;
    long v;
    while ((c = cli_getopt(cli, &s_purge_cmd, argc, argv, ":h", opts)) != -1) {
        if (c == 'h') {
            rc = cli_help(&s_purge_cmd);
            goto out;
        } else if (c == O_LABEL) {
            if (!cli_strv_push(&sel.labels, optarg))
                goto out;
        } else if (c == O_ALL) {
            all = true;
        } else if (c == O_ENGINE) {
            if (!cli_parse_int(optarg, 0, INT_MAX, &v) || n_engines == 256) {
                cli_usage_error(&s_purge_cmd, "--engine needs an engine id, not '%s'", optarg);
                goto out;
            }
            engines[n_engines++] = (int)v;
        } else {
            goto out;
        }
    }
    if ((rc = s_sel_positional(&s_purge_cmd, &sel, argc, argv, false)) != CLI_OK)
        goto out;
    rc = CLI_USAGE;
    if (!all && !n_engines && !sel.ids.n && !sel.labels.n) {
        cli_usage_error(&s_purge_cmd, "which tasks? give msg_ids, --label, --engine or --all");
        goto out;
    }
    if (all && (n_engines || sel.ids.n || sel.labels.n)) {
        cli_usage_error(&s_purge_cmd, "--all purges everything; give it alone");
        goto out;
    }
    if ((rc = s_sel_connect(cli, &sel, &client)) != CLI_OK)
        goto out;
    ipp_error_t err;
    int64_t purged = 0;
    if (ipp_client_purge_results(client, (const char *const *)sel.ids.v, sel.ids.n, all,
                                 n_engines ? engines : NULL, n_engines, &purged, &err) != IPP_OK) {
        cli_error("purge refused: %s", err.msg);
        rc = cli_fail_code(err.code);
        goto out;
    }
    printf("purged %lld record%s\n", (long long)purged, purged == 1 ? "" : "s");
    rc = CLI_OK;
out:
    ipp_client_destroy(&client);
    s_sel_fini(&sel);
    return rc;
}

// ------------------------------------------------------------ resubmit

static const cli_cmd_t s_resubmit_cmd = {
    "resubmit",
    "usage: ipp resubmit [--wait] [--label PATTERN]... [ID...]\n"
    "\n"
    "Run finished tasks again as new tasks (same request, dependencies, targets,\n"
    "retries, timeout and label); prints OLD_ID NEW_ID per task.\n"
    "\n"
    "options:\n"
    "  --wait               wait for the new tasks; failures on stderr\n" S_SEL_HELP CLI_COMMON_HELP
    "\n"
    "exit: 0 ok, 1 refused (or with --wait a task failed), 2 usage, 3 no controller,\n" CLI_EXIT_INTERRUPTED,
};

int cli_cmd_resubmit(cli_t *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_COMMON_OPTIONS,
        {"label", required_argument, NULL, O_LABEL},
        {"wait", no_argument, NULL, O_WAIT},
        {NULL, 0, NULL, 0},
    };
    s_sel_t sel = {0};
    bool wait = false;
    ipp_client_t *client = NULL;
    ipp_ar_t *ar = NULL;
    int rc = CLI_USAGE;
    int c;
    while ((c = cli_getopt(cli, &s_resubmit_cmd, argc, argv, ":h", opts)) != -1) {
        if (c == 'h') {
            rc = cli_help(&s_resubmit_cmd);
            goto out;
        } else if (c == O_LABEL) {
            if (!cli_strv_push(&sel.labels, optarg))
                goto out;
        } else if (c == O_WAIT) {
            wait = true;
        } else {
            goto out;
        }
    }
    if ((rc = s_sel_positional(&s_resubmit_cmd, &sel, argc, argv, true)) != CLI_OK)
        goto out;
    if ((rc = s_sel_connect(cli, &sel, &client)) != CLI_OK)
        goto out;
    rc = CLI_FAILED;
    ipp_error_t err;
    ar = ipp_client_resubmit(client, (const char *const *)sel.ids.v, sel.ids.n, &err);
    if (!ar) {
        cli_error("resubmit refused: %s", err.msg);
        rc = cli_fail_code(err.code);
        goto out;
    }
    for (size_t i = 0; i < ipp_ar_len(ar) && i < sel.ids.n; i++)
        printf("%s %s\n", sel.ids.v[i], ipp_ar_msg_id(ar, i));
    fflush(stdout);
    rc = CLI_OK;
    if (wait) {
        if (cli_wait_progress(ar, IPP_FOREVER, true, &err) != IPP_OK) {
            if (cli_interrupted()) {
                rc = cli_left_running(ar);
                goto out;
            }
            cli_error("%s", err.msg);
            rc = CLI_FAILED;
            goto out;
        }
        for (size_t i = 0; i < ipp_ar_len(ar); i++)
            if (cli_print_failure(ar, i, NULL))
                rc = CLI_FAILED;
    }
out:
    ipp_ar_destroy(&ar);
    ipp_client_destroy(&client);
    s_sel_fini(&sel);
    return rc;
}

// ------------------------------------------------------------ abort

static const cli_cmd_t s_abort_cmd = {
    "abort",
    "usage: ipp abort [--label PATTERN]... [--engine N]... [ID...]\n"
    "\n"
    "Abort tasks that have not started: they finish as aborted (TaskAborted) and\n"
    "their dependents as unreachable. Running and finished tasks are not touched.\n"
    "\n"
    "options:\n"
    "  --engine N           also everything queued on engine N (repeatable)\n" S_SEL_HELP
        CLI_COMMON_HELP "\n"
    "exit: 0 every task named was aborted, 1 some were not pending, 2 usage,\n"
    "3 no controller.\n",
};

int cli_cmd_abort(cli_t *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_COMMON_OPTIONS,
        {"label", required_argument, NULL, O_LABEL},
        {"engine", required_argument, NULL, O_ENGINE},
        {NULL, 0, NULL, 0},
    };
    s_sel_t sel = {0};
    int engines[256];
    size_t n_engines = 0;
    ipp_client_t *client = NULL;
    ipp_strv_t aborted = {0}, not_pending = {0};
    int rc = CLI_USAGE;
    int c;
    long v;
    while ((c = cli_getopt(cli, &s_abort_cmd, argc, argv, ":h", opts)) != -1) {
        if (c == 'h') {
            rc = cli_help(&s_abort_cmd);
            goto out;
        } else if (c == O_LABEL) {
            if (!cli_strv_push(&sel.labels, optarg))
                goto out;
        } else if (c == O_ENGINE) {
            if (!cli_parse_int(optarg, 0, INT_MAX, &v) || n_engines == 256) {
                cli_usage_error(&s_abort_cmd, "--engine needs an engine id, not '%s'", optarg);
                goto out;
            }
            engines[n_engines++] = (int)v;
        } else {
            goto out;
        }
    }
    if ((rc = s_sel_positional(&s_abort_cmd, &sel, argc, argv, n_engines == 0)) != CLI_OK)
        goto out;
    if ((rc = s_sel_connect(cli, &sel, &client)) != CLI_OK)
        goto out;
    ipp_error_t err;
    if (ipp_client_abort(client, (const char *const *)sel.ids.v, sel.ids.n,
                         n_engines ? engines : NULL, n_engines, &aborted, &not_pending,
                         &err) != IPP_OK) {
        cli_error("abort refused: %s", err.msg);
        rc = cli_fail_code(err.code);
        goto out;
    }
    for (size_t i = 0; i < aborted.n; i++)
        printf("aborted %s\n", aborted.v[i]);
    for (size_t i = 0; i < not_pending.n; i++)
        cli_error("%s was not waiting to run (running, finished or unknown)", not_pending.v[i]);
    rc = not_pending.n ? CLI_FAILED : CLI_OK;
out:
    ipp_strv_fini(&aborted);
    ipp_strv_fini(&not_pending);
    ipp_client_destroy(&client);
    s_sel_fini(&sel);
    return rc;
}

// ------------------------------------------------------------ shutdown

static const cli_cmd_t s_shutdown_cmd = {
    "shutdown",
    "usage: ipp shutdown [--targets LIST]\n"
    "\n"
    "Ask the controller to stop every engine and itself (pending tasks stay in\n"
    "the database and resume when a controller starts again on it); with\n"
    "--targets, stop only those engines. `ipp cluster stop` also waits for the\n"
    "processes and cleans up the pid files.\n"
    "\n"
    "options:\n"
    "  --targets LIST       only these engines, e.g. 0,2; the controller stays\n" CLI_COMMON_HELP
    "\n"
    "exit: 0 ok, 1 refused, 2 usage, 3 no controller.\n",
};

int cli_cmd_shutdown(cli_t *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_COMMON_OPTIONS,
        {"targets", required_argument, NULL, O_TARGETS},
        {NULL, 0, NULL, 0},
    };
    int *targets = NULL;
    size_t nt = 0;
    int c;
    int rc = CLI_USAGE;
    ipp_client_t *client = NULL;
    ipp_intv_t stopping = {0};
    while ((c = cli_getopt(cli, &s_shutdown_cmd, argc, argv, ":h", opts)) != -1) {
        if (c == 'h') {
            rc = cli_help(&s_shutdown_cmd);
            goto out;
        }
        if (c != O_TARGETS)
            goto out;
        free(targets);
        if (!cli_parse_targets(optarg, &targets, &nt)) {
            cli_usage_error(&s_shutdown_cmd, "--targets needs engine ids such as 0,2, not '%s'",
                            optarg);
            goto out;
        }
    }
    if (optind < argc) {
        cli_usage_error(&s_shutdown_cmd, "unexpected argument '%s'", argv[optind]);
        goto out;
    }
    if ((rc = cli_connect(cli, &client)) != CLI_OK)
        goto out;
    ipp_error_t err;
    bool hub = false;
    if (ipp_client_shutdown(client, targets, nt, nt == 0, &stopping, &hub, &err) != IPP_OK) {
        cli_error("shutdown refused: %s", err.msg);
        rc = cli_fail_code(err.code);
        goto out;
    }
    printf("stopping %zu engine%s%s\n", stopping.n, stopping.n == 1 ? "" : "s",
           hub ? " and the controller" : "");
    rc = CLI_OK;
out:
    ipp_intv_fini(&stopping);
    free(targets);
    ipp_client_destroy(&client);
    return rc;
}
