/* common.c — the pieces every `ipp` subcommand uses.
 *
 * Option parsing around getopt_long, number and list parsing, connecting
 * to the controller with a quick verdict when it is plainly not there,
 * msg_id selection by id or label, waiting for acknowledgements, the
 * progress bar, and printing what a task produced. Owns nothing beyond
 * the calls it makes; never exits the process.
 */
#include "tools/ipp/cli.h"

#include "proto/clock.h"
#include "proto/conn.h"
#include "proto/msgid.h"
#include "proto/grow.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

// ------------------------------------------------------------ messages

void cli_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("ipp: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int cli_help(const cli_cmd_t *cmd)
{
    fputs(cmd->usage, stdout);
    return CLI_OK;
}

int cli_usage_error(const cli_cmd_t *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "ipp %s: ", cmd->name);
    vfprintf(stderr, fmt, ap);
    fputs("\n\n", stderr);
    va_end(ap);
    fputs(cmd->usage, stderr);
    return CLI_USAGE;
}

void cli_getopt_reset(void)
{
    optind = 0;  // glibc: a full re-initialisation
    opterr = 0;
}

int cli_getopt(cli_t *cli, const cli_cmd_t *cmd, int argc, char **argv, const char *shortopts,
               const struct option *longopts)
{
    opterr = 0;
    for (;;) {
        int c = getopt_long(argc, argv, shortopts, longopts, NULL);
        switch (c) {
        case CLI_O_PROFILE:
            cli->profile = optarg;
            continue;
        case CLI_O_CONNECTION:
            cli->connection = optarg;
            continue;
        case '?':
            if (optopt > 0 && optopt < 128)
                cli_usage_error(cmd, "unknown option -%c", optopt);
            else
                cli_usage_error(cmd, "unknown option %s", argv[optind - 1]);
            return '?';
        case ':':
            if (optopt > 0 && optopt < 128)
                cli_usage_error(cmd, "option -%c needs a value", optopt);
            else
                cli_usage_error(cmd, "option %s needs a value", argv[optind - 1]);
            return '?';
        default:
            return c;
        }
    }
}

// ------------------------------------------------------------ parsing

bool cli_parse_double(const char *text, double min, double *out)
{
    if (!text || !*text)
        return false;
    char *end = NULL;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || !end || *end || !isfinite(v) || v < min)
        return false;
    *out = v;
    return true;
}

bool cli_parse_int(const char *text, long min, long max, long *out)
{
    if (!text || !*text)
        return false;
    char *end = NULL;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || !end || *end || v < min || v > max)
        return false;
    *out = v;
    return true;
}

bool cli_parse_targets(const char *text, int **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    size_t cap = 1;
    for (const char *p = text; *p; p++)
        cap += *p == ',';
    int *v = calloc(cap, sizeof *v);
    char *copy = strdup(text);
    bool ok = v && copy && *text;
    char *save = NULL;
    for (char *tok = ok ? strtok_r(copy, ",", &save) : NULL; tok && ok;
         tok = strtok_r(NULL, ",", &save)) {
        long id;
        ok = cli_parse_int(tok, 0, 1L << 30, &id);
        for (size_t i = 0; ok && i < *n; i++)
            ok = v[i] != (int)id;  // a repeated id is a mistake
        if (ok)
            v[(*n)++] = (int)id;
    }
    free(copy);
    if (!ok || *n == 0) {
        free(v);
        *n = 0;
        return false;
    }
    *out = v;
    return true;
}

// ------------------------------------------------------------ strings

bool cli_strv_push_own(cli_strv_t *sv, char *s)
{
    if (!s)
        return false;
    if (IPP_GROW(sv->v, sv->cap, sv->n + 1, 8) != 0) {
        free(s);
        return false;
    }
    sv->v[sv->n++] = s;
    return true;
}

bool cli_strv_push(cli_strv_t *sv, const char *s)
{
    return cli_strv_push_own(sv, strdup(s));
}

void cli_strv_fini(cli_strv_t *sv)
{
    for (size_t i = 0; i < sv->n; i++)
        free(sv->v[i]);
    free(sv->v);
    memset(sv, 0, sizeof *sv);
}

