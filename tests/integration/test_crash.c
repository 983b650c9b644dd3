/* test_crash.c — the crash matrix: kill -9 at random moments, then check
 * that nothing acknowledged was lost or doubled.
 *
 * A trial starts a controller and two engines on a fresh profile and a
 * client in its own process, which submits a mixed workload: load-balanced
 * tasks with and without retries, direct tasks, a small DAG of after and
 * follow dependencies, failing tasks, and resubmissions of finished ones.
 * At a seeded moment one of controller, an engine, the client, or
 * controller + engine is killed with SIGKILL; what died is started again
 * (a new client process reads what the dead one wrote down and carries on,
 * re-sending under the same msg_id what it never saw acknowledged). Then
 * everything is left to finish and the store is checked against what the
 * clients were told:
 *   - every acknowledged msg_id (SUBMIT_REPLY acceptance, or its
 *     TASK_RESULT) is recorded exactly once and is finished;
 *   - no record is left pending; no label has two records, and each label
 *     belongs to the msg_id its client chose (the tasks that get
 *     resubmitted have none, as their copies keep the original's);
 *   - a submission refused at once left nothing behind;
 *   - every `resubmitted` link names a record;
 *   - `PRAGMA integrity_check` is ok and `ipp-query verify` passes;
 *   - a fresh task runs, and the cluster stops cleanly (no leak, no crash).
 *
 * Every choice of a trial (the workload, the victims, when they die, how
 * long they stay dead) is drawn from its seed before
 * anything starts, so a seed replays the same sequence of choices; only the
 * machine's timing varies. Trial k of a run with seed S has seed S + k.
 *
 *   IPP_CRASH_SEED=S     first seed (default: random, printed at start)
 *   IPP_CRASH_TRIALS=N   trials (default 8)
 *   IPP_CRASH_VERBOSE=1  print each trial's plan
 *   or the arguments --seed S --trials N (tools/soak uses those).
 *
 * The client writes what it learns to a progress file, one line per event,
 * with write(2) on an O_APPEND descriptor and an fsync per batch:
 *   S i ID      item i is sent as ID (written before the first send)
 *   A ID        ID was acknowledged
 *   X i         item i was refused at its first send (changes nothing)
 *   U i         item i was refused on a re-send (it may be recorded)
 *   N i ID      resubmission item i became task ID (RESUBMIT_REPLY)
 *   G i         resubmission item i given up (its original not acknowledged)
 *   L i         resubmission item i's task was unknown to the controller
 *               after its RESUBMIT_REPLY (it is asked for again)
 *   D           the client finished
 * A line cut short by a kill is ignored (and never acknowledges anything).
 *
 * Owns every process it starts: the cluster's through the harness, the
 * client processes in s_workers; all are killed by pid and reaped on every
 * path, and each dies with the test process anyway (PR_SET_PDEATHSIG).
 * Never touches the store except through read-only connections.
 */
#include "harness.h"

#include "proto/clock.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef IPP_QUERY_BIN
#error "IPP_QUERY_BIN must be defined by the build"
#endif

#define S_MAX_ITEMS 40
#define S_MAX_KILLS 2
#define S_MAX_WORKERS 8
#define S_RESEND_US (1500 * 1000)  // a request unanswered this long is sent again
#define S_WORKER_S 60              // a client process gives up after this
#define S_SETTLE_S 60              // the store must have nothing pending by then

// ------------------------------------------------------------ randomness

// A splitmix64 stream: every choice of a trial comes from one.
typedef struct s_rng_t {
    uint64_t state;  // advanced by each draw
} s_rng_t;

