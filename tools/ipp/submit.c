/* submit.c — `ipp run`, `ipp px` and `ipp map`: submitting work.
 *
 * run submits one load-balanced task (a command, a shell line or a call)
 * with the scheduler's flags and prints its msg_id, or with --wait its
 * output; px runs one task on every engine through a direct view and
 * prints each engine's output under a header; map submits one
 * load-balanced task per item, substituting {} in a template, and prints
 * the outputs in item order. Every submission is confirmed by the
 * controller (committed to its database) before its id is printed, so an
 * id printed is an id that exists. Owns only what one invocation
 * allocates.
 */
#include "tools/ipp/cli.h"

#include "proto/msgid.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

// Options shared by the submitting commands.
typedef struct s_sub_t {
    cli_strv_t after;     // --after items: msg_ids or label patterns
    cli_strv_t follow;    // --follow items
    bool after_any;       // --after-any
    bool after_failure;   // --after-failure
    double timeout;       // --timeout (0 none)
    long retries;         // --retries
    bool has_retries;     // given
    const char *label;    // --label
    int *targets;         // --targets (owned)
    size_t n_targets;     // how many
    cli_strv_t requires;  // --require
    cli_strv_t env;       // --env NAME=VALUE
    const char *cwd;      // --cwd
    double limit;         // --limit (0 none)
    bool wait;            // --wait
    const char *shell;    // --shell
    const char *call;     // --call
} s_sub_t;

enum {
    O_AFTER = CLI_O_FIRST,
    O_AFTER_ANY,
    O_AFTER_FAILURE,
    O_FOLLOW,
    O_TIMEOUT,
    O_RETRIES,
    O_LABEL,
    O_TARGETS,
    O_REQUIRE,
    O_ENV,
    O_CWD,
    O_LIMIT,
    O_WAIT,
    O_SHELL,
    O_CALL,
};

// s_sub_fini: free what sub holds.
static void s_sub_fini(s_sub_t *sub)
{
    cli_strv_fini(&sub->after);
    cli_strv_fini(&sub->follow);
    free(sub->targets);
    cli_strv_fini(&sub->requires);
    cli_strv_fini(&sub->env);
}

// s_split_push: add the comma-separated items of text to sv.
static bool s_split_push(cli_strv_t *sv, const char *text)
{
    char *copy = strdup(text);
    if (!copy)
        return false;
    bool ok = true;
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok && ok; tok = strtok_r(NULL, ",", &save))
        ok = cli_strv_has(sv, tok) || cli_strv_push(sv, tok);
    free(copy);
    return ok;
}

