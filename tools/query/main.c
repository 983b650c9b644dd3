/* main.c — ipp-query: parse the command line, open the source, run one
 * subcommand, exit with its status.
 *
 * Every argument is checked before anything is asked (a bad option, a
 * malformed query JSON, an unknown key or time is a usage error, exit 2,
 * whether or not a controller runs). Options may come before or after the
 * subcommand. The only process-wide state is here, in main's locals; the
 * only exit is main's return.
 */
#include "tools/query/commands.h"

#include "db/query.h"
#include "db/record.h"
#include "proto/clock.h"
#include "proto/conn.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

// ---------------------------------------------------------------- help

static const char s_usage[] = "usage: ipp-query [options] SUBCOMMAND [ARGS...]\n";

static const char s_help[] =
    "usage: ipp-query [options] SUBCOMMAND [ARGS...]\n"
    "\n"
    "Query the ipp task database: online through the controller (the default),\n"
    "or offline and read-only on the database file with --db PATH, whether the\n"
    "controller is running or not (it is never written to).\n"
    "\n"
    "subcommands:\n"
    "  result_status ID...     where each task stands (pending, completed, unknown)\n"
    "                          and how it ended\n"
    "  queue_status            each engine's queue (needs the controller)\n"
    "  history                 every msg_id, in submission order\n"
    "  get ID...               whole records: times, engine, stdout, stderr, error,\n"
    "                          result values\n"
    "  db QUERY_JSON           records matching a db_query\n"
    "  audit                   completed tasks: who submitted them (submitted_by: the\n"
    "                          Curve key's name, or the user the header claims,\n"
    "                          marked self-declared), the engine, start, end,\n"
    "                          duration, status, label\n"
    "  verify                  walk the audit chain of the database file\n"
    "  gantt --svg FILE        the task stream as an SVG picture: a row per engine,\n"
    "                          a bar per task from start to end, coloured by status\n"
    "  dag --label PREFIX --svg FILE | --dot FILE\n"
    "                          a workflow's DAG (the tasks whose label starts with\n"
    "                          PREFIX) as SVG or Graphviz DOT, nodes by state\n"
    "  help [SUBCOMMAND]       this text, or a subcommand's\n"
    "\n"
    "where to ask:\n"
    "  --profile NAME          the controller of $IPP_DIR/profile_NAME (default:\n"
    "                          default; $IPP_DIR defaults to ~/.ipp)\n"
    "  --connection FILE       the controller of this client connection file\n"
    "  --db PATH               read this database file instead (read-only)\n"
    "  --timeout S             seconds to wait for the controller (default 5)\n"
    "\n"
    "output (timestamps are ISO 8601 UTC in every format):\n"
    "  --table                 aligned columns (the default; on a terminal, long\n"
    "                          cells are cut with '...')\n"
    "  --json                  one JSON object per line\n"
    "  --csv                   RFC 4180: a header row, then one row per record\n"
    "\n"
    "selection (wherever ids are taken, and for history and audit):\n"
    "  --label PATTERN         tasks whose label matches the glob PATTERN (* ? [..])\n"
    "                          (gantt: a glob or a label prefix; dag: a prefix)\n"
    "\n"
    "pictures (gantt, dag; each file is written whole or not at all):\n"
    "  --svg FILE              write an SVG picture to FILE\n"
    "  --dot FILE              dag: write the graph as Graphviz DOT text to FILE\n"
    "\n"
    "exit status:\n"
    "  0  done\n"
    "  1  result_status or get: a task asked about failed (error, aborted,\n"
    "     unreachable, lost) or is unknown; verify: the audit chain is broken;\n"
    "     gantt, dag: no task matched (no file written)\n"
    "  2  usage error: a bad option or argument, a malformed query, an unknown key,\n"
    "     a subcommand that cannot run where asked (queue_status with --db)\n"
    "  3  the controller did not answer (or has no connection file), the database\n"
    "     file is missing or unreadable, or the output (or FILE) could not be\n"
    "     written\n"
    "\n"
    "'ipp-query SUBCOMMAND --help' tells more about each subcommand.\n";

// One subcommand: its name, what it takes, its help.
typedef struct {
    const char *name;  // as typed
    unsigned opts;     // S_O_* bits of the options it accepts
    size_t min_pos;    // fewest positional arguments
    size_t max_pos;    // most (SIZE_MAX: any)
    bool needs_ids;    // positional ids or --label required
    const char *help;  // its --help text
} s_cmd_t;

