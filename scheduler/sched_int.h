/* sched_int.h — the scheduler's private records, shared by its own .c files.
 *
 * Not installed and not for hub/ or any other folder: sched.h is the API.
 * Only the scheduler's own files include it, and white-box unit tests may.
 * It holds the bodies of the task, engine, edge, slot and place records
 * and of sched_t itself, and the functions the files below sched.c offer
 * one another. The calls run one way, down (each file's header paragraph
 * says its role):
 *
 *   sched.c  (new/destroy, the events) ──┐
 *   submit.c (submission, adoption) ─────┴─→ decide.c ─→ records.c
 *   access.c (read-only queries) ─────────────────────→ records.c
 *
 * sched.c and submit.c also call records.c directly. records.c calls no
 * other file of these, decide.c only records.c, and nothing calls sched.c
 * or submit.c but the hub. sched_rec_* live in records.c: they keep the
 * records and indices right and decide nothing. sched_decide_* live in
 * decide.c.
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
 * Finished tasks queue in `fin` and their waiters are resolved in a loop
 * (sched_decide_leave), so cascades (impossible dependencies through long
 * chains) never recurse.
 */
#ifndef IPP_SCHED_SCHED_INT_H
#define IPP_SCHED_SCHED_INT_H

#include "scheduler/sched.h"

#include "scheduler/deps.h"
#include "scheduler/donecache.h"
#include "scheduler/idmap.h"
#include "scheduler/outbox.h"
#include "proto/pool.h"
#include "scheduler/timeheap.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
    int64_t due;                    // when its timeout expires while armed (0 = none)
    bool grace;                     // its timer is the targets grace, not its timeout
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
    int32_t id;                // engine id (map key)
    bool registered;           // up; false while only referenced by targets/follow
    bool pinned;               // being removed: keep the record until done
    bool held;                 // registered, not yet proven alive: no work
                               // is sent to it (sched_engine_add_held)
    uint32_t load;             // tasks sent and not finished
    uint64_t completed;        // results since it registered
    int64_t lru_stamp;         // position in LRU order (smaller = less recent)
    sched_engine_t *lru_prev;  // in self's LRU list (registered only)
    sched_engine_t *lru_next;  // ditto
    sched_task_t *run_head;    // RUNNING tasks here
    sched_task_t *run_tail;    // ditto
    sched_task_t *mux_head;    // READY mux tasks for it, FIFO
    sched_task_t *mux_tail;    // ditto
    uint32_t n_mux;            // entries in the mux FIFO
    sched_slot_t *slot_head;   // READY restricted tasks that may run here, FIFO
    sched_slot_t *slot_tail;   // ditto
    uint32_t n_slots;          // entries in the slot FIFO
};