// s_sub_option: handle option c of the shared set. 1 handled, 0 not
// one of them, -1 bad value (message printed).
static int s_sub_option(const cli_cmd_t *cmd, s_sub_t *sub, int c, const char *arg)
{
    long v;
    switch (c) {
    case O_AFTER:
    case O_FOLLOW:
        if (!*arg) {
            cli_usage_error(cmd, "%s needs task ids or label patterns",
                            c == O_AFTER ? "--after" : "--follow");
            return -1;
        }
        if (!s_split_push(c == O_AFTER ? &sub->after : &sub->follow, arg)) {
            cli_error("out of memory");
            return -1;
        }
        return 1;
    case O_AFTER_ANY:
        sub->after_any = true;
        return 1;
    case O_AFTER_FAILURE:
        sub->after_failure = true;
        return 1;
    case O_TIMEOUT:
        if (!cli_parse_double(arg, 0, &sub->timeout)) {
            cli_usage_error(cmd, "--timeout needs a number of seconds, not '%s'", arg);
            return -1;
        }
        return 1;
    case O_RETRIES:
        if (!cli_parse_int(arg, 0, IPP_RETRIES_MAX, &v)) {
            cli_usage_error(cmd, "--retries needs a whole number from 0 to %d, not '%s'",
                            IPP_RETRIES_MAX, arg);
            return -1;
        }
        sub->retries = v;
        sub->has_retries = true;
        return 1;
    case O_LABEL:
        if (!*arg) {
            cli_usage_error(cmd, "--label must not be empty");
            return -1;
        }
        sub->label = arg;
        return 1;
    case O_TARGETS:
        free(sub->targets);
        if (!cli_parse_targets(arg, &sub->targets, &sub->n_targets)) {
            cli_usage_error(cmd, "--targets needs engine ids such as 0,2,3, not '%s'", arg);
            return -1;
        }
        return 1;
    case O_REQUIRE:
        if (!*arg) {
            cli_usage_error(cmd, "--require needs fn:NAME, cmd:PROGRAM or tag:TAG");
            return -1;
        }
        if (!cli_strv_push(&sub->requires, arg)) {
            cli_error("out of memory");
            return -1;
        }
        return 1;
    case O_ENV: {
        const char *eq = strchr(arg, '=');
        if (!eq || eq == arg) {
            cli_usage_error(cmd, "--env needs NAME=VALUE, not '%s'", arg);
            return -1;
        }
        if (!cli_strv_push(&sub->env, arg)) {
            cli_error("out of memory");
            return -1;
        }
        return 1;
    }
    case O_CWD:
        sub->cwd = arg;
        return 1;
    case O_LIMIT:
        if (!cli_parse_double(arg, 0, &sub->limit)) {
            cli_usage_error(cmd, "--limit needs a number of seconds, not '%s'", arg);
            return -1;
        }
        return 1;
    case O_WAIT:
        sub->wait = true;
        return 1;
    case O_SHELL:
        if (!*arg) {
            cli_usage_error(cmd, "--shell needs a command line");
            return -1;
        }
        sub->shell = arg;
        return 1;
    case O_CALL:
        if (!*arg) {
            cli_usage_error(cmd, "--call needs a function name");
            return -1;
        }
        sub->call = arg;
        return 1;
    default:
        return 0;
    }
}

// s_resolve: msg_ids for dependency items: ids as given, label patterns
// looked up. CLI_OK, or an exit code (message printed).
static int s_resolve(ipp_client_t *client, const cli_strv_t *items, cli_strv_t *ids)
{
    for (size_t i = 0; i < items->n; i++) {
        const char *it = items->v[i];
        if (ipp_msgid_valid(it)) {
            if (!cli_strv_has(ids, it) && !cli_strv_push(ids, it))
                return CLI_FAILED;
            continue;
        }
        long n = cli_select_label(client, it, ids);
        if (n < 0)
            return (int)-n;
        if (n == 0) {
            cli_error("no task has a label matching '%s' (a dependency must be a msg_id or a "
                      "label pattern)",
                      it);
            return CLI_FAILED;
        }
    }
    return CLI_OK;
}

// Flags built from s_sub_t; points into it and into the id lists.
typedef struct s_flags_t {
    ipp_flags_t f;            // what the view gets
    ipp_dependency_t after;   // f.after
    ipp_dependency_t follow;  // f.follow
    cli_strv_t after_ids;     // resolved ids (owned)
    cli_strv_t follow_ids;    // resolved ids (owned)
} s_flags_t;