// Options beyond the common ones (where to ask, output format, --help).
enum {
    S_O_LABEL = 1 << 0,
    S_O_KEYS = 1 << 1,
    S_O_LIMIT = 1 << 2,
    S_O_SINCE = 1 << 3,
    S_O_UNTIL = 1 << 4,
    S_O_VERBOSE = 1 << 5,
    S_O_SVG = 1 << 6,
    S_O_DOT = 1 << 7,
};

static const s_cmd_t s_cmds[] = {
    {"result_status", S_O_LABEL, 0, SIZE_MAX, true,
     "usage: ipp-query result_status [--label PATTERN] [options] ID...\n"
     "\n"
     "Where each task stands. Columns: msg_id; state: pending, completed or unknown\n"
     "(as the controller's result_status says: online, a task whose result is\n"
     "recorded but not yet delivered is still pending); status: pending, ok, error,\n"
     "aborted, unreachable, lost or unknown; label; engine_id; completed (when).\n"
     "--label PATTERN adds every task whose label matches the glob.\n"
     "\n"
     "Exit status 1 when a task failed (error, aborted, unreachable, lost) or is\n"
     "unknown (also: a --label that matches nothing); 0 when all are ok or pending.\n"},
    {"queue_status", S_O_VERBOSE, 0, 0, false,
     "usage: ipp-query queue_status [--verbose] [options]\n"
     "\n"
     "Each engine's queue: engine id, tasks queued for it, running on it, completed\n"
     "by it; a last row 'unassigned' counts the tasks the scheduler has not given\n"
     "to any engine yet. --verbose adds the msg_ids (queued_ids, running_ids).\n"
     "\n"
     "The queues live in the controller's memory: this needs the controller, and\n"
     "with --db it is a usage error (exit 2).\n"},
    {"history", S_O_LABEL, 0, 0, false,
     "usage: ipp-query history [--label PATTERN] [options]\n"
     "\n"
     "Every msg_id recorded, in submission order (one column, msg_id). --label\n"
     "keeps the tasks whose label matches the glob.\n"},
    {"get", S_O_LABEL, 0, SIZE_MAX, true,
     "usage: ipp-query get [--label PATTERN] [options] ID...\n"
     "\n"
     "Whole records: msg_id, status, label, queue, engine_id, engine_uuid,\n"
     "client_uuid, user (offline only: the controller's db_query does not return\n"
     "the request header it is read from), submitted, started, completed,\n"
     "received, duration (s), attempts, execute_input, after, follow, error\n"
     "('ename: evalue'), traceback, stdout, stderr, result: the values a\n"
     "finished task returned (text, or {\"base64\": ...} for bytes that are not\n"
     "UTF-8), and summary: a readable form of the value when the engine gave one\n"
     "(a Python task's repr; the record's execute_result). As a table, each record is shown as 'name  value' lines. Does not\n"
     "wait for pending tasks. Unknown ids get status 'unknown'.\n"
     "\n"
     "Exit status 1 when a task failed or is unknown.\n"},
    {"db", S_O_KEYS | S_O_LIMIT, 1, 1, false,
     "usage: ipp-query db QUERY_JSON [--keys K1,K2,...] [--limit N] [options]\n"
     "\n"
     "Records matching a db_query, in submission order. QUERY_JSON is a JSON\n"
     "object of TaskRecord keys to a value or to operators $lt $lte $gt $gte $eq\n"
     "$ne $in $nin $glob (ANDed); null tests IS NULL ({\"$ne\": null}: IS NOT NULL);\n"
     "timestamps take µs or ISO 8601 strings. '{}' matches everything. Example:\n"
     "  ipp-query db '{\"status\": \"error\", \"completed\": {\"$gte\": \"2026-01-01\"}}'\n"
     "--keys picks the columns (msg_id always comes first); without it every key\n"
     "but the byte columns (header, content, buffers, result_header,\n"
     "result_content, result_buffers, chain_hash). --limit N: at most N records.\n"
     "A malformed query or an unknown key is a usage error (exit 2) naming what is\n"
     "wrong.\n"},
    {"audit", S_O_SINCE | S_O_UNTIL | S_O_LABEL | S_O_LIMIT, 0, 0, false,
     "usage: ipp-query audit [--since T] [--until T] [--label PATTERN] [--limit N]\n"
     "                       [options]\n"
     "\n"
     "Completed tasks (every status but pending), in submission order: msg_id,\n"
     "client_uuid and user (who submitted it; user offline only, see get), engine_id,\n"
     "started, completed, duration (s), status, label. --since/--until keep tasks\n"
     "completed at or after / before T: an ISO 8601 time (2026-01-02T03:04:05Z, a\n"
     "date, an offset) or a span back from now: 90s, 15m, 2h, 7d.\n"
     "Online the rows come from the controller's db_query; with --db from the file.\n"
     "'ipp-query verify' proves the records were not altered.\n"},
    {"verify", 0, 0, 0, false,
     "usage: ipp-query verify [--db PATH | --profile NAME | --connection FILE]\n"
     "\n"
     "Walk the audit chain: every completed record's hash chained to the one\n"
     "before, across recorded purges, up to the recorded head. Prints 'audit chain\n"
     "intact: N records' and exits 0, or names the first record altered, inserted\n"
     "or removed and exits 1.\n"
     "\n"
     "verify always reads the database file itself, read-only (it does not ask the\n"
     "controller, which may be running or not): --db PATH, else the profile's\n"
     "$IPP_DIR/profile_NAME/db/tasks.db, else with --connection FILE the db/tasks.db\n"
     "of the profile folder holding FILE (FILE/../../db/tasks.db). A controller\n"
     "started with its own --db needs the same --db here. Exit 3 if the file is\n"
     "missing or unreadable.\n"},
    {"gantt", S_O_SVG | S_O_LABEL | S_O_SINCE, 0, 0, false,
     "usage: ipp-query gantt --svg FILE [--label PATTERN] [--since T] [options]\n"
     "\n"
     "The task stream of past work as an SVG picture in FILE, for viewing without\n"
     "a browser at hand (any image viewer shows it): a row per engine that ran\n"
     "tasks (<g class=\"engine-row\" data-engine=\"N\">), a bar per task from its\n"
     "start to its end (<rect class=\"task STATUS\" data-msg-id=\"ID\">), coloured\n"
     "by status as the dashboard colours them, with the label, msg_id and times as\n"
     "its tooltip; a time axis (offsets from the first start) and a legend. Tasks\n"
     "never started are not drawn, nor are those still running (the controller\n"
     "records a task's start with its result).\n"
     "\n"
     "--label PATTERN keeps the tasks whose label matches: a glob when PATTERN has\n"
     "* ? or [, else a label prefix ('wf/' draws every task labelled wf/...).\n"
     "--since T keeps the tasks completed at or after T: an ISO 8601 time or a\n"
     "span back from now (90s, 15m, 2h, 7d). Without them every task that ran is\n"
     "drawn: on a large database, narrow it.\n"
     "\n"
     "FILE is written whole or not at all (a temporary file beside it, renamed).\n"
     "Prints 'FILE: N tasks on M engines'. Exit 1 when no task matched (nothing\n"
     "is written), 3 when FILE cannot be written, 2 without --svg FILE.\n"},
    {"dag", S_O_SVG | S_O_DOT | S_O_LABEL, 0, 0, false,
     "usage: ipp-query dag --label PREFIX (--svg FILE | --dot FILE) [options]\n"
     "\n"
     "A workflow's DAG: every task whose label starts with PREFIX (as 'ipp dag'\n"
     "labels a workflow's tasks; * ? [ in PREFIX are literal), laid out by\n"
     "Graphviz as the dashboard's workflow page draws it. A node per task (<g\n"
     "class=\"node state-STATUS\" id=\"task-ID\">) coloured by its state, the last\n"
     "part of its label as its text; after edges solid, follow edges dashed\n"
     "(class \"edge after\" or \"edge follow\"). Edges come from each task's\n"
     "after and follow ids that are in the workflow.\n"
     "\n"
     "--svg FILE writes the SVG picture, --dot FILE the Graphviz DOT text (for\n"
     "'dot -Tpng' and friends); give one or both. At most 5000 tasks.\n"
     "\n"
     "Each FILE is written whole or not at all (a temporary file beside it,\n"
     "renamed). Prints 'FILE: N tasks, M edges'. Exit 1 when no task's label\n"
     "starts with PREFIX (nothing is written), 3 when FILE cannot be written, 2\n"
     "without --label or without a FILE, or when PREFIX picks too many tasks.\n"},
};

