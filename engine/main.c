/* main.c — ipp-engine: parse options, run the engine until told to stop.
 *
 * Owns the logger, the option arrays and the signal flag.
 */
#include "engine/daemon.h"
#include "proto/conn.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef IPP_LIBDIR_REL
#define IPP_LIBDIR_REL "lib"
#endif
#ifndef IPP_LIBDIR_FULL
#define IPP_LIBDIR_FULL "/usr/local/lib"
#endif
#define S_PYTHON_PLUGIN "ipp_python.so"

static volatile sig_atomic_t s_signalled;

static void s_on_signal(int sig)
{
    s_signalled = sig;
}

// s_find_python: the Python plugin ipp-engine loads by default, into buf:
// beside the binary, in the build tree (python/ beside it), then in the
// install's <libdir>/ipp (relative to the binary, then the configured
// one). NULL when none of them exists.
static const char *s_find_python(char *buf, size_t size)
{
    char exe[1024];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    const char *dir = NULL;
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            dir = exe;
        }
    }
    const char *const rel[] = {"/" S_PYTHON_PLUGIN, "/python/" S_PYTHON_PLUGIN,
                               "/../" IPP_LIBDIR_REL "/ipp/" S_PYTHON_PLUGIN};
    for (size_t i = 0; dir && i < sizeof rel / sizeof *rel; i++) {
        int w = snprintf(buf, size, "%s%s", dir, rel[i]);
        if (w > 0 && (size_t)w < size && access(buf, R_OK) == 0)
            return buf;
    }
    int w = snprintf(buf, size, "%s/ipp/%s", IPP_LIBDIR_FULL, S_PYTHON_PLUGIN);
    if (w > 0 && (size_t)w < size && access(buf, R_OK) == 0)
        return buf;
    return NULL;
}

// s_rank: the MPI or Slurm rank this process was started with, -1 if none.
static long s_rank(void)
{
    const char *const vars[] = {"OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK", "SLURM_PROCID"};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) {
        const char *v = getenv(vars[i]);
        char *end = NULL;
        errno = 0;
        long r = v && *v ? strtol(v, &end, 10) : -1;
        if (v && *v && !errno && end && !*end && r >= 0 && r < 100000000)
            return r;
    }
    return -1;
}

static void s_usage(FILE *out)
{
    fprintf(out, "usage: ipp-engine [options]\n"
                 "\n"
                 "Run an ipp engine: it registers with the controller, runs the tasks it is\n"
                 "sent one at a time (commands as child processes, call tasks through its\n"
                 "functions, namespace operations), and keeps each result until the\n"
                 "controller has recorded it. It reconnects by itself when the controller\n"
                 "goes away and comes back. Each command runs in its own process group,\n"
                 "and a small guard process kills that group if the engine dies, however\n"
                 "it dies.\n"
                 "\n"
                 "options:\n"
                 "  --profile NAME        read $IPP_DIR/profile_NAME/security/ipp-engine.json\n"
                 "                        (default profile: default)\n"
                 "  --connection FILE     read this engine connection file instead\n"
                 "                        (without it, $IPP_CONNECTION_INFO, when set, is the\n"
                 "                        connection file's JSON text: no file needed)\n"
                 "                        A file not there yet is waited for: an engine may\n"
                 "                        start before its controller.\n"
                 "  --uuid UUID           engine identity (default: a new one); the controller\n"
                 "                        gives the same uuid the same engine id\n"
                 "  --uuid-prefix P       identity P followed by the MPI/Slurm rank (rK) when\n"
                 "                        there is one, else by random hex digits\n"
                 "  --tag TAG             offer TAG to tasks that require tag:TAG (repeatable);\n"
                 "                        started by MPI or srun, the engine also has the tag\n"
                 "                        rank=K, its rank ($OMPI_COMM_WORLD_RANK, $PMI_RANK,\n"
                 "                        $PMIX_RANK or $SLURM_PROCID)\n"
                 "  --plugin PATH.so      load call functions from a plugin (repeatable)\n"
                 "  --python PATH.so      load the Python plugin (py.apply, py.execute, py.push,\n"
                 "                        py.pull, py.clear) from PATH; by default it is loaded\n"
                 "                        when found beside ipp-engine, in its build tree or in\n"
                 "                        <libdir>/ipp (Python runs in a child process,\n"
                 "                        ipp-python-host, one per engine)\n"
                 "  --no-python           do not load the Python plugin\n"
                 "  --output-limit BYTES  stdout/stderr kept per task (default 1048576)\n"
                 "  --log-level LEVEL     error, warn, info (default) or debug\n"
                 "  -h, --help            show this help\n");
}

