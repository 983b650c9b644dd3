/* launch.c — the engine launchers of `ipp cluster` (see launch.h).
 *
 * Every launcher is driven through real tools: fork/exec of ipp-engine,
 * mpiexec, sbatch/squeue/sacct/scancel, ssh. What each started is kept in
 * the set's row (pids, job id, hosts) so a later process can tell its
 * state and stop it. Owns nothing between calls.
 */
#include "tools/ipp/launch.h"

#include "proto/clock.h"
#include "tools/ipp/proc.h"

#include <ctype.h>
#include <sodium.h>
#include <stdarg.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

extern char **environ;

#define S_MAX_HOSTS 256
#define S_MAX_ARGS 256
#define S_OUT 8192

// One host of --hosts.
typedef struct s_host_t {
    char dest[300];  // [user@]host for ssh
    char host[256];  // host alone
    int port;        // 0 = ssh's default
    long n;          // engines there, 0 = the default
} s_host_t;

// s_copy: src into dst[size], cut to fit; returns whether it fitted.
static bool s_copy(char *dst, size_t size, const char *src)
{
    size_t n = strlen(src);
    bool fits = n < size;
    if (!fits)
        n = size - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
    return fits;
}

// s_wipe_free: zero the string s (it holds a key), then free it.
static void s_wipe_free(char *s)
{
    if (s) {
        sodium_memzero(s, strlen(s));
        free(s);
    }
}

// ------------------------------------------------------------ options

int lx_option(lx_opts_t *o, const cli_cmd_t *cmd, int c, const char *arg)
{
    switch (c) {
    case LX_O_LAUNCHER: {
        long v;
        if (cli_parse_int(arg, 1, 1024, &v)) {
            o->n = v;  // the older `--engines N`
            o->n_given = true;
            return 1;
        }
        static const char *const kinds[] = {"local", "mpi", "slurm", "ssh"};
        for (size_t i = 0; i < 4; i++)
            if (strcmp(arg, kinds[i]) == 0) {
                o->launcher = kinds[i];
                return 1;
            }
        cli_usage_error(cmd, "--engines is local, mpi, slurm or ssh, not '%s'", arg);
        return -1;
    }
    case LX_O_MPIEXEC:
        o->mpiexec = arg;
        return 1;
    case LX_O_MPI_ARGS:
        o->mpi_args = arg;
        return 1;
    case LX_O_TEMPLATE:
        o->batch_template = arg;
        return 1;
    case LX_O_PARTITION:
        o->partition = arg;
        return 1;
    case LX_O_ACCOUNT:
        o->account = arg;
        return 1;
    case LX_O_TIME:
        o->time_limit = arg;
        return 1;
    case LX_O_QOS:
        o->qos = arg;
        return 1;
    case LX_O_SBATCH_ARG:
        if (arg[0] != '-') {
            cli_usage_error(cmd, "--sbatch-arg takes an sbatch option such as --mem=1G, not '%s'",
                            arg);
            return -1;
        }
        return cli_strv_push(&o->sbatch_args, arg) ? 1 : -1;
    case LX_O_HOSTS:
        o->hosts = arg;
        return 1;
    case LX_O_HOSTS_FILE:
        o->hosts_file = arg;
        return 1;
    case LX_O_REMOTE_ENGINE:
        o->remote_engine = arg;
        return 1;
    case LX_O_REMOTE_LOG_DIR:
        o->remote_log_dir = arg;
        return 1;
    case LX_O_SSH_ARGS:
        o->ssh_args = arg;
        return 1;
    case LX_O_LOCATION:
        o->location = arg;
        return 1;
    case LX_O_RESTART:
        o->restart = 1;
        return 1;
    case LX_O_NO_RESTART:
        o->restart = -1;
        return 1;
    default:
        return 0;
    }
}

void lx_fini(lx_opts_t *o)
{
    cli_strv_fini(&o->tags);
    cli_strv_fini(&o->sbatch_args);
}

static const char *s_kind(const lx_opts_t *o)
{
    return o->launcher ? o->launcher : "local";
}

// s_split: the white-space separated words of text pushed onto sv.
static bool s_split(cli_strv_t *sv, const char *text)
{
    const char *p = text;
    while (p && *p) {
        while (*p && isspace((unsigned char)*p))
            p++;
        const char *q = p;
        while (*q && !isspace((unsigned char)*q))
            q++;
        if (q > p) {
            char *w = strndup(p, (size_t)(q - p));
            if (!w || !cli_strv_push_own(sv, w))
                return false;
        }
        p = q;
    }
    return true;
}

// s_parse_host: one [user@]host[:port][/N] into h; false with a message.
static bool s_parse_host(const char *text, s_host_t *h)
{
    memset(h, 0, sizeof *h);
    char buf[400];
    if (snprintf(buf, sizeof buf, "%s", text) >= (int)sizeof buf || !buf[0]) {
        cli_error("--hosts: '%s' is not [USER@]HOST[:PORT][/N]", text);
        return false;
    }
    char *slash = strrchr(buf, '/');
    if (slash) {
        *slash = '\0';
        long v;
        if (!cli_parse_int(slash + 1, 1, 1024, &v)) {
            cli_error("--hosts: in '%s', /N needs a number of engines from 1 to 1024", text);
            return false;
        }
        h->n = v;
    }
    char *at = strrchr(buf, '@');
    char *hostpart = at ? at + 1 : buf;
    char *colon = strchr(hostpart, ':');
    if (colon) {
        *colon = '\0';
        long v;
        if (!cli_parse_int(colon + 1, 1, 65535, &v)) {
            cli_error("--hosts: in '%s', :PORT needs a port from 1 to 65535", text);
            return false;
        }
        h->port = (int)v;
    }
    if (!*hostpart || (at && at == buf)) {
        cli_error("--hosts: '%s' is not [USER@]HOST[:PORT][/N]", text);
        return false;
    }
    for (const char *p = buf; *p; p++) {
        if (!isalnum((unsigned char)*p) && !strchr("@._-", *p)) {
            cli_error("--hosts: '%s' holds '%c', which is not in a user or host name", text, *p);
            return false;
        }
    }
    if (!s_copy(h->dest, sizeof h->dest, buf) || !s_copy(h->host, sizeof h->host, hostpart)) {
        cli_error("--hosts: '%s' is too long", text);
        return false;
    }
    return true;
}