static const s_cmd_t *s_find_cmd(const char *name)
{
    for (size_t i = 0; i < sizeof s_cmds / sizeof *s_cmds; i++)
        if (strcmp(s_cmds[i].name, name) == 0)
            return &s_cmds[i];
    return NULL;
}

// ---------------------------------------------------------------- parsing

enum {
    O_HELP = 'h',
    O_VERBOSE = 'v',
    O_PROFILE = 256,
    O_CONNECTION,
    O_DB,
    O_TIMEOUT,
    O_JSON,
    O_CSV,
    O_TABLE,
    O_LABEL,
    O_KEYS,
    O_LIMIT,
    O_SINCE,
    O_UNTIL,
    O_SVG,
    O_DOT,
};

static const struct option s_longopts[] = {
    {"help", no_argument, NULL, O_HELP},
    {"verbose", no_argument, NULL, O_VERBOSE},
    {"profile", required_argument, NULL, O_PROFILE},
    {"connection", required_argument, NULL, O_CONNECTION},
    {"db", required_argument, NULL, O_DB},
    {"timeout", required_argument, NULL, O_TIMEOUT},
    {"json", no_argument, NULL, O_JSON},
    {"csv", no_argument, NULL, O_CSV},
    {"table", no_argument, NULL, O_TABLE},
    {"label", required_argument, NULL, O_LABEL},
    {"keys", required_argument, NULL, O_KEYS},
    {"limit", required_argument, NULL, O_LIMIT},
    {"since", required_argument, NULL, O_SINCE},
    {"until", required_argument, NULL, O_UNTIL},
    {"svg", required_argument, NULL, O_SVG},
    {"dot", required_argument, NULL, O_DOT},
    {NULL, 0, NULL, 0},
};