// s_flags: build the scheduler's flags (direct: label only). CLI_OK or
// an exit code.
static int s_flags(ipp_client_t *client, const s_sub_t *sub, bool direct, s_flags_t *fl)
{
    memset(fl, 0, sizeof *fl);
    ipp_dependency_t init = IPP_DEPENDENCY_INIT;
    fl->after = init;
    fl->follow = init;
    if (sub->label) {
        fl->f.set |= IPP_FLAG_LABEL;
        fl->f.label = sub->label;
    }
    if (direct)
        return CLI_OK;
    int rc = s_resolve(client, &sub->after, &fl->after_ids);
    if (rc == CLI_OK)
        rc = s_resolve(client, &sub->follow, &fl->follow_ids);
    if (rc != CLI_OK)
        return rc;
    if (fl->after_ids.n) {
        fl->after.ids = (const char *const *)fl->after_ids.v;
        fl->after.n_ids = fl->after_ids.n;
        fl->after.all = !sub->after_any;
        fl->after.failure = sub->after_failure;
        fl->f.set |= IPP_FLAG_AFTER;
        fl->f.after = &fl->after;
    }
    if (fl->follow_ids.n) {
        fl->follow.ids = (const char *const *)fl->follow_ids.v;
        fl->follow.n_ids = fl->follow_ids.n;
        fl->f.set |= IPP_FLAG_FOLLOW;
        fl->f.follow = &fl->follow;
    }
    if (sub->timeout > 0) {
        fl->f.set |= IPP_FLAG_TIMEOUT;
        fl->f.timeout = sub->timeout;
    }
    if (sub->has_retries) {
        fl->f.set |= IPP_FLAG_RETRIES;
        fl->f.retries = (int)sub->retries;
    }
    if (sub->n_targets) {
        fl->f.set |= IPP_FLAG_TARGETS;
        fl->f.targets = sub->targets;
        fl->f.n_targets = sub->n_targets;
    }
    if (sub->requires.n) {
        fl->f.set |= IPP_FLAG_REQUIRES;
        fl->f.requires = (const char *const *)sub->requires.v;
        fl->f.n_requires = sub->requires.n;
    }
    return CLI_OK;
}

static void s_flags_fini(s_flags_t *fl)
{
    cli_strv_fini(&fl->after_ids);
    cli_strv_fini(&fl->follow_ids);
}

// s_task_common: the command fields of sub into t.
static void s_task_common(const s_sub_t *sub, ipp_task_t *t)
{
    t->env = (const char *const *)sub->env.v;
    t->n_env = sub->env.n;
    t->cwd = sub->cwd;
    t->wall_limit = sub->limit;
}

// s_kind_check: exactly one way of saying what to run. CLI_OK or CLI_USAGE.
// s_build_task: the task sub describes, with words as its call arguments
// or argv. For a call, *bufs gets the argument array (caller frees; it
// borrows the words). false (message printed) when out of memory.
static bool s_build_task(const s_sub_t *sub, char **words, int n_words, ipp_task_t *t,
                         ipp_buf_t **bufs)
{
    memset(t, 0, sizeof *t);
    if (sub->call) {
        t->kind = IPP_TASK_CALL;
        t->function = sub->call;
        *bufs = calloc((size_t)(n_words ? n_words : 1), sizeof **bufs);
        if (!*bufs) {
            cli_error("out of memory");
            return false;
        }
        for (int i = 0; i < n_words; i++) {
            (*bufs)[i].data = words[i];
            (*bufs)[i].size = strlen(words[i]);
        }
        t->args = *bufs;
        t->n_args = (size_t)n_words;
    } else if (sub->shell) {
        t->kind = IPP_TASK_SHELL;
        t->shell = sub->shell;
        s_task_common(sub, t);
    } else {
        t->kind = IPP_TASK_ARGV;
        t->argv = (const char *const *)words;
        t->argc = (size_t)n_words;
        s_task_common(sub, t);
    }
    return true;
}

static int s_kind_check(const cli_cmd_t *cmd, const s_sub_t *sub, int n_words, bool map)
{
    if (sub->shell && sub->call)
        return cli_usage_error(cmd, "give --shell or --call, not both");
    if (sub->call && (sub->env.n || sub->cwd || sub->limit > 0))
        return cli_usage_error(cmd, "--env, --cwd and --limit are for commands, not --call");
    if (sub->shell && n_words)
        return cli_usage_error(cmd, "with --shell, the command line is its value; unexpected "
                                    "argument after it");
    if (!sub->shell && !sub->call && n_words == 0)
        return cli_usage_error(cmd, map ? "what to run? give a command template after --"
                                        : "what to run? give a command after --, or --shell "
                                          "or --call");
    return CLI_OK;
}

