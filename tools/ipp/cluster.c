/* cluster.c — `ipp cluster start|stop|status|engines`: a controller of one
 * profile on this machine and engine sets started by a launcher (local,
 * mpi, slurm, ssh: tools/ipp/launch.h) on this machine or others.
 *
 * start launches ipp-controller detached (own session, stdin from
 * /dev/null, output to PROFILE/log/controller.log, no inherited
 * descriptors), then one engine set (ssh: one per host), and returns once
 * its engines are registered; on any failure it stops what it started and
 * shows the logs. Each set is a row of the task database's engine_sets
 * table (db/sets.h) — launcher, job id, hosts, pids — so status and stop
 * work from any shell and after a controller restart; the pids of local
 * engines also go to PROFILE/engines.pid as before. With Curve (--curve,
 * or any non-loopback --ip) each set gets an engine key of its own and the
 * profile a default client key. stop ends every set (the controller's
 * STOP first, then the launcher's own way), then the controller, making
 * sure by pid: SIGTERM, then SIGKILL. A pid is only ever signalled after
 * checking that it still is an ipp process, so a recycled pid is left
 * alone. Owns no state between invocations but those files and rows.
 */
#include "tools/ipp/cli.h"

#include "db/keys.h"
#include "db/schema.h"
#include "db/sets.h"
#include "proto/clock.h"
#include "proto/conn.h"
#include "tools/ipp/launch.h"
#include "tools/ipp/proc.h"
#include "tools/ipp/sets.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#define S_CONTROLLER_PID "ipp-controller.pid"
// Most engines one start may launch.
#define S_MAX_SETS 256

static const cli_cmd_t s_cmd = {
    "cluster",
    "usage: ipp cluster start [-n N] [--engines local|mpi|slurm|ssh] [options]\n"
    "       ipp cluster engines add [-n N] --engines local|mpi|slurm|ssh [options]\n"
    "       ipp cluster engines stop SET...|--all\n"
    "       ipp cluster engines watch SET...|--all\n"
    "       ipp cluster stop [--timeout S]\n"
    "       ipp cluster status\n"
    "\n"
    "Run a controller on this machine, in the background, for one profile\n"
    "($IPP_DIR/profile_NAME, $IPP_DIR defaulting to ~/.ipp), and sets of engines\n"
    "started by a launcher: local processes, mpiexec, a Slurm job or ssh. Each\n"
    "set is recorded in the task database, so status and stop work from any\n"
    "shell and after a controller restart. Logs go to PROFILE/log/ (mode 0600):\n"
    "controller.log, engine-K.log (local), engines-SET.log (mpi, slurm, ssh).\n"
    "Local engines run commands in the folder `ipp cluster start` was run from.\n"
    "See docs/CLUSTERS.md.\n"
    "\n"
    "start: launch the controller and one engine set (ssh: one per host); return\n"
    "  once its engines are registered. Refused while a controller or engines of the\n"
    "  profile are running.\n"
    "  -n N                   engines to start (default: the number of CPUs; ssh: 1\n"
    "                         per host)\n"
    "  --db PATH              task database (default PROFILE/db/tasks.db)\n"
    "  --durability MODE      normal (default) or full (fsync per batch)\n"
    "  --scheme NAME          leastload (default), lru, plainrandom, twobin, weighted\n"
    "  --hwm N                outstanding tasks per engine (0 = unlimited; default 1)\n"
    "  --ip ADDR|'*'          address the controller binds (default 127.0.0.1); any\n"
    "                         other is reachable from the network: Curve is then on\n"
    "  --curve                CurveZMQ also on loopback: every engine set gets an\n"
    "                         engine key, and the profile a client key in\n"
    "                         PROFILE/security/keys/client.json\n"
    "  --timeout S            how long to wait for the engines (default 60)\n" LX_HELP
    "engines add: start one more set (ssh: one per host) on the running controller,\n"
    "  with the launcher options above, -n and --timeout.\n"
    "engines stop: stop the sets named by number (see status), or --all.\n"
    "engines watch: start a new watcher for local sets whose watcher is gone (status:\n"
    "  unwatched), or --all such sets; it takes over the engines that run and starts\n"
    "  those that do not.\n"
    "stop: stop every engine set, then the controller (SIGTERM, then SIGKILL, for\n"
    "  those that do not leave within --timeout S, default 15).\n"
    "status: the controller's pid, the engines registered and their queues, and each\n"
    "  engine set: launcher, engines asked for and registered, its state (a running\n"
    "  set is shown degraded, unwatched, lost or ended when it is; docs/CLUSTERS.md),\n"
    "  its launcher's state and the engines of it that are gone.\n"
    "\n"
    "Binaries: $IPP_CONTROLLER and $IPP_ENGINE if set, else next to ipp, else in the\n"
    "build tree (hub/, engine/), else on $PATH.\n"
    "\n"
    "options of every subcommand:\n" CLI_COMMON_HELP "\n"
    "exit: 0 ok, 1 failed (logs shown), 2 usage, 3 no cluster running (stop, status).\n",
};