// Everything the command line said, before it is checked against the
// subcommand.
typedef struct {
    bool help;               // --help
    const char *profile;     // --profile
    const char *connection;  // --connection
    const char *db;          // --db
    double timeout;          // --timeout (0: default)
    unsigned given;          // S_O_* bits of the options given
    const char *keys_text;   // --keys as typed
    const char *since_text;  // --since as typed
    const char *until_text;  // --until as typed
    int formats;             // how many of --json/--csv/--table
} s_cli_t;

// s_usage_error: print a usage error (the message, then the usage line);
// returns Q_EXIT_USAGE.
static int s_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int s_usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("ipp-query: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n%s(ipp-query --help for more)\n", s_usage);
    return Q_EXIT_USAGE;
}

// s_parse_count: a positive integer; false if text is not one.
static bool s_parse_count(const char *text, int64_t *out)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno || end == text || *end || v <= 0)
        return false;
    *out = v;
    return true;
}

// s_parse_time: an ISO 8601 time, or a span back from now ("90s", "15m",
// "2h", "7d", fractions allowed), into *us.
static bool s_parse_time(const char *text, int64_t *us)
{
    if (ipp_clock_parse_iso(text, us) == 0)
        return true;
    char *end = NULL;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || v < 0 || !end[0] || end[1])
        return false;
    double unit;
    switch (end[0]) {
    case 's':
        unit = 1;
        break;
    case 'm':
        unit = 60;
        break;
    case 'h':
        unit = 3600;
        break;
    case 'd':
        unit = 86400;
        break;
    default:
        return false;
    }
    if (v * unit > 1e11)  // over 3,000 years: surely a mistake
        return false;
    *us = ipp_clock_now_us() - (int64_t)(v * unit * 1e6);
    return true;
}