// s_next: the next 64 random bits.
static uint64_t s_next(s_rng_t *r)
{
    uint64_t z = (r->state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

// s_below: uniform in [0, n) (n > 0).
static int s_below(s_rng_t *r, int n)
{
    return (int)(s_next(r) % (uint64_t)n);
}

// ------------------------------------------------------------ the plan

typedef enum {
    K_LB,        // load-balanced, no retries
    K_LB_RETRY,  // load-balanced with retries
    K_DIRECT,    // direct (mux) to one engine id
    K_AFTER,     // load-balanced, after earlier items
    K_FOLLOW,    // load-balanced, follow an earlier item
    K_RESUB,     // resubmission of an earlier finished item
} s_kind_t;

static const char *const s_kind_names[] = {"lb",    "lb+retry", "direct",
                                           "after", "follow",   "resubmit"};

// One thing the client does.
typedef struct s_item_t {
    s_kind_t kind;     // what
    int fn;            // 0 noop, 1 sleep, 2 fail
    char arg[16];      // sleep's seconds
    int target;        // K_DIRECT: the engine id
    int retries;       // K_LB_RETRY: how many
    int deps[2];       // K_AFTER / K_FOLLOW: earlier item indexes
    int n_deps;        // how many
    bool dep_any;      // after any instead of all
    bool dep_failure;  // a failed dependency counts too
    int resub_of;      // K_RESUB: the item resubmitted
    int gap_ms;        // pause after sending it
    bool unlabeled;    // some K_RESUB resubmits it: no label (the copy keeps it)
} s_item_t;

typedef enum {
    V_CONTROLLER,  // the controller
    V_ENGINE,      // one engine
    V_CLIENT,      // the client process
    V_BOTH,        // the controller and one engine
} s_victim_t;

static const char *const s_victim_names[] = {"controller", "engine", "client", "controller+engine"};

// One kill.
typedef struct s_kill_t {
    s_victim_t victim;  // who
    int engine;         // V_ENGINE / V_BOTH: which engine slot (0, 1)
    int at_ms;          // when, after the client started (or the last kill)
    int down_ms;        // how long it stays dead
} s_kill_t;

// A trial: everything drawn from its seed.
typedef struct s_plan_t {
    uint64_t seed;                // its seed
    s_item_t items[S_MAX_ITEMS];  // the workload, in order
    int n_items;                  // how many
    s_kill_t kills[S_MAX_KILLS];  // the kills, in order
    int n_kills;                  // how many
} s_plan_t;

// s_plan_make: the trial of seed. Direct tasks name engine ids 0 and 1
// (the first two engines to register).
static void s_plan_make(s_plan_t *p, uint64_t seed)
{
    memset(p, 0, sizeof *p);
    p->seed = seed;
    s_rng_t r = {seed};
    p->n_items = 16 + s_below(&r, 17);
    for (int i = 0; i < p->n_items; i++) {
        s_item_t *it = &p->items[i];
        int w = s_below(&r, 100);
        if (i < 3 || w < 25)
            it->kind = K_LB;
        else if (w < 42)
            it->kind = K_LB_RETRY;
        else if (w < 62)
            it->kind = K_DIRECT;
        else if (w < 78)
            it->kind = K_AFTER;
        else if (w < 88)
            it->kind = K_FOLLOW;
        else
            it->kind = K_RESUB;
        int f = s_below(&r, 10);
        it->fn = f < 2 ? 0 : f < 9 ? 1 : 2;
        snprintf(it->arg, sizeof it->arg, "%.2f", 0.02 + 0.01 * s_below(&r, 40));
        it->target = s_below(&r, 2);
        it->retries = 1 + s_below(&r, 2);
        it->gap_ms = s_below(&r, 100);
        it->resub_of = -1;
        if (it->kind == K_AFTER || it->kind == K_FOLLOW || it->kind == K_RESUB) {
            // Earlier items that are not resubmissions themselves.
            int cand[S_MAX_ITEMS], nc = 0;
            for (int j = 0; j < i; j++)
                if (p->items[j].kind != K_RESUB)
                    cand[nc++] = j;
            if (it->kind == K_RESUB) {
                it->resub_of = cand[s_below(&r, nc)];
                p->items[it->resub_of].unlabeled = true;
            } else {
                it->n_deps = it->kind == K_AFTER ? 1 + s_below(&r, 2) : 1;
                for (int d = 0; d < it->n_deps; d++)
                    it->deps[d] = cand[s_below(&r, nc)];
                if (it->n_deps == 2 && it->deps[0] == it->deps[1])
                    it->n_deps = 1;
                it->dep_any = s_below(&r, 3) == 0;
                it->dep_failure = s_below(&r, 3) == 0;
            }
        }
    }
    p->n_kills = s_below(&r, 3) == 0 ? 2 : 1;
    for (int k = 0; k < p->n_kills; k++) {
        s_kill_t *kl = &p->kills[k];
        kl->victim = (s_victim_t)s_below(&r, 4);
        kl->engine = s_below(&r, 2);
        kl->at_ms = k == 0 ? s_below(&r, 2000) : 200 + s_below(&r, 1500);
        kl->down_ms = s_below(&r, 800);
    }
}

// s_plan_print: the plan on stderr, one line per item and kill.
static void s_plan_print(const s_plan_t *p)
{
    for (int i = 0; i < p->n_items; i++) {
        const s_item_t *it = &p->items[i];
        fprintf(stderr, "  item %2d %-8s %s%s", i, s_kind_names[it->kind],
                it->fn == 0   ? "noop"
                : it->fn == 1 ? "sleep "
                              : "fail",
                it->fn == 1 ? it->arg : "");
        if (it->kind == K_DIRECT)
            fprintf(stderr, " on engine %d", it->target);
        if (it->kind == K_LB_RETRY)
            fprintf(stderr, " retries %d", it->retries);
        for (int d = 0; d < it->n_deps; d++)
            fprintf(stderr, " dep %d", it->deps[d]);
        if (it->n_deps)
            fprintf(stderr, "%s%s", it->dep_any ? " any" : " all",
                    it->dep_failure ? " +failure" : "");
        if (it->kind == K_RESUB)
            fprintf(stderr, " of item %d", it->resub_of);
        fprintf(stderr, " gap %d ms\n", it->gap_ms);
    }
    for (int k = 0; k < p->n_kills; k++) {
        const s_kill_t *kl = &p->kills[k];
        fprintf(stderr, "  kill %d: %s", k, s_victim_names[kl->victim]);
        if (kl->victim == V_ENGINE || kl->victim == V_BOTH)
            fprintf(stderr, " (engine slot %d)", kl->engine);
        fprintf(stderr, " at +%d ms, down %d ms\n", kl->at_ms, kl->down_ms);
    }
}

// ------------------------------------------------------------ progress file

// What the progress file says.
typedef struct s_progress_t {
    char ids[S_MAX_ITEMS][IPP_MSGID_LEN + 1];      // item → msg_id ("" if never chosen)
    char new_ids[S_MAX_ITEMS][IPP_MSGID_LEN + 1];  // resubmission → its newest task id
    bool refused[S_MAX_ITEMS];                     // X: refused at the first send
    bool maybe[S_MAX_ITEMS];                       // U: refused on a re-send
    bool given_up[S_MAX_ITEMS];                    // G
    int n_lost_replies;                            // L lines
    char (*acked)[IPP_MSGID_LEN + 1];              // every A id (owned)
    int n_acked;                                   // how many
    char (*created)[IPP_MSGID_LEN + 1];            // every N id (owned)
    int n_created;                                 // how many
    bool done;                                     // D seen
} s_progress_t;

// s_is_id: whether s (at least len bytes) starts with a uuid followed by
// the end of the line.
static bool s_is_id(const char *s)
{
    size_t n = strlen(s);
    if (n != IPP_MSGID_LEN)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? c != '-' : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    }
    return true;
}

// s_progress_add: append id to the list v (n entries); false if out of memory.
static bool s_progress_add(char (**v)[IPP_MSGID_LEN + 1], int *n, const char *id)
{
    char(*t)[IPP_MSGID_LEN + 1] = realloc(*v, (size_t)(*n + 1) * sizeof **v);
    if (!t)
        return false;
    *v = t;
    memcpy(t[*n], id, IPP_MSGID_LEN + 1);
    (*n)++;
    return true;
}

// s_progress_free: free the lists of pr.
static void s_progress_free(s_progress_t *pr)
{
    free(pr->acked);
    free(pr->created);
    memset(pr, 0, sizeof *pr);
}

// s_progress_read: parse path into pr (zeroed first; free with
// s_progress_free). A missing file reads as empty; lines that do not parse
// (one cut short by a kill) are skipped.
static void s_progress_read(const char *path, int n_items, s_progress_t *pr)
{
    memset(pr, 0, sizeof *pr);
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        size_t l = strlen(line);
        if (l == 0 || line[l - 1] != '\n')
            continue;  // cut short
        line[l - 1] = '\0';
        int i = -1;
        char id[64] = "";
        char tag = line[0];
        if (tag == 'D' && line[1] == '\0') {
            pr->done = true;
        } else if (tag == 'A' && sscanf(line, "A %63s", id) == 1 && s_is_id(id)) {
            s_progress_add(&pr->acked, &pr->n_acked, id);
        } else if ((tag == 'S' || tag == 'N') && sscanf(line + 1, " %d %63s", &i, id) == 2 &&
                   i >= 0 && i < n_items && s_is_id(id)) {
            if (tag == 'S') {
                memcpy(pr->ids[i], id, IPP_MSGID_LEN + 1);
            } else {
                memcpy(pr->new_ids[i], id, IPP_MSGID_LEN + 1);
                s_progress_add(&pr->created, &pr->n_created, id);
            }
        } else if (tag == 'L' && sscanf(line + 1, " %d", &i) == 1) {
            pr->n_lost_replies++;
        } else if ((tag == 'X' || tag == 'U' || tag == 'G') && sscanf(line + 1, " %d", &i) == 1 &&
                   i >= 0 && i < n_items) {
            if (tag == 'X')
                pr->refused[i] = true;
            else if (tag == 'U')
                pr->maybe[i] = true;
            else
                pr->given_up[i] = true;
        }
    }
    fclose(f);
}