// s_hosts: every host of --hosts and --hosts-file into hs (up to
// S_MAX_HOSTS); returns how many, -1 after a message.
static long s_hosts(const lx_opts_t *o, s_host_t *hs)
{
    long n = 0;
    char line[512];
    if (o->hosts) {
        const char *p = o->hosts;
        while (*p) {
            const char *q = strchr(p, ',');
            size_t len = q ? (size_t)(q - p) : strlen(p);
            if (len >= sizeof line || n >= S_MAX_HOSTS) {
                cli_error("--hosts: too long");
                return -1;
            }
            memcpy(line, p, len);
            line[len] = '\0';
            if (len && !s_parse_host(line, &hs[n++]))
                return -1;
            p += len + (q ? 1 : 0);
        }
    }
    if (o->hosts_file) {
        FILE *f = fopen(o->hosts_file, "r");
        if (!f) {
            cli_error("--hosts-file %s: %s", o->hosts_file, strerror(errno));
            return -1;
        }
        while (fgets(line, sizeof line, f)) {
            char *hash = strchr(line, '#');
            if (hash)
                *hash = '\0';
            char *s = line;
            while (isspace((unsigned char)*s))
                s++;
            char *e = s + strlen(s);
            while (e > s && isspace((unsigned char)e[-1]))
                *--e = '\0';
            if (!*s)
                continue;
            if (n >= S_MAX_HOSTS || !s_parse_host(s, &hs[n++])) {
                fclose(f);
                return -1;
            }
        }
        fclose(f);
    }
    return n;
}

// s_is_loopback: an address or name only this host reaches.
static bool s_is_loopback(const char *host)
{
    return strncmp(host, "127.", 4) == 0 || strcmp(host, "::1") == 0 ||
           strcmp(host, "localhost") == 0;
}

// ------------------------------------------------------------ check

// s_reachable: engines on h can reach a controller at ip — not when ip is
// loopback and h is another host (said on stderr).
static bool s_reachable(const s_host_t *h, const char *ip)
{
    if (!s_is_loopback(ip) || s_is_loopback(h->host))
        return true;
    cli_error("ssh host %s: the controller is reachable on %s only (loopback), which engines "
              "on %s cannot reach; start the cluster with --ip ADDR, an address of this "
              "machine that %s can reach (Curve is then on), or give --location ADDR",
              h->dest, ip, h->host, h->host);
    return false;
}

int lx_check_reach(const lx_opts_t *o, const char *ip)
{
    if (strcmp(s_kind(o), "ssh") != 0)
        return CLI_OK;
    s_host_t *hs = calloc(S_MAX_HOSTS, sizeof *hs);
    long n = hs ? s_hosts(o, hs) : -1;
    int rc = n < 0 ? CLI_FAILED : CLI_OK;
    for (long i = 0; i < n && rc == CLI_OK; i++)
        if (!s_reachable(&hs[i], o->location ? o->location : ip))
            rc = CLI_FAILED;
    free(hs);
    return rc;
}

int lx_check(const lx_opts_t *o, const cli_cmd_t *cmd)
{
    const char *k = s_kind(o);
    char path[PATH_MAX];
    bool mpi = strcmp(k, "mpi") == 0, slurm = strcmp(k, "slurm") == 0, ssh = strcmp(k, "ssh") == 0;
    if (!mpi && (o->mpiexec || o->mpi_args)) {
        cli_usage_error(cmd, "--mpiexec and --mpi-args are for --engines mpi");
        return CLI_USAGE;
    }
    if (!slurm && (o->batch_template || o->partition || o->account || o->time_limit || o->qos ||
                   o->sbatch_args.n)) {
        cli_usage_error(cmd, "--batch-template, --partition, --account, --time, --qos and "
                             "--sbatch-arg are for --engines slurm");
        return CLI_USAGE;
    }
    if (!ssh &&
        (o->hosts || o->hosts_file || o->remote_engine || o->remote_log_dir || o->ssh_args)) {
        cli_usage_error(cmd, "--hosts, --hosts-file, --remote-engine, --remote-log-dir and "
                             "--ssh-args are for --engines ssh");
        return CLI_USAGE;
    }
    if ((mpi || slurm) && o->restart > 0) {
        cli_usage_error(cmd,
                        "--restart-engines is for --engines local and ssh (%s; status "
                        "shows a loss)",
                        mpi ? "mpiexec ends the whole job when one rank dies"
                            : "a Slurm allocation's engines are under srun, not ours to start");
        return CLI_USAGE;
    }
    if (mpi) {
        const char *m = o->mpiexec ? o->mpiexec : "mpiexec";
        if (!proc_on_path(m, path, sizeof path)) {
            cli_error("--engines mpi: cannot find %s%s (Debian: apt-get install openmpi-bin)", m,
                      o->mpiexec ? "" : " on $PATH");
            return CLI_FAILED;
        }
    }
    if (slurm) {
        const char *tools[] = {"sbatch", "squeue", "scancel"};
        for (size_t i = 0; i < 3; i++) {
            if (!proc_on_path(tools[i], path, sizeof path)) {
                cli_error("--engines slurm: cannot find %s on $PATH (Debian: apt-get install "
                          "slurm-client)",
                          tools[i]);
                return CLI_FAILED;
            }
        }
        char nbuf[32];
        snprintf(nbuf, sizeof nbuf, "%ld", o->n);
        lx_vars_t v = {nbuf,  o->partition ? o->partition : "", "/tmp", "check", "/dev/null",
                       "true"};
        char *script = lx_slurm_script(o, &v);
        if (!script)
            return CLI_FAILED;
        // Slurm's own opinion of the options (partition, account, time…),
        // without submitting anything: `sbatch --test-only`.
        char tmp[] = "/tmp/ipp-sbatch-check-XXXXXX";
        int fd = mkstemp(tmp);
        bool wrote = fd >= 0 && write(fd, script, strlen(script)) == (ssize_t)strlen(script);
        if (fd >= 0)
            close(fd);
        free(script);
        if (!wrote) {
            if (fd >= 0)
                unlink(tmp);
            cli_error("cannot write a batch script to check: %s", strerror(errno));
            return CLI_FAILED;
        }
        char out[S_OUT];
        char *av[] = {"sbatch", "--test-only", tmp, NULL};
        int rc = proc_run(av, NULL, 60, out, sizeof out, NULL);
        unlink(tmp);
        if (rc != 0) {
            cli_error("sbatch refuses these options: %s", out[0] ? out : "(no output)");
            return CLI_FAILED;
        }
    }
    if (ssh) {
        if (!proc_on_path("ssh", path, sizeof path)) {
            cli_error("--engines ssh: cannot find ssh on $PATH (Debian: apt-get install "
                      "openssh-client)");
            return CLI_FAILED;
        }
        s_host_t *hs = calloc(S_MAX_HOSTS, sizeof *hs);
        long n = hs ? s_hosts(o, hs) : -1;
        free(hs);
        if (n < 0)
            return CLI_FAILED;
        if (n == 0) {
            cli_usage_error(cmd, "--engines ssh needs --hosts or --hosts-file");
            return CLI_USAGE;
        }
        if (o->remote_engine && o->remote_engine[0] != '/') {
            cli_usage_error(cmd, "--remote-engine needs an absolute path, not '%s'",
                            o->remote_engine);
            return CLI_USAGE;
        }
    }
    return CLI_OK;
}

size_t lx_n_sets(const lx_opts_t *o)
{
    if (strcmp(s_kind(o), "ssh") != 0)
        return 1;
    s_host_t *hs = calloc(S_MAX_HOSTS, sizeof *hs);
    long n = hs ? s_hosts(o, hs) : 0;
    free(hs);
    return n > 0 ? (size_t)n : 0;
}

// ------------------------------------------------------------ launch