bool cli_strv_has(const cli_strv_t *sv, const char *s)
{
    for (size_t i = 0; i < sv->n; i++)
        if (strcmp(sv->v[i], s) == 0)
            return true;
    return false;
}

// ------------------------------------------------------------ controller

bool cli_profile_dir(const cli_t *cli, char *buf, size_t size)
{
    ipp_error_t err;
    if (conn_profile_dir(NULL, cli->profile, buf, size, &err) != IPP_OK) {
        cli_error("%s", err.msg);
        return false;
    }
    return true;
}

// s_local_ip: true for an address of this machine's loopback, where the
// controller_pid of a connection file can be checked here.
static bool s_local_ip(const char *ip)
{
    return strncmp(ip, "127.", 4) == 0 || strcmp(ip, "localhost") == 0 || strcmp(ip, "::1") == 0 ||
           strcmp(ip, "0.0.0.0") == 0 || strcmp(ip, "*") == 0;
}

int cli_connect(const cli_t *cli, ipp_client_t **out)
{
    *out = NULL;
    char path[4096];
    ipp_error_t err;
    if (cli->connection) {
        snprintf(path, sizeof path, "%s", cli->connection);
    } else {
        char dir[4096];
        if (!cli_profile_dir(cli, dir, sizeof dir))
            return CLI_USAGE;
        if (conn_file_path(dir, CONN_CLIENT, path, sizeof path, &err) != IPP_OK) {
            cli_error("%s", err.msg);
            return CLI_UNREACHABLE;
        }
    }
    conn_info_t info;
    ipp_err_t rc = conn_read(path, CONN_CLIENT, &info, &err);
    if (rc == IPP_ERR_NOT_FOUND) {
        if (cli->connection)
            cli_error("no connection file %s", path);
        else
            cli_error("no controller for profile '%s' (no %s); start one with "
                      "`ipp cluster start`",
                      cli->profile, path);
        return CLI_UNREACHABLE;
    }
    if (rc != IPP_OK) {
        cli_error("%s", err.msg);
        return CLI_UNREACHABLE;
    }
    memset(info.key, 0, sizeof info.key);
    // A controller on this machine that is gone: say so now rather than
    // after the timeout.
    if (s_local_ip(info.ip) && info.controller_pid > 0 &&
        kill((pid_t)info.controller_pid, 0) != 0 && errno == ESRCH) {
        cli_error("the controller of profile '%s' (pid %d) is not running; start one with "
                  "`ipp cluster start`",
                  cli->profile, info.controller_pid);
        return CLI_UNREACHABLE;
    }
    ipp_client_opts_t o;
    memset(&o, 0, sizeof o);
    o.connection_file = path;
    o.timeout = cli->timeout;
    o.log_level = IPP_LOG_LEVEL_ERROR;
    *out = ipp_client_new(&o, &err);
    if (!*out) {
        cli_error("%s", err.msg);
        // A controller that refused our key was reached: refused, not absent.
        return err.code == IPP_ERR_DENIED ? CLI_FAILED : CLI_UNREACHABLE;
    }
    return CLI_OK;
}

int cli_fail_code(ipp_err_t code)
{
    return code == IPP_ERR_TIMEOUT || code == IPP_ERR_CLOSED || code == IPP_ERR_ZMQ
               ? CLI_UNREACHABLE
               : CLI_FAILED;
}

// s_cmp_str: qsort comparator for strings.
static int s_cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