// s_loopback: ip is an address of the loopback interface only.
static bool s_loopback(const char *ip)
{
    return strncmp(ip, "127.", 4) == 0 || strcmp(ip, "::1") == 0 || strcmp(ip, "localhost") == 0;
}

// s_warn_exposed: say on stderr what binding the controller to ip (not
// loopback) exposes: Curve is on there, so only key holders get in.
static void s_warn_exposed(const char *ip, const char *profile_dir)
{
    bool every = strcmp(ip, "0.0.0.0") == 0 || strcmp(ip, "*") == 0 || strcmp(ip, "::") == 0;
    cli_error("warning: --ip %s: the controller's ports are open %s; Curve is on (traffic "
              "encrypted, only keys listed by `ipp keys list` get in); keep %s/security/ "
              "to yourself: it holds the server's and the owner's keys.",
              ip, every ? "on every network interface of this machine" : "to that network",
              profile_dir);
}

// s_controller_pid: the pid in the profile's controller pid file, 0 if none.
static pid_t s_controller_pid(const char *dir)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, S_CONTROLLER_PID);
    pid_t pid = 0;
    proc_read_pids(path, &pid, 1);
    return pid;
}

// ------------------------------------------------------------ start

// Options of start.
typedef struct s_start_t {
    const char *db;          // --db
    const char *durability;  // --durability
    const char *scheme;      // --scheme
    const char *hwm;         // --hwm
    const char *ip;          // --ip
    bool curve;              // --curve
    double timeout;          // --timeout
} s_start_t;

// s_conn_pid: the controller_pid in the profile's connection file of kind.
static int s_conn_pid(const char *dir, conn_kind_t kind)
{
    char path[4200];
    conn_info_t info;
    if (conn_file_path(dir, kind, path, sizeof path, NULL) != IPP_OK ||
        conn_read(path, kind, &info, NULL) != IPP_OK)
        return 0;
    int pid = info.controller_pid;
    sodium_memzero(&info, sizeof info);
    return pid;
}

// s_fail_start: undo a start: stop the controller, drop the pid file,
// show its log. Returns CLI_FAILED.
static int s_fail_start(const char *dir, pid_t ctl)
{
    char log[4200];
    snprintf(log, sizeof log, "%s/log/controller.log", dir);
    if (ctl > 0)
        proc_terminate(&ctl, 1, true, "ipp-controller", 5);
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, CS_ENGINES_PID);
    unlink(path);
    proc_tail(log, 20);
    cli_error("cluster not started; everything it launched was stopped");
    return CLI_FAILED;
}

// s_rotate: keep the previous run's log as NAME.1.
static void s_rotate(const char *path)
{
    char old[4300];
    snprintf(old, sizeof old, "%s.1", path);
    rename(path, old);
}

// s_print_sets: "engine set ID (launcher): K engines (ids …)".
static void s_print_sets(ipp_client_t *client, const db_engine_set_t *up, size_t n)
{
    ipp_error_t err;
    ipp_client_refresh_engines(client, &err);
    for (size_t i = 0; i < n; i++) {
        int ids[CS_MAX_ENGINES];
        size_t k = cs_set_engines(client, up[i].id, true, ids, NULL, CS_MAX_ENGINES);
        printf("engine set %lld (%s%s%s", (long long)up[i].id, up[i].launcher,
               up[i].hosts ? " on " : "", up[i].hosts ? up[i].hosts : "");
        if (up[i].job_id && strcmp(up[i].launcher, "local") != 0)
            printf(", %s %s", strcmp(up[i].launcher, "slurm") == 0 ? "job" : "pid", up[i].job_id);
        printf("): %zu engine%s (ids", k, k == 1 ? "" : "s");
        for (size_t j = 0; j < k; j++)
            printf("%s%d", j ? ", " : " ", ids[j]);
        printf(")\n");
    }
}

