/* sched.c — the scheduler's state machine and its indices.
 *
 * Owns every task record (live tasks and placeholders for ids the hub says
 * are pending), every engine record, the finished-outcome cache, the
 * timeout heap and the outbox. Never calls the hub's dispatch/finish in the
 * middle of an update (see outbox.h), never scans waiting tasks, and never
 * touches the hub's user pointers.
 *
 * A task moves WAITING (dependencies not met) → READY (runnable, waiting
 * for an engine slot) → RUNNING (sent) → gone, or back from RUNNING to
 * READY after a refusal, a retry or its engine's death. EXPECTED records
 * stand in for ids the hub knows as pending but has not submitted here;
 * they only collect waiters.
 *
 * Indices, each updated in O(1) per element it gains or loses:
 *  - tasks: msg_id → record; engines: id → record.
 *  - a task's `edges` (one per distinct dependency id not finished when it
 *    was submitted), each linked into the waited-on record's waiter list:
 *    a finishing task walks exactly its own waiters.
 *  - READY task-queue tasks without restrictions: one FIFO. Restricted ones
 *    (targets, follow, refusals, engines to avoid after a failure) get a
 *    slot in a FIFO per allowed engine. An engine with a free slot takes
 *    the older of its own FIFO's head and the shared FIFO's head: O(1).
 *    A task restricted only by refusals ("co-finite": any engine but
 *    these) has a slot on every registered engine it may use, and sits in
 *    a list that a newly registered engine walks to add its slots — the
 *    engine's own new edges.
 *  - READY mux tasks: a FIFO per engine.
 *  - RUNNING tasks: a list per engine, so a dying engine finds its tasks.
 *    A running task keeps its pending `follow` edges (any-mode): if it
 *    comes back, it knows every engine it may use by then.
 *  - timeouts: a heap whose elements sit in the tasks.
 *
 * Finished tasks queue in `fin` and their waiters are resolved by s_run in
 * a loop, so cascades (impossible dependencies through long chains) never
 * recurse.
 */
#include "scheduler/sched.h"

#include "scheduler/deps.h"
#include "scheduler/donecache.h"
#include "scheduler/idmap.h"
#include "scheduler/outbox.h"
#include "scheduler/pool.h"
#include "scheduler/timeheap.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DONE_CACHE_DEFAULT 65536
#define POOL_BLOCK 1024

enum { T_EXPECTED, T_WAITING, T_READY, T_RUNNING, T_DONE };
enum { EDGE_AFTER, EDGE_FOLLOW };
enum { W_NONE, W_FIFO, W_SLOTS, W_MUX };  // where a READY task is indexed

typedef struct sched_task_t sched_task_t;
typedef struct sched_engine_t sched_engine_t;

// One dependency of one task on one id.
typedef struct sched_edge_t {
    struct sched_edge_t *prev;  // in dep's waiter list
    struct sched_edge_t *next;  // in dep's waiter list
    sched_task_t *task;         // the task that waits (owns the edge)
    sched_task_t *dep;          // the record waited on; NULL once resolved or dropped
    int kind;                   // EDGE_AFTER or EDGE_FOLLOW
} sched_edge_t;

// A READY restricted task's entry in one engine's FIFO (from slot_pool).
typedef struct sched_slot_t {
    struct sched_slot_t *eprev;  // in the engine's slot FIFO
    struct sched_slot_t *enext;  // in the engine's slot FIFO
    struct sched_slot_t *tprev;  // in the task's slot list
    struct sched_slot_t *tnext;  // in the task's slot list
    sched_task_t *task;          // the task
    sched_engine_t *engine;      // the engine whose FIFO holds it
} sched_slot_t;

// Where a task may go; allocated only for tasks with some restriction.
typedef struct sched_place_t {
    int32_t *targets;      // allowed engines, sorted, distinct (owned); NULL = any
    uint32_t n_targets;    // entries in targets
    int32_t *refused;      // engines that answered "unmet dependency" (owned)
    uint32_t n_refused;    // entries in refused
    uint32_t cap_refused;  // allocated length of refused
    int32_t *avoid;        // engines it failed on, to avoid on retry (owned)
    uint32_t n_avoid;      // entries in avoid
    uint32_t cap_avoid;    // allocated length of avoid
    sched_loc_t loc;       // engines where counting follow deps ran
    sched_slot_t *slots;   // head of this task's slots while READY
    uint32_t n_reg;        // slots whose engine is registered
    bool cofinite;         // slots cover every registered engine not excluded
} sched_place_t;

struct sched_task_t {
    char msg_id[SCHED_ID_MAX + 1];  // the id (map key)
    uint64_t hash;                  // hash of msg_id
    void *user;                     // the hub's pointer (never dereferenced)
    sched_task_t *prev;             // in a FIFO, the co-finite list or a running list
    sched_task_t *next;             // ditto
    sched_task_t *work;             // in self->fin once DONE
    sched_task_t *rework;           // in a local worklist (engine removal)
    sched_edge_t *wait_head;        // edges of tasks waiting on this one
    sched_edge_t *wait_tail;        // ditto, tail
    uint32_t n_waiters;             // edges in that list
    sched_edge_t *edges;            // own edges: inline_edges or heap (owned)
    uint32_t n_edges;               // own edges in use
    sched_edge_t inline_edges[2];   // storage for up to two edges
    sched_place_t *place;           // restrictions (owned), NULL if none
    sched_timer_t timer;            // armed while WAITING or READY with a timeout
    int64_t timeout;                // µs; 0 = none
    uint64_t seq;                   // READY order: lower is older
    sched_depset_t after;           // time dependency counters
    sched_depset_t follow;          // location dependency counters
    int32_t engine;                 // mux: target; RUNNING: where; DONE: where it ran
    uint32_t retries;               // attempts left after a failure
    int state;                      // T_*
    int queue;                      // sched_queue_t
    int where;                      // W_* while READY
    bool done_ok;                   // DONE: the outcome
    bool released;                  // RUNNING, but its engine is done with it
                                    // (sched_release): off the run list, no load
};

struct sched_engine_t {
    int32_t id;                 // engine id (map key)
    bool registered;            // up; false while only referenced by targets/follow
    bool pinned;                // being removed: keep the record until done
    uint32_t load;              // tasks sent and not finished
    uint64_t completed;         // results since it registered
    int64_t lru_stamp;          // position in LRU order (smaller = less recent)
    sched_engine_t *lru_prev;   // in self's LRU list (registered only)
    sched_engine_t *lru_next;   // ditto
    sched_task_t *run_head;     // RUNNING tasks here
    sched_task_t *run_tail;     // ditto
    sched_task_t *mux_head;     // READY mux tasks for it, FIFO
    sched_task_t *mux_tail;     // ditto
    uint32_t n_mux;             // entries in the mux FIFO
    sched_slot_t *slot_head;    // READY restricted tasks that may run here, FIFO
    sched_slot_t *slot_tail;    // ditto
    uint32_t n_slots;           // entries in the slot FIFO
};

