/* cli.h — what the files of the `ipp` command share.
 *
 * The command-line context (profile, connection file, request timeout),
 * the exit codes, connecting to the controller, picking msg_ids from the
 * command line (ids and --label patterns), printing a task's output and
 * outcome, and the progress bar. One function per subcommand, each taking
 * argv from the subcommand's name on and returning an exit code: nothing
 * here calls exit(); only main does.
 */
#ifndef IPP_TOOLS_CLI_H
#define IPP_TOOLS_CLI_H

#include "ipp/ipp.h"

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

// Exit codes of every subcommand.
enum {
    CLI_OK = 0,             // done; every task involved succeeded
    CLI_FAILED = 1,         // a task failed, or the controller refused the request
    CLI_USAGE = 2,          // bad arguments or a bad workflow file
    CLI_UNREACHABLE = 3,    // no controller to talk to
    CLI_INTERRUPTED = 130,  // Ctrl-C while waiting: the tasks go on (see cli_left_running)
};

// Where to find the controller, from the global options.
typedef struct cli_t {
    const char *profile;     // profile name ("default" unless --profile / $IPP_PROFILE)
    const char *connection;  // explicit client connection file, NULL: the profile's
    double timeout;          // seconds to wait for the controller's replies
} cli_t;

// Option values shared by every subcommand's option table (getopt_long
// returns them); values of subcommands' own options start at CLI_O_FIRST.
enum {
    CLI_O_PROFILE = 900,
    CLI_O_CONNECTION,
    CLI_O_HELP,
    CLI_O_FIRST = 1000,
};

// The options every subcommand accepts; put at the start of its table.
#define CLI_COMMON_OPTIONS                                                                         \
    {"profile", required_argument, NULL, CLI_O_PROFILE},                                           \
        {"connection", required_argument, NULL, CLI_O_CONNECTION},                                 \
    {                                                                                              \
        "help", no_argument, NULL, 'h'                                                             \
    }

// The text describing CLI_COMMON_OPTIONS in every usage message.
#define CLI_COMMON_HELP                                                                            \
    "  --profile NAME       profile (default: $IPP_PROFILE, else \"default\")\n"                   \
    "  --connection FILE    client connection file instead of the profile's\n"                     \
    "  -h, --help           show this help\n"

// A subcommand's usage text, printed by cli_usage_error and --help.
typedef struct cli_cmd_t {
    const char *name;   // e.g. "run", "cluster start"
    const char *usage;  // the whole usage text
} cli_cmd_t;

// cli_getopt: getopt_long over argv with the caller's table, handling the
// common options into cli. Returns the next option of the caller's own,
// -1 at the end, 'h' for --help, '?' for a bad option (a message already
// printed naming it). Reset with cli_getopt_reset before a new argv.
int cli_getopt(cli_t *cli, const cli_cmd_t *cmd, int argc, char **argv, const char *shortopts,
               const struct option *longopts);

// cli_getopt_reset: start parsing a new argv.
void cli_getopt_reset(void);

// cli_help: print cmd's usage to stdout; returns CLI_OK.
int cli_help(const cli_cmd_t *cmd);

