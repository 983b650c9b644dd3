/* nanny.c — `ipp cluster nanny`: the watcher of one local engine set.
 *
 * Local engines outlive `ipp cluster start`, so each local set started
 * with --restart-engines (the default) gets one small detached process
 * that starts its engines itself, waits for them, and starts one that
 * ends unexpectedly (killed by a signal, or a non-zero exit) again with
 * the same --uuid, which the controller maps to the same engine id. The
 * wait before a restart doubles from 0.5 s to 30 s with every start that
 * died within 2 s of starting; after 5 such quick deaths in a row the
 * engine is given up and called lost. An engine that exits 0 (asked to
 * stop by the controller) is left alone. SIGTERM (or SIGINT) means: stop
 * the engines (SIGTERM, then SIGKILL), then leave. Every restart and
 * every loss goes to its log (PROFILE/log/nanny-SET.log); what it watches
 * is written, by temp file and rename, to PROFILE/nanny-SET.state (see
 * lx_nanny_state) for status and stop. The engines' pids are also kept
 * where `ipp cluster` records them, so status and stop see the live
 * processes even without this watcher: the set's row in the task
 * database (engine_sets.pids, written on the watcher's own connection as
 * every writer of that table does; see cs_set_sync_pids) and
 * PROFILE/engines.pid. Both are checked again every 2 s, so a write that
 * raced with `ipp cluster start` recording the set is made good. Leaves
 * when no engine is left.
 *
 * Started by `ipp cluster engines watch` ("adopt") after a watcher of the
 * set died, it takes over from the state file that one left: engines
 * still running are watched by polling their pids (they are not its
 * children, so their exit status is unknown and any end of theirs counts
 * as unexpected), the others are started again, lost and exited ones stay
 * so, and the restart counts go on. The state file also says how the
 * engines are started (binary, connection file, tags) for that.
 *
 * The watcher of an ssh set ("ssh" mode) does the same for engines on
 * another host, where they are not its children: it is given the remote
 * pids the launch recorded, asks the host every 2 s which of them still
 * run an ipp-engine (one ssh call for all), and starts one that is gone
 * again over ssh, by the same script as the launch (lx_ssh_script) and
 * with the same uuid. Any end there counts as unexpected; a poll that
 * cannot reach the host is logged and counts as no death. Asked to stop,
 * it leaves at once and keeps the pids in its state file: `ipp cluster
 * stop` ends the engines over ssh by those pids.
 */
#include "tools/ipp/launch.h"

#include "db/schema.h"
#include "proto/clock.h"
#include "tools/ipp/proc.h"
#include "tools/ipp/sets.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define S_QUICK_US 2000000   // a start that dies sooner is a quick death
#define S_BACKOFF_US 500000  // first wait before a restart
#define S_BACKOFF_MAX_US 30000000
#define S_MAX_QUICK 5  // quick deaths in a row before giving up
#define S_MAX_ENGINES 1024
#define S_MAX_ARGS 64
#define S_MAX_HISTORY 4096  // earlier pids kept, to replace in engines.pid
#define S_SYNC_US 2000000   // how often the recorded pids are checked

// One engine watched.
typedef struct s_eng_t {
    pid_t pid;          // running pid, 0 while waiting for a restart or done
    int64_t started;    // µs monotonic of its last start
    int64_t due;        // µs monotonic of its next start, 0 = none due
    int quick;          // quick deaths in a row
    int restarts;       // restarts so far
    const char *state;  // "up", "waiting", "lost", "exited"
    bool adopted;       // pid is not our child (taken over from a watcher gone)
} s_eng_t;