long cli_select_label(ipp_client_t *client, const char *pattern, cli_strv_t *ids)
{
    json_t *q = json_pack("{s:{s:s}}", "label", "$glob", pattern);
    char *text = q ? json_dumps(q, JSON_COMPACT) : NULL;
    json_decref(q);
    if (!text) {
        cli_error("out of memory");
        return -CLI_FAILED;
    }
    const char *keys[] = {"msg_id"};
    json_t *rows = NULL;
    ipp_error_t err;
    ipp_err_t rc = ipp_client_db_query_json(client, text, keys, 1, 0, &rows, &err);
    free(text);
    if (rc != IPP_OK) {
        cli_error("label '%s': %s", pattern, err.msg);
        return -cli_fail_code(rc);
    }
    // UUIDv7 text order is submission order.
    size_t n = json_array_size(rows);
    char **found = calloc(n ? n : 1, sizeof *found);
    size_t nf = 0;
    for (size_t i = 0; found && i < n; i++) {
        const char *id = json_string_value(json_object_get(json_array_get(rows, i), "msg_id"));
        if (id)
            found[nf++] = (char *)id;
    }
    long added = 0;
    if (found) {
        qsort(found, nf, sizeof *found, s_cmp_str);
        for (size_t i = 0; i < nf; i++) {
            added++;
            if (!cli_strv_has(ids, found[i]) && !cli_strv_push(ids, found[i])) {
                added = -CLI_FAILED;
                cli_error("out of memory");
                break;
            }
        }
    } else {
        added = -CLI_FAILED;
        cli_error("out of memory");
    }
    free(found);
    json_decref(rows);
    return added;
}

bool cli_add_id(const cli_cmd_t *cmd, cli_strv_t *ids, const char *id)
{
    if (!ipp_msgid_valid(id)) {
        cli_usage_error(cmd,
                        "'%s' is not a task id (a msg_id such as "
                        "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b); use --label to select "
                        "by label",
                        id);
        return false;
    }
    if (cli_strv_has(ids, id))
        return true;
    if (!cli_strv_push(ids, id)) {
        cli_error("out of memory");
        return false;
    }
    return true;
}

// Where a task stands while its submission is being acknowledged.
typedef enum s_ack_t {
    S_ACK_YES,      // acknowledged: recorded (or already finished)
    S_ACK_REFUSED,  // refused by the controller, or never sent
    S_ACK_NONE,     // no answer yet
} s_ack_t;

// s_ack_of: where task i of ar stands.
static s_ack_t s_ack_of(const ipp_ar_t *ar, size_t i)
{
    ipp_metadata_t md;
    if (ipp_ar_metadata(ar, i, &md) != IPP_OK)
        return S_ACK_REFUSED;
    if (md.status == IPP_STATUS_REFUSED)
        return S_ACK_REFUSED;
    if (!md.accepted && md.status == IPP_STATUS_PENDING)
        return S_ACK_NONE;
    return S_ACK_YES;
}

// s_count_acks: how many tasks of ars[0..n) stand at `want`, and in all.
static size_t s_count_acks(ipp_ar_t *const *ars, size_t n, s_ack_t want, size_t *total)
{
    size_t k = 0, all = 0;
    for (size_t a = 0; a < n; a++) {
        for (size_t i = 0; ars[a] && i < ipp_ar_len(ars[a]); i++) {
            all++;
            k += s_ack_of(ars[a], i) == want;
        }
    }
    if (total)
        *total = all;
    return k;
}

// s_list_acks: "ipp: LABEL (COUNT): NAME NAME…" on stderr for the tasks
// standing at want.
static void s_list_acks(ipp_ar_t *const *ars, size_t n, const char *const *names, s_ack_t want,
                        const char *label)
{
    size_t count = s_count_acks(ars, n, want, NULL);
    fprintf(stderr, "ipp: %s (%zu):", label, count);
    for (size_t a = 0; a < n; a++) {
        for (size_t i = 0; ars[a] && i < ipp_ar_len(ars[a]); i++) {
            if (s_ack_of(ars[a], i) != want)
                continue;
            bool named = names && names[a] && ipp_ar_len(ars[a]) == 1;
            fprintf(stderr, " %s", named ? names[a] : ipp_ar_msg_id(ars[a], i));
        }
    }
    fputc('\n', stderr);
}