// s_progress_acked: whether id is among the acknowledged.
static bool s_progress_acked(const s_progress_t *pr, const char *id)
{
    for (int i = 0; id[0] && i < pr->n_acked; i++)
        if (strcmp(pr->acked[i], id) == 0)
            return true;
    return false;
}

// ------------------------------------------------------------ the client process

// A client process's state.
typedef struct s_worker_t {
    const s_plan_t *plan;          // what to do
    h_cluster_t *cluster;          // where (its profile)
    h_client_t cl;                 // the connection
    bool open;                     // cl is open
    int fd;                        // the progress file (O_APPEND)
    bool dirty;                    // written since the last fsync
    s_progress_t pr;               // what is known
    bool fresh[S_MAX_ITEMS];       // id chosen by this process and sent once only
    int64_t sent_us[S_MAX_ITEMS];  // last send of each item (0: not sent by this process)
    bool completed[S_MAX_ITEMS];   // RESULT_REQUEST said its task completed
} s_worker_t;

// s_note: append one line to the progress file (made durable by s_sync).
static void s_note(s_worker_t *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void s_note(s_worker_t *w, const char *fmt, ...)
{
    char line[200];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line - 1, fmt, ap);
    va_end(ap);
    if (n < 0 || n >= (int)sizeof line - 1)
        return;
    line[n++] = '\n';
    // One write per line: a kill leaves whole lines, or one cut-short last
    // line that the reader skips.
    if (write(w->fd, line, (size_t)n) != n)
        _exit(3);
    w->dirty = true;
}

// s_sync: fsync the progress file if it changed.
static void s_sync(s_worker_t *w)
{
    if (w->dirty) {
        fsync(w->fd);
        w->dirty = false;
    }
}

// s_item_of: the item whose id (or resubmission's new id) is id, or -1.
static int s_item_of(const s_worker_t *w, const char *id, bool *is_new)
{
    for (int i = 0; i < w->plan->n_items; i++) {
        if (strcmp(w->pr.ids[i], id) == 0) {
            *is_new = false;
            return i;
        }
        if (strcmp(w->pr.new_ids[i], id) == 0) {
            *is_new = true;
            return i;
        }
    }
    return -1;
}

// s_ack: id was acknowledged.
static void s_ack(s_worker_t *w, const char *id)
{
    if (!id || !s_is_id(id) || s_progress_acked(&w->pr, id))
        return;
    bool is_new;
    if (s_item_of(w, id, &is_new) < 0)
        return;
    s_note(w, "A %s", id);
    s_progress_add(&w->pr.acked, &w->pr.n_acked, id);
}