struct sched_t {
    sched_ops_t ops;                   // the hub's callbacks
    void *ctx;                         // their context
    const sched_scheme_ops_t *scheme;  // routing scheme
    uint32_t hwm;                      // task-queue limit per engine, 0 = none
    uint32_t mux_hwm;                  // mux limit per engine, 0 = none
    uint64_t seed;                     // hash seed
    sched_rng_t rng;                   // for random schemes
    sched_pool_t task_pool;            // sched_task_t records
    sched_pool_t slot_pool;            // sched_slot_t records
    sched_idmap_t tasks;               // msg_id → live or EXPECTED task
    sched_idmap_t engines;             // id → engine record
    sched_done_t *done;                // finished outcomes (owned)
    sched_timeheap_t timers;           // timeouts
    sched_outbox_t outbox;             // decisions not yet told
    sched_task_t *fifo_head;           // READY unrestricted task-queue tasks
    sched_task_t *fifo_tail;           // ditto
    sched_task_t *cof_head;            // READY co-finite tasks
    sched_task_t *cof_tail;            // ditto
    sched_task_t *fin_head;            // DONE tasks whose waiters are unresolved
    sched_task_t *fin_tail;            // ditto
    sched_engine_t *lru_head;          // registered engines, least recent first
    sched_engine_t *lru_tail;          // ditto
    int64_t lru_lo;                    // smallest stamp handed out
    int64_t lru_hi;                    // largest stamp handed out
    uint32_t n_registered;             // registered engines
    uint32_t n_free;                   // registered engines under hwm
    sched_cand_t *cands;               // candidate scratch for schemes (owned)
    sched_engine_t **cand_eng;         // their engines (owned)
    size_t cap_cands;                  // allocated length of both
    const char **ids;                  // dependency id scratch (owned)
    size_t cap_ids;                    // allocated length
    int32_t *xbuf;                     // allowed-engine scratch (owned)
    size_t cap_xbuf;                   // allocated length
    uint64_t seq;                      // last READY sequence number
    int depth;                         // nesting of public calls
    sched_stats_t st;                  // counters
};

// ------------------------------------------------------------------ misc

sched_config_t sched_config_default(void)
{
    sched_config_t c = {
        .scheme = &sched_scheme_leastload,
        .hwm = SCHED_HWM_DEFAULT,
        .mux_hwm = 0,
        .seed = 0,
        .done_cache = DONE_CACHE_DEFAULT,
    };
    return c;
}

const char *sched_outcome_ename(sched_outcome_t why)
{
    switch (why) {
    case SCHED_ABORTED: return "TaskAborted";
    case SCHED_UNREACHABLE: return "ImpossibleDependency";
    case SCHED_TIMEOUT: return "DependencyTimeout";
    case SCHED_LOST: return "EngineError";
    case SCHED_INVALID: return "InvalidDependency";
    case SCHED_INTERNAL: return "SchedulerError";
    }
    return "SchedulerError";
}

ipp_err_t sched_outcome_err(sched_outcome_t why)
{
    switch (why) {
    case SCHED_ABORTED: return IPP_ERR_ABORTED;
    case SCHED_UNREACHABLE: return IPP_ERR_UNREACHABLE;
    case SCHED_TIMEOUT: return IPP_ERR_UNREACHABLE;
    case SCHED_LOST: return IPP_ERR_ENGINE;
    case SCHED_INVALID: return IPP_ERR_CYCLE;
    case SCHED_INTERNAL: return IPP_ERR_NOMEM;
    }
    return IPP_ERR_INVALID;
}

static bool s_task_eq(const void *val, const void *key)
{
    return strcmp(((const sched_task_t *)val)->msg_id, (const char *)key) == 0;
}

static bool s_engine_eq(const void *val, const void *key)
{
    return ((const sched_engine_t *)val)->id == *(const int32_t *)key;
}

static bool s_valid_id(const char *id)
{
    if (!id || !id[0])
        return false;
    return strnlen(id, SCHED_ID_MAX + 1) <= SCHED_ID_MAX;
}

// s_get: the live or EXPECTED record of msg_id, counting probes as ops.
static sched_task_t *s_get(sched_t *self, const char *msg_id)
{
    return sched_idmap_get(&self->tasks, sched_hash_str(self->seed, msg_id), msg_id, &self->st.ops);
}

// s_find: s_get for read-only callers (not counted).
static const sched_task_t *s_find(const sched_t *self, const char *msg_id)
{
    return sched_idmap_get(&self->tasks, sched_hash_str(self->seed, msg_id), msg_id, NULL);
}

static sched_engine_t *s_engine(const sched_t *self, int32_t id)
{
    return sched_idmap_get(&self->engines, sched_hash_int(self->seed, id), &id, NULL);
}

// s_ensure: grow *arr (of elem-size items) to hold n; 0 or -1.
static int s_ensure(void **arr, size_t *cap, size_t n, size_t elem)
{
    if (n <= *cap)
        return 0;
    size_t c = *cap ? *cap : 16;
    while (c < n)
        c *= 2;
    void *p = realloc(*arr, c * elem);
    if (!p)
        return -1;
    *arr = p;
    *cap = c;
    return 0;
}

static int s_ensure_cands(sched_t *self, size_t n)
{
    size_t cap = self->cap_cands;
    if (s_ensure((void **)&self->cands, &cap, n, sizeof *self->cands) != 0)
        return -1;
    cap = self->cap_cands;
    if (s_ensure((void **)&self->cand_eng, &cap, n, sizeof *self->cand_eng) != 0)
        return -1;
    self->cap_cands = cap;
    return 0;
}

static bool s_has(const int32_t *arr, uint32_t n, int32_t v)
{
    for (uint32_t i = 0; i < n; i++)
        if (arr[i] == v)
            return true;
    return false;
}

static int s_add(int32_t **arr, uint32_t *n, uint32_t *cap, int32_t v)
{
    if (s_has(*arr, *n, v))
        return 0;
    if (*n == *cap) {
        uint32_t c = *cap ? *cap * 2 : 4;
        int32_t *p = realloc(*arr, c * sizeof *p);
        if (!p)
            return -1;
        *arr = p;
        *cap = c;
    }
    (*arr)[(*n)++] = v;
    return 0;
}

// ----------------------------------------------------------- task lists

static void s_tl_push(sched_task_t **head, sched_task_t **tail, sched_task_t *t)
{
    t->next = NULL;
    t->prev = *tail;
    if (*tail)
        (*tail)->next = t;
    else
        *head = t;
    *tail = t;
}

static void s_tl_remove(sched_task_t **head, sched_task_t **tail, sched_task_t *t)
{
    if (t->prev)
        t->prev->next = t->next;
    else
        *head = t->next;
    if (t->next)
        t->next->prev = t->prev;
    else
        *tail = t->prev;
    t->prev = t->next = NULL;
}

// ------------------------------------------------------------- counters

static bool s_counts_unassigned(const sched_task_t *t)
{
    return t->queue == SCHED_QUEUE_TASK && (t->state == T_WAITING || t->state == T_READY);
}

// s_set_state: move t to state, keeping the per-state counters right.
static void s_set_state(sched_t *self, sched_task_t *t, int state)
{
    size_t *old = NULL, *neu = NULL;
    size_t *by[] = {&self->st.expected, &self->st.waiting, &self->st.queued,
                    &self->st.running, NULL};
    if (s_counts_unassigned(t))
        self->st.unassigned--;
    old = by[t->state];
    neu = by[state];
    if (old)
        (*old)--;
    if (neu)
        (*neu)++;
    t->state = state;
    if (s_counts_unassigned(t))
        self->st.unassigned++;
}

// ---------------------------------------------------------------- tasks

// s_task_new: a zeroed record for msg_id, in the map. NULL when out of memory.
static sched_task_t *s_task_new(sched_t *self, const char *msg_id, int state)
{
    sched_task_t *t = sched_pool_alloc(&self->task_pool);
    if (!t)
        return NULL;
    strcpy(t->msg_id, msg_id);
    t->hash = sched_hash_str(self->seed, msg_id);
    t->engine = -1;
    t->state = T_DONE;  // counted by s_set_state below
    sched_timer_init(&t->timer);
    if (sched_idmap_put(&self->tasks, t->hash, t) != 0) {
        sched_pool_free(&self->task_pool, t);
        return NULL;
    }
    s_set_state(self, t, state);
    return t;
}

static void s_place_free(sched_place_t *p)
{
    if (!p)
        return;
    free(p->targets);
    free(p->refused);
    free(p->avoid);
    sched_loc_fini(&p->loc);
    free(p);
}

// s_task_free: release t's own allocations and the record. It must be out
// of every index already.
static void s_task_free(sched_t *self, sched_task_t *t)
{
    if (t->edges && t->edges != t->inline_edges)
        free(t->edges);
    s_place_free(t->place);
    sched_pool_free(&self->task_pool, t);
}