static int s_start(cli_t *cli, int argc, char **argv)
{
    enum { O_DB = CLI_O_FIRST, O_DUR, O_SCHEME, O_HWM, O_IP, O_TAG, O_TIMEOUT, O_CURVE };
    static const struct option opts[] = {
        CLI_COMMON_OPTIONS,
        LX_OPTIONS,
        {"db", required_argument, NULL, O_DB},
        {"durability", required_argument, NULL, O_DUR},
        {"scheme", required_argument, NULL, O_SCHEME},
        {"hwm", required_argument, NULL, O_HWM},
        {"ip", required_argument, NULL, O_IP},
        {"tag", required_argument, NULL, O_TAG},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {"curve", no_argument, NULL, O_CURVE},
        {NULL, 0, NULL, 0},
    };
    s_start_t o = {.timeout = 60};
    lx_opts_t lx;
    memset(&lx, 0, sizeof lx);
    lx.n = sysconf(_SC_NPROCESSORS_ONLN);
    if (lx.n < 1)
        lx.n = 1;
    int rc = CLI_USAGE;
    pid_t ctl = -1;
    ipp_client_t *client = NULL;
    sqlite3 *db = NULL;
    db_engine_set_t *up = NULL;
    size_t n_up = 0;
    int c;
    long v;
    double d;
    while ((c = cli_getopt(cli, &s_cmd, argc, argv, ":hn:", opts)) != -1) {
        int taken = lx_option(&lx, &s_cmd, c, optarg);
        if (taken < 0)
            goto out;
        if (taken)
            continue;
        switch (c) {
        case 'h':
            rc = cli_help(&s_cmd);
            goto out;
        case 'n':
            if (!cli_parse_int(optarg, 1, CS_MAX_ENGINES, &v)) {
                cli_usage_error(&s_cmd, "-n needs a number of engines from 1 to %d, not '%s'",
                                CS_MAX_ENGINES, optarg);
                goto out;
            }
            lx.n = v;
            lx.n_given = true;
            break;
        case O_DB:
            o.db = optarg;
            break;
        case O_DUR:
            if (strcmp(optarg, "normal") != 0 && strcmp(optarg, "full") != 0) {
                cli_usage_error(&s_cmd, "--durability is normal or full, not '%s'", optarg);
                goto out;
            }
            o.durability = optarg;
            break;
        case O_SCHEME: {
            static const char *const schemes[] = {"leastload", "lru",      "plainrandom",
                                                  "twobin",    "weighted", NULL};
            bool ok = false;
            for (size_t i = 0; schemes[i] && !ok; i++)
                ok = strcmp(optarg, schemes[i]) == 0;
            if (!ok) {
                cli_usage_error(&s_cmd,
                                "--scheme is leastload, lru, plainrandom, twobin or weighted, "
                                "not '%s'",
                                optarg);
                goto out;
            }
            o.scheme = optarg;
            break;
        }
        case O_HWM:
            if (!cli_parse_int(optarg, 0, INT_MAX, &v)) {
                cli_usage_error(&s_cmd, "--hwm needs a whole number >= 0, not '%s'", optarg);
                goto out;
            }
            o.hwm = optarg;
            break;
        case O_IP:
            o.ip = optarg;
            break;
        case O_TAG:
            if (!cli_strv_push(&lx.tags, optarg)) {
                rc = CLI_FAILED;
                goto out;
            }
            break;
        case O_TIMEOUT:
            if (!cli_parse_double(optarg, 0.1, &d)) {
                cli_usage_error(&s_cmd, "--timeout needs a number of seconds, not '%s'", optarg);
                goto out;
            }
            o.timeout = d;
            break;
        case O_CURVE:
            o.curve = true;
            break;
        default:
            goto out;
        }
    }
    if (optind < argc) {
        cli_usage_error(&s_cmd, "unexpected argument '%s'", argv[optind]);
        goto out;
    }
    // Every launcher option is checked before anything starts.
    if ((rc = lx_check(&lx, &s_cmd)) != CLI_OK)
        goto out;
    rc = CLI_FAILED;
    char dir[4096];
    ipp_error_t err;
    if (!cli_profile_dir(cli, dir, sizeof dir)) {
        rc = CLI_USAGE;
        goto out;
    }
    if (conn_profile_prepare(dir, &err) != IPP_OK) {
        cli_error("%s", err.msg);
        goto out;
    }
    // Refuse while anything of this profile runs.
    pid_t running = s_controller_pid(dir);
    if (proc_alive(running)) {
        cli_error("a controller is already running for profile '%s' (pid %d); stop it with "
                  "`ipp cluster stop` first",
                  cli->profile, (int)running);
        goto out;
    }
    char pidpath[4200];
    snprintf(pidpath, sizeof pidpath, "%s/%s", dir, CS_ENGINES_PID);
    pid_t old[CS_MAX_ENGINES];
    size_t n_old = proc_read_pids(pidpath, old, CS_MAX_ENGINES);
    for (size_t i = 0; i < n_old; i++) {
        if (proc_ours(old[i], "ipp-engine")) {
            cli_error("engines of profile '%s' are still running (pid %d, see %s); stop them "
                      "with `ipp cluster stop` first",
                      cli->profile, (int)old[i], pidpath);
            goto out;
        }
    }
    {
        // Where engines will be told to connect (a wildcard bind names
        // loopback in the connection files).
        const char *eip = o.ip ? o.ip : "127.0.0.1";
        if (strcmp(eip, "*") == 0 || strcmp(eip, "0.0.0.0") == 0)
            eip = "127.0.0.1";
        else if (strcmp(eip, "::") == 0)
            eip = "::1";
        if (lx_check_reach(&lx, eip) != CLI_OK)
            goto out;
    }
    bool curve = o.curve || (o.ip && !s_loopback(o.ip));
    if (curve && conn_curve_check("ipp cluster start --curve", &err) != IPP_OK) {
        cli_error("%s", err.msg);
        goto out;
    }
    if (o.ip && !s_loopback(o.ip))
        s_warn_exposed(o.ip, dir);
    char ctl_bin[PATH_MAX], eng_bin[PATH_MAX];
    if (!proc_find_binary("ipp-controller", "IPP_CONTROLLER", "hub", ctl_bin, sizeof ctl_bin) ||
        !proc_find_binary("ipp-engine", "IPP_ENGINE", "engine", eng_bin, sizeof eng_bin))
        goto out;
    // Where the database is, for later stop and status.
    {
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", dir, CS_DB_PATH_FILE);
        if (o.db) {
            char cwd[PATH_MAX];
            FILE *f = fopen(path, "w");
            if (f) {
                if (o.db[0] != '/' && getcwd(cwd, sizeof cwd))
                    fprintf(f, "%s/%s\n", cwd, o.db);
                else
                    fprintf(f, "%s\n", o.db);
                fclose(f);
            }
        } else {
            unlink(path);
        }
    }

    // The controller.
    char log[4200];
    snprintf(log, sizeof log, "%s/log/controller.log", dir);
    s_rotate(log);
    {
        char *av[20];
        int k = 0;
        av[k++] = ctl_bin;
        av[k++] = "--profile";
        av[k++] = (char *)cli->profile;
        const char *pairs[][2] = {{"--db", o.db},
                                  {"--durability", o.durability},
                                  {"--scheme", o.scheme},
                                  {"--hwm", o.hwm},
                                  {"--ip", o.ip}};
        for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
            if (pairs[i][1]) {
                av[k++] = (char *)pairs[i][0];
                av[k++] = (char *)pairs[i][1];
            }
        }
        if (curve)
            av[k++] = "--curve";
        av[k] = NULL;
        ctl = proc_spawn(av, NULL, log);
    }
    if (ctl < 0)
        goto out;
    int64_t until = ipp_clock_mono_us() + (int64_t)(o.timeout * 1e6);
    for (;;) {
        int st = 0;
        if (proc_reaped(ctl, &st)) {
            char how[64];
            proc_describe_exit(st, how, sizeof how);
            cli_error("the controller %s at start", how);
            ctl = -1;
            rc = s_fail_start(dir, ctl);
            goto out;
        }
        if (s_conn_pid(dir, CONN_CLIENT) == ctl && s_conn_pid(dir, CONN_ENGINE) == ctl)
            break;
        if (ipp_clock_mono_us() >= until) {
            cli_error("the controller wrote no connection files within %.0f s", o.timeout);
            rc = s_fail_start(dir, ctl);
            goto out;
        }
        usleep(20000);
    }
    cli_t here = *cli;
    here.connection = NULL;
    double left = (double)(until - ipp_clock_mono_us()) / 1e6;
    here.timeout = left > 1 ? left : 1;
    if (cli_connect(&here, &client) != CLI_OK || !(db = cs_db_open(dir, o.db))) {
        rc = s_fail_start(dir, ctl);
        goto out;
    }
    if (curve)
        cs_client_key(db, client, dir);

    // The engines.
    up = calloc(S_MAX_SETS, sizeof *up);
    if (!up) {
        cli_error("out of memory");
        rc = s_fail_start(dir, ctl);
        goto out;
    }
    left = (double)(until - ipp_clock_mono_us()) / 1e6;
    n_up = cs_launch(cli, dir, db, client, &lx, eng_bin, left > 1 ? left : 1, up, S_MAX_SETS);
    if (!n_up) {
        ipp_client_destroy(&client);
        rc = s_fail_start(dir, ctl);
        goto out;
    }
    cs_write_local_pids(dir, up, n_up);
    int ids[CS_MAX_ENGINES];
    ipp_client_refresh_engines(client, &err);
    size_t n_ids = ipp_client_ids(client, ids, CS_MAX_ENGINES);
    printf("cluster '%s' started: controller pid %d%s, %zu engine%s (ids", cli->profile, (int)ctl,
           curve ? " (Curve)" : "", n_ids, n_ids == 1 ? "" : "s");
    for (size_t i = 0; i < n_ids && i < CS_MAX_ENGINES; i++)
        printf("%s%d", i ? ", " : " ", ids[i]);
    printf("); logs in %s/log\n", dir);
    s_print_sets(client, up, n_up);
    rc = n_up == lx_n_sets(&lx) ? CLI_OK : CLI_FAILED;