int main(int argc, char **argv)
{
    enum {
        O_PROFILE = 1000,
        O_CONN,
        O_UUID,
        O_UUID_PREFIX,
        O_TAG,
        O_PLUGIN,
        O_OUT,
        O_LOG,
        O_PYTHON,
        O_NO_PYTHON
    };
    static const struct option opts[] = {
        {"profile", required_argument, NULL, O_PROFILE},
        {"connection", required_argument, NULL, O_CONN},
        {"uuid", required_argument, NULL, O_UUID},
        {"uuid-prefix", required_argument, NULL, O_UUID_PREFIX},
        {"tag", required_argument, NULL, O_TAG},
        {"plugin", required_argument, NULL, O_PLUGIN},
        {"python", required_argument, NULL, O_PYTHON},
        {"no-python", no_argument, NULL, O_NO_PYTHON},
        {"output-limit", required_argument, NULL, O_OUT},
        {"log-level", required_argument, NULL, O_LOG},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *profile = "default";
    const char *conn = NULL;
    ipp_logger_t log = {IPP_LOG_INFO, NULL, "ipp-engine"};
    eng_daemon_opts_t eo = {0};
    const char **tags = calloc((size_t)argc + 1, sizeof *tags);
    const char *uuid_prefix = NULL;
    char uuid_buf[64], rank_tag[32];
    char *conn_text = NULL;
    const char **plugins = calloc((size_t)argc + 1, sizeof *plugins);
    const char *python = NULL;
    bool no_python = false;
    char pybuf[2048];
    int rc = 2;
    eng_daemon_t *d = NULL;
    char path[2048];
    if (!tags || !plugins) {
        fprintf(stderr, "ipp-engine: out of memory\n");
        goto out;
    }
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case O_PROFILE:
            profile = optarg;
            break;
        case O_CONN:
            conn = optarg;
            break;
        case O_UUID:
            eo.uuid = optarg;
            break;
        case O_UUID_PREFIX:
            uuid_prefix = optarg;
            break;
        case O_TAG:
            tags[eo.n_tags++] = optarg;
            break;
        case O_PLUGIN:
            plugins[eo.n_plugins++] = optarg;
            break;
        case O_PYTHON:
            python = optarg;
            break;
        case O_NO_PYTHON:
            no_python = true;
            break;
        case O_OUT: {
            char *end = NULL;
            errno = 0;
            long long v = strtoll(optarg, &end, 10);
            if (errno || !end || *end || v < 1) {
                fprintf(stderr, "ipp-engine: --output-limit needs a positive byte count\n");
                goto out;
            }
            eo.output_limit = (size_t)v;
            break;
        }
        case O_LOG: {
            int level = ipp_log_level_parse(optarg);
            if (level < 0) {
                fprintf(stderr, "ipp-engine: --log-level is error, warn, info or debug\n");
                goto out;
            }
            log.level = (ipp_log_level_t)level;
            break;
        }
        case 'h':
            s_usage(stdout);
            rc = 0;
            goto out;
        default:
            s_usage(stderr);
            goto out;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "ipp-engine: unexpected argument \"%s\"\n", argv[optind]);
        s_usage(stderr);
        goto out;
    }
    if (python && no_python) {
        fprintf(stderr, "ipp-engine: --python and --no-python contradict each other\n");
        goto out;
    }
    if (!python && !no_python)
        python = s_find_python(pybuf, sizeof pybuf);
    if (python)
        plugins[eo.n_plugins++] = python;
    if (uuid_prefix && eo.uuid) {
        fprintf(stderr, "ipp-engine: --uuid and --uuid-prefix contradict each other\n");
        goto out;
    }
    long rank = s_rank();
    if (rank >= 0) {
        snprintf(rank_tag, sizeof rank_tag, "rank=%ld", rank);
        tags[eo.n_tags++] = rank_tag;
    }
    if (uuid_prefix) {
        unsigned char rnd[6];
        char hex[16];
        if (sodium_init() < 0) {
            fprintf(stderr, "ipp-engine: libsodium failed to initialise\n");
            goto out;
        }
        randombytes_buf(rnd, sizeof rnd);
        for (size_t i = 0; i < sizeof rnd; i++)
            snprintf(hex + 2 * i, 3, "%02x", rnd[i]);
        int w = rank >= 0 ? snprintf(uuid_buf, sizeof uuid_buf, "%sr%ld", uuid_prefix, rank)
                          : snprintf(uuid_buf, sizeof uuid_buf, "%s%s", uuid_prefix, hex);
        if (w < 0 || w > 36) {
            fprintf(stderr, "ipp-engine: --uuid-prefix is too long (the uuid is at most 36 "
                            "characters)\n");
            goto out;
        }
        eo.uuid = uuid_buf;
    }
    ipp_error_t err;
    const char *env_conn = getenv("IPP_CONNECTION_INFO");
    if (!conn && env_conn && *env_conn) {
        // Taken out of the environment: the commands the engine runs
        // inherit it, and it holds the key.
        conn_text = strdup(env_conn);
        if (!conn_text) {
            fprintf(stderr, "ipp-engine: out of memory\n");
            goto out;
        }
        unsetenv("IPP_CONNECTION_INFO");
        eo.conn_text = conn_text;
    } else if (!conn) {
        char pdir[1024];
        if (conn_profile_dir(NULL, profile, pdir, sizeof pdir, &err) != IPP_OK ||
            conn_file_path(pdir, CONN_ENGINE, path, sizeof path, &err) != IPP_OK) {
            fprintf(stderr, "ipp-engine: %s\n", err.msg);
            goto out;
        }
        conn = path;
    }
    if (!eo.conn_text)
        eo.conn_path = conn;
    eo.tags = tags;
    eo.plugins = plugins;
    eo.log = &log;
    eo.stop = &s_signalled;

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = s_on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    d = eng_daemon_new(&eo, &err);
    if (!d || eng_daemon_start(d, &err) != IPP_OK) {
        fprintf(stderr, "ipp-engine: %s\n", err.msg);
        rc = 1;
        goto out;
    }
    rc = eng_daemon_run(d) == IPP_OK ? 0 : 1;
out:
    eng_daemon_stop(d);
    eng_daemon_destroy(&d);
    free(tags);
    free(plugins);
    if (conn_text) {
        sodium_memzero(conn_text, strlen(conn_text));
        free(conn_text);
    }
    return rc;
}