static sched_place_t *s_place_get(sched_task_t *t)
{
    if (!t->place) {
        t->place = calloc(1, sizeof *t->place);
        if (t->place)
            sched_loc_init(&t->place->loc);
    }
    return t->place;
}

// ---------------------------------------------------------------- edges

static void s_edge_link(sched_t *self, sched_task_t *dep, sched_edge_t *e)
{
    e->dep = dep;
    e->next = NULL;
    e->prev = dep->wait_tail;
    if (dep->wait_tail)
        dep->wait_tail->next = e;
    else
        dep->wait_head = e;
    dep->wait_tail = e;
    dep->n_waiters++;
    self->st.ops++;
}

// s_forget_expected: drop an EXPECTED record nobody waits for any more.
static void s_forget_expected(sched_t *self, sched_task_t *d)
{
    sched_idmap_del(&self->tasks, d->hash, d->msg_id);
    s_set_state(self, d, T_DONE);
    s_task_free(self, d);
}

static void s_edge_unlink(sched_t *self, sched_edge_t *e)
{
    sched_task_t *dep = e->dep;
    if (!dep)
        return;
    if (e->prev)
        e->prev->next = e->next;
    else
        dep->wait_head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        dep->wait_tail = e->prev;
    e->prev = e->next = NULL;
    e->dep = NULL;
    dep->n_waiters--;
    self->st.ops++;
    if (dep->state == T_EXPECTED && dep->n_waiters == 0)
        s_forget_expected(self, dep);
}

// s_drop_edges: t no longer waits on anything.
static void s_drop_edges(sched_t *self, sched_task_t *t)
{
    for (uint32_t i = 0; i < t->n_edges; i++)
        s_edge_unlink(self, &t->edges[i]);
}

// s_drop_after_edges: t is sent; its `after` is met for good. Its pending
// `follow` ids (any-mode) stay linked: where they run matters if t comes
// back (refused, retried, engine lost).
static void s_drop_after_edges(sched_t *self, sched_task_t *t)
{
    for (uint32_t i = 0; i < t->n_edges; i++)
        if (t->edges[i].kind == EDGE_AFTER)
            s_edge_unlink(self, &t->edges[i]);
}

// -------------------------------------------------------------- engines

static bool s_is_free(const sched_t *self, const sched_engine_t *e)
{
    return e->registered && (self->hwm == 0 || e->load < self->hwm);
}

// s_load_add: change e's load by delta, keeping n_free right.
static void s_load_add(sched_t *self, sched_engine_t *e, int delta)
{
    bool was = s_is_free(self, e);
    e->load = (uint32_t)((int64_t)e->load + delta);
    bool now = s_is_free(self, e);
    if (was && !now)
        self->n_free--;
    else if (!was && now)
        self->n_free++;
}

static sched_engine_t *s_engine_get_or_new(sched_t *self, int32_t id)
{
    sched_engine_t *e = s_engine(self, id);
    if (e)
        return e;
    e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->id = id;
    if (sched_idmap_put(&self->engines, sched_hash_int(self->seed, id), e) != 0) {
        free(e);
        return NULL;
    }
    return e;
}

// s_engine_maybe_free: forget an engine record nothing refers to.
static void s_engine_maybe_free(sched_t *self, sched_engine_t *e)
{
    if (e->registered || e->pinned || e->n_slots || e->n_mux || e->load || e->run_head)
        return;
    sched_idmap_del(&self->engines, sched_hash_int(self->seed, e->id), &e->id);
    free(e);
}

static void s_lru_unlink(sched_t *self, sched_engine_t *e)
{
    if (e->lru_prev)
        e->lru_prev->lru_next = e->lru_next;
    else
        self->lru_head = e->lru_next;
    if (e->lru_next)
        e->lru_next->lru_prev = e->lru_prev;
    else
        self->lru_tail = e->lru_prev;
    e->lru_prev = e->lru_next = NULL;
}

// s_lru_touch: e was just used: most recent.
static void s_lru_touch(sched_t *self, sched_engine_t *e)
{
    e->lru_stamp = ++self->lru_hi;
    if (self->lru_tail == e)
        return;
    s_lru_unlink(self, e);
    e->lru_prev = self->lru_tail;
    if (self->lru_tail)
        self->lru_tail->lru_next = e;
    else
        self->lru_head = e;
    self->lru_tail = e;
}

// ---------------------------------------------------------------- slots

static sched_slot_t *s_slot_add(sched_t *self, sched_task_t *t, sched_engine_t *e)
{
    sched_slot_t *s = sched_pool_alloc(&self->slot_pool);
    if (!s)
        return NULL;
    s->task = t;
    s->engine = e;
    s->eprev = e->slot_tail;
    if (e->slot_tail)
        e->slot_tail->enext = s;
    else
        e->slot_head = s;
    e->slot_tail = s;
    e->n_slots++;
    s->tnext = t->place->slots;
    if (t->place->slots)
        t->place->slots->tprev = s;
    t->place->slots = s;
    if (e->registered)
        t->place->n_reg++;
    self->st.ops++;
    return s;
}

// s_slot_del: unlink s from its engine and task and free it; the engine
// record may be freed too.
static void s_slot_del(sched_t *self, sched_slot_t *s)
{
    sched_engine_t *e = s->engine;
    sched_task_t *t = s->task;
    if (s->eprev)
        s->eprev->enext = s->enext;
    else
        e->slot_head = s->enext;
    if (s->enext)
        s->enext->eprev = s->eprev;
    else
        e->slot_tail = s->eprev;
    e->n_slots--;
    if (s->tprev)
        s->tprev->tnext = s->tnext;
    else
        t->place->slots = s->tnext;
    if (s->tnext)
        s->tnext->tprev = s->tprev;
    if (e->registered)
        t->place->n_reg--;
    sched_pool_free(&self->slot_pool, s);
    self->st.ops++;
    s_engine_maybe_free(self, e);
}

// ------------------------------------------------------------ decisions

// s_unready: take a READY task out of whichever index holds it.
static void s_unready(sched_t *self, sched_task_t *t)
{
    switch (t->where) {
    case W_FIFO:
        s_tl_remove(&self->fifo_head, &self->fifo_tail, t);
        break;
    case W_MUX: {
        sched_engine_t *e = s_engine(self, t->engine);
        if (e) {
            s_tl_remove(&e->mux_head, &e->mux_tail, t);
            e->n_mux--;
            s_engine_maybe_free(self, e);
        }
        break;
    }
    case W_SLOTS:
        while (t->place->slots)
            s_slot_del(self, t->place->slots);
        if (t->place->cofinite)
            s_tl_remove(&self->cof_head, &self->cof_tail, t);
        t->place->cofinite = false;
        t->place->n_reg = 0;
        break;
    default:
        break;
    }
    t->where = W_NONE;
    self->st.ops++;
}

// s_detach: t leaves WAITING/READY: out of every index, timer off.
static void s_detach(sched_t *self, sched_task_t *t)
{
    if (t->state == T_READY)
        s_unready(self, t);
    s_drop_edges(self, t);
    sched_timeheap_disarm(&self->timers, &t->timer);
}

static void s_oom(sched_t *self)
{
    self->st.oom = true;
}

// s_done: t (out of every index) has finished with (ok, engine): remember
// the outcome, forget the task, queue its waiters for resolution.
static void s_done(sched_t *self, sched_task_t *t, bool ok, int32_t engine)
{
    s_drop_edges(self, t);
    t->done_ok = ok;
    t->engine = engine;
    sched_idmap_del(&self->tasks, t->hash, t->msg_id);
    if (sched_done_put(self->done, t->msg_id, ok, engine) != 0)
        s_oom(self);
    s_set_state(self, t, T_DONE);
    t->work = NULL;
    if (self->fin_tail)
        self->fin_tail->work = t;
    else
        self->fin_head = t;
    self->fin_tail = t;
}