out:
    for (size_t i = 0; i < n_up; i++)
        db_set_fini(&up[i]);
    free(up);
    if (db)
        sqlite3_close_v2(db);
    ipp_client_destroy(&client);
    lx_fini(&lx);
    return rc;
}

// ------------------------------------------------------------ engines add|stop

// s_engine_conn_curve: the running controller uses Curve (its engine file
// holds a server key).
static int s_engines(cli_t *cli, int argc, char **argv)
{
    if (argc < 2)
        return cli_usage_error(&s_cmd, "cluster engines: add, stop or watch?");
    const char *what = argv[1];
    bool add = strcmp(what, "add") == 0, watch = strcmp(what, "watch") == 0;
    if (!add && !watch && strcmp(what, "stop") != 0)
        return cli_usage_error(&s_cmd, "cluster engines: add, stop or watch, not '%s'", what);
    argc--;
    argv++;
    enum { O_TAG = CLI_O_FIRST, O_TIMEOUT, O_ALL, O_DB };
    static const struct option add_opts[] = {
        CLI_COMMON_OPTIONS,
        LX_OPTIONS,
        {"tag", required_argument, NULL, O_TAG},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {"db", required_argument, NULL, O_DB},
        {NULL, 0, NULL, 0},
    };
    static const struct option stop_opts[] = {
        CLI_COMMON_OPTIONS,
        {"all", no_argument, NULL, O_ALL},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {"db", required_argument, NULL, O_DB},
        {NULL, 0, NULL, 0},
    };
    lx_opts_t lx;
    memset(&lx, 0, sizeof lx);
    lx.n = 1;
    double timeout = add ? 60 : 15;
    bool all = false;
    const char *dbp = NULL;
    int rc = CLI_USAGE, c;
    long v;
    sqlite3 *db = NULL;
    ipp_client_t *client = NULL;
    db_engine_set_t *sets = NULL;
    size_t n_sets = 0;
    while ((c = cli_getopt(cli, &s_cmd, argc, argv, ":hn:", add ? add_opts : stop_opts)) != -1) {
        int taken = add ? lx_option(&lx, &s_cmd, c, optarg) : 0;
        if (taken < 0)
            goto out;
        if (taken)
            continue;
        switch (c) {
        case 'h':
            rc = cli_help(&s_cmd);
            goto out;
        case 'n':
            if (!add || !cli_parse_int(optarg, 1, CS_MAX_ENGINES, &v)) {
                cli_usage_error(&s_cmd, "-n needs a number of engines from 1 to %d, not '%s'",
                                CS_MAX_ENGINES, optarg);
                goto out;
            }
            lx.n = v;
            lx.n_given = true;
            break;
        case O_TAG:
            if (!cli_strv_push(&lx.tags, optarg)) {
                rc = CLI_FAILED;
                goto out;
            }
            break;
        case O_TIMEOUT:
            if (!cli_parse_double(optarg, 0.1, &timeout)) {
                cli_usage_error(&s_cmd, "--timeout needs a number of seconds, not '%s'", optarg);
                goto out;
            }
            break;
        case O_ALL:
            all = true;
            break;
        case O_DB:
            dbp = optarg;
            break;
        default:
            goto out;
        }
    }
    if (add && optind < argc) {
        cli_usage_error(&s_cmd, "unexpected argument '%s'", argv[optind]);
        goto out;
    }
    if (!add && !all && optind >= argc) {
        cli_usage_error(&s_cmd, "cluster engines %s: which sets (numbers, or --all)?", what);
        goto out;
    }
    if (!add) {
        for (int i = optind; i < argc; i++) {
            if (!cli_parse_int(argv[i], 1, INT_MAX, &v)) {
                cli_usage_error(&s_cmd, "cluster engines %s: '%s' is not a set number", what,
                                argv[i]);
                goto out;
            }
        }
    }
    if (add && (rc = lx_check(&lx, &s_cmd)) != CLI_OK)
        goto out;
    rc = CLI_FAILED;
    char dir[4096];
    if (!cli_profile_dir(cli, dir, sizeof dir)) {
        rc = CLI_USAGE;
        goto out;
    }
    ipp_error_t err;
    pid_t ctl = s_controller_pid(dir);
    bool ctl_up = proc_ours(ctl, "ipp-controller");
    if (add && !ctl_up) {
        cli_error("no controller is running for profile '%s': `ipp cluster start` first",
                  cli->profile);
        rc = CLI_UNREACHABLE;
        goto out;
    }
    if (add) {
        char path[4200];
        conn_info_t info;
        if (conn_file_path(dir, CONN_ENGINE, path, sizeof path, &err) != IPP_OK ||
            conn_read(path, CONN_ENGINE, &info, &err) != IPP_OK) {
            cli_error("%s", err.msg);
            goto out;
        }
        char ip[sizeof info.ip];
        memcpy(ip, info.ip, sizeof ip);
        sodium_memzero(&info, sizeof info);
        if (lx_check_reach(&lx, ip) != CLI_OK)
            goto out;
    }
    if (!(db = cs_db_open(dir, dbp)))
        goto out;
    if (ctl_up && !watch) {
        cli_t here = *cli;
        here.connection = NULL;
        here.timeout = 10;
        if (cli_connect(&here, &client) != CLI_OK) {
            if (add)
                goto out;
            client = NULL;
        }
    }
    if (add) {
        char eng_bin[PATH_MAX];
        if (!proc_find_binary("ipp-engine", "IPP_ENGINE", "engine", eng_bin, sizeof eng_bin))
            goto out;
        sets = calloc(S_MAX_SETS, sizeof *sets);
        if (!sets) {
            cli_error("out of memory");
            goto out;
        }
        n_sets = cs_launch(cli, dir, db, client, &lx, eng_bin, timeout, sets, S_MAX_SETS);
        s_print_sets(client, sets, n_sets);
        rc = n_sets == lx_n_sets(&lx) ? CLI_OK : CLI_FAILED;
        goto out;
    }
    if (db_sets_list(db, NULL, &sets, &n_sets, &err) != IPP_OK) {
        cli_error("%s", err.msg);
        goto out;
    }
    rc = CLI_OK;
    for (int i = optind; i < argc; i++) {
        long id = strtol(argv[i], NULL, 10);
        bool found = false;
        for (size_t k = 0; k < n_sets; k++)
            found |= sets[k].id == id;
        if (!found) {
            cli_error("there is no engine set %ld (see `ipp cluster status`)", id);
            rc = CLI_FAILED;
            goto out;
        }
    }
    for (size_t k = 0; k < n_sets; k++) {
        bool named = all;
        for (int i = optind; i < argc && !named; i++)
            named = sets[k].id == strtol(argv[i], NULL, 10);
        if (!named || (all && strcmp(sets[k].state, "running") != 0))
            continue;
        if (watch) {
            if (all) {
                char ls[512];
                lx_view_t view;
                lx_state(&sets[k], ls, sizeof ls, &view);
                if (!view.unwatched)
                    continue;
            }
            char *job = NULL;
            if (!lx_rewatch(&sets[k], sqlite3_db_filename(db, "main"), &job)) {
                rc = CLI_FAILED;
                continue;
            }
            free(sets[k].job_id);
            sets[k].job_id = job;
            if (db_sets_update(db, &sets[k], &err) != IPP_OK) {
                cli_error("%s", err.msg);
                rc = CLI_FAILED;
            }
            printf("engine set %lld (%s) watched again: watcher pid %s\n", (long long)sets[k].id,
                   sets[k].launcher, job);
            continue;
        }
        cs_set_stop(db, client, &sets[k], "stopped", timeout);
        printf("engine set %lld (%s) stopped\n", (long long)sets[k].id, sets[k].launcher);
    }
out:
    for (size_t i = 0; i < n_sets; i++)
        db_set_fini(&sets[i]);
    free(sets);
    if (db)
        sqlite3_close_v2(db);
    ipp_client_destroy(&client);
    lx_fini(&lx);
    return rc;
}