// Descriptions of the shared options, for the usage texts.
_Static_assert(IPP_RETRIES_MAX == 100, "--retries in S_DEP_HELP says 0 to 100");
#define S_DEP_HELP                                                                                 \
    "  --after IDS          run after these tasks finished (msg_ids or label\n"                    \
    "                       patterns, comma-separated; repeatable)\n"                              \
    "  --after-any          one of them is enough (default: all)\n"                                \
    "  --after-failure      a failed one counts too (default: only successes)\n"                   \
    "  --follow IDS         run where these tasks ran\n"                                           \
    "  --timeout S          fail (DependencyTimeout) if not runnable within S seconds\n"           \
    "  --retries N          further attempts after a failure (0 to 100)\n"                         \
    "  --targets LIST       engines it may run on, e.g. 0,2\n"                                     \
    "  --require X          what the engine must have: fn:NAME, cmd:PROGRAM, tag:T\n"
#define S_CMD_HELP                                                                                 \
    "  --shell STRING       run STRING with /bin/sh -c\n"                                          \
    "  --call FN            call the engine function FN with the arguments\n"                      \
    "  --env NAME=VALUE     add to the command's environment (repeatable)\n"                       \
    "  --cwd DIR            the command's working directory\n"                                     \
    "  --limit S            kill the command after S seconds\n"

// ------------------------------------------------------------ run

static const cli_cmd_t s_run_cmd = {
    "run",
    "usage: ipp run [options] [--] CMD [ARG...]\n"
    "       ipp run [options] --shell \"COMMAND LINE\"\n"
    "       ipp run [options] --call FN [ARG...]\n"
    "\n"
    "Submit one task to the load-balanced queue and print its msg_id once the\n"
    "controller has recorded it; with --wait, wait for it and print its output\n"
    "(stdout to stdout, stderr to stderr; a call's results one per line).\n"
    "\n"
    "options:\n" S_DEP_HELP S_CMD_HELP
    "  --label L            label the task (find it later with --label L)\n"
    "  --wait               wait for the task and print its output\n" CLI_COMMON_HELP "\n"
    "exit: 0 submitted (--wait: succeeded), 1 failed or refused, 2 usage, 3 no controller,\n" CLI_EXIT_INTERRUPTED,
};

#define S_SUB_OPTIONS                                                                              \
    {"after", required_argument, NULL, O_AFTER}, {"after-any", no_argument, NULL, O_AFTER_ANY},    \
        {"after-failure", no_argument, NULL, O_AFTER_FAILURE},                                     \
        {"follow", required_argument, NULL, O_FOLLOW},                                             \
        {"timeout", required_argument, NULL, O_TIMEOUT},                                           \
        {"retries", required_argument, NULL, O_RETRIES},                                           \
        {"label", required_argument, NULL, O_LABEL},                                               \
        {"targets", required_argument, NULL, O_TARGETS},                                           \
        {"require", required_argument, NULL, O_REQUIRE}, {"env", required_argument, NULL, O_ENV},  \
        {"cwd", required_argument, NULL, O_CWD}, {"limit", required_argument, NULL, O_LIMIT},      \
        {"shell", required_argument, NULL, O_SHELL},                                               \
    {                                                                                              \
        "call", required_argument, NULL, O_CALL                                                    \
    }