// s_strdupf: a malloc'd printf.
static char *s_strdupf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *s_strdupf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *out = NULL;
    if (vasprintf(&out, fmt, ap) < 0)
        out = NULL;
    va_end(ap);
    return out;
}

// s_engine_args: ENGINE --connection F (when file) --uuid... --tag... into av.
static size_t s_engine_args(const lx_opts_t *o, const char *bin, const char *conn_file,
                            const char *uuid_opt, const char *uuid, char **av, size_t k)
{
    av[k++] = (char *)bin;
    if (conn_file) {
        av[k++] = "--connection";
        av[k++] = (char *)conn_file;
    }
    av[k++] = (char *)uuid_opt;
    av[k++] = (char *)uuid;
    for (size_t i = 0; i < o->tags.n && k + 3 < S_MAX_ARGS; i++) {
        av[k++] = "--tag";
        av[k++] = o->tags.v[i];
    }
    av[k] = NULL;
    return k;
}

// s_set_dir: the profile folder of a local or ssh set, from its log.
static void s_set_dir(const db_engine_set_t *s, char *dir, size_t size)
{
    snprintf(dir, size, "%s", s->log ? s->log : "");
    char *cut = NULL;
    for (char *p = dir; (p = strstr(p, "/log/engine")); p++)
        cut = p;
    if (cut)
        *cut = '\0';
}