// ------------------------------------------------------------ stop

static int s_stop(cli_t *cli, int argc, char **argv)
{
    enum { O_TIMEOUT = CLI_O_FIRST };
    static const struct option opts[] = {
        CLI_COMMON_OPTIONS,
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {NULL, 0, NULL, 0},
    };
    double timeout = 15;
    int c;
    while ((c = cli_getopt(cli, &s_cmd, argc, argv, ":h", opts)) != -1) {
        switch (c) {
        case 'h':
            return cli_help(&s_cmd);
        case O_TIMEOUT:
            if (!cli_parse_double(optarg, 0, &timeout))
                return cli_usage_error(&s_cmd, "--timeout needs a number of seconds, not '%s'",
                                       optarg);
            break;
        default:
            return CLI_USAGE;
        }
    }
    if (optind < argc)
        return cli_usage_error(&s_cmd, "unexpected argument '%s'", argv[optind]);
    char dir[4096];
    if (!cli_profile_dir(cli, dir, sizeof dir))
        return CLI_USAGE;
    char pidpath[4200], ctlpath[4200];
    snprintf(pidpath, sizeof pidpath, "%s/%s", dir, CS_ENGINES_PID);
    snprintf(ctlpath, sizeof ctlpath, "%s/%s", dir, S_CONTROLLER_PID);
    pid_t ctl = s_controller_pid(dir);
    if (!proc_ours(ctl, "ipp-controller"))
        ctl = 0;
    pid_t eng[CS_MAX_ENGINES];
    size_t n_eng = proc_read_pids(pidpath, eng, CS_MAX_ENGINES), n_alive = 0;
    for (size_t i = 0; i < n_eng; i++) {
        if (proc_ours(eng[i], "ipp-engine"))
            n_alive++;
        else
            eng[i] = 0;
    }
    // The engine sets still marked running.
    db_engine_set_t *sets = NULL;
    size_t n_sets = 0;
    {
        sqlite3 *db = cs_db_open(dir, NULL);
        ipp_error_t lerr;
        if (db && db_sets_list(db, "running", &sets, &n_sets, &lerr) != IPP_OK)
            cli_error("%s", lerr.msg);
        if (db)
            sqlite3_close_v2(db);
    }
    if (!ctl && !n_alive && !n_sets) {
        unlink(pidpath);
        cli_error("no cluster is running for profile '%s'", cli->profile);
        return CLI_UNREACHABLE;
    }
    // Ask nicely: the controller stops the engines and itself; the
    // engine sets are then ended the launcher's way too.
    bool asked = false;
    ipp_client_t *client = NULL;
    ipp_error_t err;
    if (ctl) {
        cli_t here = *cli;
        here.connection = NULL;
        here.timeout = 5;
        if (cli_connect(&here, &client) != CLI_OK)
            client = NULL;
    }
    sqlite3 *db = n_sets ? cs_db_open(dir, NULL) : NULL;
    for (size_t i = 0; db && i < n_sets; i++) {
        cs_set_stop(db, client, &sets[i], "stopped", timeout < 5 ? timeout : 5);
        printf("engine set %lld (%s) stopped\n", (long long)sets[i].id, sets[i].launcher);
    }
    if (db)
        sqlite3_close_v2(db);
    for (size_t i = 0; i < n_sets; i++)
        db_set_fini(&sets[i]);
    free(sets);
    if (client) {
        asked = ipp_client_shutdown(client, NULL, 0, true, NULL, NULL, &err) == IPP_OK;
        if (!asked)
            cli_error("shutdown request: %s; stopping by signal", err.msg);
    }
    ipp_client_destroy(&client);
    pid_t all[CS_MAX_ENGINES + 1];
    size_t n_all = 0;
    for (size_t i = 0; i < n_eng; i++)
        if (eng[i] > 0)
            all[n_all++] = eng[i];
    if (ctl)
        all[n_all++] = ctl;
    int64_t until = ipp_clock_mono_us() + (int64_t)((asked ? timeout : 0) * 1e6);
    for (;;) {
        size_t left = 0;
        for (size_t i = 0; i < n_all; i++)
            left += proc_alive(all[i]);
        if (!left || ipp_clock_mono_us() >= until)
            break;
        usleep(20000);
    }
    // Whatever is left: engines first, so the controller hears them go.
    int killed = proc_terminate(eng, n_eng, false, "ipp-engine", 5);
    if (ctl) {
        pid_t one = ctl;
        killed += proc_terminate(&one, 1, false, "ipp-controller", 5);
    }
    unlink(pidpath);
    pid_t left_ctl = s_controller_pid(dir);
    if (left_ctl && !proc_alive(left_ctl))
        unlink(ctlpath);
    printf("cluster '%s' stopped:", cli->profile);
    if (ctl)
        printf(" controller pid %d,", (int)ctl);
    printf(" %zu local engine%s", n_alive, n_alive == 1 ? "" : "s");
    if (killed)
        printf(" (%d killed with SIGKILL)", killed);
    printf("\n");
    return CLI_OK;
}