// s_parse_keys: "k1,k2" into a JSON array of known key names (*keys,
// caller owns it). Returns an exit status.
static int s_parse_keys(const char *text, json_t **keys)
{
    json_t *a = json_array();
    char *copy = strdup(text);
    int ex = Q_EXIT_OK;
    if (!a || !copy) {
        fprintf(stderr, "ipp-query: out of memory\n");
        ex = Q_EXIT_UNREACHABLE;
        goto out;
    }
    char *save = NULL;
    for (char *k = strtok_r(copy, ",", &save); k; k = strtok_r(NULL, ",", &save)) {
        while (*k == ' ')
            k++;
        for (char *e = k + strlen(k); e > k && e[-1] == ' ';)
            *--e = '\0';
        if (!*k)
            continue;
        if (db_key_lookup(k) < 0) {
            char known[1024] = "";
            for (int i = 0; i < DB_KEY__COUNT; i++) {
                size_t l = strlen(known);
                snprintf(known + l, sizeof known - l, "%s%s", i ? ", " : "",
                         db_key_info((db_key_t)i)->name);
            }
            ex = s_usage_error("--keys: unknown key '%s' (keys: %s)", k, known);
            goto out;
        }
        json_array_append_new(a, json_string(k));
    }
    if (json_array_size(a) == 0) {
        ex = s_usage_error("--keys: no key names in '%s'", text);
        goto out;
    }
    *keys = a;
    a = NULL;
out:
    json_decref(a);
    free(copy);
    return ex;
}