struct sched_t {
    sched_ops_t ops;                   // the hub's callbacks
    void *ctx;                         // their context
    const sched_scheme_ops_t *scheme;  // routing scheme
    uint32_t hwm;                      // task-queue limit per engine, 0 = none
    uint32_t mux_hwm;                  // mux limit per engine, 0 = none
    uint64_t seed;                     // hash seed
    int64_t targets_grace;             // µs a task waits for down targets, 0 = ever
    sched_rng_t rng;                   // for random schemes
    ipp_pool_t task_pool;              // sched_task_t records
    ipp_pool_t slot_pool;              // sched_slot_t records
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

// ------------------------------------------------------------ records.c

// sched_rec_task_eq, sched_rec_engine_eq: the key tests of the two maps.
bool sched_rec_task_eq(const void *val, const void *key);
bool sched_rec_engine_eq(const void *val, const void *key);

// sched_rec_valid_id: is id a usable msg_id (1..SCHED_ID_MAX bytes)?
bool sched_rec_valid_id(const char *id);

// sched_rec_get: the live or EXPECTED record of msg_id (NULL if none),
// counting probes as ops.
sched_task_t *sched_rec_get(sched_t *self, const char *msg_id);

// sched_rec_find: sched_rec_get for read-only callers (not counted).
const sched_task_t *sched_rec_find(const sched_t *self, const char *msg_id);

// sched_rec_engine: the record of engine id (NULL if none).
sched_engine_t *sched_rec_engine(const sched_t *self, int32_t id);

// sched_rec_ensure: grow *arr (of elem-size items) to hold n; 0 or -1.
int sched_rec_ensure(void **arr, size_t *cap, size_t n, size_t elem);

// sched_rec_ensure_cands: room for n candidates in cands and cand_eng; 0 or -1.
int sched_rec_ensure_cands(sched_t *self, size_t n);

// sched_rec_has: is v among arr's n entries?
bool sched_rec_has(const int32_t *arr, uint32_t n, int32_t v);

// sched_rec_add: add v to the growable set *arr (no-op if there); 0 or -1.
int sched_rec_add(int32_t **arr, uint32_t *n, uint32_t *cap, int32_t v);

// sched_rec_excluded: has the task refused engine id, or is it to avoid it?
bool sched_rec_excluded(const sched_place_t *p, int32_t id);

// sched_rec_tl_push, sched_rec_tl_remove: append t to / unlink t from a
// task list through its prev/next.
void sched_rec_tl_push(sched_task_t **head, sched_task_t **tail, sched_task_t *t);
void sched_rec_tl_remove(sched_task_t **head, sched_task_t **tail, sched_task_t *t);

// sched_rec_set_state: move t to state (T_*), keeping the counters right.
void sched_rec_set_state(sched_t *self, sched_task_t *t, int state);

// sched_rec_task_new: a zeroed record for msg_id in state, in the map.
// NULL when out of memory. The map owns it.
sched_task_t *sched_rec_task_new(sched_t *self, const char *msg_id, int state);

// sched_rec_task_free: release t's own allocations and the record. It must
// be out of every index already.
void sched_rec_task_free(sched_t *self, sched_task_t *t);

// sched_rec_task_forget: take t out of the map and free it; nothing else
// may refer to it (an EXPECTED record nobody waits for, a record never used).
void sched_rec_task_forget(sched_t *self, sched_task_t *t);

// sched_rec_place_get: t's place record, made on first use; NULL when out
// of memory. t owns it.
sched_place_t *sched_rec_place_get(sched_task_t *t);

// sched_rec_place_free: free p and its arrays (NULL-safe).
void sched_rec_place_free(sched_place_t *p);

// sched_rec_edge_add: t waits on dep: t's next edge (of kind EDGE_*, room
// reserved when t was filled), linked into dep's waiter list.
void sched_rec_edge_add(sched_t *self, sched_task_t *t, sched_task_t *dep, int kind);

// sched_rec_edge_unlink: unlink e from its dep (no-op if resolved); an
// EXPECTED dep left with no waiter is forgotten.
void sched_rec_edge_unlink(sched_t *self, sched_edge_t *e);

// sched_rec_drop_edges: t no longer waits on anything.
void sched_rec_drop_edges(sched_t *self, sched_task_t *t);

// sched_rec_drop_after_edges: t is sent; its `after` is met for good. Its
// pending `follow` ids (any-mode) stay linked: where they run matters if t
// comes back (refused, retried, engine lost).
void sched_rec_drop_after_edges(sched_t *self, sched_task_t *t);

// sched_rec_deps_met: are both of t's dependencies met?
bool sched_rec_deps_met(const sched_task_t *t);

// sched_rec_is_free: is e registered, not held, and under hwm?
bool sched_rec_is_free(const sched_t *self, const sched_engine_t *e);

// sched_rec_load_add: change e's load by delta, keeping n_free right.
void sched_rec_load_add(sched_t *self, sched_engine_t *e, int delta);

// sched_rec_engine_get_or_new: the record of engine id, made (unregistered)
// if there is none; NULL when out of memory. The map owns it.
sched_engine_t *sched_rec_engine_get_or_new(sched_t *self, int32_t id);

// sched_rec_engine_maybe_free: forget an engine record nothing refers to.
void sched_rec_engine_maybe_free(sched_t *self, sched_engine_t *e);

// sched_rec_lru_unlink: take e out of the LRU list.
void sched_rec_lru_unlink(sched_t *self, sched_engine_t *e);

// sched_rec_lru_touch: e was just used: most recent.
void sched_rec_lru_touch(sched_t *self, sched_engine_t *e);

// sched_rec_slot_add: give READY t (with a place) a slot in e's FIFO; the
// slot, or NULL when out of memory.
sched_slot_t *sched_rec_slot_add(sched_t *self, sched_task_t *t, sched_engine_t *e);

// sched_rec_slot_del: unlink s from its engine and task and free it; the
// engine record may be freed too.
void sched_rec_slot_del(sched_t *self, sched_slot_t *s);

// sched_rec_unready: take a READY task out of whichever index holds it.
void sched_rec_unready(sched_t *self, sched_task_t *t);

// sched_rec_detach: t leaves WAITING/READY: out of every index, timer off.
void sched_rec_detach(sched_t *self, sched_task_t *t);

// sched_rec_arm: (re)start t's timeout from now, if it has one; 0 or -1.
int sched_rec_arm(sched_t *self, sched_task_t *t);

// sched_rec_oom: memory ran out inside an event (sched_stats_t.oom).
void sched_rec_oom(sched_t *self);

// sched_rec_done: t (out of every index) has finished with (ok, engine):
// remember the outcome, forget the task, queue its waiters for resolution
// (self->fin owns the record until they are resolved).
void sched_rec_done(sched_t *self, sched_task_t *t, bool ok, int32_t engine);

// ------------------------------------------------------------- decide.c

// sched_decide_fail: the scheduler finishes t with an error (why, and an
// evalue from fmt): the hub is told, dependents are resolved. t may be
// WAITING, READY, or RUNNING already taken off its engine (then t->engine
// is kept as where it ran). The record is freed once its waiters are.
void sched_decide_fail(sched_t *self, sched_task_t *t, sched_outcome_t why, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

// sched_decide_serve: engine e may have room: give it queued work, oldest
// first.
void sched_decide_serve(sched_t *self, sched_engine_t *e);

// sched_decide_ready: t's dependencies are met: send it, queue it, or fail
// it when no engine can ever take it.
void sched_decide_ready(sched_t *self, sched_task_t *t);

// sched_decide_requeue: t came back from an engine (refusal, retry, engine
// death): a new waiting period, then placement.
void sched_decide_requeue(sched_t *self, sched_task_t *t);

// sched_decide_note: one of t's dependencies (dep_id, of kind EDGE_*,
// finished ok on engine) is known; update t and fail it when unreachable;
// with act, also place it when met. Returns true if t is no longer
// WAITING/READY.
bool sched_decide_note(sched_t *self, sched_task_t *t, int kind, const char *dep_id, bool ok,
                       int32_t engine, bool act);

// sched_decide_enter: a public call begins (calls nest through callbacks).
void sched_decide_enter(sched_t *self);

// sched_decide_leave: a public call ends: resolve the waiters of every task
// that finished; the outermost call then tells the hub its decisions, in
// the order they were made.
void sched_decide_leave(sched_t *self);

#endif
