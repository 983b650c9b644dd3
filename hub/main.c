/* main.c — ipp-controller: parse options, run the controller, stop cleanly.
 *
 * Owns the logger and the one piece of global state a daemon needs: the
 * flag its signal handler sets. Everything else lives in hub_t.
 */
#include "hub/hub.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t s_signalled;

static void s_on_signal(int sig)
{
    s_signalled = sig;
}

static void s_usage(FILE *out)
{
    fprintf(out,
            "usage: ipp-controller [options]\n"
            "\n"
            "Run the ipp controller: the hub that records every task in SQLite and the\n"
            "scheduler that sends tasks to engines. It binds three TCP sockets (clients,\n"
            "notifications, engines), the same three as Unix sockets (ipc://) in the\n"
            "profile's security/ folder for peers on this host, and writes the connection\n"
            "files clients and engines read, under $IPP_DIR/profile_NAME/security/\n"
            "($IPP_DIR defaults to ~/.ipp). Peers elsewhere, or with IPP_TRANSPORT=tcp in\n"
            "their environment, use TCP.\n"
            "Started on an existing database, it recovers the work still pending.\n"
            "\n"
            "options:\n"
            "  --profile NAME          profile to use (default: default)\n"
            "  --ip ADDR|'*'           address to bind (default 127.0.0.1; '*' or 0.0.0.0:\n"
            "                          every interface, the connection files then name\n"
            "                          127.0.0.1); any other than loopback is reachable from\n"
            "                          the network, so Curve is on there unless --insecure\n"
            "  --curve                 CurveZMQ on every socket: traffic encrypted, and only\n"
            "                          keys made with `ipp keys new` get in, each on the\n"
            "                          socket of its role (default on for a non-loopback --ip)\n"
            "  --insecure              bind a non-loopback --ip without Curve: unencrypted,\n"
            "                          anyone holding the MAC key may do anything (a warning\n"
            "                          is logged at every start)\n"
            "  --no-ipc                TCP only: no Unix sockets for peers on this host\n"
            "  --db PATH               task database (default: PROFILE/db/tasks.db)\n"
            "  --durability MODE       normal (survives a killed process; default) or\n"
            "                          full (fsync per batch; survives power loss)\n"
            "  --scheme NAME           leastload (default), lru, plainrandom, twobin, weighted\n"
            "  --hwm N                 outstanding tasks per engine; 0 = unlimited (default 1)\n"
            "  --heartbeat-period S    seconds between heartbeats (default 1)\n"
            "  --heartbeat-misses N    missed heartbeats before an engine is dead (default 5)\n"
            "  --grace S               after a restart, seconds engines get to report the\n"
            "                          tasks they hold before those run again (default:\n"
            "                          heartbeat period x misses)\n"
            "  --window S              how old a message may be, seconds (default 300); it\n"
            "                          may be dated at most 60 s (or S if less) ahead\n"
            "  --max-engines N         engines registered at once, at most (default 1024);\n"
            "                          registrations past it are refused\n"
            "  --client-port P, --notify-port P, --engine-port P\n"
            "                          fixed ports (default: those of the existing connection\n"
            "                          files, else free ports)\n"
            "  --log-level LEVEL       error, warn, info (default) or debug\n"
            "  -h, --help              show this help\n"
            "\n"
            "SIGTERM or SIGINT stop it cleanly: queued records are committed, engines are\n"
            "told, the pid file is removed.\n");
}

// s_loopback: is ip an address only this host can reach (127.0.0.0/8,
// ::1, localhost)?
static bool s_loopback(const char *ip)
{
    return strncmp(ip, "127.", 4) == 0 || strcmp(ip, "::1") == 0 || strcmp(ip, "[::1]") == 0 ||
           strcmp(ip, "localhost") == 0;
}