int cli_cmd_run(cli_t *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_COMMON_OPTIONS,
        S_SUB_OPTIONS,
        {"wait", no_argument, NULL, O_WAIT},
        {NULL, 0, NULL, 0},
    };
    s_sub_t sub = {0};
    int rc = CLI_USAGE;
    ipp_client_t *client = NULL;
    ipp_view_t *view = NULL;
    ipp_ar_t *ar = NULL;
    ipp_buf_t *bufs = NULL;
    s_flags_t fl = {0};
    int c;
    while ((c = cli_getopt(cli, &s_run_cmd, argc, argv, "+:h", opts)) != -1) {
        if (c == 'h') {
            rc = cli_help(&s_run_cmd);
            goto out;
        }
        int h = s_sub_option(&s_run_cmd, &sub, c, optarg);
        if (h <= 0)
            goto out;
    }
    int n_words = argc - optind;
    char **words = argv + optind;
    if ((rc = s_kind_check(&s_run_cmd, &sub, n_words, false)) != CLI_OK)
        goto out;
    if ((sub.after_any || sub.after_failure) && !sub.after.n) {
        rc = cli_usage_error(&s_run_cmd, "--after-any and --after-failure go with --after");
        goto out;
    }
    if ((rc = cli_connect(cli, &client)) != CLI_OK)
        goto out;
    ipp_error_t err;
    if ((rc = s_flags(client, &sub, false, &fl)) != CLI_OK)
        goto out;
    rc = CLI_FAILED;
    view = ipp_client_lb_view(client, &err);
    if (!view) {
        cli_error("%s", err.msg);
        goto out;
    }
    ipp_task_t t;
    if (!s_build_task(&sub, words, n_words, &t, &bufs))
        goto out;
    ar = ipp_view_submit(view, &t, &fl.f, &err);
    if (!ar) {
        cli_error("%s", err.msg);
        rc = cli_fail_code(err.code);
        goto out;
    }
    if ((rc = cli_wait_accepted(client, &ar, 1, NULL, "tasks", cli->timeout)) != CLI_OK)
        goto out;
    rc = CLI_FAILED;
    if (!sub.wait) {
        printf("%s\n", ipp_ar_msg_id(ar, 0));
        rc = CLI_OK;
        goto out;
    }
    if (cli_wait_progress(ar, IPP_FOREVER, false, &err) != IPP_OK) {
        if (cli_interrupted()) {
            rc = cli_left_running(ar);
            goto out;
        }
        cli_error("task %s: %s", ipp_ar_msg_id(ar, 0), err.msg);
        rc = cli_fail_code(err.code);
        goto out;
    }
    cli_print_output(ar, 0, stdout, stderr);
    rc = cli_print_failure(ar, 0, NULL) ? CLI_FAILED : CLI_OK;
out:
    ipp_ar_destroy(&ar);
    ipp_view_destroy(&view);
    ipp_client_destroy(&client);
    free(bufs);
    s_flags_fini(&fl);
    s_sub_fini(&sub);
    return rc;
}

// ------------------------------------------------------------ px

static const cli_cmd_t s_px_cmd = {
    "px",
    "usage: ipp px [options] [--] CMD [ARG...]\n"
    "       ipp px [options] --shell \"COMMAND LINE\" | --call FN [ARG...]\n"
    "\n"
    "Run the task once on every engine (or on --targets) through a direct view,\n"
    "wait, and print each engine's output under an [engine N] header (stderr\n"
    "under [engine N stderr] on stderr).\n"
    "\n"
    "options:\n"
    "  --targets LIST       engines to run on, e.g. 0,2 (default: all registered)\n" S_CMD_HELP
    "  --label L            label the tasks\n" CLI_COMMON_HELP "\n"
    "exit: 0 every engine succeeded, 1 one failed, 2 usage, 3 no controller,\n" CLI_EXIT_INTERRUPTED,
};