// The nanny of one set.
typedef struct s_nanny_t {
    const char *dir;        // profile folder
    long set;               // set id
    const char *eng_bin;    // ipp-engine
    const char *conn;       // its connection file
    char **tags;            // --tag values (borrowed from argv)
    int n_tags;             // how many
    s_eng_t *e;             // the engines
    long n;                 // how many
    int restarts;           // all restarts
    const char *db_path;    // the task database, NULL if none given
    sqlite3 *db;            // opened at the first sync
    pid_t *old;             // pids started earlier (a ring of S_MAX_HISTORY)
    size_t n_old;           // how many of old are used
    size_t next_old;        // where the next goes
    bool dirty;             // pids changed since the last sync
    bool open_failed;       // the database could not be opened (said once)
    int64_t next_sync;      // µs monotonic of the next check
    bool remote;            // an ssh set: the engines run on hosts
    const char *hosts;      // ssh: [USER@]HOST[:PORT]
    const char *options;    // ssh: its options ("" for none)
    size_t which;           // ssh: the host's place in the launch (in uuids)
    const char *rdir;       // ssh: engine logs there
    const char *conn_json;  // ssh: the connection info
    bool host_down;         // ssh: the last poll could not reach the host
    int64_t next_poll;      // ssh: µs monotonic of the next poll
} s_nanny_t;

static volatile sig_atomic_t s_stop_asked;

// s_uuid: the uuid of engine i of the set.
static void s_uuid(const s_nanny_t *self, long i, char *buf, size_t size)
{
    if (self->remote)
        snprintf(buf, size, "set%ld-h%zu-e%ld", self->set, self->which, i);
    else
        snprintf(buf, size, "set%ld-e%ld", self->set, i);
}

static void s_on_term(int sig)
{
    (void)sig;
    s_stop_asked = 1;
}