// s_handle: one message from the controller (in w->cl.msg, of type t).
static void s_handle(s_worker_t *w, int t)
{
    const char *parent = w->cl.msg.header->parent_id;
    if (t == IPP__MSG_TYPE__SUBMIT_REPLY) {
        Ipp__SubmitReply *s = (Ipp__SubmitReply *)w->cl.msg.content;
        for (size_t k = 0; k < s->n_accepted_ids; k++)
            s_ack(w, s->accepted_ids[k]);
        const char *id = s->msg_id ? s->msg_id : parent;
        if (!id)
            return;
        if (s->has_accepted && s->accepted) {
            s_ack(w, id);
            return;
        }
        bool is_new;
        int i = s_item_of(w, id, &is_new);
        if (i < 0 || is_new || s_progress_acked(&w->pr, id) || w->pr.refused[i] || w->pr.maybe[i])
            return;
        // Refused at its first send: nothing was recorded. Refused on a
        // re-send: the first may have been (a duplicate is refused).
        if (w->fresh[i]) {
            s_note(w, "X %d", i);
            w->pr.refused[i] = true;
        } else {
            s_note(w, "U %d", i);
            w->pr.maybe[i] = true;
        }
    } else if (t == IPP__MSG_TYPE__TASK_RESULT && parent) {
        // A result is only sent once the request and result are recorded.
        s_ack(w, parent);
    }
}

// s_pump: handle what arrives for ms milliseconds.
static void s_pump(s_worker_t *w, int ms)
{
    int64_t until = ipp_clock_mono_us() + (int64_t)ms * 1000;
    for (;;) {
        int left = (int)((until - ipp_clock_mono_us()) / 1000);
        if (left < 0)
            break;
        int t = h_recv(&w->cl, left);
        if (t)
            s_handle(w, t);
        else
            break;
    }
    s_sync(w);
}

// s_request: send a request and wait up to ms for its reply (other
// messages are handled meanwhile); the reply's type, 0 on timeout.
static int s_request(s_worker_t *w, Ipp__MsgType type, const ProtobufCMessage *content, int ms)
{
    char id[IPP_MSGID_LEN + 1];
    if (h_try_send(&w->cl, type, content, NULL, 0, NULL, id) != IPP_OK)
        return 0;
    int64_t until = ipp_clock_mono_us() + (int64_t)ms * 1000;
    for (;;) {
        int left = (int)((until - ipp_clock_mono_us()) / 1000);
        if (left < 0)
            return 0;
        int t = h_recv(&w->cl, left);
        if (!t)
            return 0;
        const char *parent = w->cl.msg.header->parent_id;
        if (parent && strcmp(parent, id) == 0)
            return t;
        s_handle(w, t);
    }
}

// s_settled: whether item i needs nothing more (phase 1 items).
static bool s_settled(const s_worker_t *w, int i)
{
    return s_progress_acked(&w->pr, w->pr.ids[i]) || w->pr.refused[i] || w->pr.maybe[i];
}

// s_send_item: send item i (choosing its id first if it has none).
static void s_send_item(s_worker_t *w, int i)
{
    const s_item_t *it = &w->plan->items[i];
    if (!w->pr.ids[i][0]) {
        wire_session_new_id(w->cl.wire, w->pr.ids[i]);
        // Written down (and synced) before it can reach the controller.
        s_note(w, "S %d %s", i, w->pr.ids[i]);
        s_sync(w);
        w->fresh[i] = true;
    } else if (w->sent_us[i]) {
        w->fresh[i] = false;  // a second send
    }
    char label[32];
    snprintf(label, sizeof label, "item-%d", i);
    const char *deps[2];
    for (int d = 0; d < it->n_deps; d++)
        deps[d] = w->pr.ids[it->deps[d]];
    const char *args[1] = {it->arg};
    h_task_t t = {.call = it->fn == 0   ? "noop"
                          : it->fn == 1 ? "sleep"
                                        : "fail",
                  .args = it->fn == 1 ? args : NULL,
                  .n_args = it->fn == 1 ? 1 : 0,
                  .target = it->kind == K_DIRECT ? it->target : -1,
                  .retries = it->kind == K_LB_RETRY ? it->retries : 0,
                  .label = it->unlabeled ? NULL : label};
    if (it->kind == K_AFTER) {
        t.after = deps;
        t.n_after = (size_t)it->n_deps;
        t.after_any = it->dep_any;
        t.after_failure = it->dep_failure;
    } else if (it->kind == K_FOLLOW) {
        t.follow = deps;
        t.n_follow = (size_t)it->n_deps;
    }
    if (h_submit_as(&w->cl, &t, w->pr.ids[i], NULL) != IPP_OK)
        _exit(4);
    w->sent_us[i] = ipp_clock_mono_us();
}

// s_result_state: RESULT_REQUEST for id: 'c' completed, 'p' pending, 'u'
// unknown, 0 no answer.
static char s_result_state(s_worker_t *w, const char *id)
{
    Ipp__ResultRequest rq = IPP__RESULT_REQUEST__INIT;
    char *ids[1] = {(char *)id};
    rq.n_msg_ids = 1;
    rq.msg_ids = ids;
    if (s_request(w, IPP__MSG_TYPE__RESULT_REQUEST, &rq.base, 2000) != IPP__MSG_TYPE__RESULT_REPLY)
        return 0;
    Ipp__ResultReply *rep = (Ipp__ResultReply *)w->cl.msg.content;
    return rep->n_completed ? 'c' : rep->n_pending ? 'p' : rep->n_unknown ? 'u' : 0;
}