int cli_cmd_px(cli_t *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_COMMON_OPTIONS,
        {"targets", required_argument, NULL, O_TARGETS},
        {"label", required_argument, NULL, O_LABEL},
        {"env", required_argument, NULL, O_ENV},
        {"cwd", required_argument, NULL, O_CWD},
        {"limit", required_argument, NULL, O_LIMIT},
        {"shell", required_argument, NULL, O_SHELL},
        {"call", required_argument, NULL, O_CALL},
        {NULL, 0, NULL, 0},
    };
    s_sub_t sub = {0};
    int rc = CLI_USAGE;
    ipp_client_t *client = NULL;
    ipp_view_t *view = NULL;
    ipp_ar_t *ar = NULL;
    ipp_buf_t *bufs = NULL;
    s_flags_t fl = {0};
    int c;
    while ((c = cli_getopt(cli, &s_px_cmd, argc, argv, "+:h", opts)) != -1) {
        if (c == 'h') {
            rc = cli_help(&s_px_cmd);
            goto out;
        }
        if (s_sub_option(&s_px_cmd, &sub, c, optarg) <= 0)
            goto out;
    }
    int n_words = argc - optind;
    char **words = argv + optind;
    if ((rc = s_kind_check(&s_px_cmd, &sub, n_words, false)) != CLI_OK)
        goto out;
    if ((rc = cli_connect(cli, &client)) != CLI_OK)
        goto out;
    rc = CLI_FAILED;
    ipp_error_t err;
    s_flags(client, &sub, true, &fl);
    if (sub.n_targets) {
        view = ipp_client_direct_view(client, sub.targets, sub.n_targets, &err);
    } else {
        if (ipp_client_ids(client, NULL, 0) == 0) {
            cli_error("no engines are registered");
            goto out;
        }
        view = ipp_client_direct_view(client, NULL, 0, &err);
    }
    if (!view) {
        cli_error("%s", err.msg);
        goto out;
    }
    ipp_task_t t;
    if (!s_build_task(&sub, words, n_words, &t, &bufs))
        goto out;
    ar = ipp_view_submit(view, &t, &fl.f, &err);
    if (!ar) {
        cli_error("%s", err.msg);
        rc = cli_fail_code(err.code);
        goto out;
    }
    if ((rc = cli_wait_accepted(client, &ar, 1, NULL, "tasks", cli->timeout)) != CLI_OK)
        goto out;
    rc = CLI_FAILED;
    if (cli_wait_progress(ar, IPP_FOREVER, false, &err) != IPP_OK) {
        if (cli_interrupted()) {
            rc = cli_left_running(ar);
            goto out;
        }
        cli_error("%s", err.msg);
        rc = cli_fail_code(err.code);
        goto out;
    }
    int targets[1024];
    size_t nt = ipp_view_targets(view, targets, 1024);
    bool failed = false;
    for (size_t i = 0; i < ipp_ar_len(ar); i++) {
        ipp_metadata_t md;
        ipp_ar_metadata(ar, i, &md);
        int engine = md.engine_id >= 0 ? md.engine_id : (i < nt ? targets[i] : -1);
        printf("[engine %d]\n", engine);
        fflush(stdout);
        if (md.stderr_len) {
            fprintf(stderr, "[engine %d stderr]\n", engine);
            fflush(stderr);
        }
        cli_print_output(ar, i, stdout, stderr);
        char what[64];
        snprintf(what, sizeof what, "engine %d", engine);
        failed |= cli_print_failure(ar, i, what);
    }
    rc = failed ? CLI_FAILED : CLI_OK;
out:
    ipp_ar_destroy(&ar);
    ipp_view_destroy(&view);
    ipp_client_destroy(&client);
    free(bufs);
    s_flags_fini(&fl);
    s_sub_fini(&sub);
    return rc;
}

// ------------------------------------------------------------ map

static const cli_cmd_t s_map_cmd = {
    "map",
    "usage: ipp map [options] [--] CMD [ARG...] ::: ITEM...\n"
    "       ipp map [options] [--] CMD [ARG...] < items     (one item per line)\n"
    "       ipp map [options] --shell \"COMMAND LINE\" ::: ITEM...\n"
    "       ipp map [options] --call FN [ARG...] ::: ITEM...\n"
    "\n"
    "Submit one load-balanced task per item: {} in the command (or its arguments)\n"
    "is replaced by the item (in a --shell line, by the item quoted for the shell);\n"
    "without {} the item is added as the last argument. Items come after ':::' or,\n"
    "without ':::', from stdin one per line (empty lines skipped). Waits (a progress\n"
    "bar on a terminal) and prints every item's output in item order.\n"
    "\n"
    "options:\n" S_DEP_HELP S_CMD_HELP "  --label L            label every task L\n" CLI_COMMON_HELP
    "\n"
    "exit: 0 every item succeeded, 1 one failed, 2 usage, 3 no controller,\n" CLI_EXIT_INTERRUPTED,
};