// s_log: a timestamped line on stdout (the nanny's log).
static void s_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void s_log(const char *fmt, ...)
{
    char when[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    printf("%s nanny: ", when);
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}

// s_write_state: the state file, by temp file and rename.
static void s_write_state(const s_nanny_t *self)
{
    char path[4200], tmp[4300];
    snprintf(path, sizeof path, "%s/nanny-%ld.state", self->dir, self->set);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return;
    fprintf(f, "nanny %d\nrestarts %d\n", (int)getpid(), self->restarts);
    if (self->remote)
        fprintf(f, "ssh %s\n", self->hosts);
    else
        fprintf(f, "engine-bin %s\nconn %s\n", self->eng_bin, self->conn);
    for (int t = 0; t < self->n_tags; t++)
        fprintf(f, "tag %s\n", self->tags[t]);
    for (long i = 0; i < self->n; i++)
        fprintf(f, "engine %ld %d %s %d\n", i, (int)self->e[i].pid, self->e[i].state,
                self->e[i].restarts);
    if (fclose(f) == 0)
        rename(tmp, path);
    else
        unlink(tmp);
}

// s_start_ssh: start engine i of an ssh set on its host; its remote pid, or
// 0 after a line in the log.
static pid_t s_start_ssh(s_nanny_t *self, long i)
{
    char *cmd = lx_ssh_script(self->eng_bin, self->rdir, self->tags, (size_t)self->n_tags,
                              self->set, self->which, i, i + 1);
    char *input = NULL;
    if (asprintf(&input, "%s\n", self->conn_json) < 0)
        input = NULL;
    char out[8192] = "";
    int rc =
        cmd && input ? lx_ssh_run(self->hosts, self->options, cmd, input, 60, out, sizeof out) : -1;
    if (input) {
        memset(input, 0, strlen(input));
        free(input);
    }
    free(cmd);
    long pid = 0;
    for (char *line = out; line && *line && !pid;) {
        char *eol = strchr(line, '\n');
        if (eol)
            *eol = '\0';
        char *end = NULL;
        long p = strtol(line, &end, 10);
        if (p > 0 && p < INT_MAX && end && !*end)
            pid = p;
        line = eol ? eol + 1 : NULL;
    }
    if (rc != 0 || !pid) {
        out[strcspn(out, "\n")] = '\0';
        s_log("ssh %s: %s (exit %d): %.200s", self->hosts,
              rc == 255 ? "could not connect" : "the engine did not start", rc, out);
        return 0;
    }
    return (pid_t)pid;
}

// s_start: start engine i (uuid setSET-eI, log PROFILE/log/engine[-SET]-I.log;
// ssh: over ssh).
static void s_start(s_nanny_t *self, long i)
{
    char log[4200], uuid[64];
    if (self->set > 1)
        snprintf(log, sizeof log, "%s/log/engine-%ld-%ld.log", self->dir, self->set, i);
    else
        snprintf(log, sizeof log, "%s/log/engine-%ld.log", self->dir, i);
    snprintf(uuid, sizeof uuid, "set%ld-e%ld", self->set, i);
    char *av[S_MAX_ARGS];
    int k = 0;
    av[k++] = (char *)self->eng_bin;
    av[k++] = "--connection";
    av[k++] = (char *)self->conn;
    av[k++] = "--uuid";
    av[k++] = uuid;
    for (int t = 0; t < self->n_tags && k + 3 < S_MAX_ARGS; t++) {
        av[k++] = "--tag";
        av[k++] = self->tags[t];
    }
    av[k] = NULL;
    s_eng_t *e = &self->e[i];
    e->adopted = false;
    if (self->remote) {
        s_uuid(self, i, uuid, sizeof uuid);
        e->pid = s_start_ssh(self, i);
        if (!e->pid)
            e->pid = -1;
    } else {
        e->pid = proc_spawn(av, NULL, log);
    }
    self->dirty = true;
    e->started = ipp_clock_mono_us();
    e->due = 0;
    if (e->pid < 0) {
        // Counted as a quick death: the same back-off applies.
        e->pid = 0;
        e->quick++;
        e->state = "waiting";
        e->due = e->started + S_BACKOFF_US;
        s_log("engine %s: cannot start %s%s%s", uuid, self->eng_bin, self->remote ? " on " : "",
              self->remote ? self->hosts : "");
    } else {
        e->state = "up";
    }
}

// s_ended: engine i (pid) ended with status st: decide what next.
static void s_ended(s_nanny_t *self, long i, int st)
{
    s_eng_t *e = &self->e[i];
    char how[600], name[64];
    s_uuid(self, i, name, sizeof name);
    if (self->remote)
        snprintf(how, sizeof how, "(pid %d on %s) is gone", (int)e->pid, self->hosts);
    else if (e->adopted)
        snprintf(how, sizeof how, "(pid %d, taken over) ended", (int)e->pid);
    else
        proc_describe_exit(st, how, sizeof how);
    int64_t now = ipp_clock_mono_us();
    int64_t lived = now - e->started;
    self->old[self->next_old] = e->pid;
    self->next_old = (self->next_old + 1) % S_MAX_HISTORY;
    if (self->n_old < S_MAX_HISTORY)
        self->n_old++;
    e->pid = 0;
    self->dirty = true;
    // The exit status of an engine taken over is not known: any end of
    // it is taken as unexpected.
    if (!self->remote && !e->adopted && WIFEXITED(st) && WEXITSTATUS(st) == 0) {
        e->state = "exited";
        s_log("engine %s %s: not restarted", name, how);
        return;
    }
    e->quick = lived < S_QUICK_US ? e->quick + 1 : 0;
    if (e->quick >= S_MAX_QUICK) {
        e->state = "lost";
        s_log("engine %s %s after %.1f s: given up after %d starts in a row that died "
              "within %.0f s",
              name, how, (double)lived / 1e6, e->quick, S_QUICK_US / 1e6);
        return;
    }
    int64_t wait = S_BACKOFF_US;
    for (int q = 0; q < e->quick && wait < S_BACKOFF_MAX_US; q++)
        wait *= 2;
    if (wait > S_BACKOFF_MAX_US)
        wait = S_BACKOFF_MAX_US;
    e->due = now + wait;
    e->state = "waiting";
    s_log("engine %s %s after %.1f s: restart in %.1f s", name, how, (double)lived / 1e6,
          (double)wait / 1e6);
}

// s_sync: the pids running now into the set's row and PROFILE/engines.pid.
// A failure is logged (opening the database: once) and tried again at the
// next check, not at every turn of the loop.
static void s_sync(s_nanny_t *self)
{
    self->dirty = false;
    self->next_sync = ipp_clock_mono_us() + S_SYNC_US;
    pid_t now[S_MAX_ENGINES];
    size_t k = 0;
    char *text = calloc((size_t)self->n + 1, 16);
    if (!text)
        return;
    size_t used = 0;
    for (long i = 0; i < self->n; i++) {
        if (self->e[i].pid > 0) {
            now[k++] = self->e[i].pid;
            used += (size_t)snprintf(text + used, 16, "%d\n", (int)self->e[i].pid);
        }
    }
    if (self->db_path && !self->db) {
        static const ipp_logger_t quiet = {IPP_LOG_ERROR, NULL, "ipp"};
        ipp_error_t err;
        self->db = db_schema_open(self->db_path, DB_OPEN_READWRITE, &quiet, &err);
        if (!self->db && !self->open_failed)
            s_log("cannot open %s: %s (tried again every %.0f s)", self->db_path, err.msg,
                  S_SYNC_US / 1e6);
        self->open_failed = !self->db;
    }
    if (self->db) {
        int rc = cs_set_sync_pids(self->db, self->set, text);
        if (rc > 0)
            s_log("recorded the pids of set %ld in %s", self->set, self->db_path);
    }
    free(text);
    if (!self->remote)  // remote pids are not this host's
        cs_replace_local_pids(self->dir, self->old, self->n_old, now, k);
}

// s_poll: ask the host of an ssh set which engines still run (one ssh call
// for all); those gone are ended. A host that cannot be reached is logged
// (when it goes and when it comes back) and ends nothing.
static bool s_poll(s_nanny_t *self)
{
    self->next_poll = ipp_clock_mono_us() + S_SYNC_US;
    char cmd[16384];
    size_t cl = (size_t)snprintf(cmd, sizeof cmd, "for p in");
    int asked = 0;
    for (long i = 0; i < self->n && cl < sizeof cmd - 200; i++) {
        if (self->e[i].pid > 0) {
            cl += (size_t)snprintf(cmd + cl, sizeof cmd - cl, " %d", (int)self->e[i].pid);
            asked++;
        }
    }
    if (!asked)
        return false;
    snprintf(cmd + cl, sizeof cmd - cl,
             "; do grep -q ipp-engine /proc/$p/cmdline 2>/dev/null && echo $p; done; echo polled");
    char out[8192];
    int rc = lx_ssh_run(self->hosts, self->options, cmd, NULL, 20, out, sizeof out);
    if (rc != 0 || !strstr(out, "polled")) {
        if (!self->host_down) {
            out[strcspn(out, "\n")] = '\0';
            s_log("ssh %s: cannot ask which engines run (exit %d: %.200s); not counted as a "
                  "death, asked again every %.0f s",
                  self->hosts, rc, out, S_SYNC_US / 1e6);
        }
        self->host_down = true;
        return false;
    }
    if (self->host_down)
        s_log("ssh %s answers again", self->hosts);
    self->host_down = false;
    bool changed = false;
    for (long i = 0; i < self->n; i++) {
        if (self->e[i].pid <= 0 || s_stop_asked)
            continue;
        char want[32];
        snprintf(want, sizeof want, "%d", (int)self->e[i].pid);
        bool up = false;
        for (char *line = out; line && *line && !up;) {
            size_t len = strcspn(line, "\n");
            up = len == strlen(want) && !strncmp(line, want, len);
            line = line[len] ? line + len + 1 : NULL;
        }
        if (!up) {
            s_ended(self, i, 0);
            changed = true;
        }
    }
    return changed;
}

// s_adopt: take over from the set's watcher that is gone: its restarts,
// and per engine its pid (still running: watched by polling, as it is not
// our child; gone: started again), lost and exited engines as they were.
static void s_adopt(s_nanny_t *self)
{
    char path[4200], line[256];
    snprintf(path, sizeof path, "%s/nanny-%ld.state", self->dir, self->set);
    FILE *f = fopen(path, "r");
    for (long i = 0; i < self->n; i++)
        self->e[i].state = "waiting";
    while (f && fgets(line, sizeof line, f)) {
        int k, pid, r;
        char st[16];
        if (sscanf(line, "restarts %d", &r) == 1) {
            self->restarts = r;
        } else if (sscanf(line, "engine %d %d %15s %d", &k, &pid, st, &r) == 4 && k >= 0 &&
                   k < self->n) {
            s_eng_t *e = &self->e[k];
            e->restarts = r;
            e->started = ipp_clock_mono_us();
            if (!strcmp(st, "lost") || !strcmp(st, "exited")) {
                e->state = !strcmp(st, "lost") ? "lost" : "exited";
            } else if (pid > 0 && proc_ours(pid, "ipp-engine")) {
                e->pid = pid;
                e->adopted = true;
                e->state = "up";
            }
        }
    }
    if (f)
        fclose(f);
    for (long i = 0; i < self->n; i++) {
        s_eng_t *e = &self->e[i];
        if (e->adopted)
            s_log("engine set%ld-e%ld (pid %d) taken over", self->set, i, (int)e->pid);
        else if (!strcmp(e->state, "waiting"))
            e->due = ipp_clock_mono_us();  // not running: started again at once
    }
}

int lx_nanny_main(int argc, char **argv)
{
    // argv: nanny DIR SET N ENGINE CONN DB start|adopt [TAG...], or
    // nanny DIR SET N - - DB ssh HOSTS OPTIONS WHICH BIN LOGDIR PIDS [TAG...]
    bool ssh = argc >= 14 && strcmp(argv[7], "ssh") == 0;
    if (argc < 8 || (!ssh && strcmp(argv[7], "start") != 0 && strcmp(argv[7], "adopt") != 0)) {
        fprintf(stderr, "ipp cluster nanny: internal command, started by `ipp cluster start`\n");
        return CLI_USAGE;
    }
    s_nanny_t self = {.dir = argv[1], .eng_bin = argv[4], .conn = argv[5]};
    self.set = strtol(argv[2], NULL, 10);
    self.n = strtol(argv[3], NULL, 10);
    self.db_path = strcmp(argv[6], "-") != 0 ? argv[6] : NULL;
    bool adopt = strcmp(argv[7], "adopt") == 0;
    self.tags = argv + 8;
    self.n_tags = argc - 8;
    const char *given = NULL;  // ssh: the pids the launch recorded
    if (ssh) {
        self.remote = true;
        self.hosts = argv[8];
        self.options = argv[9][0] ? argv[9] : NULL;
        self.which = (size_t)strtoul(argv[10], NULL, 10);
        self.eng_bin = argv[11];
        self.rdir = argv[12];
        given = argv[13];
        self.tags = argv + 14;
        self.n_tags = argc - 14;
        self.conn_json = getenv("IPP_CONNECTION_INFO");
        if (!self.conn_json || !self.conn_json[0]) {
            fprintf(stderr, "ipp cluster nanny: no $IPP_CONNECTION_INFO for the ssh engines\n");
            return CLI_USAGE;
        }
    }
    if (self.set < 1 || self.n < 1 || self.n > S_MAX_ENGINES) {
        fprintf(stderr, "ipp cluster nanny: bad set or engine count\n");
        return CLI_USAGE;
    }
    self.e = calloc((size_t)self.n, sizeof *self.e);
    self.old = calloc(S_MAX_HISTORY, sizeof *self.old);
    if (!self.e || !self.old) {
        fprintf(stderr, "ipp cluster nanny: out of memory\n");
        free(self.e);
        free(self.old);
        return CLI_FAILED;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = s_on_term;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    s_log("watching %ld engine%s of set %ld (pid %d)", self.n, self.n == 1 ? "" : "s", self.set,
          (int)getpid());
    if (ssh) {
        const char *p = given;
        for (long i = 0; i < self.n; i++) {
            char *end = NULL;
            long v = strtol(p, &end, 10);
            s_eng_t *e = &self.e[i];
            e->started = ipp_clock_mono_us();
            if (end != p && v > 0 && v < INT_MAX) {
                e->pid = (pid_t)v;
                e->state = "up";
                p = *end == ',' ? end + 1 : end;
            } else {
                e->state = "waiting";
                e->due = e->started;
            }
        }
        s_log("engines on %s: %s", self.hosts, given);
    } else if (adopt)
        s_adopt(&self);
    else
        for (long i = 0; i < self.n; i++)
            s_start(&self, i);
    s_write_state(&self);
    self.dirty = !ssh;  // the launch has recorded the pids of an ssh set
    if (ssh)
        self.next_sync = self.next_poll = ipp_clock_mono_us() + S_SYNC_US;
    for (;;) {
        if (s_stop_asked)
            break;
        bool changed = false;
        int st;
        pid_t pid;
        if (ssh && ipp_clock_mono_us() >= self.next_poll)
            changed = s_poll(&self);
        while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
            for (long i = 0; i < self.n; i++) {
                if (self.e[i].pid == pid && !self.e[i].adopted) {
                    s_ended(&self, i, st);
                    changed = true;
                }
            }
        }
        for (long i = 0; i < self.n; i++) {
            if (self.e[i].adopted && self.e[i].pid > 0 && !proc_ours(self.e[i].pid, "ipp-engine")) {
                s_ended(&self, i, 0);
                self.e[i].adopted = false;
                changed = true;
            }
        }
        int64_t now = ipp_clock_mono_us();
        long left = 0;
        for (long i = 0; i < self.n; i++) {
            s_eng_t *e = &self.e[i];
            if (e->due && now >= e->due && !s_stop_asked) {
                self.restarts++;
                e->restarts++;
                s_start(&self, i);
                char name[64];
                s_uuid(&self, i, name, sizeof name);
                s_log("engine %s restarted (pid %d%s%s), restart %d of this engine, %d in all",
                      name, (int)e->pid, ssh ? " on " : "", ssh ? self.hosts : "", e->restarts,
                      self.restarts);
                changed = true;
            }
            left += e->pid > 0 || e->due;
        }
        if (changed)
            s_write_state(&self);
        if (self.dirty || now >= self.next_sync)
            s_sync(&self);
        if (!left) {
            s_log("no engine left to watch");
            break;
        }
        usleep(100000);
    }
    if (s_stop_asked && ssh) {
        s_log("asked to stop: leaving the engines to `ipp cluster stop`");
    } else if (s_stop_asked) {
        s_log("asked to stop: stopping the engines");
        pid_t pids[S_MAX_ENGINES], taken[S_MAX_ENGINES];
        for (long i = 0; i < self.n; i++) {
            pids[i] = self.e[i].adopted ? 0 : self.e[i].pid;
            taken[i] = self.e[i].adopted ? self.e[i].pid : 0;
            self.e[i].due = 0;
        }
        proc_terminate(pids, (size_t)self.n, true, "ipp-engine", 5);
        proc_terminate(taken, (size_t)self.n, false, "ipp-engine", 5);
        for (long i = 0; i < self.n; i++) {
            if (self.e[i].pid > 0 || !strcmp(self.e[i].state, "waiting"))
                self.e[i].state = "exited";
            self.e[i].pid = 0;
        }
    }
    s_write_state(&self);
    s_log("leaving");
    if (self.db)
        sqlite3_close_v2(self.db);
    free(self.old);
    free(self.e);
    return CLI_OK;
}