// ------------------------------------------------------------ status

// s_print_set_table: every engine set still running and the last few
// others: launcher, engines asked for and registered (client NULL: "-"),
// its state and the launcher's own view (squeue, mpiexec, pids). A set
// recorded running is shown for what it is now: "degraded" when fewer
// engines are registered than were asked for (or its watcher gave one
// up), "unwatched" when the watcher of a local set is gone but engines
// run, "lost" when a watcher gave every engine up, "ended" when nothing of
// it runs. Engines of the set that registered and are gone are named.
static void s_print_set_table(const char *dir, ipp_client_t *client)
{
    sqlite3 *db = cs_db_open(dir, NULL);
    if (!db)
        return;
    db_engine_set_t *sets = NULL;
    size_t n = 0;
    ipp_error_t err;
    if (db_sets_list(db, NULL, &sets, &n, &err) != IPP_OK) {
        cli_error("%s", err.msg);
        sqlite3_close_v2(db);
        return;
    }
    sqlite3_close_v2(db);
    size_t shown = 0;
    for (size_t i = 0; i < n; i++) {
        bool live = strcmp(sets[i].state, "running") == 0 || strcmp(sets[i].state, "starting") == 0;
        if (!live && i + 5 < n)
            continue;
        if (!shown++)
            printf("engine sets:\n  %-4s  %-8s  %-5s  %-10s  %-9s  %s\n", "SET", "LAUNCHER",
                   "ASKED", "REGISTERED", "STATE", "LAUNCHER STATE");
        char reg[16] = "-";
        int ids[CS_MAX_ENGINES], all[CS_MAX_ENGINES];
        size_t n_reg = 0, n_all = 0;
        if (client) {
            n_reg = cs_set_engines(client, sets[i].id, true, ids, NULL, CS_MAX_ENGINES);
            n_all = cs_set_engines(client, sets[i].id, false, all, NULL, CS_MAX_ENGINES);
            snprintf(reg, sizeof reg, "%zu", n_reg);
        }
        char ls[512] = "-";
        lx_view_t v;
        memset(&v, 0, sizeof v);
        const char *state = sets[i].state;
        if (live) {
            lx_state(&sets[i], ls, sizeof ls, &v);
            if (strcmp(state, "running") == 0) {
                if (v.lost && !v.running)
                    state = "lost";
                else if (!v.running)
                    state = "ended";
                else if (v.unwatched)
                    state = "unwatched";
                else if (v.lost || (client && (int)n_reg < sets[i].asked))
                    state = "degraded";
            }
        }
        printf("  %-4lld  %-8s  %-5d  %-10s  %-9s  %s%s%s", (long long)sets[i].id, sets[i].launcher,
               sets[i].asked, reg, state, ls, sets[i].hosts ? "; host " : "",
               sets[i].hosts ? sets[i].hosts : "");
        // The engines that registered and are no longer there.
        if (live && n_all > n_reg) {
            printf("; %zu engine%s gone (id%s", n_all - n_reg, n_all - n_reg == 1 ? "" : "s",
                   n_all - n_reg == 1 ? "" : "s");
            size_t k = 0;
            for (size_t a = 0; a < n_all; a++) {
                bool up = false;
                for (size_t r = 0; r < n_reg && !up; r++)
                    up = ids[r] == all[a];
                if (!up)
                    printf("%s%d", k++ ? ", " : " ", all[a]);
            }
            printf(")");
        }
        printf("\n");
    }
    for (size_t i = 0; i < n; i++)
        db_set_fini(&sets[i]);
    free(sets);
}