// cli_usage_error: print "ipp NAME: MESSAGE" and the usage to stderr;
// returns CLI_USAGE.
int cli_usage_error(const cli_cmd_t *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

// cli_error: print "ipp: MESSAGE" to stderr.
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

// ------------------------------------------------------------ parsing

// cli_parse_double: text as a number >= min (finite). false if it is not.
bool cli_parse_double(const char *text, double min, double *out);

// cli_parse_int: text as a whole number in [min, max]. false if it is not.
bool cli_parse_int(const char *text, long min, long max, long *out);

// cli_parse_targets: "0,2,5" into a new array (*out, *n; caller frees
// *out). false if an item is not an engine id or memory ran out (*out
// then NULL).
bool cli_parse_targets(const char *text, int **out, size_t *n);

// ------------------------------------------------------------ strings

// A growable list of owned strings.
typedef struct cli_strv_t {
    char **v;    // the strings, each owned
    size_t n;    // how many
    size_t cap;  // room
} cli_strv_t;

// cli_strv_push: append a copy of s. false when out of memory.
bool cli_strv_push(cli_strv_t *sv, const char *s);

// cli_strv_push_own: append s, taking ownership (freed on failure too).
bool cli_strv_push_own(cli_strv_t *sv, char *s);

// cli_strv_fini: free every string and the array; zero sv.
void cli_strv_fini(cli_strv_t *sv);

// cli_strv_has: true if sv holds a string equal to s.
bool cli_strv_has(const cli_strv_t *sv, const char *s);

// ------------------------------------------------------------ controller

// cli_connect: connect to the controller cli names. On success *out is
// the client (caller owns it: ipp_client_destroy) and CLI_OK is returned;
// otherwise a message is printed and CLI_UNREACHABLE returned — at once
// when there is no connection file or the local controller that wrote it
// is dead, after cli->timeout when it does not answer.
int cli_connect(const cli_t *cli, ipp_client_t **out);

// cli_profile_dir: the profile folder of cli into buf. false (message
// printed) for a bad profile name.
bool cli_profile_dir(const cli_t *cli, char *buf, size_t size);

// cli_fail_code: the exit code for a request that failed with code:
// CLI_UNREACHABLE when the controller stopped answering (timeout, closed,
// ZeroMQ failure), else CLI_FAILED.
int cli_fail_code(ipp_err_t code);

// cli_select_label: append to ids the msg_ids of every task whose label
// matches the glob pattern (db_query $glob), in submission order, skipping
// ids already there. Returns how many matched, or minus an exit code
// (message printed) when the controller refused or did not answer.
long cli_select_label(ipp_client_t *client, const char *pattern, cli_strv_t *ids);

// cli_add_id: append id to ids after checking it is a msg_id; false (and
// a usage message through cmd) if not.
bool cli_add_id(const cli_cmd_t *cmd, cli_strv_t *ids, const char *id);

// cli_wait_accepted: spin until the controller acknowledged (or refused)
// every task of ars[0..n) (NULL entries skipped), or until one deadline,
// timeout seconds from the call, has passed: a single deadline for the
// whole submission, however many tasks it holds. Then report on stderr:
// a line per refused task with the controller's reason, and when some
// tasks were not acknowledged, how many, which were and which were not.
// Tasks are named by names[k] when names is given and ars[k] holds one
// task (noun: what they are, plural, e.g. "nodes"), else by msg_id.
// Returns CLI_OK when every task was acknowledged, CLI_UNREACHABLE when
// one was not acknowledged in time (the controller stopped answering),
// else CLI_FAILED (one was refused).
int cli_wait_accepted(ipp_client_t *client, ipp_ar_t *const *ars, size_t n,
                      const char *const *names, const char *noun, double timeout);

// cli_wait_progress: ipp_ar_wait, drawing a progress bar on stderr when bar
// and it is a terminal. Ctrl-C (SIGINT) ends the wait within 0.2 s with
// IPP_ERR_CLOSED and cli_interrupted() true; the tasks are not touched.
// Otherwise returns what ipp_ar_wait returns.
ipp_err_t cli_wait_progress(ipp_ar_t *ar, double timeout, bool bar, ipp_error_t *err);

// cli_interrupted: whether Ctrl-C ended the last cli_wait_progress.
bool cli_interrupted(void);

// cli_left_running: after an interrupted wait: say on stderr that the
// unfinished tasks of ar go on and how to collect them, print their ids on
// stdout (one per line); returns CLI_INTERRUPTED.
int cli_left_running(const ipp_ar_t *ar);

// The exit line's ending for commands that wait.
#define CLI_EXIT_INTERRUPTED                                                                       \
    "130 interrupted (Ctrl-C): the tasks go on; the unfinished ones' ids are printed\n"

// ------------------------------------------------------------ output

// cli_print_output: task i's output: stdout (for a call, its result
// buffers, each ended by a newline) to out, stderr to err_out, a note on
// err_out when the engine truncated either.
void cli_print_output(const ipp_ar_t *ar, size_t i, FILE *out, FILE *err_out);

// cli_print_failure: "ipp: WHAT failed: ename: evalue" for task i (what:
// a name; NULL: its msg_id) on stderr when it did not succeed; returns
// true if it did not.
bool cli_print_failure(const ipp_ar_t *ar, size_t i, const char *what);

// cli_format_time: us as ISO 8601 UTC ("-" when 0) into buf; returns buf.
char *cli_format_time(int64_t us, char *buf, size_t size);

// cli_format_duration: seconds as "0.012s", "3.4s", "2m05s", "-" when < 0.
char *cli_format_duration(double seconds, char *buf, size_t size);

// cli_shell_quote: s quoted for /bin/sh ('…' with ' as '\''). Caller
// frees. NULL when out of memory.
char *cli_shell_quote(const char *s);

// ------------------------------------------------------------ subcommands

int cli_cmd_cluster(cli_t *cli, int argc, char **argv);
int cli_cmd_run(cli_t *cli, int argc, char **argv);
int cli_cmd_px(cli_t *cli, int argc, char **argv);
int cli_cmd_map(cli_t *cli, int argc, char **argv);
int cli_cmd_dag(cli_t *cli, int argc, char **argv);
int cli_cmd_wait(cli_t *cli, int argc, char **argv);
int cli_cmd_result(cli_t *cli, int argc, char **argv);
int cli_cmd_status(cli_t *cli, int argc, char **argv);
int cli_cmd_purge(cli_t *cli, int argc, char **argv);
int cli_cmd_resubmit(cli_t *cli, int argc, char **argv);
int cli_cmd_abort(cli_t *cli, int argc, char **argv);
int cli_cmd_shutdown(cli_t *cli, int argc, char **argv);
int cli_cmd_keys(cli_t *cli, int argc, char **argv);       // keys.c
int cli_cmd_dashboard(cli_t *cli, int argc, char **argv);  // dashboard.c: execs ipp-dashboard

#endif