int cli_wait_accepted(ipp_client_t *client, ipp_ar_t *const *ars, size_t n,
                      const char *const *names, const char *noun, double timeout)
{
    int64_t until = ipp_clock_mono_us() + (int64_t)(timeout * 1e6);
    while (s_count_acks(ars, n, S_ACK_NONE, NULL) && ipp_clock_mono_us() < until) {
        ipp_error_t err;
        if (ipp_client_spin(client, 0.05, &err) != IPP_OK)
            break;
    }
    size_t total = 0;
    size_t none = s_count_acks(ars, n, S_ACK_NONE, &total);
    size_t refused = s_count_acks(ars, n, S_ACK_REFUSED, NULL);
    for (size_t a = 0; refused && a < n; a++) {
        for (size_t i = 0; ars[a] && i < ipp_ar_len(ars[a]); i++) {
            if (s_ack_of(ars[a], i) != S_ACK_REFUSED)
                continue;
            const ipp_remote_error_t *e = ipp_ar_error(ars[a], i);
            bool named = names && names[a] && ipp_ar_len(ars[a]) == 1;
            cli_error("%s%s refused: %s%s%s", named ? "" : "task ",
                      named ? names[a] : ipp_ar_msg_id(ars[a], i), e && e->ename ? e->ename : "",
                      e && e->evalue && *e->evalue ? ": " : "", e && e->evalue ? e->evalue : "");
        }
    }
    if (!none)
        return refused ? CLI_FAILED : CLI_OK;
    cli_error("the controller did not acknowledge %zu of %zu %s within %g s (it stopped "
              "answering); those not acknowledged may or may not have been recorded",
              none, total, noun, timeout);
    s_list_acks(ars, n, names, S_ACK_YES, "acknowledged");
    if (refused)
        s_list_acks(ars, n, names, S_ACK_REFUSED, "refused");
    s_list_acks(ars, n, names, S_ACK_NONE, "not acknowledged");
    return CLI_UNREACHABLE;
}