// s_resubmit: resubmission item i, once its original finished. Returns
// false if the client ran out of time.
static bool s_resubmit(s_worker_t *w, int i, int64_t deadline)
{
    int orig = w->plan->items[i].resub_of;
    const char *oid = w->pr.ids[orig];
    if (!s_progress_acked(&w->pr, oid)) {
        // Its original may not exist: nothing to resubmit.
        s_note(w, "G %d", i);
        w->pr.given_up[i] = true;
        return true;
    }
    while (ipp_clock_mono_us() < deadline) {
        const char *nid = w->pr.new_ids[i];
        if (nid[0]) {
            if (s_progress_acked(&w->pr, nid))
                return true;
            s_pump(w, 1500);
            if (s_progress_acked(&w->pr, nid))
                return true;
            // No acceptance: if the controller does not know the task, it
            // was lost before its commit (the reply came first) — ask again.
            char st = s_result_state(w, nid);
            if (st == 'u') {
                s_note(w, "L %d", i);
                w->pr.new_ids[i][0] = '\0';
            } else if (st)
                return true;  // recorded, its acceptance lost with a controller
            continue;
        }
        if (!w->completed[orig]) {
            if (s_result_state(w, oid) == 'c')
                w->completed[orig] = true;
            else
                s_pump(w, 200);
            continue;
        }
        Ipp__ResubmitRequest rq = IPP__RESUBMIT_REQUEST__INIT;
        char *ids[1] = {(char *)oid};
        rq.n_msg_ids = 1;
        rq.msg_ids = ids;
        int t = s_request(w, IPP__MSG_TYPE__RESUBMIT_REQUEST, &rq.base, 3000);
        if (t == IPP__MSG_TYPE__RESUBMIT_REPLY) {
            Ipp__ResubmitReply *rep = (Ipp__ResubmitReply *)w->cl.msg.content;
            if (rep->n_new_ids == 1 && s_is_id(rep->new_ids[0])) {
                memcpy(w->pr.new_ids[i], rep->new_ids[0], IPP_MSGID_LEN + 1);
                s_note(w, "N %d %s", i, rep->new_ids[0]);
                s_sync(w);
            }
        } else {
            s_pump(w, 200);  // refused (pending again after a restart?) or no answer
        }
    }
    return false;
}

// s_worker_open: (re)connect to whatever controller the connection file
// names now.
static void s_worker_open(s_worker_t *w)
{
    if (w->open)
        h_client_close(&w->cl);
    char why[300];
    while (!h_client_try_open(&w->cl, w->cluster, why, sizeof why)) {
        h_client_close(&w->cl);
        usleep(100000);
    }
    w->open = true;
}