// s_number: parse a non-negative number (seconds may be fractional).
static int s_number(const char *opt, const char *text, double min, double *out)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || !end || *end || end == text || v < min) {
        fprintf(stderr, "ipp-controller: %s needs a number >= %g, not \"%s\"\n", opt, min, text);
        return -1;
    }
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    enum {
        O_PROFILE = 1000,
        O_IP,
        O_DB,
        O_DURABILITY,
        O_SCHEME,
        O_HWM,
        O_HB,
        O_MISSES,
        O_GRACE,
        O_WINDOW,
        O_MAX_ENGINES,
        O_CPORT,
        O_NPORT,
        O_EPORT,
        O_LOG,
        O_CURVE,
        O_INSECURE,
        O_NO_IPC
    };
    static const struct option opts[] = {
        {"profile", required_argument, NULL, O_PROFILE},
        {"ip", required_argument, NULL, O_IP},
        {"db", required_argument, NULL, O_DB},
        {"durability", required_argument, NULL, O_DURABILITY},
        {"scheme", required_argument, NULL, O_SCHEME},
        {"hwm", required_argument, NULL, O_HWM},
        {"heartbeat-period", required_argument, NULL, O_HB},
        {"heartbeat-misses", required_argument, NULL, O_MISSES},
        {"grace", required_argument, NULL, O_GRACE},
        {"window", required_argument, NULL, O_WINDOW},
        {"max-engines", required_argument, NULL, O_MAX_ENGINES},
        {"client-port", required_argument, NULL, O_CPORT},
        {"notify-port", required_argument, NULL, O_NPORT},
        {"engine-port", required_argument, NULL, O_EPORT},
        {"log-level", required_argument, NULL, O_LOG},
        {"curve", no_argument, NULL, O_CURVE},
        {"insecure", no_argument, NULL, O_INSECURE},
        {"no-ipc", no_argument, NULL, O_NO_IPC},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    hub_config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    snprintf(cfg.ip, sizeof cfg.ip, "127.0.0.1");
    cfg.durability = 0;
    cfg.scheme = NULL;
    cfg.hwm = 1;
    cfg.heartbeat_us = 1000000;
    cfg.heartbeat_misses = 5;
    cfg.grace_us = -1;
    cfg.window_us = 300LL * 1000000;
    cfg.max_engines = HUB_MAX_ENGINES_DEFAULT;
    const char *profile = "default";
    const char *db = NULL;
    ipp_logger_t log = {IPP_LOG_INFO, NULL, "ipp-controller"};
    double v;
    int c;
    bool curve = false, insecure = false;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case O_PROFILE:
            profile = optarg;
            break;
        case O_IP:
            snprintf(cfg.ip, sizeof cfg.ip, "%s", optarg);
            break;
        case O_DB:
            db = optarg;
            break;
        case O_DURABILITY:
            if (strcmp(optarg, "normal") == 0) {
                cfg.durability = 0;
            } else if (strcmp(optarg, "full") == 0) {
                cfg.durability = 1;
            } else {
                fprintf(stderr, "ipp-controller: --durability is normal or full, not \"%s\"\n",
                        optarg);
                return 2;
            }
            break;
        case O_SCHEME:
            cfg.scheme = sched_scheme_by_name(optarg);
            if (!cfg.scheme) {
                fprintf(stderr,
                        "ipp-controller: unknown --scheme \"%s\" (leastload, lru, "
                        "plainrandom, twobin, weighted)\n",
                        optarg);
                return 2;
            }
            break;
        case O_HWM:
            if (s_number("--hwm", optarg, 0, &v))
                return 2;
            cfg.hwm = (uint32_t)v;
            break;
        case O_HB:
            if (s_number("--heartbeat-period", optarg, 0.01, &v))
                return 2;
            cfg.heartbeat_us = (int64_t)(v * 1e6);
            break;
        case O_MISSES:
            if (s_number("--heartbeat-misses", optarg, 1, &v))
                return 2;
            cfg.heartbeat_misses = (int)v;
            break;
        case O_GRACE:
            if (s_number("--grace", optarg, 0, &v))
                return 2;
            cfg.grace_us = (int64_t)(v * 1e6);
            break;
        case O_WINDOW:
            if (s_number("--window", optarg, 1, &v))
                return 2;
            cfg.window_us = (int64_t)(v * 1e6);
            break;
        case O_MAX_ENGINES:
            if (s_number("--max-engines", optarg, 1, &v) || v != (double)(size_t)v || v > 1000000) {
                fprintf(stderr, "ipp-controller: --max-engines is a whole number from 1 to "
                                "1000000\n");
                return 2;
            }
            cfg.max_engines = (size_t)v;
            break;
        case O_CPORT:
        case O_NPORT:
        case O_EPORT:
            if (s_number("--*-port", optarg, 1, &v) || v > 65535) {
                fprintf(stderr, "ipp-controller: ports are 1 to 65535\n");
                return 2;
            }
            if (c == O_CPORT)
                cfg.client_port = (int)v;
            else if (c == O_NPORT)
                cfg.notify_port = (int)v;
            else
                cfg.engine_port = (int)v;
            break;
        case O_LOG: {
            int level = ipp_log_level_parse(optarg);
            if (level < 0) {
                fprintf(stderr, "ipp-controller: --log-level is error, warn, info or debug\n");
                return 2;
            }
            log.level = (ipp_log_level_t)level;
            break;
        }
        case O_NO_IPC:
            cfg.no_ipc = true;
            break;
        case O_CURVE:
            curve = true;
            break;
        case O_INSECURE:
            insecure = true;
            break;
        case 'h':
            s_usage(stdout);
            return 0;
        default:
            s_usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "ipp-controller: unexpected argument \"%s\"\n", argv[optind]);
        s_usage(stderr);
        return 2;
    }
    if (curve && insecure) {
        fprintf(stderr, "ipp-controller: --curve and --insecure contradict each other\n");
        return 2;
    }
    // Off loopback, Curve unless refused in so many words.
    cfg.curve = curve || (!insecure && !s_loopback(cfg.ip));
    if (cfg.curve) {
        ipp_error_t cerr;
        if (conn_curve_check("ipp-controller", &cerr) != IPP_OK) {
            fprintf(stderr, "%s\n", cerr.msg);
            return 1;
        }
    }
    if (cfg.grace_us < 0)
        cfg.grace_us = cfg.heartbeat_us * cfg.heartbeat_misses;
    ipp_error_t err;
    if (conn_profile_dir(NULL, profile, cfg.profile_dir, sizeof cfg.profile_dir, &err) != IPP_OK) {
        fprintf(stderr, "ipp-controller: %s\n", err.msg);
        return 2;
    }
    if (db)
        snprintf(cfg.db_path, sizeof cfg.db_path, "%s", db);
    else
        snprintf(cfg.db_path, sizeof cfg.db_path, "%s/db/tasks.db", cfg.profile_dir);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = s_on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (!s_loopback(cfg.ip) && !cfg.curve)
        IPP_LOGW(&log,
                 "--ip %s --insecure: the ports are reachable from the network and the traffic "
                 "is not encrypted; anyone who can reach them and holds the key in %s/security/ "
                 "can run commands on the engines (drop --insecure to use Curve)",
                 cfg.ip, cfg.profile_dir);
    else if (!s_loopback(cfg.ip))
        IPP_LOGI(&log, "--ip %s: Curve is on; peers need a key from `ipp keys new`", cfg.ip);
    hub_t *hub = hub_new(&cfg, &log, &err);
    if (!hub) {
        fprintf(stderr, "ipp-controller: %s\n", err.msg);
        return 1;
    }
    hub->stop_flag = &s_signalled;
    if (hub_start(hub, &err) != IPP_OK) {
        fprintf(stderr, "ipp-controller: %s\n", err.msg);
        hub_destroy(&hub);
        return 1;
    }
    ipp_err_t rc = hub_run(hub);
    if (s_signalled)
        IPP_LOGI(&log, "signal %d: stopping", (int)s_signalled);
    hub_stop(hub);
    hub_destroy(&hub);
    IPP_LOGI(&log, "stopped");
    return rc == IPP_OK ? 0 : 1;
}