// s_draw: one frame of the progress bar.
static void s_draw(const ipp_ar_t *ar, bool last)
{
    size_t n = ipp_ar_len(ar), done = ipp_ar_progress(ar);
    enum { W = 30 };
    char bar[W + 1];
    size_t fill = n ? done * W / n : W;
    for (size_t i = 0; i < W; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[W] = '\0';
    fprintf(stderr, "\r[%s] %zu/%zu tasks  %.1f s%s", bar, done, n, ipp_ar_elapsed(ar),
            last ? "\n" : "");
    fflush(stderr);
}

static volatile sig_atomic_t s_sigint;  // Ctrl-C came during a wait

static void s_on_sigint(int sig)
{
    (void)sig;
    s_sigint = 1;
}

bool cli_interrupted(void)
{
    return s_sigint != 0;
}

ipp_err_t cli_wait_progress(ipp_ar_t *ar, double timeout, bool bar, ipp_error_t *err)
{
    bar = bar && isatty(STDERR_FILENO);
    // Ctrl-C stops the waiting, not the tasks: no SA_RESTART, so the poll
    // inside the wait returns, and the wait goes in steps short enough to
    // notice it.
    struct sigaction sa = {0}, old;
    sa.sa_handler = s_on_sigint;
    sigemptyset(&sa.sa_mask);
    s_sigint = 0;
    sigaction(SIGINT, &sa, &old);
    int64_t until = timeout < 0 ? -1 : ipp_clock_mono_us() + (int64_t)(timeout * 1e6);
    ipp_err_t rc;
    for (;;) {
        if (bar)
            s_draw(ar, false);
        double step = 0.2;
        if (until >= 0) {
            double left = (double)(until - ipp_clock_mono_us()) / 1e6;
            step = left < step ? (left > 0 ? left : 0) : step;
        }
        rc = ipp_ar_wait(ar, step, err);
        if (s_sigint && rc != IPP_OK) {
            rc = ipp_error_set(err, IPP_ERR_CLOSED, "interrupted");
            break;
        }
        if (rc != IPP_ERR_TIMEOUT || (until >= 0 && ipp_clock_mono_us() >= until))
            break;
    }
    sigaction(SIGINT, &old, NULL);
    if (bar)
        s_draw(ar, true);
    return rc;
}

int cli_left_running(const ipp_ar_t *ar)
{
    size_t n = ipp_ar_len(ar), left = 0;
    for (size_t i = 0; i < n; i++)
        left += ipp_ar_status(ar, i) == IPP_STATUS_PENDING;
    fprintf(stderr,
            "ipp: interrupted; %zu of %zu tasks not finished go on. Their ids follow on "
            "stdout; 'ipp wait ID...' or 'ipp result ID...' collects them.\n",
            left, n);
    for (size_t i = 0; i < n; i++)
        if (ipp_ar_status(ar, i) == IPP_STATUS_PENDING)
            printf("%s\n", ipp_ar_msg_id(ar, i));
    fflush(stdout);
    return CLI_INTERRUPTED;
}

// ------------------------------------------------------------ output

void cli_print_output(const ipp_ar_t *ar, size_t i, FILE *out, FILE *err_out)
{
    ipp_metadata_t md;
    if (ipp_ar_metadata(ar, i, &md) != IPP_OK)
        return;
    if (md.stdout_len)
        fwrite(md.stdout_data, 1, md.stdout_len, out);
    size_t nb = 0;
    const ipp_buf_t *b = ipp_ar_result(ar, i, &nb);
    for (size_t k = 0; k < nb; k++) {
        if (!b[k].size)
            continue;
        fwrite(b[k].data, 1, b[k].size, out);
        if (((const char *)b[k].data)[b[k].size - 1] != '\n')
            fputc('\n', out);
    }
    fflush(out);
    if (md.stderr_len)
        fwrite(md.stderr_data, 1, md.stderr_len, err_out);
    if (md.stdout_truncated || md.stderr_truncated)
        fprintf(err_out, "ipp: task %s: the engine cut its %s at its output limit\n", md.msg_id,
                md.stdout_truncated && md.stderr_truncated ? "stdout and stderr"
                : md.stdout_truncated                      ? "stdout"
                                                           : "stderr");
    fflush(err_out);
}

bool cli_print_failure(const ipp_ar_t *ar, size_t i, const char *what)
{
    ipp_status_t st = ipp_ar_status(ar, i);
    if (st == IPP_STATUS_OK)
        return false;
    const char *id = ipp_ar_msg_id(ar, i);
    if (st == IPP_STATUS_PENDING) {
        cli_error("%s has not finished", what ? what : id);
        return true;
    }
    const ipp_remote_error_t *e = ipp_ar_error(ar, i);
    char where[32] = "";
    if (e && e->engine_id >= 0)
        snprintf(where, sizeof where, " on engine %d", e->engine_id);
    cli_error("%s %s%s: %s%s%s", what ? what : id, ipp_status_name(st), where,
              e && e->ename ? e->ename : "?", e && e->evalue && *e->evalue ? ": " : "",
              e && e->evalue ? e->evalue : "");
    return true;
}

char *cli_format_time(int64_t us, char *buf, size_t size)
{
    if (us <= 0 || size < 32) {
        snprintf(buf, size, "-");
        return buf;
    }
    return ipp_clock_format_iso(us, buf, size);
}

char *cli_format_duration(double s, char *buf, size_t size)
{
    if (s < 0 || !isfinite(s))
        snprintf(buf, size, "-");
    else if (s < 10)
        snprintf(buf, size, "%.3fs", s);
    else if (s < 60)
        snprintf(buf, size, "%.1fs", s);
    else if (s < 3600)
        snprintf(buf, size, "%dm%02ds", (int)(s / 60), (int)s % 60);
    else
        snprintf(buf, size, "%dh%02dm", (int)(s / 3600), (int)(s / 60) % 60);
    return buf;
}

char *cli_shell_quote(const char *s)
{
    size_t n = 3;
    for (const char *p = s; *p; p++)
        n += *p == '\'' ? 4 : 1;
    char *q = malloc(n);
    if (!q)
        return NULL;
    char *w = q;
    *w++ = '\'';
    for (const char *p = s; *p; p++) {
        if (*p == '\'') {
            memcpy(w, "'\\''", 4);
            w += 4;
        } else {
            *w++ = *p;
        }
    }
    *w++ = '\'';
    *w = '\0';
    return q;
}