// s_worker_main: the client process. Never returns.
static void s_worker_main(const s_plan_t *plan, h_cluster_t *c, const char *progress)
{
    static s_worker_t w;
    memset(&w, 0, sizeof w);
    w.plan = plan;
    w.cluster = c;
    s_progress_read(progress, plan->n_items, &w.pr);
    w.fd = open(progress, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (w.fd < 0)
        _exit(2);
    // End a line the last client was killed in the middle of.
    struct stat sb;
    if (fstat(w.fd, &sb) == 0 && sb.st_size > 0) {
        int rfd = open(progress, O_RDONLY | O_CLOEXEC);
        char last = '\n';
        if (rfd >= 0 && pread(rfd, &last, 1, sb.st_size - 1) == 1 && last != '\n' &&
            write(w.fd, "\n", 1) != 1)
            _exit(3);
        if (rfd >= 0)
            close(rfd);
    }
    s_worker_open(&w);
    int64_t deadline = ipp_clock_mono_us() + (int64_t)S_WORKER_S * 1000000;
    int ctl_pid = (int)w.cl.info.controller_pid;

    // Phase 1: every item but the resubmissions, in order.
    for (int i = 0; i < plan->n_items; i++) {
        if (plan->items[i].kind == K_RESUB || s_settled(&w, i))
            continue;
        s_send_item(&w, i);
        s_pump(&w, plan->items[i].gap_ms);
    }
    // Until each is acknowledged or refused, send again what goes
    // unanswered (same msg_id, signed afresh).
    for (;;) {
        bool all = true;
        for (int i = 0; i < plan->n_items; i++) {
            if (plan->items[i].kind == K_RESUB || s_settled(&w, i))
                continue;
            all = false;
            if (ipp_clock_mono_us() - w.sent_us[i] > S_RESEND_US)
                s_send_item(&w, i);
        }
        if (all)
            break;
        if (ipp_clock_mono_us() > deadline)
            _exit(5);
        s_pump(&w, 100);
        // A controller started afresh may have moved: follow the file.
        conn_info_t info;
        char cf[700];
        snprintf(cf, sizeof cf, "%s/security/%s", c->profile_dir, CONN_CLIENT_FILE);
        if (conn_read(cf, CONN_CLIENT, &info, NULL) == IPP_OK &&
            (int)info.controller_pid != ctl_pid &&
            (info.client_port != w.cl.info.client_port || info.key_len != w.cl.info.key_len ||
             memcmp(info.key, w.cl.info.key, info.key_len) != 0)) {
            s_worker_open(&w);
            ctl_pid = (int)w.cl.info.controller_pid;
        }
    }
    // Phase 2: the resubmissions.
    for (int i = 0; i < plan->n_items; i++) {
        if (plan->items[i].kind != K_RESUB || w.pr.given_up[i])
            continue;
        if (!s_resubmit(&w, i, deadline))
            _exit(6);
    }
    s_pump(&w, 50);
    s_note(&w, "D");
    s_sync(&w);
    // No cleanup: the process ends here (the context's threads with it).
    _exit(0);
}

// ------------------------------------------------------------ the trial

static h_cluster_t C;
static pid_t s_workers[S_MAX_WORKERS];  // client processes started (0 = reaped)
static int s_n_workers;
static pid_t s_owner;  // the process that runs the trials

// s_cleanup: kill and reap every process this trial started, by pid.
static void s_cleanup(void)
{
    if (getpid() != s_owner)
        return;  // a forked client inherits the atexit entry
    for (int i = 0; i < s_n_workers; i++) {
        if (s_workers[i] > 0) {
            kill(s_workers[i], SIGKILL);
            waitpid(s_workers[i], NULL, 0);
            s_workers[i] = 0;
        }
    }
    for (int i = 0; i < C.n_all; i++) {
        if (C.all[i] > 0 && waitpid(C.all[i], NULL, WNOHANG) == 0) {
            kill(C.all[i], SIGKILL);
            waitpid(C.all[i], NULL, 0);
        }
        C.all[i] = 0;
    }
}

static uint64_t s_cur_seed;  // the trial running, for the failure message

// s_fail: stop every process, keep the folder, and fail the test naming
// the seed that replays it.
static void s_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void s_fail(const char *fmt, ...)
{
    char text[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    s_cleanup();
    fprintf(stderr,
            "CRASH TRIAL FAILED (seed %" PRIu64 "): %s\n"
            "  logs and database kept in %s\n"
            "  replay: IPP_CRASH_SEED=%" PRIu64 " IPP_CRASH_TRIALS=1 %s\n",
            s_cur_seed, text, C.dir, s_cur_seed, "test_crash");
    ck_abort_msg("seed %" PRIu64 ": %s", s_cur_seed, text);
    abort();  // not reached
}

// s_worker_start: fork a client process.
static void s_worker_start(const s_plan_t *plan, const char *progress)
{
    if (s_n_workers >= S_MAX_WORKERS)
        s_fail("too many client processes");
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        s_fail("fork: %s", strerror(errno));
    if (pid == 0) {
        h_die_with_parent(parent);
        s_worker_main(plan, &C, progress);
    }
    s_workers[s_n_workers++] = pid;
}

// s_worker_running: the pid of the client process still running, else 0
// (reaping what ended; a client that failed fails the trial).
static pid_t s_worker_running(void)
{
    for (int i = 0; i < s_n_workers; i++) {
        if (s_workers[i] <= 0)
            continue;
        int st;
        pid_t r = waitpid(s_workers[i], &st, WNOHANG);
        if (r == 0)
            return s_workers[i];
        pid_t was = s_workers[i];
        s_workers[i] = 0;
        if (r == was && !(WIFEXITED(st) && WEXITSTATUS(st) == 0))
            s_fail("client process %d ended with %s %d (5: requests never settled, 6: "
                   "resubmissions never settled)",
                   (int)was, WIFEXITED(st) ? "status" : "signal",
                   WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
    }
    return 0;
}

// Engine slots: the two engines of the trial, whatever process runs each.
typedef struct s_slot_t {
    int index;      // harness index of its current process
    char uuid[40];  // its identity
} s_slot_t;

static s_slot_t s_slots[2];

// s_engine_up: start the engine of slot s.
static void s_engine_up(int s)
{
    const char *args[] = {"--uuid", s_slots[s].uuid, NULL};
    s_slots[s].index = h_engine_start(&C, args);
}

// s_wait_registered: wait until n engines are registered (a client of the
// test process, closed again before anything forks).
static void s_wait_registered(size_t n)
{
    h_client_t k;
    h_client_open(&k, &C);
    bool ok = h_wait_engines(&k, n, 20000);
    h_client_close(&k);
    if (!ok)
        s_fail("%zu engines did not register in 20 s", n);
}

// s_sleep_watching: sleep ms, reaping clients that end.
static void s_sleep_watching(int ms)
{
    int64_t until = ipp_clock_mono_us() + (int64_t)ms * 1000;
    while (ipp_clock_mono_us() < until) {
        s_worker_running();
        usleep(5000);
    }
}

// s_kill: carry out kill k of the plan (and bring back what died).
static void s_kill(const s_plan_t *plan, const s_kill_t *k, const char *progress, char *what,
                   size_t what_size)
{
    bool ctl = k->victim == V_CONTROLLER || k->victim == V_BOTH;
    bool eng = k->victim == V_ENGINE || k->victim == V_BOTH;
    pid_t client = s_worker_running();
    size_t l = strlen(what);
    snprintf(what + l, what_size - l, "%s%s%s", l ? ", " : "", s_victim_names[k->victim],
             k->victim == V_CLIENT && !client ? " (had finished)" : "");
    if (ctl)
        h_controller_kill(&C);
    if (eng)
        h_engine_kill(&C, s_slots[k->engine].index);
    if (k->victim == V_CLIENT && client) {
        for (int i = 0; i < s_n_workers; i++) {
            if (s_workers[i] == client) {
                kill(client, SIGKILL);
                waitpid(client, NULL, 0);
                s_workers[i] = 0;
            }
        }
    }
    s_sleep_watching(k->down_ms);
    if (ctl)
        h_controller_start(&C, NULL);
    if (eng)
        s_engine_up(k->engine);  // the same engine, restarted: same uuid, same id
    if (k->victim == V_CLIENT && client)
        s_worker_start(plan, progress);
}

// Trial totals, for the summary line.
typedef struct s_summary_t {
    int items;         // workload items
    int acked;         // acknowledged ids
    int records;       // rows in tasks
    int maybe;         // re-sends refused (recorded or not: not checked)
    int lost_replies;  // resubmissions replied to, then unknown
    char kills[160];   // what was killed
} s_summary_t;

// s_count: an integer from the store, failing the trial if it cannot be read.
static int64_t s_count(const char *sql)
{
    int64_t v = h_db_int(&C, sql);
    if (v < 0)
        s_fail("cannot read the store: %s", sql);
    return v;
}

// s_check: the store against what the clients were told.
static void s_check(const s_plan_t *plan, const char *progress, s_summary_t *sum)
{
    s_progress_t pr;
    s_progress_read(progress, plan->n_items, &pr);
    if (!pr.done) {
        s_progress_free(&pr);
        s_fail("the last client process did not finish its work");
    }
    char sql[512], text[512];
    sum->items = plan->n_items;
    sum->acked = pr.n_acked;
    for (int i = 0; i < plan->n_items; i++)
        sum->maybe += pr.maybe[i];
    sum->lost_replies = pr.n_lost_replies;
    for (int a = 0; a < pr.n_acked; a++) {
        snprintf(sql, sizeof sql, "SELECT count(*) FROM tasks WHERE msg_id='%s'", pr.acked[a]);
        int64_t n = s_count(sql);
        if (n != 1) {
            char id[IPP_MSGID_LEN + 1];
            memcpy(id, pr.acked[a], sizeof id);
            s_progress_free(&pr);
            s_fail("acknowledged task %s has %" PRId64 " records (expected exactly 1)", id, n);
        }
        snprintf(sql, sizeof sql, "SELECT status FROM tasks WHERE msg_id='%s'", pr.acked[a]);
        if (!h_db_text(&C, sql, text, sizeof text) || strcmp(text, "pending") == 0) {
            char id[IPP_MSGID_LEN + 1];
            memcpy(id, pr.acked[a], sizeof id);
            s_progress_free(&pr);
            s_fail("acknowledged task %s did not finish (status '%s')", id, text);
        }
    }
    for (int i = 0; i < plan->n_items; i++) {
        if (plan->items[i].kind == K_RESUB || !pr.ids[i][0])
            continue;
        // The label is this item's, on this id only (a resubmission would
        // copy it: resubmitted items have none).
        snprintf(sql, sizeof sql,
                 "SELECT count(*) FROM tasks WHERE label='item-%d' AND msg_id<>'%s'", i, pr.ids[i]);
        int64_t other = s_count(sql);
        if (pr.refused[i]) {
            snprintf(sql, sizeof sql, "SELECT count(*) FROM tasks WHERE msg_id='%s'", pr.ids[i]);
            if (s_count(sql) != 0) {
                s_progress_free(&pr);
                s_fail("item %d was refused at once, yet it is recorded", i);
            }
        }
        if (other) {
            s_progress_free(&pr);
            s_fail("label item-%d has %" PRId64 " records under another msg_id", i, other);
        }
    }
    s_progress_free(&pr);
    if (h_db_text(&C,
                  "SELECT label || ' x' || count(*) FROM tasks WHERE label IS NOT NULL "
                  "GROUP BY label HAVING count(*) > 1 LIMIT 1",
                  text, sizeof text))
        s_fail("a label has two records: %s", text);
    if (h_db_text(&C, "SELECT msg_id || ' ' || status FROM tasks WHERE status='pending' LIMIT 1",
                  text, sizeof text))
        s_fail("a record is still pending: %s", text);
    if (h_db_text(&C,
                  "SELECT msg_id FROM tasks t WHERE resubmitted IS NOT NULL AND NOT EXISTS "
                  "(SELECT 1 FROM tasks n WHERE n.msg_id = t.resubmitted) LIMIT 1",
                  text, sizeof text))
        s_fail("task %s names a resubmission that is not recorded", text);
    sum->records = (int)s_count("SELECT count(*) FROM tasks");
}

// s_fresh_task: a new task runs to completion.
static void s_fresh_task(void)
{
    h_client_t k;
    h_client_open(&k, &C);
    char ids[1][IPP_MSGID_LEN + 1];
    h_task_t t = {.call = "echo",
                  .args = (const char *[]){"after"},
                  .n_args = 1,
                  .target = -1,
                  .label = "fresh"};
    h_submit(&k, &t, ids[0]);
    h_result_t res[1];
    size_t got = h_collect(&k, ids, 1, res, 20000);
    h_client_close(&k);
    if (got != 1 || res[0].status != IPP__STATUS__OK || strcmp(res[0].buf0, "after") != 0)
        s_fail("a fresh task did not run (got %zu, status %d, %s %s)", got,
               got ? res[0].status : -1, res[0].ename, res[0].evalue);
}

// s_after_stop: the database, every process stopped: integrity and the
// audit chain.
static void s_after_stop(void)
{
    char text[512];
    if (!h_db_text(&C, "PRAGMA integrity_check", text, sizeof text) || strcmp(text, "ok") != 0)
        s_fail("integrity_check: %s", text);
    char cmd[1600];
    snprintf(cmd, sizeof cmd, "'%s' verify --db '%s' > '%s/verify.out' 2>&1", IPP_QUERY_BIN,
             C.db_path, C.dir);
    int st = system(cmd);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        s_fail("ipp-query verify failed (status %d, see %s/verify.out)",
               WIFEXITED(st) ? WEXITSTATUS(st) : -1, C.dir);
}

// s_trial: one trial of seed.
static void s_trial(uint64_t seed, int k, int n)
{
    int64_t t0 = ipp_clock_mono_us();
    s_cur_seed = seed;
    s_plan_t *plan = calloc(1, sizeof *plan);
    if (!plan)
        s_fail("no memory");
    s_plan_make(plan, seed);
    if (getenv("IPP_CRASH_VERBOSE"))
        s_plan_print(plan);
    s_n_workers = 0;
    h_cluster_init(&C);
    char progress[700];
    snprintf(progress, sizeof progress, "%s/progress", C.dir);
    for (int s = 0; s < 2; s++) {
        memset(&s_slots[s], 0, sizeof s_slots[s]);
        snprintf(s_slots[s].uuid, sizeof s_slots[s].uuid, "00000000-0000-4000-8000-%012d", s);
    }
    h_controller_start(&C, NULL);
    // One after the other, so that slot s gets engine id s.
    s_engine_up(0);
    s_wait_registered(1);
    s_engine_up(1);
    s_wait_registered(2);

    s_summary_t sum = {0};
    s_worker_start(plan, progress);
    for (int i = 0; i < plan->n_kills; i++) {
        s_sleep_watching(plan->kills[i].at_ms);
        s_kill(plan, &plan->kills[i], progress, sum.kills, sizeof sum.kills);
    }
    // The client finishes, then the store has nothing pending.
    int64_t until = ipp_clock_mono_us() + (int64_t)(S_WORKER_S + 10) * 1000000;
    while (s_worker_running() && ipp_clock_mono_us() < until)
        usleep(10000);
    if (s_worker_running())
        s_fail("the client process did not finish in %d s", S_WORKER_S + 10);
    until = ipp_clock_mono_us() + (int64_t)S_SETTLE_S * 1000000;
    while (h_db_int(&C, "SELECT count(*) FROM tasks WHERE status='pending'") != 0 &&
           ipp_clock_mono_us() < until)
        usleep(50000);
    s_check(plan, progress, &sum);
    s_fresh_task();
    int bad = h_cluster_stop(&C);
    if (bad)
        s_fail("%d processes did not stop cleanly (a crash or a sanitizer report: see logs)", bad);
    s_after_stop();
    h_cluster_fini(&C);
    fprintf(stderr,
            "trial %d/%d seed %" PRIu64 ": killed %s; %d items, %d acknowledged, %d records, "
            "%d unsure%s: ok (%.1f s)\n",
            k + 1, n, seed, sum.kills, sum.items, sum.acked, sum.records, sum.maybe,
            sum.lost_replies ? ", a RESUBMIT_REPLY named a task that was then unknown" : "",
            (double)(ipp_clock_mono_us() - t0) / 1e6);
    free(plan);
}

static uint64_t s_seed;  // the first trial's seed
static int s_trials;     // how many

START_TEST(test_crash_matrix)
{
    s_owner = getpid();
    atexit(s_cleanup);
    for (int k = 0; k < s_trials; k++)
        s_trial(s_seed + (uint64_t)k, k, s_trials);
}
END_TEST

// s_parse_u64: text as an unsigned decimal; false if it is not one.
static bool s_parse_u64(const char *text, uint64_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (!text[0] || *end || errno || text[0] == '-')
        return false;
    *out = v;
    return true;
}

int main(int argc, char **argv)
{
    const char *seed_text = getenv("IPP_CRASH_SEED");
    const char *trials_text = getenv("IPP_CRASH_TRIALS");
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
            seed_text = argv[++i];
        } else if (strcmp(argv[i], "--trials") == 0 && i + 1 < argc) {
            trials_text = argv[++i];
        } else {
            fprintf(stderr,
                    "usage: test_crash [--seed S] [--trials N]\n"
                    "  (or IPP_CRASH_SEED, IPP_CRASH_TRIALS; IPP_CRASH_VERBOSE=1 prints plans)\n");
            return 2;
        }
    }
    uint64_t trials = 8;
    if (seed_text) {
        if (!s_parse_u64(seed_text, &s_seed)) {
            fprintf(stderr, "test_crash: seed '%s' is not a number\n", seed_text);
            return 2;
        }
    } else {
        if (sodium_init() < 0)
            return 1;
        // Small enough to type.
        s_seed = randombytes_uniform(1000000000u);
    }
    if (trials_text && (!s_parse_u64(trials_text, &trials) || trials == 0 || trials > 100000)) {
        fprintf(stderr, "test_crash: trials '%s' is not a number from 1 to 100000\n", trials_text);
        return 2;
    }
    s_trials = (int)trials;
    fprintf(stderr,
            "crash matrix: seed %" PRIu64 ", %d trials (replay: IPP_CRASH_SEED=%" PRIu64
            " IPP_CRASH_TRIALS=%d)\n",
            s_seed, s_trials, s_seed, s_trials);
    Suite *s = suite_create("crash");
    TCase *tc = tcase_create("matrix");
    // Each trial is a few seconds; the slack covers a loaded machine.
    tcase_set_timeout(tc, 120.0 + 90.0 * s_trials);
    tcase_add_test(tc, test_crash_matrix);
    suite_add_tcase(s, tc);
    return h_main(s);
}