// s_subst: word with every {} replaced by item (quoted with quote); NULL
// when out of memory. *hit is set when a {} was found.
static char *s_subst(const char *word, const char *item, bool *hit)
{
    size_t ilen = strlen(item), n = 0;
    for (const char *p = strstr(word, "{}"); p; p = strstr(p + 2, "{}"))
        n++;
    if (n)
        *hit = true;
    size_t len = strlen(word) + n * ilen + 1;
    char *out = malloc(len);
    if (!out)
        return NULL;
    char *w = out;
    for (const char *p = word; *p;) {
        if (p[0] == '{' && p[1] == '}') {
            memcpy(w, item, ilen);
            w += ilen;
            p += 2;
        } else {
            *w++ = *p++;
        }
    }
    *w = '\0';
    return out;
}

// s_read_items: one item per line of f (without the newline; empty lines
// skipped) into items. false when out of memory.
static bool s_read_items(FILE *f, cli_strv_t *items)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    bool ok = true;
    while (ok && (n = getline(&line, &cap, f)) >= 0) {
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (n > 0)
            ok = cli_strv_push(items, line);
    }
    free(line);
    return ok;
}

int cli_cmd_map(cli_t *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_COMMON_OPTIONS,
        S_SUB_OPTIONS,
        {NULL, 0, NULL, 0},
    };
    s_sub_t sub = {0};
    int rc = CLI_USAGE;
    ipp_client_t *client = NULL;
    ipp_view_t *view = NULL;
    ipp_ar_t *ar = NULL;
    cli_strv_t items = {0}, strings = {0};
    ipp_task_t *tasks = NULL;
    char **vecs = NULL;  // per item: its argv (or call args), words entries each
    ipp_buf_t *bufs = NULL;
    s_flags_t fl = {0};
    int c;
    while ((c = cli_getopt(cli, &s_map_cmd, argc, argv, "+:h", opts)) != -1) {
        if (c == 'h') {
            rc = cli_help(&s_map_cmd);
            goto out;
        }
        if (s_sub_option(&s_map_cmd, &sub, c, optarg) <= 0)
            goto out;
    }
    int n_words = 0;
    char **words = argv + optind;
    bool marker = false;
    for (int i = optind; i < argc; i++) {
        if (strcmp(argv[i], ":::") == 0) {
            marker = true;
            for (int k = i + 1; k < argc; k++) {
                if (!cli_strv_push(&items, argv[k])) {
                    rc = CLI_FAILED;
                    goto out;
                }
            }
            break;
        }
        n_words++;
    }
    if ((rc = s_kind_check(&s_map_cmd, &sub, n_words, true)) != CLI_OK)
        goto out;
    if ((sub.after_any || sub.after_failure) && !sub.after.n) {
        rc = cli_usage_error(&s_map_cmd, "--after-any and --after-failure go with --after");
        goto out;
    }
    if (marker && items.n == 0) {
        rc = cli_usage_error(&s_map_cmd, "no items after ':::'");
        goto out;
    }
    if (!marker && !s_read_items(stdin, &items)) {
        cli_error("out of memory");
        rc = CLI_FAILED;
        goto out;
    }
    if (items.n == 0) {
        rc = CLI_OK;  // nothing to do
        goto out;
    }
    if ((rc = cli_connect(cli, &client)) != CLI_OK)
        goto out;
    if ((rc = s_flags(client, &sub, false, &fl)) != CLI_OK)
        goto out;
    rc = CLI_FAILED;
    ipp_error_t err;
    size_t n = items.n;
    size_t per = sub.shell ? 1 : (size_t)n_words + 1;  // + the item when there is no {}
    tasks = calloc(n, sizeof *tasks);
    vecs = calloc(n * (per + 1), sizeof *vecs);
    bufs = sub.call ? calloc(n * per, sizeof *bufs) : NULL;
    if (!tasks || !vecs || (sub.call && !bufs)) {
        cli_error("out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const char *item = items.v[i];
        char **vec = vecs + i * (per + 1);
        size_t k = 0;
        bool hit = false;
        ipp_task_t *t = &tasks[i];
        if (sub.shell) {
            char *q = cli_shell_quote(item);
            char *line = q ? s_subst(sub.shell, q, &hit) : NULL;
            if (line && !hit) {
                size_t len = strlen(line) + strlen(q) + 2;
                char *l2 = malloc(len);
                if (l2)
                    snprintf(l2, len, "%s %s", line, q);
                free(line);
                line = l2;
            }
            free(q);
            if (!cli_strv_push_own(&strings, line)) {
                cli_error("out of memory");
                goto out;
            }
            t->kind = IPP_TASK_SHELL;
            t->shell = line;
            s_task_common(&sub, t);
            continue;
        }
        for (int w = 0; w < n_words; w++) {
            char *s = s_subst(words[w], item, &hit);
            if (!cli_strv_push_own(&strings, s)) {
                cli_error("out of memory");
                goto out;
            }
            vec[k++] = s;
        }
        if (!hit)
            vec[k++] = (char *)item;
        vec[k] = NULL;
        if (sub.call) {
            for (size_t a = 0; a < k; a++) {
                bufs[i * per + a].data = vec[a];
                bufs[i * per + a].size = strlen(vec[a]);
            }
            t->kind = IPP_TASK_CALL;
            t->function = sub.call;
            t->args = bufs + i * per;
            t->n_args = k;
        } else {
            t->kind = IPP_TASK_ARGV;
            t->argv = (const char *const *)vec;
            t->argc = k;
            s_task_common(&sub, t);
        }
    }
    view = ipp_client_lb_view(client, &err);
    if (!view) {
        cli_error("%s", err.msg);
        goto out;
    }
    ar = ipp_view_map_tasks(view, tasks, n, &fl.f, &err);
    if (!ar) {
        cli_error("%s", err.msg);
        rc = cli_fail_code(err.code);
        goto out;
    }
    if ((rc = cli_wait_accepted(client, &ar, 1, NULL, "tasks", cli->timeout)) != CLI_OK)
        goto out;
    rc = CLI_FAILED;
    if (cli_wait_progress(ar, IPP_FOREVER, true, &err) != IPP_OK) {
        if (cli_interrupted()) {
            rc = cli_left_running(ar);
            goto out;
        }
        cli_error("%s", err.msg);
        rc = cli_fail_code(err.code);
        goto out;
    }
    // Every output in item order; the first failures named, then a count.
    size_t failed = 0;
    for (size_t i = 0; i < n; i++) {
        cli_print_output(ar, i, stdout, stderr);
        if (ipp_ar_status(ar, i) == IPP_STATUS_OK)
            continue;
        if (++failed <= 20) {
            char what[200];
            snprintf(what, sizeof what, "item '%.150s'", items.v[i]);
            cli_print_failure(ar, i, what);
        }
    }
    if (failed > 1)
        cli_error("%zu of %zu items failed", failed, n);
    rc = failed ? CLI_FAILED : CLI_OK;
out:
    ipp_ar_destroy(&ar);
    ipp_view_destroy(&view);
    ipp_client_destroy(&client);
    free(tasks);
    free(vecs);
    free(bufs);
    cli_strv_fini(&items);
    cli_strv_fini(&strings);
    s_flags_fini(&fl);
    s_sub_fini(&sub);
    return rc;
}