// s_profile_name_ok: name is what conn_profile_dir accepts as a profile.
static bool s_profile_name_ok(const char *name)
{
    if (!name[0] || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return false;
    for (const char *p = name; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_' && *p != '.')
            return false;
    return true;
}

// s_check_opts: every option given is one cmd takes; an exit status.
static int s_check_opts(const s_cmd_t *cmd, unsigned given)
{
    static const struct {
        unsigned bit;
        const char *name;
    } names[] = {{S_O_LABEL, "--label"}, {S_O_KEYS, "--keys"},   {S_O_LIMIT, "--limit"},
                 {S_O_SINCE, "--since"}, {S_O_UNTIL, "--until"}, {S_O_VERBOSE, "--verbose"},
                 {S_O_SVG, "--svg"},     {S_O_DOT, "--dot"}};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if ((given & names[i].bit) && !(cmd->opts & names[i].bit))
            return s_usage_error("%s does not take %s (ipp-query %s --help)", cmd->name,
                                 names[i].name, cmd->name);
    return Q_EXIT_OK;
}

// s_verify_path: where verify reads: --db, else the profile's database,
// else the one beside --connection's security/ folder, into buf.
static int s_verify_path(const s_cli_t *cli, char *buf, size_t size)
{
    if (cli->db) {
        snprintf(buf, size, "%s", cli->db);
        return Q_EXIT_OK;
    }
    if (cli->connection) {
        char copy[4096];
        snprintf(copy, sizeof copy, "%s", cli->connection);
        char *security = dirname(copy);  // …/profile_NAME/security
        char copy2[4096];
        snprintf(copy2, sizeof copy2, "%s", security);
        char *profile = dirname(copy2);  // …/profile_NAME
        if ((size_t)snprintf(buf, size, "%s/db/tasks.db", profile) >= size)
            return s_usage_error("--connection: path too long");
        return Q_EXIT_OK;
    }
    char dir[4096];
    ipp_error_t err;
    if (conn_profile_dir(NULL, cli->profile, dir, sizeof dir, &err) != IPP_OK)
        return s_usage_error("%s", err.msg);
    if ((size_t)snprintf(buf, size, "%s/db/tasks.db", dir) >= size)
        return s_usage_error("profile path too long");
    return Q_EXIT_OK;
}

// s_run: open the source cmd needs and run it; an exit status.
static int s_run(const s_cmd_t *cmd, const s_cli_t *cli, const q_args_t *a)
{
    if (strcmp(cmd->name, "verify") == 0) {
        char path[4096];
        int ex = s_verify_path(cli, path, sizeof path);
        return ex != Q_EXIT_OK ? ex : q_cmd_verify(path, a, stdout, stderr);
    }
    ipp_error_t err;
    q_source_t *src = NULL;
    if (cli->db) {
        if (strcmp(cmd->name, "queue_status") == 0)
            return s_usage_error("queue_status needs the controller: the queues are in its "
                                 "memory, not in the database file (leave out --db)");
        if (!(src = q_source_offline(cli->db, &err))) {
            fprintf(stderr, "ipp-query: cannot read the database: %s\n", err.msg);
            return Q_EXIT_UNREACHABLE;
        }
    } else {
        ipp_client_opts_t o = {0};
        o.connection_file = cli->connection;
        o.profile = cli->profile;
        o.timeout = cli->timeout > 0 ? cli->timeout : 5.0;
        o.log_level = IPP_LOG_LEVEL_ERROR;
        if (!(src = q_source_online(&o, &err))) {
            fprintf(stderr, "ipp-query: cannot reach the controller: %s\n", err.msg);
            return err.code == IPP_ERR_INVALID ? Q_EXIT_USAGE : Q_EXIT_UNREACHABLE;
        }
    }
    int ex;
    if (strcmp(cmd->name, "result_status") == 0)
        ex = q_cmd_result_status(src, a, stdout, stderr);
    else if (strcmp(cmd->name, "queue_status") == 0)
        ex = q_cmd_queue_status(src, a, stdout, stderr);
    else if (strcmp(cmd->name, "history") == 0)
        ex = q_cmd_history(src, a, stdout, stderr);
    else if (strcmp(cmd->name, "get") == 0)
        ex = q_cmd_get(src, a, stdout, stderr);
    else if (strcmp(cmd->name, "db") == 0)
        ex = q_cmd_db(src, a, stdout, stderr);
    else if (strcmp(cmd->name, "gantt") == 0)
        ex = q_cmd_gantt(src, a, stdout, stderr);
    else if (strcmp(cmd->name, "dag") == 0)
        ex = q_cmd_dag(src, a, stdout, stderr);
    else
        ex = q_cmd_audit(src, a, stdout, stderr);
    q_source_destroy(&src);
    return ex;
}

int main(int argc, char **argv)
{
    s_cli_t cli = {0};
    q_args_t a = {0};
    a.format = FMT_TABLE;
    int ex = Q_EXIT_OK;
    opterr = 0;  // our own messages, with the usage line
    int c;
    // Leading ':' reports a missing value as ':'; options may follow the
    // subcommand (GNU permutation).
    while ((c = getopt_long(argc, argv, ":hv", s_longopts, NULL)) != -1) {
        switch (c) {
        case O_HELP:
            cli.help = true;
            break;
        case O_VERBOSE:
            a.verbose = true;
            cli.given |= S_O_VERBOSE;
            break;
        case O_PROFILE:
            cli.profile = optarg;
            break;
        case O_CONNECTION:
            cli.connection = optarg;
            break;
        case O_DB:
            cli.db = optarg;
            break;
        case O_TIMEOUT: {
            char *end = NULL;
            cli.timeout = strtod(optarg, &end);
            if (end == optarg || *end || !(cli.timeout > 0) || cli.timeout > 86400)
                return s_usage_error("--timeout: '%s' is not a number of seconds", optarg);
            break;
        }
        case O_JSON:
        case O_CSV:
        case O_TABLE:
            a.format = c == O_JSON ? FMT_JSON : c == O_CSV ? FMT_CSV : FMT_TABLE;
            a.format_given = true;
            cli.formats++;
            break;
        case O_LABEL:
            a.label = optarg;
            cli.given |= S_O_LABEL;
            if (!optarg[0] || !fmt_utf8_valid(optarg, strlen(optarg)))
                return s_usage_error("--label: empty pattern, or not UTF-8 text");
            break;
        case O_KEYS:
            cli.keys_text = optarg;
            cli.given |= S_O_KEYS;
            break;
        case O_LIMIT:
            cli.given |= S_O_LIMIT;
            if (!s_parse_count(optarg, &a.limit))
                return s_usage_error("--limit: '%s' is not a positive whole number", optarg);
            break;
        case O_SINCE:
            cli.given |= S_O_SINCE;
            cli.since_text = optarg;
            break;
        case O_UNTIL:
            cli.given |= S_O_UNTIL;
            cli.until_text = optarg;
            break;
        case O_SVG:
        case O_DOT:
            cli.given |= c == O_SVG ? S_O_SVG : S_O_DOT;
            if (!optarg[0])
                return s_usage_error("--%s: an empty file name", c == O_SVG ? "svg" : "dot");
            if (c == O_SVG)
                a.svg = optarg;
            else
                a.dot = optarg;
            break;
        case ':':
            return s_usage_error("option '%s' needs a value", argv[optind - 1]);
        default:
            if (optopt)
                return s_usage_error("unknown option '-%c'", optopt);
            return s_usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    char **pos = argv + optind;
    size_t n_pos = (size_t)(argc - optind);
    if (n_pos == 0) {
        if (cli.help) {
            fputs(s_help, stdout);
            return Q_EXIT_OK;
        }
        return s_usage_error("no subcommand given (result_status, queue_status, history, get, "
                             "db, audit, verify, gantt, dag)");
    }
    if (strcmp(pos[0], "help") == 0) {
        const s_cmd_t *h = n_pos > 1 ? s_find_cmd(pos[1]) : NULL;
        if (n_pos > 1 && !h)
            return s_usage_error("unknown subcommand '%s'", pos[1]);
        fputs(h ? h->help : s_help, stdout);
        return Q_EXIT_OK;
    }
    const s_cmd_t *cmd = s_find_cmd(pos[0]);
    if (!cmd)
        return s_usage_error("unknown subcommand '%s' (result_status, queue_status, history, "
                             "get, db, audit, verify, gantt, dag)",
                             pos[0]);
    if (cli.help) {
        fputs(cmd->help, stdout);
        return Q_EXIT_OK;
    }
    a.pos = pos + 1;
    a.n_pos = n_pos - 1;
    if ((ex = s_check_opts(cmd, cli.given)) != Q_EXIT_OK)
        return ex;
    if (cli.formats > 1)
        return s_usage_error("choose one of --table, --json, --csv");
    if (cli.db && (cli.profile || cli.connection))
        return s_usage_error("--db reads a file; it does not go with --profile or --connection");
    if (cli.profile && cli.connection)
        return s_usage_error("choose one of --profile and --connection");
    if (cli.profile && !s_profile_name_ok(cli.profile))
        return s_usage_error("--profile: '%s' is not a profile name (letters, digits, '-', '_', "
                             "'.')",
                             cli.profile);
    if (a.n_pos < cmd->min_pos || a.n_pos > cmd->max_pos) {
        if (cmd->max_pos == 0)
            return s_usage_error("%s takes no arguments (got '%s')", cmd->name, a.pos[0]);
        return s_usage_error(
            "%s takes %s (ipp-query %s --help)", cmd->name,
            cmd->min_pos == cmd->max_pos ? "exactly one argument" : "more arguments", cmd->name);
    }
    if (cmd->needs_ids && a.n_pos == 0 && !a.label)
        return s_usage_error("%s: give msg_ids or --label PATTERN", cmd->name);
    if (strcmp(cmd->name, "gantt") == 0 && !a.svg)
        return s_usage_error("gantt: give --svg FILE, the picture to write");
    if (strcmp(cmd->name, "dag") == 0 && !a.label)
        return s_usage_error("dag: give --label PREFIX, the workflow's label prefix");
    if (strcmp(cmd->name, "dag") == 0 && !a.svg && !a.dot)
        return s_usage_error("dag: give --svg FILE or --dot FILE, the picture to write");
    if (a.svg && a.dot && strcmp(a.svg, a.dot) == 0)
        return s_usage_error("--svg and --dot name the same file '%s'", a.svg);
    if (cli.since_text && !s_parse_time(cli.since_text, &a.since_us))
        return s_usage_error("--since: '%s' is not an ISO 8601 time or a span like 90s, 15m, "
                             "2h, 7d",
                             cli.since_text);
    if (cli.until_text && !s_parse_time(cli.until_text, &a.until_us))
        return s_usage_error("--until: '%s' is not an ISO 8601 time or a span like 90s, 15m, "
                             "2h, 7d",
                             cli.until_text);
    if (a.since_us && a.until_us && a.since_us >= a.until_us)
        return s_usage_error("--since (%s) is not before --until (%s)", cli.since_text,
                             cli.until_text);
    if (cli.keys_text && (ex = s_parse_keys(cli.keys_text, &a.keys)) != Q_EXIT_OK)
        return ex;
    if (strcmp(cmd->name, "db") == 0) {
        // Compile here so a bad query is a usage error, controller or not.
        ipp_error_t err;
        db_query_t *q = db_query_compile_text(a.pos[0], a.keys, &err);
        if (!q)
            ex = s_usage_error("bad query '%s': %s", a.pos[0], err.msg);
        else if (!a.pos[0][0])
            ex = s_usage_error("empty query (use '{}' for every record)");
        db_query_destroy(&q);
    }
    if (ex == Q_EXIT_OK)
        ex = s_run(cmd, &cli, &a);
    json_decref(a.keys);
    return ex;
}