// s_launch_nanny: start set s's nanny (nanny.c), which starts the engines
// itself; wait until it has written their pids. s->job_id gets its pid.
static bool s_launch_nanny(const lx_opts_t *o, const lx_env_t *env, db_engine_set_t *s)
{
    char self_bin[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", self_bin, sizeof self_bin - 1);
    if (len <= 0) {
        cli_error("cannot find this program (/proc/self/exe): %s", strerror(errno));
        return false;
    }
    self_bin[len] = '\0';
    char set[32], n[32], log[4200];
    snprintf(set, sizeof set, "%lld", (long long)s->id);
    snprintf(n, sizeof n, "%ld", o->n);
    snprintf(log, sizeof log, "%s/log/nanny-%lld.log", env->dir, (long long)s->id);
    char state[4200];
    snprintf(state, sizeof state, "%s/nanny-%lld.state", env->dir, (long long)s->id);
    unlink(state);
    char *av[S_MAX_ARGS];
    size_t k = 0;
    av[k++] = self_bin;
    av[k++] = "cluster";
    av[k++] = "nanny";
    av[k++] = (char *)env->dir;
    av[k++] = set;
    av[k++] = n;
    av[k++] = (char *)env->eng_bin;
    av[k++] = (char *)env->conn_file;
    av[k++] = (char *)(env->db_path && env->db_path[0] ? env->db_path : "-");
    av[k++] = "start";
    for (size_t i = 0; i < o->tags.n && k + 1 < S_MAX_ARGS; i++)
        av[k++] = o->tags.v[i];
    av[k] = NULL;
    pid_t nanny = proc_spawn(av, NULL, log);
    if (nanny < 0)
        return false;
    int64_t until = ipp_clock_mono_us() + 10000000;
    pid_t pids[1024];
    size_t got = 0;
    int restarts, lost;
    while (!lx_nanny_state(env->dir, s->id, &restarts, &lost, pids, 1024, &got) ||
           got < (size_t)o->n) {
        int st = 0;
        if (proc_reaped(nanny, &st) || ipp_clock_mono_us() >= until) {
            pid_t one = nanny;
            proc_terminate(&one, 1, true, "nanny", 5);
            proc_tail(log, 10);
            cli_error("the engines' watcher (pid %d) did not start them", (int)nanny);
            return false;
        }
        usleep(20000);
    }
    char *list = calloc(got, 16);
    if (!list) {
        cli_error("out of memory");
        return false;
    }
    size_t used = 0;
    for (size_t i = 0; i < got; i++)
        used += (size_t)snprintf(list + used, 16, "%d\n", (int)pids[i]);
    s->pids = list;
    s->job_id = s_strdupf("%d", (int)nanny);
    s->log = s_strdupf("%s/log/engine-*.log", env->dir);
    return true;
}

bool lx_nanny_state(const char *dir, int64_t set, int *restarts, int *lost, pid_t *pids, size_t max,
                    size_t *n_pids)
{
    char path[4200], line[256];
    snprintf(path, sizeof path, "%s/nanny-%lld.state", dir, (long long)set);
    FILE *f = fopen(path, "r");
    *restarts = *lost = 0;
    *n_pids = 0;
    if (!f)
        return false;
    while (fgets(line, sizeof line, f)) {
        int k, pid, r;
        char st[16];
        if (sscanf(line, "restarts %d", &r) == 1)
            *restarts = r;
        else if (sscanf(line, "engine %d %d %15s %d", &k, &pid, st, &r) == 4) {
            *lost += strcmp(st, "lost") == 0;
            if (pid > 0 && *n_pids < max)
                pids[(*n_pids)++] = pid;
        }
    }
    fclose(f);
    return true;
}

// s_nanny_pid: the pid of set s's nanny when it has one and it runs, else 0.
static pid_t s_nanny_pid(const db_engine_set_t *s);

bool lx_rewatch(const db_engine_set_t *s, const char *db_path, char **job_id)
{
    *job_id = NULL;
    if (strcmp(s->launcher, "local") != 0 || !s->job_id) {
        cli_error("engine set %lld (%s) has no watcher to start again: only local sets started "
                  "with --restart-engines can be given a new one",
                  (long long)s->id, s->launcher);
        return false;
    }
    if (strcmp(s->state, "running") != 0) {
        cli_error("engine set %lld is %s, not running", (long long)s->id, s->state);
        return false;
    }
    pid_t old = s_nanny_pid(s);
    if (old) {
        cli_error("engine set %lld is watched already (watcher pid %d)", (long long)s->id,
                  (int)old);
        return false;
    }
    char dir[4200], path[4300], line[4400];
    s_set_dir(s, dir, sizeof dir);
    snprintf(path, sizeof path, "%s/nanny-%lld.state", dir, (long long)s->id);
    FILE *f = fopen(path, "r");
    if (!f) {
        cli_error("cannot read %s: %s", path, strerror(errno));
        return false;
    }
    // How its engines were started, as the watcher wrote it.
    char eng[sizeof line] = "", conn[sizeof line] = "";
    cli_strv_t tags = {0};
    bool ok = true;
    while (ok && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        if (!strncmp(line, "engine-bin ", 11))
            snprintf(eng, sizeof eng, "%s", line + 11);
        else if (!strncmp(line, "conn ", 5))
            snprintf(conn, sizeof conn, "%s", line + 5);
        else if (!strncmp(line, "tag ", 4))
            ok = cli_strv_push(&tags, line + 4);
    }
    fclose(f);
    if (!ok || !eng[0] || !conn[0]) {
        if (ok)
            cli_error("%s does not say how the engines were started (a watcher of an older ipp)",
                      path);
        cli_strv_fini(&tags);
        return false;
    }
    char self_bin[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", self_bin, sizeof self_bin - 1);
    if (len <= 0) {
        cli_error("cannot find this program (/proc/self/exe): %s", strerror(errno));
        cli_strv_fini(&tags);
        return false;
    }
    self_bin[len] = '\0';
    char set[32], n[32], log[4300];
    snprintf(set, sizeof set, "%lld", (long long)s->id);
    snprintf(n, sizeof n, "%d", s->asked);
    snprintf(log, sizeof log, "%s/log/nanny-%lld.log", dir, (long long)s->id);
    char *av[S_MAX_ARGS];
    size_t k = 0;
    av[k++] = self_bin;
    av[k++] = "cluster";
    av[k++] = "nanny";
    av[k++] = dir;
    av[k++] = set;
    av[k++] = n;
    av[k++] = eng;
    av[k++] = conn;
    av[k++] = (char *)(db_path && db_path[0] ? db_path : "-");
    av[k++] = "adopt";
    for (size_t i = 0; i < tags.n && k + 1 < S_MAX_ARGS; i++)
        av[k++] = tags.v[i];
    av[k] = NULL;
    pid_t nanny = proc_spawn(av, NULL, log);
    cli_strv_fini(&tags);
    if (nanny < 0)
        return false;
    // Until it has written its own state.
    int64_t until = ipp_clock_mono_us() + 10000000;
    for (;;) {
        int pid = 0;
        f = fopen(path, "r");
        if (f) {
            if (!fgets(line, sizeof line, f) || sscanf(line, "nanny %d", &pid) != 1)
                pid = 0;
            fclose(f);
        }
        if (pid == nanny)
            break;
        int st = 0;
        if (proc_reaped(nanny, &st) || ipp_clock_mono_us() >= until) {
            pid_t one = nanny;
            proc_terminate(&one, 1, true, "nanny", 5);
            proc_tail(log, 10);
            cli_error("the new watcher (pid %d) did not take over", (int)nanny);
            return false;
        }
        usleep(20000);
    }
    *job_id = s_strdupf("%d", (int)nanny);
    return *job_id != NULL;
}

static pid_t s_nanny_pid(const db_engine_set_t *s)
{
    if ((strcmp(s->launcher, "local") != 0 && strcmp(s->launcher, "ssh") != 0) || !s->job_id)
        return 0;
    pid_t pid = (pid_t)strtol(s->job_id, NULL, 10);
    return proc_ours(pid, "nanny") ? pid : 0;
}

static bool s_launch_local(const lx_opts_t *o, const lx_env_t *env, db_engine_set_t *s)
{
    if (o->restart >= 0 && env->conn_file)
        return s_launch_nanny(o, env, s);
    long n = o->n;
    pid_t *pids = calloc((size_t)n, sizeof *pids);
    char *list = calloc((size_t)n, 16);
    if (!pids || !list) {
        free(pids);
        free(list);
        cli_error("out of memory");
        return false;
    }
    char log[4200], uuid[64];
    size_t used = 0;
    bool ok = true;
    for (long i = 0; i < n && ok; i++) {
        snprintf(log, sizeof log, "%s/log/engine-%ld.log", env->dir, i);
        if (s->id > 1)
            snprintf(log, sizeof log, "%s/log/engine-%lld-%ld.log", env->dir, (long long)s->id, i);
        char old[4300];
        snprintf(old, sizeof old, "%s.1", log);
        rename(log, old);
        snprintf(uuid, sizeof uuid, "set%lld-e%ld", (long long)s->id, i);
        char *av[S_MAX_ARGS];
        s_engine_args(o, env->eng_bin, env->conn_file, "--uuid", uuid, av, 0);
        pids[i] = proc_spawn(av, NULL, log);
        if (pids[i] < 0) {
            pids[i] = 0;
            ok = false;
            break;
        }
        used += (size_t)snprintf(list + used, 16, "%d\n", (int)pids[i]);
    }
    if (!ok) {
        proc_terminate(pids, (size_t)n, true, "ipp-engine", 5);
        free(pids);
        free(list);
        return false;
    }
    free(pids);
    s->pids = list;
    s->log = s_strdupf("%s/log/engine-*.log", env->dir);
    return true;
}

// s_env_with: environ plus NAME=value (value borrowed into one malloc'd
// string), as a malloc'd array; NULL when out of memory. *owned gets the
// string to free.
static char **s_env_with(const char *name, const char *value, char **owned)
{
    size_t n = 0;
    while (environ[n])
        n++;
    char **envp = calloc(n + 2, sizeof *envp);
    char *kv = s_strdupf("%s=%s", name, value);
    if (!envp || !kv) {
        free(envp);
        free(kv);
        return NULL;
    }
    size_t k = 0, nl = strlen(name);
    for (size_t i = 0; i < n; i++)
        if (!(strncmp(environ[i], name, nl) == 0 && environ[i][nl] == '='))
            envp[k++] = environ[i];
    envp[k++] = kv;
    envp[k] = NULL;
    *owned = kv;
    return envp;
}

static bool s_launch_mpi(const lx_opts_t *o, const lx_env_t *env, db_engine_set_t *s)
{
    char mpiexec[PATH_MAX];
    if (!proc_on_path(o->mpiexec ? o->mpiexec : "mpiexec", mpiexec, sizeof mpiexec)) {
        cli_error("cannot find mpiexec");
        return false;
    }
    // Open MPI needs to be told to forward a variable and to run as root.
    char ver[2048];
    char *vav[] = {mpiexec, "--version", NULL};
    proc_run(vav, NULL, 20, ver, sizeof ver, NULL);
    bool open_mpi = strstr(ver, "Open MPI") || strstr(ver, "OpenRTE");
    cli_strv_t extra = {0};
    if (o->mpi_args && !s_split(&extra, o->mpi_args)) {
        cli_error("out of memory");
        return false;
    }
    char *av[S_MAX_ARGS];
    char nbuf[32], uuid[64];
    snprintf(nbuf, sizeof nbuf, "%ld", o->n);
    snprintf(uuid, sizeof uuid, "set%lld-", (long long)s->id);
    size_t k = 0;
    av[k++] = mpiexec;
    if (open_mpi) {
        if (geteuid() == 0)
            av[k++] = "--allow-run-as-root";
        // Engines mostly wait: more of them than cores is normal.
        av[k++] = "--oversubscribe";
        av[k++] = "-x";
        av[k++] = "IPP_CONNECTION_INFO";
    }
    av[k++] = "-n";
    av[k++] = nbuf;
    for (size_t i = 0; i < extra.n && k < S_MAX_ARGS / 2; i++)
        av[k++] = extra.v[i];
    s_engine_args(o, env->eng_bin, NULL, "--uuid-prefix", uuid, av, k);
    char log[4200];
    snprintf(log, sizeof log, "%s/log/engines-%lld.log", env->dir, (long long)s->id);
    char *kv = NULL;
    char **envp = s_env_with("IPP_CONNECTION_INFO", env->conn_json, &kv);
    if (!envp) {
        cli_strv_fini(&extra);
        cli_error("out of memory");
        return false;
    }
    {
        // The command line, for the log (the connection info is not on it).
        FILE *f = fopen(log, "a");
        if (f) {
            fchmod(fileno(f), 0600);
            fprintf(f, "ipp cluster: set %lld:", (long long)s->id);
            for (size_t i = 0; av[i]; i++)
                fprintf(f, " %s", av[i]);
            fprintf(f, "\n");
            fclose(f);
        }
    }
    pid_t pid = proc_spawn(av, envp, log);
    s_wipe_free(kv);
    free(envp);
    cli_strv_fini(&extra);
    if (pid < 0)
        return false;
    s->job_id = s_strdupf("%d", (int)pid);
    s->pids = s_strdupf("%d\n", (int)pid);
    s->log = strdup(log);
    return true;
}

// s_write_private: text to path, mode given, replacing it. false after a message.
static bool s_write_private(const char *path, const char *text, mode_t mode)
{
    char tmp[4300];
    snprintf(tmp, sizeof tmp, "%s.%d", path, (int)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f || fchmod(fileno(f), mode) != 0 || fputs(text, f) < 0) {
        cli_error("cannot write %s: %s", tmp, strerror(errno));
        if (f)
            fclose(f);
        unlink(tmp);
        return false;
    }
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        cli_error("cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
        return false;
    }
    return true;
}

static bool s_launch_slurm(const lx_opts_t *o, const lx_env_t *env, db_engine_set_t *s)
{
    char log[4200], uuid[64], nbuf[32], spath[4200];
    snprintf(log, sizeof log, "%s/log/engines-%lld.log", env->dir, (long long)s->id);
    snprintf(uuid, sizeof uuid, "set%lld-", (long long)s->id);
    snprintf(nbuf, sizeof nbuf, "%ld", o->n);
    char *av[S_MAX_ARGS];
    size_t n = s_engine_args(o, env->eng_bin, env->conn_file, "--uuid-prefix", uuid, av, 0);
    // The engine's command line, quoted for the shell.
    size_t cap = 16;
    char **q = calloc(n, sizeof *q);
    for (size_t i = 0; q && i < n; i++) {
        q[i] = cli_shell_quote(av[i]);
        cap += q[i] ? strlen(q[i]) + 1 : 0;
    }
    char *prog = q ? malloc(cap) : NULL;
    if (prog) {
        prog[0] = '\0';
        for (size_t i = 0; i < n; i++) {
            if (i)
                strcat(prog, " ");
            strcat(prog, q[i] ? q[i] : "''");
        }
    }
    for (size_t i = 0; q && i < n; i++)
        free(q[i]);
    free(q);
    if (!prog) {
        cli_error("out of memory");
        return false;
    }
    lx_vars_t v = {nbuf, o->partition ? o->partition : "", env->dir, env->profile, log, prog};
    char *script = lx_slurm_script(o, &v);
    free(prog);
    if (!script)
        return false;
    snprintf(spath, sizeof spath, "%s/log/engines-%lld.sbatch", env->dir, (long long)s->id);
    bool ok = s_write_private(spath, script, 0700);
    free(script);
    if (!ok)
        return false;
    // The job's output file is made by slurmd; make it ours (0600) first.
    FILE *lf = fopen(log, "a");
    if (lf) {
        fchmod(fileno(lf), 0600);
        fclose(lf);
    }
    char out[S_OUT];
    char *sav[] = {"sbatch", "--parsable", spath, NULL};
    int rc = proc_run(sav, NULL, 60, out, sizeof out, NULL);
    long job = 0;
    char *end = NULL;
    if (rc == 0)
        job = strtol(out, &end, 10);
    if (rc != 0 || job <= 0 || !end || (*end && *end != ';' && *end != '\n')) {
        out[strcspn(out, "\0")] = '\0';
        cli_error("sbatch %s failed%s: %s", spath, rc == 0 ? " (no job id in its answer)" : "",
                  out[0] ? out : "(no output)");
        return false;
    }
    s->job_id = s_strdupf("%ld", job);
    s->log = strdup(log);
    return true;
}

// s_ssh_argv: ssh [ssh-args] [-p port] -o BatchMode=yes dest CMD into av.
static size_t s_ssh_argv(const cli_strv_t *sa, const s_host_t *h, char *portbuf, char *cmd,
                         char **av)
{
    size_t k = 0;
    av[k++] = "ssh";
    av[k++] = "-o";
    av[k++] = "BatchMode=yes";
    av[k++] = "-o";
    av[k++] = "ConnectTimeout=10";
    for (size_t i = 0; i < sa->n && k < S_MAX_ARGS - 8; i++)
        av[k++] = sa->v[i];
    if (h->port) {
        snprintf(portbuf, 16, "%d", h->port);
        av[k++] = "-p";
        av[k++] = portbuf;
    }
    av[k++] = (char *)h->dest;
    av[k++] = cmd;
    av[k] = NULL;
    return k;
}

// s_set_host: the host (as s_host_t) a recorded ssh set runs on.
static bool s_set_host(const db_engine_set_t *s, s_host_t *h)
{
    char line[400];
    snprintf(line, sizeof line, "%s", s->hosts ? s->hosts : "");
    line[strcspn(line, "\n")] = '\0';
    return line[0] && s_parse_host(line, h);
}

char *lx_ssh_script(const char *bin, const char *ldir, char *const *tags, size_t n_tags,
                    int64_t set, size_t which, long from, long to)
{
    char *qbin = cli_shell_quote(bin), *qdir = cli_shell_quote(ldir);
    char tagargs[4096] = "";
    size_t tl = 0;
    for (size_t i = 0; i < n_tags; i++) {
        char *qt = cli_shell_quote(tags[i]);
        if (qt)
            tl += (size_t)snprintf(tagargs + tl, tl < sizeof tagargs ? sizeof tagargs - tl : 0,
                                   " --tag %s", qt);
        free(qt);
    }
    char *cmd = NULL;
    if (qbin && qdir && tl < sizeof tagargs)
        cmd = s_strdupf("umask 077; IFS= read -r IPP_CONNECTION_INFO || exit 3; "
                        "export IPP_CONNECTION_INFO; i=%ld; while [ $i -lt %ld ]; do "
                        "u=set%lld-h%zu-e$i; nohup %s --uuid $u%s >%s/ipp-engine-$u.log 2>&1 "
                        "</dev/null & echo $!; i=$((i+1)); done",
                        from, to, (long long)set, which, qbin, tagargs, qdir);
    free(qbin);
    free(qdir);
    return cmd;
}

int lx_ssh_run(const char *hosts, const char *options, char *cmd, const char *input, double timeout,
               char *out, size_t size)
{
    s_host_t h;
    char line[400];
    snprintf(line, sizeof line, "%s", hosts ? hosts : "");
    line[strcspn(line, "\n")] = '\0';
    out[0] = '\0';
    if (!line[0] || !s_parse_host(line, &h))
        return -1;
    cli_strv_t sa = {0};
    if (options && !s_split(&sa, options)) {
        cli_strv_fini(&sa);
        return -1;
    }
    char *av[S_MAX_ARGS], port[16];
    s_ssh_argv(&sa, &h, port, cmd, av);
    int rc = proc_run(av, input, timeout, out, size, NULL);
    cli_strv_fini(&sa);
    return rc;
}

// s_launch_ssh_nanny: start the watcher of ssh set s (nanny.c), whose
// engines run already (s->pids); the connection info goes in its
// environment, never on a command line. Waits until it has written its
// state; s->job_id gets its pid.
static bool s_launch_ssh_nanny(const lx_env_t *env, size_t which, const char *bin, const char *ldir,
                               const cli_strv_t *tags, db_engine_set_t *s)
{
    char self_bin[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", self_bin, sizeof self_bin - 1);
    if (len <= 0) {
        cli_error("cannot find this program (/proc/self/exe): %s", strerror(errno));
        return false;
    }
    self_bin[len] = '\0';
    char set[32], n[32], wh[32], log[4200], state[4200], pids[S_OUT];
    snprintf(set, sizeof set, "%lld", (long long)s->id);
    snprintf(n, sizeof n, "%d", s->asked);
    snprintf(wh, sizeof wh, "%zu", which);
    snprintf(log, sizeof log, "%s/log/nanny-%lld.log", env->dir, (long long)s->id);
    snprintf(state, sizeof state, "%s/nanny-%lld.state", env->dir, (long long)s->id);
    snprintf(pids, sizeof pids, "%s", s->pids ? s->pids : "");
    for (char *p = pids; *p; p++)
        if (*p == '\n')
            *p = ',';
    unlink(state);
    char *av[S_MAX_ARGS];
    size_t k = 0;
    av[k++] = self_bin;
    av[k++] = "cluster";
    av[k++] = "nanny";
    av[k++] = (char *)env->dir;
    av[k++] = set;
    av[k++] = n;
    av[k++] = "-";
    av[k++] = "-";
    av[k++] = (char *)(env->db_path && env->db_path[0] ? env->db_path : "-");
    av[k++] = "ssh";
    av[k++] = s->hosts;
    av[k++] = s->options ? s->options : "";
    av[k++] = wh;
    av[k++] = (char *)bin;
    av[k++] = (char *)ldir;
    av[k++] = pids;
    for (size_t i = 0; i < tags->n && k + 1 < S_MAX_ARGS; i++)
        av[k++] = tags->v[i];
    av[k] = NULL;
    char *owned = NULL;
    char **envp = s_env_with("IPP_CONNECTION_INFO", env->conn_json, &owned);
    if (!envp) {
        cli_error("out of memory");
        return false;
    }
    pid_t nanny = proc_spawn(av, envp, log);
    free(envp);
    s_wipe_free(owned);
    if (nanny < 0)
        return false;
    int64_t until = ipp_clock_mono_us() + 10000000;
    for (;;) {
        int pid = 0;
        char line[256];
        FILE *f = fopen(state, "r");
        if (f) {
            if (!fgets(line, sizeof line, f) || sscanf(line, "nanny %d", &pid) != 1)
                pid = 0;
            fclose(f);
        }
        if (pid == nanny)
            break;
        int st = 0;
        if (proc_reaped(nanny, &st) || ipp_clock_mono_us() >= until) {
            pid_t one = nanny;
            proc_terminate(&one, 1, true, "nanny", 5);
            proc_tail(log, 10);
            cli_error("the engines' watcher (pid %d) did not start", (int)nanny);
            return false;
        }
        usleep(20000);
    }
    s->job_id = s_strdupf("%d", (int)nanny);
    return s->job_id != NULL;
}

static bool s_launch_ssh(const lx_opts_t *o, size_t which, const lx_env_t *env, db_engine_set_t *s)
{
    s_host_t *hs = calloc(S_MAX_HOSTS, sizeof *hs);
    long nh = hs ? s_hosts(o, hs) : -1;
    if (nh <= (long)which) {
        free(hs);
        return false;
    }
    s_host_t h = hs[which];
    free(hs);
    long n = h.n ? h.n : (o->n_given ? o->n : 1);
    s->asked = (int)n;
    if (o->ssh_args)
        s->options = strdup(o->ssh_args);
    s->hosts = h.port ? s_strdupf("%s:%d", h.dest, h.port) : strdup(h.dest);
    char log[4200];
    snprintf(log, sizeof log, "%s/log/engines-%lld.log", env->dir, (long long)s->id);
    s->log = strdup(log);
    if (!s_reachable(&h, env->conn_ip))
        return false;
    // The remote script: the connection info from stdin into the
    // environment (never on a command line), then n engines detached.
    const char *bin = o->remote_engine ? o->remote_engine : env->eng_bin;
    const char *ldir = o->remote_log_dir ? o->remote_log_dir : "/tmp";
    char *cmd = lx_ssh_script(bin, ldir, o->tags.v, o->tags.n, s->id, which, 0, n);
    cli_strv_t sa = {0};
    if (!cmd || (o->ssh_args && !s_split(&sa, o->ssh_args))) {
        free(cmd);
        cli_strv_fini(&sa);
        cli_error("out of memory");
        return false;
    }
    char *av[S_MAX_ARGS], port[16];
    s_ssh_argv(&sa, &h, port, cmd, av);
    char *input = s_strdupf("%s\n", env->conn_json);
    char out[S_OUT];
    int rc = input ? proc_run(av, input, 60, out, sizeof out, NULL) : -1;
    if (input)
        s_wipe_free(input);
    free(cmd);
    cli_strv_fini(&sa);
    // Only the pids on stdout: anything else is ssh's own (warnings).
    char pids[S_OUT] = "";
    size_t pl = 0;
    long got = 0;
    for (char *line = out; line && *line;) {
        char *eol = strchr(line, '\n');
        if (eol)
            *eol = '\0';
        char *end = NULL;
        long p = strtol(line, &end, 10);
        if (p > 0 && end && !*end && pl + 16 < sizeof pids) {
            pl += (size_t)snprintf(pids + pl, sizeof pids - pl, "%ld\n", p);
            got++;
        } else if (*line) {
            FILE *f = fopen(log, "a");
            if (f) {
                fchmod(fileno(f), 0600);
                fprintf(f, "ssh %s: %s\n", h.dest, line);
                fclose(f);
            }
        }
        line = eol ? eol + 1 : NULL;
    }
    if (got)
        s->pids = strdup(pids);
    if (rc != 0 || got != n) {
        cli_error("ssh %s: %s (exit %d); its output is in %s", h.dest,
                  rc == 255 ? "could not connect" : "the engines did not start", rc, log);
        proc_tail(log, 5);
        if (got)
            lx_stop(s, 5);
        return false;
    }
    if (o->restart > 0 && !s_launch_ssh_nanny(env, which, bin, ldir, &o->tags, s)) {
        lx_stop(s, 5);
        return false;
    }
    return true;
}

bool lx_launch(const lx_opts_t *o, size_t k, const lx_env_t *env, db_engine_set_t *s)
{
    const char *kind = s_kind(o);
    s->asked = (int)o->n;
    if (strcmp(kind, "mpi") == 0 || strcmp(kind, "slurm") == 0) {
        if (s_is_loopback(env->conn_ip))
            cli_error("warning: the controller is reachable on %s only (loopback): engines %s "
                      "starts on other nodes cannot reach it (a run on this machine works); "
                      "use --ip ADDR for more",
                      env->conn_ip, strcmp(kind, "mpi") == 0 ? "mpiexec" : "Slurm");
    }
    if (strcmp(kind, "mpi") == 0)
        return s_launch_mpi(o, env, s);
    if (strcmp(kind, "slurm") == 0)
        return s_launch_slurm(o, env, s);
    if (strcmp(kind, "ssh") == 0)
        return s_launch_ssh(o, k, env, s);
    return s_launch_local(o, env, s);
}

// ------------------------------------------------------------ state and stop

// s_pids: the pids of a "pid per line" list into out (up to max).
static size_t s_pids(const char *list, pid_t *out, size_t max)
{
    size_t n = 0;
    for (const char *p = list; p && *p && n < max;) {
        char *end = NULL;
        long v = strtol(p, &end, 10);
        if (end == p)
            break;
        if (v > 0 && v < INT_MAX)
            out[n++] = (pid_t)v;
        p = end;
        while (*p == '\n' || *p == ' ')
            p++;
    }
    return n;
}

// s_squeue: the Slurm state of job (squeue, then sacct) into buf; "" when
// neither knows it.
static void s_slurm_state(const char *job, char *buf, size_t size)
{
    char out[1024];
    char *av[] = {"squeue", "-h", "-j", (char *)job, "-o", "%T", NULL};
    buf[0] = '\0';
    if (proc_run(av, NULL, 20, out, sizeof out, NULL) == 0) {
        out[strcspn(out, "\n")] = '\0';
        if (out[0] && !strchr(out, ' ')) {
            s_copy(buf, size, out);
            return;
        }
    }
    char *sav[] = {"sacct", "-n", "-X", "-P", "-j", (char *)job, "-o", "State", NULL};
    if (proc_run(sav, NULL, 20, out, sizeof out, NULL) == 0) {
        out[strcspn(out, "\n")] = '\0';
        if (out[0] && !strchr(out, ' '))
            s_copy(buf, size, out);
    }
}

bool lx_failed(const db_engine_set_t *s, char *why, size_t size)
{
    bool running = true;
    char st[256];
    if (strcmp(s->launcher, "slurm") == 0) {
        s_slurm_state(s->job_id, st, sizeof st);
        if (st[0] && strcmp(st, "PENDING") != 0 && strcmp(st, "RUNNING") != 0 &&
            strcmp(st, "CONFIGURING") != 0) {
            snprintf(why, size, "Slurm job %s is %s", s->job_id, st);
            return true;
        }
        return false;
    }
    if (strcmp(s->launcher, "ssh") == 0)
        return false;
    if (strcmp(s->launcher, "local") == 0 && s->job_id) {
        char dir[4200];
        s_set_dir(s, dir, sizeof dir);
        int restarts, lost;
        pid_t cur[1024];
        size_t nc;
        lx_nanny_state(dir, s->id, &restarts, &lost, cur, 1024, &nc);
        if (!s_nanny_pid(s) || lost) {
            snprintf(why, size, "its engines' watcher (pid %s) %s", s->job_id,
                     lost ? "gave an engine up" : "ended");
            return true;
        }
        return false;
    }
    pid_t pids[1024];
    size_t n = s_pids(s->pids, pids, 1024);
    for (size_t i = 0; i < n; i++) {
        int wst = 0;
        if (proc_reaped(pids[i], &wst) || !proc_alive(pids[i])) {
            char how[64] = "ended";
            proc_describe_exit(wst, how, sizeof how);
            snprintf(why, size, "%s (pid %d) %s",
                     strcmp(s->launcher, "mpi") == 0 ? "mpiexec" : "an engine", (int)pids[i], how);
            running = false;
            break;
        }
    }
    return !running;
}

void lx_state(const db_engine_set_t *s, char *buf, size_t size, lx_view_t *v)
{
    memset(v, 0, sizeof *v);
    bool *running = &v->running;
    if (strcmp(s->launcher, "slurm") == 0) {
        char st[256];
        s_slurm_state(s->job_id ? s->job_id : "0", st, sizeof st);
        *running = st[0] && (strcmp(st, "RUNNING") == 0 || strcmp(st, "PENDING") == 0 ||
                             strcmp(st, "CONFIGURING") == 0 || strcmp(st, "COMPLETING") == 0);
        snprintf(buf, size, "job %s %s", s->job_id ? s->job_id : "?",
                 st[0] ? st : "gone (unknown to squeue and sacct)");
        return;
    }
    pid_t pids[1024];
    size_t n = s_pids(s->pids, pids, 1024), alive = 0;
    if (strcmp(s->launcher, "ssh") == 0) {
        s_host_t h;
        // Watched: the pids its watcher last wrote are the current ones.
        int restarts = 0, lost = 0;
        pid_t nanny = s_nanny_pid(s);
        char watch[256] = "";
        if (s->job_id) {
            char dir[4200];
            pid_t cur[1024];
            size_t nc = 0;
            s_set_dir(s, dir, sizeof dir);
            if (lx_nanny_state(dir, s->id, &restarts, &lost, cur, 1024, &nc)) {
                memcpy(pids, cur, nc * sizeof *cur);
                n = nc;
            }
            v->restarts = restarts;
            v->lost = lost;
            snprintf(watch, sizeof watch, "; %d restart%s, %d lost; watcher pid %s %s", restarts,
                     restarts == 1 ? "" : "s", lost, s->job_id, nanny ? "running" : "gone");
        }
        if (!s_set_host(s, &h) || !n) {
            snprintf(buf, size, "no pids");
            return;
        }
        char cmd[S_OUT];
        size_t cl = (size_t)snprintf(cmd, sizeof cmd, "for p in");
        for (size_t i = 0; i < n && cl < sizeof cmd - 32; i++)
            cl += (size_t)snprintf(cmd + cl, sizeof cmd - cl, " %d", (int)pids[i]);
        snprintf(cmd + cl, sizeof cmd - cl,
                 "; do grep -q ipp-engine /proc/$p/cmdline 2>/dev/null && echo alive; done; true");
        cli_strv_t sa = {0};
        s_split(&sa, s->options);
        char *av[S_MAX_ARGS], port[16], out[S_OUT];
        s_ssh_argv(&sa, &h, port, cmd, av);
        int rc = proc_run(av, NULL, 20, out, sizeof out, NULL);
        cli_strv_fini(&sa);
        if (rc != 0) {
            out[strcspn(out, "\n")] = '\0';
            snprintf(buf, size, "ssh %s%s%s failed: %.120s", s->options ? s->options : "",
                     s->options ? " " : "", h.dest, out);
            *running = true;  // cannot tell
            return;
        }
        for (const char *p = out; (p = strstr(p, "alive")); p += 5)
            alive++;
        *running = alive > 0 || nanny;
        snprintf(buf, size, "%zu of %zu pids alive on %s%s", alive, n, h.host, watch);
        return;
    }
    if (strcmp(s->launcher, "local") == 0 && s->job_id) {
        char dir[4200];
        s_set_dir(s, dir, sizeof dir);
        int restarts, lost;
        // The pids the set recorded and those its watcher last wrote: a
        // watcher that is gone may have written either last.
        size_t nr = n;
        pid_t cur[1024];
        size_t nc = 0;
        lx_nanny_state(dir, s->id, &restarts, &lost, cur, 1024, &nc);
        for (size_t i = 0; i < nc && nr < 1024; i++) {
            bool dup = false;
            for (size_t k = 0; k < nr && !dup; k++)
                dup = pids[k] == cur[i];
            if (!dup)
                pids[nr++] = cur[i];
        }
        for (size_t i = 0; i < nr; i++)
            alive += proc_ours(pids[i], "ipp-engine");
        pid_t nanny = s_nanny_pid(s);
        *running = alive > 0 || nanny;
        v->unwatched = alive > 0 && !nanny;
        v->restarts = restarts;
        v->lost = lost;
        snprintf(buf, size, "%zu pid%s alive, %d restart%s, %d lost; watcher pid %s %s", alive,
                 alive == 1 ? "" : "s", restarts, restarts == 1 ? "" : "s", lost, s->job_id,
                 nanny ? "running" : (alive ? "gone: engines unwatched" : "gone"));
        return;
    }
    const char *what = strcmp(s->launcher, "mpi") == 0 ? "mpiexec" : "ipp-engine";
    for (size_t i = 0; i < n; i++)
        alive += proc_ours(pids[i], what);
    *running = alive > 0;
    if (strcmp(s->launcher, "mpi") == 0)
        snprintf(buf, size, "mpiexec pid %s %s", s->job_id ? s->job_id : "?",
                 alive ? "running" : "gone");
    else
        snprintf(buf, size, "%zu of %zu pids alive", alive, n);
}

bool lx_stop(const db_engine_set_t *s, double grace)
{
    pid_t pids[1024];
    size_t n = s_pids(s->pids, pids, 1024);
    if (strcmp(s->launcher, "slurm") == 0) {
        if (!s->job_id)
            return true;
        char out[1024];
        char *av[] = {"scancel", (char *)s->job_id, NULL};
        if (proc_run(av, NULL, 30, out, sizeof out, NULL) != 0) {
            // A job that has ended already (its engines died) is not an
            // error: there is nothing left to cancel.
            char st[256];
            s_slurm_state(s->job_id, st, sizeof st);
            if (!st[0] || (strcmp(st, "PENDING") != 0 && strcmp(st, "RUNNING") != 0 &&
                           strcmp(st, "CONFIGURING") != 0 && strcmp(st, "COMPLETING") != 0))
                return true;
            cli_error("scancel %s: %s", s->job_id, out);
            return false;
        }
        int64_t until = ipp_clock_mono_us() + (int64_t)((grace < 5 ? 5 : grace) * 2e6);
        char st[256];
        for (;;) {
            char *qv[] = {"squeue", "-h", "-j", (char *)s->job_id, "-o", "%T", NULL};
            int rc = proc_run(qv, NULL, 20, st, sizeof st, NULL);
            st[strcspn(st, "\n")] = '\0';
            if (rc != 0 || !st[0])
                return true;
            if (ipp_clock_mono_us() >= until) {
                cli_error("Slurm job %s is still %s after scancel", s->job_id, st);
                return false;
            }
            usleep(200000);
        }
    }
    if (strcmp(s->launcher, "ssh") == 0) {
        // The watcher first, so that it restarts nothing stopped here;
        // then every pid, those it last wrote included.
        pid_t nanny = s_nanny_pid(s);
        if (nanny)
            proc_terminate(&nanny, 1, false, "nanny", grace + 8);
        if (s->job_id) {
            char dir[4200];
            int restarts, lost;
            size_t nc = 0;
            pid_t cur[1024];
            s_set_dir(s, dir, sizeof dir);
            lx_nanny_state(dir, s->id, &restarts, &lost, cur, 1024 - n, &nc);
            for (size_t i = 0; i < nc; i++) {
                bool dup = false;
                for (size_t j = 0; j < n && !dup; j++)
                    dup = pids[j] == cur[i];
                if (!dup)
                    pids[n++] = cur[i];
            }
        }
        s_host_t h;
        if (!n || !s_set_host(s, &h))
            return true;
        char list[S_OUT];
        size_t ll = 0;
        list[0] = '\0';
        for (size_t i = 0; i < n && ll < sizeof list - 16; i++)
            ll += (size_t)snprintf(list + ll, sizeof list - ll, " %d", (int)pids[i]);
        char cmd[3 * S_OUT];
        snprintf(cmd, sizeof cmd,
                 "ours() { for p in%s; do grep -q ipp-engine /proc/$p/cmdline 2>/dev/null && "
                 "echo $p; done; }; l=$(ours); [ -n \"$l\" ] && kill -TERM $l 2>/dev/null; "
                 "i=0; while [ $i -lt %d ] && [ -n \"$(ours)\" ]; do sleep 0.1; i=$((i+1)); "
                 "done; l=$(ours); [ -n \"$l\" ] && kill -KILL $l 2>/dev/null; true",
                 list, (int)(grace * 10));
        cli_strv_t sa = {0};
        s_split(&sa, s->options);
        char *av[S_MAX_ARGS], port[16], out[S_OUT];
        s_ssh_argv(&sa, &h, port, cmd, av);
        int rc = proc_run(av, NULL, grace + 30, out, sizeof out, NULL);
        cli_strv_fini(&sa);
        if (rc != 0) {
            cli_error("ssh %s: cannot stop the engines (%s)", h.dest, out);
            return false;
        }
        return true;
    }
    if (strcmp(s->launcher, "mpi") == 0) {
        // mpiexec leads its own session: the group holds it and its ranks.
        // A pid now running something else is not ours; one no longer in
        // use may still name the group of ranks its mpiexec left.
        for (size_t i = 0; i < n; i++)
            if (proc_ours(pids[i], "mpiexec") || !proc_alive(pids[i]))
                proc_kill_group(pids[i], grace);
        return true;
    }
    // The watcher first, so that it restarts nothing stopped here; it
    // stops its engines as it leaves. Whatever is left, by pid.
    pid_t nanny = s_nanny_pid(s);
    if (nanny)
        proc_terminate(&nanny, 1, false, "nanny", grace + 8);
    if (strcmp(s->launcher, "local") == 0 && s->job_id) {
        char dir[4200];
        s_set_dir(s, dir, sizeof dir);
        int restarts, lost;
        size_t nc;
        pid_t cur[1024];
        lx_nanny_state(dir, s->id, &restarts, &lost, cur, 1024 - n, &nc);
        for (size_t i = 0; i < nc; i++)
            pids[n++] = cur[i];
    }
    proc_terminate(pids, n, false, "ipp-engine", grace);
    return true;
}