static int s_status(cli_t *cli, int argc, char **argv)
{
    static const struct option opts[] = {CLI_COMMON_OPTIONS, {NULL, 0, NULL, 0}};
    int c;
    while ((c = cli_getopt(cli, &s_cmd, argc, argv, ":h", opts)) != -1) {
        if (c == 'h')
            return cli_help(&s_cmd);
        return CLI_USAGE;
    }
    if (optind < argc)
        return cli_usage_error(&s_cmd, "unexpected argument '%s'", argv[optind]);
    char dir[4096];
    if (!cli_profile_dir(cli, dir, sizeof dir))
        return CLI_USAGE;
    char pidpath[4200];
    snprintf(pidpath, sizeof pidpath, "%s/%s", dir, CS_ENGINES_PID);
    pid_t eng[CS_MAX_ENGINES];
    size_t n_eng = proc_read_pids(pidpath, eng, CS_MAX_ENGINES), n_alive = 0;
    for (size_t i = 0; i < n_eng; i++)
        n_alive += proc_ours(eng[i], "ipp-engine");
    pid_t ctl = s_controller_pid(dir);
    printf("profile:    %s (%s)\n", cli->profile, dir);
    if (!proc_alive(ctl)) {
        printf("controller: not running\n");
        if (n_eng)
            printf("engines:    %zu of %zu started by `ipp cluster start` still running\n", n_alive,
                   n_eng);
        s_print_set_table(dir, NULL);
        return CLI_UNREACHABLE;
    }
    ipp_client_t *client = NULL;
    int rc = cli_connect(cli, &client);
    if (rc != CLI_OK) {
        printf("controller: pid %d, not answering\n", (int)ctl);
        return rc;
    }
    ipp_error_t err;
    ipp_queue_status_t qs;
    memset(&qs, 0, sizeof qs);
    if (ipp_client_refresh_engines(client, &err) != IPP_OK ||
        ipp_client_queue_status(client, NULL, 0, false, &qs, &err) != IPP_OK) {
        cli_error("%s", err.msg);
        ipp_client_destroy(&client);
        return CLI_UNREACHABLE;
    }
    printf("controller: running, pid %d\n", (int)ctl);
    ipp_engine_info_t info[CS_MAX_ENGINES];
    size_t n = ipp_client_engines(client, info, CS_MAX_ENGINES), reg = 0;
    for (size_t i = 0; i < n && i < CS_MAX_ENGINES; i++)
        reg += info[i].alive;
    printf("engines:    %zu registered", reg);
    if (n_eng)
        printf(" (%zu of %zu started by `ipp cluster start` running)", n_alive, n_eng);
    printf("\n");
    if (n) {
        printf("  %-6s  %-8s  %-7s  %-20s  %6s  %7s  %9s\n", "ENGINE", "PID", "STATE", "HOST",
               "QUEUED", "RUNNING", "COMPLETED");
        for (size_t i = 0; i < n && i < CS_MAX_ENGINES; i++) {
            const ipp_engine_queue_t *q = NULL;
            for (size_t k = 0; k < qs.n_engines && !q; k++)
                if (qs.engines[k].engine_id == info[i].id)
                    q = &qs.engines[k];
            printf("  %-6d  %-8d  %-7s  %-20.20s  %6d  %7d  %9lld\n", info[i].id, info[i].pid,
                   info[i].alive ? "up" : "gone", info[i].hostname ? info[i].hostname : "",
                   q ? q->queued : 0, q ? q->running : 0, q ? (long long)q->completed : 0LL);
        }
    }
    printf("unassigned: %d task%s waiting for an engine\n", qs.unassigned,
           qs.unassigned == 1 ? "" : "s");
    s_print_set_table(dir, client);
    ipp_queue_status_fini(&qs);
    ipp_client_destroy(&client);
    return CLI_OK;
}

int cli_cmd_cluster(cli_t *cli, int argc, char **argv)
{
    if (argc < 2)
        return cli_usage_error(&s_cmd, "which: start, stop, status or engines?");
    const char *what = argv[1];
    if (strcmp(what, "-h") == 0 || strcmp(what, "--help") == 0)
        return cli_help(&s_cmd);
    cli_getopt_reset();
    if (strcmp(what, "start") == 0)
        return s_start(cli, argc - 1, argv + 1);
    if (strcmp(what, "stop") == 0)
        return s_stop(cli, argc - 1, argv + 1);
    if (strcmp(what, "status") == 0)
        return s_status(cli, argc - 1, argv + 1);
    if (strcmp(what, "engines") == 0)
        return s_engines(cli, argc - 1, argv + 1);
    if (strcmp(what, "nanny") == 0)
        return lx_nanny_main(argc - 1, argv + 1);
    return cli_usage_error(&s_cmd, "unknown subcommand '%s' (start, stop, status, engines)", what);
}
