/* main.c — `ipp`, the command line of ipp: global options, then one
 * subcommand (cluster, run, px, map, dag, wait, result, status, purge,
 * resubmit, abort, shutdown, keys, dashboard).
 *
 * Owns the process: it is the only place that exits, and the exit code is
 * the subcommand's (0 ok, 1 a task failed, 2 usage, 3 no controller).
 */
#include "tools/ipp/cli.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

static const char s_usage[] =
    "usage: ipp [--profile NAME] [--connection FILE] [--request-timeout S] COMMAND [ARGS]\n"
    "\n"
    "The command line of ipp: a persistent task service whose controller records\n"
    "every task, dependency, timestamp and output in SQLite.\n"
    "\n"
    "cluster:\n"
    "  cluster start [-n N]   start a controller and N engines in the background\n"
    "  cluster stop           stop them\n"
    "  cluster status         controller, engines, queues\n"
    "submitting:\n"
    "  run [--wait] -- CMD    one load-balanced task (also --shell, --call); prints its id\n"
    "  px -- CMD              the task on every engine; output per engine\n"
    "  map -- CMD {} ::: A B  one task per item (items also from stdin)\n"
    "  dag submit FILE        a workflow file of tasks with dependencies\n"
    "  dag status FILE        how its nodes stand\n"
    "  dag resume FILE        re-run the nodes that failed or never finished\n"
    "results (any task, any client, any time later):\n"
    "  wait ID...             wait for tasks\n"
    "  result [--json] ID...  status, engine, times, error, stdout, stderr\n"
    "  status                 queues per engine\n"
    "  purge ID...|--all      forget completed tasks\n"
    "  resubmit ID...         run tasks again\n"
    "  abort ID...            abort tasks not started yet\n"
    "  shutdown               stop the engines and the controller\n"
    "keys (CurveZMQ: a key per client and engine):\n"
    "  keys new --role R NAME a key and its connection file (client, engine, admin)\n"
    "  keys list              name, role, created, last seen, revoked\n"
    "  keys revoke NAME       refuse it from now on, open connections too\n"
    "looking:\n"
    "  dashboard [--port N]   the dashboard in the browser (prints its URL; --help)\n"
    "Wherever IDs are taken, --label PATTERN selects tasks by label (glob).\n"
    "\n"
    "global options (before COMMAND; --profile and --connection also after it):\n"
    "  --profile NAME         $IPP_DIR/profile_NAME (default $IPP_PROFILE, else default;\n"
    "                         $IPP_DIR defaults to ~/.ipp)\n"
    "  --connection FILE      client connection file instead of the profile's\n"
    "  --request-timeout S    wait this long for the controller's replies (default 10);\n"
    "                         a submission of many tasks waits this long in all for\n"
    "                         every one to be acknowledged\n"
    "  -h, --help             this help; `ipp COMMAND --help` for a command's\n"
    "  --version              the version\n"
    "\n"
    "exit codes: 0 ok, 1 a task failed (or a request was refused), 2 usage error,\n"
    "3 cannot reach the controller (or it stopped answering), 130 Ctrl-C while\n"
    "waiting (the tasks go on; the ids of those not finished are printed).\n";

// One subcommand.
typedef struct s_sub_t {
    const char *name;                              // as typed
    int (*fn)(cli_t *cli, int argc, char **argv);  // runs it
} s_sub_t;

static const s_sub_t s_subs[] = {
    {"cluster", cli_cmd_cluster}, {"run", cli_cmd_run},
    {"px", cli_cmd_px},           {"map", cli_cmd_map},
    {"dag", cli_cmd_dag},         {"wait", cli_cmd_wait},
    {"result", cli_cmd_result},   {"status", cli_cmd_status},
    {"purge", cli_cmd_purge},     {"resubmit", cli_cmd_resubmit},
    {"abort", cli_cmd_abort},     {"shutdown", cli_cmd_shutdown},
    {"keys", cli_cmd_keys},       {"dashboard", cli_cmd_dashboard},
};

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    cli_t cli = {.profile = "default", .connection = NULL, .timeout = 10};
    const char *env = getenv("IPP_PROFILE");
    if (env && *env)
        cli.profile = env;
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];
        const char *val = NULL;
        size_t len = strcspn(a, "=");
        bool takes = strncmp(a, "--profile", len) == 0 || strncmp(a, "--connection", len) == 0 ||
                     strncmp(a, "--request-timeout", len) == 0;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(s_usage, stdout);
            return CLI_OK;
        }
        if (strcmp(a, "--version") == 0) {
            printf("ipp %s (protocol %d)\n", ipp_version(), ipp_protocol_version());
            return CLI_OK;
        }
        if (!takes || len < 3) {
            fprintf(stderr, "ipp: unknown option %s\n\n%s", a, s_usage);
            return CLI_USAGE;
        }
        if (a[len] == '=') {
            val = a + len + 1;
        } else if (i + 1 < argc) {
            val = argv[++i];
        } else {
            fprintf(stderr, "ipp: option %s needs a value\n\n%s", a, s_usage);
            return CLI_USAGE;
        }
        if (strncmp(a, "--profile", len) == 0) {
            cli.profile = val;
        } else if (strncmp(a, "--connection", len) == 0) {
            cli.connection = val;
        } else if (!cli_parse_double(val, 0.01, &cli.timeout)) {
            fprintf(stderr, "ipp: --request-timeout needs a number of seconds, not '%s'\n\n%s", val,
                    s_usage);
            return CLI_USAGE;
        }
    }
    if (i >= argc) {
        fprintf(stderr, "ipp: which command?\n\n%s", s_usage);
        return CLI_USAGE;
    }
    for (size_t k = 0; k < sizeof s_subs / sizeof s_subs[0]; k++) {
        if (strcmp(argv[i], s_subs[k].name) == 0) {
            cli_getopt_reset();
            return s_subs[k].fn(&cli, argc - i, argv + i);
        }
    }
    if (strcmp(argv[i], "help") == 0) {
        fputs(s_usage, stdout);
        return CLI_OK;
    }
    fprintf(stderr, "ipp: unknown command '%s'\n\n%s", argv[i], s_usage);
    return CLI_USAGE;
}