static void s_fail(sched_t *self, sched_task_t *t, sched_outcome_t why, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

// s_fail: the scheduler finishes t with an error: tell the hub, resolve
// dependents. t may be WAITING, READY, or RUNNING already taken off its
// engine (then t->engine is kept as where it ran).
static void s_fail(sched_t *self, sched_task_t *t, sched_outcome_t why, const char *fmt, ...)
{
    int32_t ran = t->state == T_RUNNING ? t->engine : -1;
    s_detach(self, t);
    sched_out_t *o = sched_outbox_push(&self->outbox);
    if (o) {
        o->kind = SCHED_OUT_FINISH;
        o->why = why;
        o->engine = ran;
        o->user = t->user;
        strcpy(o->msg_id, t->msg_id);
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(o->evalue, sizeof o->evalue, fmt, ap);
        va_end(ap);
    } else {
        s_oom(self);
    }
    self->st.failed++;
    s_done(self, t, false, ran);
}

// s_dispatch: send t (READY or fresh) to engine e.
static void s_dispatch(sched_t *self, sched_task_t *t, sched_engine_t *e)
{
    if (t->state == T_READY)
        s_unready(self, t);
    s_drop_after_edges(self, t);
    sched_timeheap_disarm(&self->timers, &t->timer);
    s_set_state(self, t, T_RUNNING);
    t->engine = e->id;
    s_tl_push(&e->run_head, &e->run_tail, t);
    s_load_add(self, e, +1);
    s_lru_touch(self, e);
    sched_out_t *o = sched_outbox_push(&self->outbox);
    if (o) {
        o->kind = SCHED_OUT_DISPATCH;
        o->why = 0;
        o->engine = e->id;
        o->user = t->user;
        strcpy(o->msg_id, t->msg_id);
        o->evalue[0] = '\0';
    } else {
        s_oom(self);
    }
    self->st.dispatched++;
    self->st.ops++;
}

// s_choose: run the scheme over the first n candidates; their engine.
static sched_engine_t *s_choose(sched_t *self, size_t n)
{
    size_t i = self->scheme->choose(self->cands, n, &self->rng);
    if (i >= n)
        i = 0;  // a custom scheme out of range: fall back to the LRU one
    return self->cand_eng[i];
}

static bool s_excluded(const sched_place_t *p, int32_t id)
{
    return s_has(p->refused, p->n_refused, id) || s_has(p->avoid, p->n_avoid, id);
}

static int s_cmp_stamp(const void *a, const void *b)
{
    const sched_engine_t *x = *(sched_engine_t *const *)a;
    const sched_engine_t *y = *(sched_engine_t *const *)b;
    return (x->lru_stamp > y->lru_stamp) - (x->lru_stamp < y->lru_stamp);
}

// s_allowed_explicit: fill xbuf with the engines t may use when it has
// targets or follow: (targets ∩ follow locations) − refused − avoid.
// Returns the count, or -1 when out of memory.
static long s_allowed_explicit(sched_t *self, sched_task_t *t)
{
    sched_place_t *p = t->place;
    bool by_follow = t->follow.n > 0;
    size_t max = p->n_targets ? p->n_targets : sched_loc_count(&p->loc);
    if (s_ensure((void **)&self->xbuf, &self->cap_xbuf, max ? max : 1, sizeof *self->xbuf) != 0)
        return -1;
    long n = 0;
    if (p->n_targets) {
        for (uint32_t i = 0; i < p->n_targets; i++) {
            int32_t id = p->targets[i];
            self->st.ops++;
            if (by_follow && !sched_loc_has(&p->loc, id))
                continue;
            if (!s_excluded(p, id))
                self->xbuf[n++] = id;
        }
    } else {
        for (uint32_t i = 0; i < sched_loc_count(&p->loc); i++) {
            int32_t id = sched_loc_at(&p->loc, i);
            self->st.ops++;
            if (!s_excluded(p, id))
                self->xbuf[n++] = id;
        }
    }
    return n;
}

static bool s_is_cofinite(const sched_task_t *t)
{
    return t->place->n_targets == 0 && t->follow.n == 0;
}

// s_restricted: may t not go to just any engine?
static bool s_restricted(const sched_task_t *t)
{
    const sched_place_t *p = t->place;
    return p && (p->n_targets || t->follow.n || p->n_refused || p->n_avoid);
}

// s_place_restricted: place READY-to-be t that has restrictions: send it to
// a free allowed engine, else give it a slot on each allowed engine, else
// fail it when no engine can ever take it.
static void s_place_restricted(sched_t *self, sched_task_t *t)
{
    sched_place_t *p = t->place;
    for (int pass = 0; pass < 2; pass++) {
        size_t nc = 0;
        if (s_is_cofinite(t)) {
            if (s_ensure_cands(self, self->n_registered ? self->n_registered : 1) != 0)
                goto oom;
            uint32_t allowed = 0;
            for (sched_engine_t *e = self->lru_head; e; e = e->lru_next) {
                self->st.ops++;
                if (s_excluded(p, e->id))
                    continue;
                allowed++;
                if (s_is_free(self, e)) {
                    self->cands[nc] = (sched_cand_t){e->id, e->load};
                    self->cand_eng[nc++] = e;
                }
            }
            if (nc) {
                s_dispatch(self, t, s_choose(self, nc));
                return;
            }
            if (allowed == 0 && self->n_registered > 0) {
                if (p->n_avoid && pass == 0) {
                    p->n_avoid = 0;  // only engines it failed on are left: use them
                    continue;
                }
                s_fail(self, t, SCHED_UNREACHABLE,
                       "every registered engine (%u) refused it (unmet dependency)",
                       self->n_registered);
                return;
            }
            // Wait: a slot on each allowed engine, and in the co-finite list
            // so engines registering later add theirs.
            s_set_state(self, t, T_READY);
            t->where = W_SLOTS;
            p->cofinite = true;
            p->n_reg = 0;
            s_tl_push(&self->cof_head, &self->cof_tail, t);
            for (sched_engine_t *e = self->lru_head; e; e = e->lru_next) {
                self->st.ops++;
                if (!s_excluded(p, e->id) && !s_slot_add(self, t, e))
                    goto oom;
            }
            return;
        }
        long nx = s_allowed_explicit(self, t);
        if (nx < 0)
            goto oom;
        if (nx == 0) {
            if (p->n_avoid && pass == 0) {
                p->n_avoid = 0;
                continue;
            }
            if (p->n_refused)
                s_fail(self, t, SCHED_UNREACHABLE,
                       "every allowed engine refused it (unmet dependency)");
            else
                s_fail(self, t, SCHED_UNREACHABLE,
                       "its targets and the engines of its 'follow' dependencies do not intersect");
            return;
        }
        if (s_ensure_cands(self, (size_t)nx) != 0)
            goto oom;
        size_t nreg = 0;
        for (long i = 0; i < nx; i++) {
            sched_engine_t *e = s_engine(self, self->xbuf[i]);
            self->st.ops++;
            if (e && e->registered) {
                nreg++;
                if (s_is_free(self, e))
                    self->cand_eng[nc++] = e;
            }
        }
        if (nc) {
            if (nc > 1)
                qsort(self->cand_eng, nc, sizeof *self->cand_eng, s_cmp_stamp);
            for (size_t i = 0; i < nc; i++)
                self->cands[i] = (sched_cand_t){self->cand_eng[i]->id, self->cand_eng[i]->load};
            s_dispatch(self, t, s_choose(self, nc));
            return;
        }
        if (nreg == 0 && p->n_avoid && pass == 0) {
            // Its allowed engines are down, but one it failed on is up.
            bool avoided_up = false;
            for (uint32_t i = 0; i < p->n_avoid; i++) {
                sched_engine_t *e = s_engine(self, p->avoid[i]);
                if (e && e->registered)
                    avoided_up = true;
            }
            if (avoided_up) {
                p->n_avoid = 0;
                continue;
            }
        }
        s_set_state(self, t, T_READY);
        t->where = W_SLOTS;
        p->cofinite = false;
        p->n_reg = 0;
        for (long i = 0; i < nx; i++) {
            sched_engine_t *e = s_engine_get_or_new(self, self->xbuf[i]);
            if (!e || !s_slot_add(self, t, e))
                goto oom;
        }
        return;
    }
    return;
oom:
    s_oom(self);
    s_fail(self, t, SCHED_INTERNAL, "out of memory while placing the task");
}

// s_serve: engine e may have room: give it queued work, oldest first.
static void s_serve(sched_t *self, sched_engine_t *e)
{
    while (e->registered) {
        self->st.ops++;
        if (e->mux_head && (self->mux_hwm == 0 || e->load < self->mux_hwm)) {
            s_dispatch(self, e->mux_head, e);
            continue;
        }
        if (!s_is_free(self, e))
            break;
        sched_task_t *a = e->slot_head ? e->slot_head->task : NULL;
        sched_task_t *b = self->fifo_head;
        sched_task_t *pick = !a ? b : !b ? a : (a->seq < b->seq ? a : b);
        if (!pick)
            break;
        s_dispatch(self, pick, e);
    }
}

// s_make_ready: t's dependencies are met: place it.
static void s_make_ready(sched_t *self, sched_task_t *t)
{
    t->seq = ++self->seq;
    if (t->queue == SCHED_QUEUE_MUX) {
        sched_engine_t *e = s_engine(self, t->engine);
        if (!e || !e->registered) {
            s_fail(self, t, SCHED_LOST, "engine %d is not registered", (int)t->engine);
            return;
        }
        if (t->place && s_has(t->place->refused, t->place->n_refused, t->engine)) {
            s_fail(self, t, SCHED_UNREACHABLE, "engine %d refused it (unmet dependency)",
                   (int)t->engine);
            return;
        }
        s_set_state(self, t, T_READY);
        t->where = W_MUX;
        s_tl_push(&e->mux_head, &e->mux_tail, t);
        e->n_mux++;
        s_serve(self, e);
        return;
    }
    if (s_restricted(t)) {
        s_place_restricted(self, t);
        return;
    }
    if (self->n_free > 0) {
        if (s_ensure_cands(self, self->n_free) != 0) {
            s_oom(self);
            s_fail(self, t, SCHED_INTERNAL, "out of memory while placing the task");
            return;
        }
        size_t nc = 0;
        for (sched_engine_t *e = self->lru_head; e; e = e->lru_next) {
            self->st.ops++;
            if (s_is_free(self, e)) {
                self->cands[nc] = (sched_cand_t){e->id, e->load};
                self->cand_eng[nc++] = e;
            }
        }
        if (nc) {
            s_dispatch(self, t, s_choose(self, nc));
            return;
        }
    }
    s_set_state(self, t, T_READY);
    t->where = W_FIFO;
    s_tl_push(&self->fifo_head, &self->fifo_tail, t);
}

static bool s_deps_met(const sched_task_t *t)
{
    return sched_depset_met(&t->after) && sched_depset_met(&t->follow);
}

static int s_arm(sched_t *self, sched_task_t *t)
{
    if (t->timeout <= 0)
        return 0;
    sched_timeheap_disarm(&self->timers, &t->timer);
    return sched_timeheap_arm(&self->timers, &t->timer, self->ops.now(self->ctx) + t->timeout);
}

// s_requeue: t came back from an engine (refusal, retry, engine death):
// a new waiting period, then placement.
static void s_requeue(sched_t *self, sched_task_t *t)
{
    s_set_state(self, t, T_WAITING);
    if (s_arm(self, t) != 0)
        s_oom(self);
    s_make_ready(self, t);
}

static const char *s_verb(bool ok, int32_t engine)
{
    return ok ? "succeeded" : engine < 0 ? "did not run" : "failed";
}

// s_note: one of t's dependencies (dep_id, finished ok on engine) is known;
// update t and act: fail it when unreachable, place it when met.
// Returns true if t is no longer WAITING/READY.
static bool s_note(sched_t *self, sched_task_t *t, int kind, const char *dep_id, bool ok,
                   int32_t engine, bool act)
{
    if (kind == EDGE_AFTER) {
        sched_depset_note(&t->after, sched_depset_counts(&t->after, ok));
        if (sched_depset_unreachable(&t->after)) {
            s_fail(self, t, SCHED_UNREACHABLE,
                   "'after' dependency '%s' %s, so 'after' can never be met", dep_id,
                   s_verb(ok, engine));
            return true;
        }
    } else {
        bool counts = sched_depset_counts(&t->follow, ok) && engine >= 0;
        int32_t first = t->place->loc.first;
        int added = 0;
        if (counts) {
            added = sched_loc_add(&t->place->loc, engine, !t->follow.all);
            if (added < 0) {
                s_oom(self);
                s_fail(self, t, SCHED_INTERNAL, "out of memory noting a 'follow' location");
                return true;
            }
        }
        sched_depset_note(&t->follow, counts);
        if (t->follow.all && t->place->loc.spread) {
            s_fail(self, t, SCHED_UNREACHABLE,
                   "'follow' dependencies ran on engines %d and %d; with all=true it can never be met",
                   (int)first, (int)engine);
            return true;
        }
        if (sched_depset_unreachable(&t->follow)) {
            s_fail(self, t, SCHED_UNREACHABLE,
                   "'follow' dependency '%s' %s, so 'follow' can never be met", dep_id,
                   s_verb(ok, engine));
            return true;
        }
        if (act && added > 0 && t->state == T_READY) {
            // follow any: one more engine it may use.
            s_unready(self, t);
            s_make_ready(self, t);
            return t->state != T_READY;
        }
    }
    if (act && t->state == T_WAITING && s_deps_met(t)) {
        s_make_ready(self, t);
        return true;
    }
    return false;
}

// s_note_location: a pending `follow` id of running t finished: only
// remember where (its `follow` is met already, so nothing else changes).
static void s_note_location(sched_t *self, sched_task_t *t, bool ok, int32_t engine)
{
    bool counts = sched_depset_counts(&t->follow, ok) && engine >= 0;
    if (counts && sched_loc_add(&t->place->loc, engine, !t->follow.all) < 0) {
        s_oom(self);  // t just knows one engine fewer it may go back to
        counts = false;
    }
    sched_depset_note(&t->follow, counts);
}

// s_run: resolve the waiters of every finished task, in finishing order,
// including tasks that finish (fail) while doing so.
static void s_run(sched_t *self)
{
    while (self->fin_head) {
        sched_task_t *d = self->fin_head;
        self->fin_head = d->work;
        if (!self->fin_head)
            self->fin_tail = NULL;
        while (d->wait_head) {
            sched_edge_t *e = d->wait_head;
            sched_task_t *t = e->task;
            int kind = e->kind;
            s_edge_unlink(self, e);
            if (t->state == T_WAITING || t->state == T_READY)
                s_note(self, t, kind, d->msg_id, d->done_ok, d->engine, true);
            else if (t->state == T_RUNNING)
                s_note_location(self, t, d->done_ok, d->engine);
        }
        s_task_free(self, d);
    }
}

// ------------------------------------------------------- public: entry

static void s_enter(sched_t *self)
{
    self->depth++;
}

// s_leave: finish internal work; the outermost call tells the hub.
static void s_leave(sched_t *self)
{
    s_run(self);
    if (self->depth == 1) {
        sched_out_t o;
        while (sched_outbox_pop(&self->outbox, &o)) {
            if (o.kind == SCHED_OUT_DISPATCH)
                self->ops.dispatch(self->ctx, o.user, o.msg_id, o.engine);
            else
                self->ops.finish(self->ctx, o.user, o.msg_id, (sched_outcome_t)o.why,
                                 sched_outcome_ename((sched_outcome_t)o.why), o.evalue);
        }
    }
    self->depth--;
}

sched_t *sched_new(const sched_config_t *cfg, const sched_ops_t *ops, void *ctx)
{
    if (!ops || !ops->dispatch || !ops->finish || !ops->lookup || !ops->now)
        return NULL;
    sched_config_t c = cfg ? *cfg : sched_config_default();
    sched_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->ops = *ops;
    self->ctx = ctx;
    self->scheme = c.scheme ? c.scheme : &sched_scheme_leastload;
    self->hwm = c.hwm;
    self->mux_hwm = c.mux_hwm;
    self->seed = c.seed;
    sched_rng_seed(&self->rng, c.seed);
    sched_pool_init(&self->task_pool, sizeof(sched_task_t), POOL_BLOCK);
    sched_pool_init(&self->slot_pool, sizeof(sched_slot_t), POOL_BLOCK);
    sched_timeheap_init(&self->timers, &self->st.ops);
    sched_outbox_init(&self->outbox);
    self->done = sched_done_new(c.done_cache ? c.done_cache : DONE_CACHE_DEFAULT, c.seed);
    if (!self->done || sched_idmap_init(&self->tasks, s_task_eq) != 0
        || sched_idmap_init(&self->engines, s_engine_eq) != 0) {
        sched_destroy(&self);
        return NULL;
    }
    return self;
}

void sched_destroy(sched_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sched_t *self = *self_p;
    // Records own heap arrays beside their pool storage: free those first.
    for (size_t i = 0; self->tasks.slots && i <= self->tasks.mask; i++) {
        sched_task_t *t = self->tasks.slots[i].val;
        if (t) {
            if (t->edges && t->edges != t->inline_edges)
                free(t->edges);
            s_place_free(t->place);
        }
    }
    for (size_t i = 0; self->engines.slots && i <= self->engines.mask; i++)
        free(self->engines.slots[i].val);
    sched_timeheap_fini(&self->timers);  // touches timers inside task records
    sched_idmap_fini(&self->tasks);
    sched_idmap_fini(&self->engines);
    sched_pool_fini(&self->task_pool);
    sched_pool_fini(&self->slot_pool);
    sched_done_destroy(&self->done);
    sched_outbox_fini(&self->outbox);
    free(self->cands);
    free(self->cand_eng);
    free(self->ids);
    free(self->xbuf);
    free(self);
    *self_p = NULL;
}

// ------------------------------------------------------ public: submit

static int s_cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int s_cmp_int(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

// s_dedupe: copy dep's ids to self->ids[at..], sorted and distinct; their
// count, or -1 on a bad id.
static long s_dedupe(sched_t *self, const sched_dep_t *dep, size_t at)
{
    if (dep->n == 0)
        return 0;
    if (!dep->ids)
        return -1;
    const char **ids = self->ids + at;
    for (size_t i = 0; i < dep->n; i++) {
        if (!s_valid_id(dep->ids[i]))
            return -1;
        ids[i] = dep->ids[i];
    }
    if (dep->n > 1)
        qsort(ids, dep->n, sizeof *ids, s_cmp_str);
    size_t n = 0;
    for (size_t i = 0; i < dep->n; i++) {
        self->st.ops++;
        if (n == 0 || strcmp(ids[n - 1], ids[i]) != 0)
            ids[n++] = ids[i];
    }
    return (long)n;
}

static bool s_dep_valid(const sched_dep_t *d)
{
    return d->n == 0 || (d->ids && (d->success || d->failure));
}

// s_check_spec: the checks common to submit and adopt.
static bool s_check_spec(const sched_t *self, const sched_spec_t *spec)
{
    if (!spec || !s_valid_id(spec->msg_id))
        return false;
    if (spec->queue != SCHED_QUEUE_TASK && spec->queue != SCHED_QUEUE_MUX)
        return false;
    if (spec->queue == SCHED_QUEUE_MUX && (spec->engine < 0 || spec->follow.n > 0))
        return false;
    if (!s_dep_valid(&spec->after) || !s_dep_valid(&spec->follow) || spec->timeout_us < 0)
        return false;
    if (spec->n_targets && !spec->targets)
        return false;
    for (size_t i = 0; spec->queue == SCHED_QUEUE_TASK && i < spec->n_targets; i++)
        if (spec->targets[i] < 0)
            return false;
    const sched_task_t *old = s_find(self, spec->msg_id);
    return !old || old->state == T_EXPECTED;
}

// s_fill: set up t's fields from spec (allocations first; on failure t is
// unchanged). n_edges_max edges are reserved.
static int s_fill(sched_t *self, sched_task_t *t, const sched_spec_t *spec, size_t n_after,
                  size_t n_follow)
{
    size_t n_edges = n_after + n_follow;
    sched_edge_t *edges = t->inline_edges;
    sched_place_t *place = NULL;
    if (n_edges > 2 && !(edges = calloc(n_edges, sizeof *edges)))
        return -1;
    bool targets = spec->queue == SCHED_QUEUE_TASK && spec->n_targets > 0;
    if (targets || n_follow > 0) {
        place = calloc(1, sizeof *place);
        if (!place)
            goto fail;
        sched_loc_init(&place->loc);
        if (targets) {
            place->targets = malloc(spec->n_targets * sizeof *place->targets);
            if (!place->targets)
                goto fail;
            for (size_t i = 0; i < spec->n_targets; i++)
                place->targets[i] = spec->targets[i];
            qsort(place->targets, spec->n_targets, sizeof *place->targets, s_cmp_int);
            uint32_t n = 0;
            for (size_t i = 0; i < spec->n_targets; i++)
                if (n == 0 || place->targets[n - 1] != place->targets[i])
                    place->targets[n++] = place->targets[i];
            place->n_targets = n;
        }
    }
    memset(t->inline_edges, 0, sizeof t->inline_edges);
    t->edges = edges;
    t->n_edges = 0;
    t->place = place;
    t->user = spec->user;
    t->queue = spec->queue;
    t->engine = spec->queue == SCHED_QUEUE_MUX ? spec->engine : -1;
    t->retries = spec->retries;
    t->timeout = spec->timeout_us;
    sched_depset_init(&t->after, (uint32_t)n_after, spec->after.all, spec->after.success,
                      spec->after.failure);
    sched_depset_init(&t->follow, (uint32_t)n_follow, spec->follow.all, spec->follow.success,
                      spec->follow.failure);
    return 0;
fail:
    if (edges != t->inline_edges)
        free(edges);
    s_place_free(place);
    return -1;
}

ipp_err_t sched_submit(sched_t *self, const sched_spec_t *spec)
{
    if (!self || !s_check_spec(self, spec))
        return IPP_ERR_INVALID;
    size_t need = spec->after.n + spec->follow.n;
    if (s_ensure((void **)&self->ids, &self->cap_ids, need ? need : 1, sizeof *self->ids) != 0)
        return IPP_ERR_NOMEM;
    long n_after = s_dedupe(self, &spec->after, 0);
    long n_follow = n_after < 0 ? -1 : s_dedupe(self, &spec->follow, (size_t)n_after);
    if (n_after < 0 || n_follow < 0)
        return IPP_ERR_INVALID;
    // Room for the timer now, so arming cannot fail after commitment.
    if (spec->timeout_us > 0
        && s_ensure((void **)&self->timers.items, &self->timers.cap, self->timers.count + 1,
                    sizeof *self->timers.items) != 0)
        return IPP_ERR_NOMEM;

    sched_task_t *t = s_get(self, spec->msg_id);
    bool fresh = t == NULL;
    if (fresh && !(t = s_task_new(self, spec->msg_id, T_DONE)))
        return IPP_ERR_NOMEM;
    if (s_fill(self, t, spec, (size_t)n_after, (size_t)n_follow) != 0) {
        if (fresh) {
            sched_idmap_del(&self->tasks, t->hash, t->msg_id);
            s_set_state(self, t, T_DONE);
            s_task_free(self, t);
        }
        return IPP_ERR_NOMEM;
    }
    s_enter(self);
    sched_done_del(self->done, spec->msg_id);
    s_set_state(self, t, T_WAITING);
    s_arm(self, t);

    for (long i = 0; i < n_after + n_follow; i++) {
        const char *id = self->ids[i];
        int kind = i < n_after ? EDGE_AFTER : EDGE_FOLLOW;
        if (strcmp(id, t->msg_id) == 0) {
            s_fail(self, t, SCHED_INVALID, "the task depends on itself");
            goto out;
        }
        sched_task_t *d = s_get(self, id);
        if (d) {
            s_edge_link(self, d, &t->edges[t->n_edges]);
            t->edges[t->n_edges].task = t;
            t->edges[t->n_edges].kind = kind;
            t->n_edges++;
            continue;
        }
        bool ok;
        int engine = -1;
        const sched_done_entry_t *c = sched_done_get(self->done, id);
        if (c) {
            self->st.cache_hits++;
            ok = c->ok;
            engine = c->engine;
        } else {
            self->st.lookups++;
            sched_lookup_t found = self->ops.lookup(self->ctx, id, &engine);
            if (found == SCHED_LOOKUP_PENDING) {
                d = s_task_new(self, id, T_EXPECTED);
                if (!d) {
                    s_oom(self);
                    s_fail(self, t, SCHED_INTERNAL, "out of memory waiting for '%s'", id);
                    goto out;
                }
                s_edge_link(self, d, &t->edges[t->n_edges]);
                t->edges[t->n_edges].task = t;
                t->edges[t->n_edges].kind = kind;
                t->n_edges++;
                continue;
            }
            if (found != SCHED_LOOKUP_OK && found != SCHED_LOOKUP_ERROR) {
                s_fail(self, t, SCHED_UNREACHABLE, "dependency '%s' is unknown", id);
                goto out;
            }
            ok = found == SCHED_LOOKUP_OK;
            if (engine < -1)
                engine = -1;
            if (sched_done_put(self->done, id, ok, engine) != 0)
                s_oom(self);
        }
        if (kind == EDGE_FOLLOW && !t->place) {
            s_oom(self);  // cannot happen: s_fill made place for follow
            s_fail(self, t, SCHED_INTERNAL, "no place record");
            goto out;
        }
        if (s_note(self, t, kind, id, ok, engine, false))
            goto out;
    }
    if (s_deps_met(t))
        s_make_ready(self, t);
out:
    s_leave(self);
    return IPP_OK;
}

ipp_err_t sched_adopt(sched_t *self, const sched_spec_t *spec, int engine)
{
    if (!self || !s_check_spec(self, spec))
        return IPP_ERR_INVALID;
    sched_engine_t *e = s_engine(self, engine);
    if (!e || !e->registered)
        return IPP_ERR_INVALID;
    sched_task_t *t = s_get(self, spec->msg_id);
    bool fresh = t == NULL;
    if (fresh && !(t = s_task_new(self, spec->msg_id, T_DONE)))
        return IPP_ERR_NOMEM;
    if (s_fill(self, t, spec, 0, 0) != 0) {
        if (fresh) {
            sched_idmap_del(&self->tasks, t->hash, t->msg_id);
            s_set_state(self, t, T_DONE);
            s_task_free(self, t);
        }
        return IPP_ERR_NOMEM;
    }
    s_enter(self);
    sched_done_del(self->done, spec->msg_id);
    s_set_state(self, t, T_RUNNING);
    t->engine = engine;
    s_tl_push(&e->run_head, &e->run_tail, t);
    s_load_add(self, e, +1);
    s_leave(self);
    return IPP_OK;
}

// ------------------------------------------------------ public: events

ipp_err_t sched_result(sched_t *self, const char *msg_id, bool ok, int engine, bool *final)
{
    if (final)
        *final = true;
    if (!self || !s_valid_id(msg_id))
        return IPP_ERR_INVALID;
    if (engine < -1)
        engine = -1;
    ipp_err_t rc = IPP_OK;
    s_enter(self);
    sched_task_t *t = s_get(self, msg_id);
    if (!t) {
        if (sched_done_put(self->done, msg_id, ok, engine) != 0)
            s_oom(self);
        rc = IPP_ERR_NOT_FOUND;
        goto out;
    }
    if (t->state == T_EXPECTED) {
        s_done(self, t, ok, engine);
        goto out;
    }
    if (t->state != T_RUNNING) {
        // Finished without us sending it (the hub learnt the outcome).
        s_detach(self, t);
        s_done(self, t, ok, engine);
        goto out;
    }
    if (t->engine != engine) {
        rc = IPP_ERR_NOT_FOUND;  // a late result from an engine it was taken from
        goto out;
    }
    if (t->released) {
        // Its engine's slot was freed already; only the outcome is new.
        s_done(self, t, ok, engine);
        goto out;
    }
    sched_engine_t *e = s_engine(self, engine);
    if (!e) {
        rc = IPP_ERR_NOT_FOUND;  // cannot happen: a running task's engine is kept
        goto out;
    }
    s_tl_remove(&e->run_head, &e->run_tail, t);
    s_load_add(self, e, -1);
    e->completed++;
    if (!ok && t->retries > 0) {
        t->retries--;
        if (final)
            *final = false;
        if (t->queue == SCHED_QUEUE_TASK) {
            sched_place_t *p = s_place_get(t);
            if (!p || s_add(&p->avoid, &p->n_avoid, &p->cap_avoid, engine) != 0)
                s_oom(self);  // it may go back to the same engine: still correct
        }
        s_requeue(self, t);
    } else {
        s_done(self, t, ok, engine);
    }
    s_serve(self, e);
out:
    s_leave(self);
    return rc;
}

ipp_err_t sched_release(sched_t *self, const char *msg_id, int engine)
{
    if (!self || !s_valid_id(msg_id))
        return IPP_ERR_INVALID;
    sched_task_t *t = s_get(self, msg_id);
    if (!t || t->state != T_RUNNING || t->engine != engine || t->released)
        return IPP_ERR_NOT_FOUND;
    sched_engine_t *e = s_engine(self, engine);
    if (!e)
        return IPP_ERR_NOT_FOUND;  // cannot happen: a running task's engine is kept
    s_enter(self);
    s_tl_remove(&e->run_head, &e->run_tail, t);
    s_load_add(self, e, -1);
    e->completed++;
    t->released = true;
    s_serve(self, e);
    s_leave(self);
    return IPP_OK;
}

ipp_err_t sched_unmet(sched_t *self, const char *msg_id, int engine)
{
    if (!self || !s_valid_id(msg_id))
        return IPP_ERR_INVALID;
    sched_task_t *t = s_get(self, msg_id);
    if (!t || t->state != T_RUNNING || t->engine != engine)
        return IPP_ERR_NOT_FOUND;
    sched_engine_t *e = s_engine(self, engine);
    if (!e)
        return IPP_ERR_NOT_FOUND;  // cannot happen: a running task's engine is kept
    s_enter(self);
    s_tl_remove(&e->run_head, &e->run_tail, t);
    s_load_add(self, e, -1);
    sched_place_t *p = s_place_get(t);
    if (!p || s_add(&p->refused, &p->n_refused, &p->cap_refused, engine) != 0) {
        s_oom(self);
        s_fail(self, t, SCHED_INTERNAL, "out of memory noting a refusal");
    } else {
        s_requeue(self, t);
    }
    s_serve(self, e);
    s_leave(self);
    return IPP_OK;
}

ipp_err_t sched_engine_add(sched_t *self, int engine)
{
    if (!self || engine < 0)
        return IPP_ERR_INVALID;
    sched_engine_t *e = s_engine(self, engine);
    if (e && e->registered)
        return IPP_ERR_INVALID;
    if (s_ensure_cands(self, (size_t)self->n_registered + 1) != 0)
        return IPP_ERR_NOMEM;
    if (!e && !(e = s_engine_get_or_new(self, engine)))
        return IPP_ERR_NOMEM;
    s_enter(self);
    e->registered = true;
    e->completed = 0;
    self->n_registered++;
    self->st.engines = self->n_registered;
    if (s_is_free(self, e))
        self->n_free++;
    // A new engine is the least recently used one.
    e->lru_stamp = --self->lru_lo;
    e->lru_prev = NULL;
    e->lru_next = self->lru_head;
    if (self->lru_head)
        self->lru_head->lru_prev = e;
    else
        self->lru_tail = e;
    self->lru_head = e;
    // Tasks already restricted to it count it as up now.
    for (sched_slot_t *s = e->slot_head; s; s = s->enext) {
        s->task->place->n_reg++;
        self->st.ops++;
    }
    // Tasks that may run anywhere but where refused may run here.
    for (sched_task_t *t = self->cof_head; t; t = t->next) {
        self->st.ops++;
        if (!s_excluded(t->place, engine) && !s_slot_add(self, t, e))
            s_oom(self);
    }
    s_serve(self, e);
    s_leave(self);
    return IPP_OK;
}

ipp_err_t sched_engine_remove(sched_t *self, int engine)
{
    if (!self)
        return IPP_ERR_INVALID;
    sched_engine_t *e = s_engine(self, engine);
    if (!e || !e->registered)
        return IPP_ERR_NOT_FOUND;
    s_enter(self);
    e->pinned = true;  // failing its tasks below must not free the record
    if (s_is_free(self, e))
        self->n_free--;
    e->registered = false;
    self->n_registered--;
    self->st.engines = self->n_registered;
    s_lru_unlink(self, e);

    // Restricted tasks counting on it: co-finite ones drop their slot here;
    // any left with no registered engine is looked at again below. This
    // comes first, while every slot in the FIFO is one counted as up.
    sched_task_t *work = NULL;
    for (sched_slot_t *s = e->slot_head, *next; s; s = next) {
        next = s->enext;
        sched_task_t *t = s->task;
        self->st.ops++;
        t->place->n_reg--;
        if (t->place->cofinite)
            s_slot_del(self, s);  // not counted again: e is down
        if (t->place->n_reg == 0 && self->n_registered > 0) {
            t->rework = work;
            work = t;
        }
    }
    while (e->mux_head)
        s_fail(self, e->mux_head, SCHED_LOST, "engine %d went away before running it", engine);
    while (e->run_head) {
        sched_task_t *t = e->run_head;
        s_tl_remove(&e->run_head, &e->run_tail, t);
        e->load--;
        self->st.ops++;
        if (t->queue == SCHED_QUEUE_TASK && t->retries > 0) {
            t->retries--;
            sched_place_t *p = s_place_get(t);
            if (!p || s_add(&p->avoid, &p->n_avoid, &p->cap_avoid, engine) != 0)
                s_oom(self);
            s_requeue(self, t);
        } else {
            s_fail(self, t, SCHED_LOST, "engine %d died while running the task", engine);
        }
    }
    while (work) {
        sched_task_t *t = work;
        work = t->rework;
        t->rework = NULL;
        if (t->state == T_READY) {
            s_unready(self, t);
            s_set_state(self, t, T_WAITING);
            s_make_ready(self, t);
        }
    }
    e->pinned = false;
    s_engine_maybe_free(self, e);
    s_leave(self);
    return IPP_OK;
}

ipp_err_t sched_abort(sched_t *self, const char *msg_id)
{
    if (!self || !s_valid_id(msg_id))
        return IPP_ERR_INVALID;
    sched_task_t *t = s_get(self, msg_id);
    if (!t || t->state == T_EXPECTED)
        return IPP_ERR_NOT_FOUND;
    if (t->state == T_RUNNING)
        return IPP_ERR_PENDING;
    s_enter(self);
    s_fail(self, t, SCHED_ABORTED, "aborted before it ran");
    s_leave(self);
    return IPP_OK;
}

void sched_tick(sched_t *self)
{
    if (!self)
        return;
    s_enter(self);
    int64_t now = self->ops.now(self->ctx);
    sched_timer_t *tm;
    while ((tm = sched_timeheap_peek(&self->timers)) && tm->deadline <= now) {
        sched_task_t *t = (sched_task_t *)((char *)tm - offsetof(sched_task_t, timer));
        if (t->state == T_READY)
            s_fail(self, t, SCHED_TIMEOUT, "no engine could take it within %.3f s",
                   (double)t->timeout / 1e6);
        else
            s_fail(self, t, SCHED_TIMEOUT, "dependencies not met within %.3f s",
                   (double)t->timeout / 1e6);
    }
    s_leave(self);
}

int64_t sched_next_deadline(const sched_t *self)
{
    const sched_timer_t *tm = self ? sched_timeheap_peek(&self->timers) : NULL;
    return tm ? tm->deadline : -1;
}

// ---------------------------------------------------- public: accessors

sched_state_t sched_task_state(const sched_t *self, const char *msg_id, int *engine)
{
    if (engine)
        *engine = -1;
    if (!self || !s_valid_id(msg_id))
        return SCHED_STATE_UNKNOWN;
    const sched_task_t *t = s_find(self, msg_id);
    if (t) {
        switch (t->state) {
        case T_EXPECTED: return SCHED_STATE_EXPECTED;
        case T_WAITING: return SCHED_STATE_WAITING;
        case T_READY:
            if (engine && t->where == W_MUX)
                *engine = t->engine;
            return SCHED_STATE_QUEUED;
        case T_RUNNING:
            if (engine)
                *engine = t->engine;
            return SCHED_STATE_RUNNING;
        default: return SCHED_STATE_UNKNOWN;
        }
    }
    const sched_done_entry_t *c = sched_done_get(self->done, msg_id);
    if (!c)
        return SCHED_STATE_UNKNOWN;
    if (engine)
        *engine = c->engine;
    return c->ok ? SCHED_STATE_DONE_OK : SCHED_STATE_DONE_ERR;
}

ipp_err_t sched_engine_info(const sched_t *self, int engine, sched_engine_info_t *out)
{
    const sched_engine_t *e = self ? s_engine(self, engine) : NULL;
    if (!e || !out)
        return IPP_ERR_NOT_FOUND;
    out->registered = e->registered;
    out->queued = e->n_mux;
    out->running = e->load;
    out->completed = e->completed;
    return IPP_OK;
}

size_t sched_engines(const sched_t *self, int *ids, size_t cap)
{
    if (!self)
        return 0;
    size_t n = 0;
    for (const sched_engine_t *e = self->lru_head; e; e = e->lru_next, n++)
        if (ids && n < cap)
            ids[n] = e->id;
    return n;
}

ipp_err_t sched_foreach_task(const sched_t *self, int engine,
                             void (*fn)(void *arg, const char *msg_id, void *user, bool running),
                             void *arg)
{
    const sched_engine_t *e = self ? s_engine(self, engine) : NULL;
    if (!e || !fn)
        return IPP_ERR_NOT_FOUND;
    for (const sched_task_t *t = e->mux_head; t; t = t->next)
        fn(arg, t->msg_id, t->user, false);
    for (const sched_task_t *t = e->run_head; t; t = t->next)
        fn(arg, t->msg_id, t->user, true);
    return IPP_OK;
}

void sched_stats(const sched_t *self, sched_stats_t *out)
{
    if (!self || !out)
        return;
    *out = self->st;
    out->cached = sched_done_count(self->done);
    out->engines = self->n_registered;
}

uint32_t sched_retries_left(const sched_t *self, const char *msg_id)
{
    const sched_task_t *t = s_find(self, msg_id);
    return t ? t->retries : 0;
}
