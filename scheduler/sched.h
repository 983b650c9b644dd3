/* sched.h — the scheduler: queues, routing, dependency graph, timeouts, retries.
 *
 * A pure library called from the controller's single event loop: it knows
 * no sockets, no database and no wall clock. The hub tells it what happens
 * (a task submitted, a result, an engine's refusal, an engine up or down,
 * an abort, time passing) and it answers through callbacks: send this task
 * to that engine, or this task failed here in the scheduler (aborted,
 * impossible dependency, dependency timeout, engine died). It asks the hub
 * about dependency ids it does not know, and reads the time through a
 * callback so tests run on a fake clock.
 *
 * Two queues, as in IPython Parallel:
 *  - mux (direct views): a task names one engine; per engine FIFO.
 *  - task (load-balanced): the scheduler picks an engine with a routing
 *    scheme (schemes.h), at most `hwm` outstanding tasks per engine.
 * Either kind may carry graph dependencies (`after`; `follow` for the task
 * queue only), a `timeout` for waiting, and `retries`. A task whose engine
 * answers "unmet dependency" (functional dependencies) goes to another
 * engine, never twice to the same one.
 *
 * Cost: every event costs O(its own edges) — the dependents of a finishing
 * task, the ids a new task names, the tasks of an engine that goes away —
 * plus O(engines) to choose an engine for a task that can run now. Nothing
 * scans the waiting tasks. sched_stats_t.ops counts those inner steps so
 * tests can check it.
 *
 * Not thread-safe: one thread (the controller's loop) calls everything.
 */
#ifndef IPP_SCHED_SCHED_H
#define IPP_SCHED_SCHED_H

#include "ipp/error.h"
#include "scheduler/donecache.h"
#include "scheduler/schemes.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sched_t sched_t;

// Which queue a task is in.
typedef enum sched_queue_t {
    SCHED_QUEUE_TASK = 0,  // load-balanced: the scheduler picks the engine
    SCHED_QUEUE_MUX = 1,   // direct: the task names its engine
} sched_queue_t;

// Why the scheduler itself finished a task (each is an error for the client).
typedef enum sched_outcome_t {
    SCHED_ABORTED = 1,      // TaskAborted: aborted while queued or waiting
    SCHED_UNREACHABLE = 2,  // ImpossibleDependency: can never run
    SCHED_TIMEOUT = 3,      // DependencyTimeout: not runnable within timeout
    SCHED_LOST = 4,         // EngineError: its engine went away
    SCHED_INVALID = 5,      // InvalidDependency: depends on itself
    SCHED_INTERNAL = 6,     // SchedulerError: out of memory placing it
} sched_outcome_t;

// What the hub knows of a dependency id the scheduler does not.
typedef enum sched_lookup_t {
    SCHED_LOOKUP_UNKNOWN = 0,  // no such task: the dependent fails
    SCHED_LOOKUP_OK = 1,       // finished successfully (on *engine)
    SCHED_LOOKUP_ERROR = 2,    // finished with an error (on *engine, or -1)
    SCHED_LOOKUP_PENDING = 3,  // known, not finished: it will be submitted
                               // or completed through the normal calls
} sched_lookup_t;

// Where a task stands, as sched_task_state reports it.
typedef enum sched_state_t {
    SCHED_STATE_UNKNOWN = 0,   // neither live nor remembered
    SCHED_STATE_WAITING = 1,   // dependencies not met yet
    SCHED_STATE_QUEUED = 2,    // runnable, waiting for an engine slot
    SCHED_STATE_RUNNING = 3,   // sent to an engine, no result yet
    SCHED_STATE_DONE_OK = 4,   // finished ok (remembered in the cache)
    SCHED_STATE_DONE_ERR = 5,  // finished with an error (remembered)
    SCHED_STATE_EXPECTED = 6,  // pending in the hub, not yet submitted here
} sched_state_t;

// The hub's side. Every function pointer is required; ctx is passed back.
//
// Re-entrancy: dispatch and finish are delivered after the scheduler's state
// is consistent, at the end of the outermost sched_* call, in the order the
// decisions were made. From inside them the hub may call any sched_*
// function except sched_destroy; what those calls decide is delivered by
// the same outer loop, after the current callback returns. lookup and now
// are asked in the middle of an operation and must not call sched_*.
typedef struct sched_ops_t {
    // dispatch: send task msg_id (user is the hub's pointer) to engine now.
    // msg_id is valid for the call only.
    void (*dispatch)(void *ctx, void *user, const char *msg_id, int engine);
    // finish: the scheduler failed the task; ename is IPython Parallel's
    // exception name ("ImpossibleDependency", ...), evalue says why. The
    // scheduler has forgotten the task; user is the hub's again. The
    // strings are valid for the call only.
    void (*finish)(void *ctx, void *user, const char *msg_id, sched_outcome_t why,
                   const char *ename, const char *evalue);
    // lookup: what the hub (its database) knows of msg_id; for OK and
    // ERROR set *engine to where it ran (-1 if it never ran).
    sched_lookup_t (*lookup)(void *ctx, const char *msg_id, int *engine);
    // now: monotonic time in µs.
    int64_t (*now)(void *ctx);
} sched_ops_t;

typedef struct sched_config_t {
    const sched_scheme_ops_t *scheme;  // routing scheme; NULL = leastload
    uint32_t hwm;                      // max outstanding tasks (of either queue) per engine
                                       // for a task-queue task to be sent there; 0 =
                                       // unlimited; sched_config_default gives 1
    uint32_t mux_hwm;                  // max outstanding tasks per engine before mux tasks
                                       // queue here; 0 = send at once (IPython's MUX)
    uint64_t seed;                     // seeds the random schemes and the hashes
    size_t done_cache;                 // finished outcomes remembered; 0 = 65536
    int64_t targets_grace_us;          // a task-queue task with targets, runnable but
                                       // with none of them registered, fails with
                                       // ImpossibleDependency if none registers within
                                       // this long (µs); 0 = it waits for them
} sched_config_t;

#define SCHED_HWM_DEFAULT 1

// sched_config_default: leastload, hwm 1, mux_hwm 0, seed 0, cache 65536,
// targets_grace_us 0.
sched_config_t sched_config_default(void);

// One graph dependency: ids with IPython Parallel's switches. A zeroed
// sched_dep_t is an empty (always met) dependency; SCHED_DEP gives the
// usual all=true, success=true, failure=false.
typedef struct sched_dep_t {
    const char *const *ids;  // msg_ids (borrowed; copied by submit)
    size_t n;                // number of ids; duplicates count once
    bool all;                // all must be fulfilled (else any one)
    bool success;            // a success fulfils
    bool failure;            // a failure fulfils
} sched_dep_t;

#define SCHED_DEP(ids_, n_) ((sched_dep_t){(ids_), (n_), true, true, false})

// A task as submitted. Everything is borrowed for the call and copied.
typedef struct sched_spec_t {
    const char *msg_id;   // 1..SCHED_ID_MAX bytes
    void *user;           // the hub's pointer, handed back in callbacks
    sched_queue_t queue;  // mux or task
    int engine;           // mux: the engine (≥ 0); ignored for task
    const int *targets;   // task: engines allowed (≥ 0); NULL = any
    size_t n_targets;     // entries in targets
    sched_dep_t after;    // time dependency
    sched_dep_t follow;   // location dependency (task queue only)
    int64_t timeout_us;   // fail with DependencyTimeout if not sent to an
                          // engine within this long, counted from submit
                          // and afresh whenever it comes back to the queue
                          // (refused, retried, engine lost); 0 = never
    uint32_t retries;     // times to run again after a failed attempt (a
                          // task-queue task avoids the engine it failed on
                          // while another may take it; a mux task reruns
                          // on its engine); an engine lost under a
                          // task-queue task also uses one
} sched_spec_t;

// Counters for queue_status, tests and benchmarks.
typedef struct sched_stats_t {
    uint64_t ops;         // inner-loop steps since creation (edges, slots,
                          // candidates, list and heap moves)
    uint64_t lookups;     // lookup callbacks made
    uint64_t cache_hits;  // dependency ids answered from the finished cache
    uint64_t dispatched;  // dispatch decisions made
    uint64_t failed;      // finish decisions made
    size_t waiting;       // live tasks whose dependencies are not met
    size_t queued;        // runnable tasks waiting for an engine slot
    size_t running;       // tasks sent and not finished
    size_t expected;      // placeholders for ids pending in the hub
    size_t cached;        // finished outcomes remembered
    size_t engines;       // engines registered
    size_t unassigned;    // task-queue tasks not sent to an engine
    bool oom;             // memory ran out inside an event: a decision may
                          // have been lost (treat the scheduler as broken)
} sched_stats_t;

// Per-engine counts for queue_status and load.
typedef struct sched_engine_info_t {
    bool registered;     // the engine is up
    uint32_t queued;     // mux tasks queued here for it (runnable, not sent)
    uint32_t running;    // tasks sent to it and not finished (its load)
    uint64_t completed;  // results it returned since it registered
} sched_engine_info_t;

// sched_new: a scheduler with cfg (NULL = defaults) calling ops with ctx.
// ops is copied. NULL on bad config or out of memory. Caller owns it.
sched_t *sched_new(const sched_config_t *cfg, const sched_ops_t *ops, void *ctx);

// sched_destroy: free *self_p (NULL-safe) and set it to NULL. No callbacks
// fire; user pointers of tasks still held are the hub's to free. Never
// from inside a callback.
void sched_destroy(sched_t **self_p);

// sched_submit: take a new task. IPP_OK: accepted — it may already have
// been dispatched or failed (through the callbacks). IPP_ERR_INVALID: bad
// spec (id empty/too long/already live, follow on a mux task, a dependency
// with neither success nor failure, a negative engine); nothing kept.
// IPP_ERR_NOMEM: nothing kept. An id that is only remembered as finished
// is submitted afresh (its old outcome is forgotten).
ipp_err_t sched_submit(sched_t *self, const sched_spec_t *spec);

// sched_adopt: take a task that is already running on engine (recovery: an
// engine reported it after a controller restart). Its dependencies are
// taken as met. IPP_ERR_INVALID if the id is live or engine not registered.
ipp_err_t sched_adopt(sched_t *self, const sched_spec_t *spec, int engine);

// sched_result: msg_id finished on engine (ok = success). Frees the
// engine's slot and resolves dependents. *final (if not NULL) is false when
// the failed task will run again (retries left): the hub should then not
// report it to the client. A task that is live here but not running on
// engine (a late result from an engine it was taken from) is ignored:
// IPP_ERR_NOT_FOUND. For an id not live here (a dependency pending in the
// hub, or a task finished elsewhere) the outcome is remembered and waiting
// dependents are resolved: IPP_OK if something waited for it, else
// IPP_ERR_NOT_FOUND. A live task not yet sent anywhere is finished with
// the given outcome (the hub learnt it some other way).
ipp_err_t sched_result(sched_t *self, const char *msg_id, bool ok, int engine, bool *final);

// sched_release: engine has finished msg_id with a final outcome that is
// not known here yet (the hub is still recording it): free the engine's
// slot now — it may get its next task at once — and keep the task running
// until sched_result gives the outcome (which then only resolves the
// dependents). A released task is not lost with its engine. Only for final
// outcomes: a failure with retries left goes to sched_result directly.
// IPP_ERR_NOT_FOUND if msg_id is not running (unreleased) on engine.
ipp_err_t sched_release(sched_t *self, const char *msg_id, int engine);

// sched_unmet: engine refused msg_id (unmet functional dependency). It is
// sent to another allowed engine, never this one again; when every
// registered allowed engine (every target, for a task with targets; its
// engine, for a mux task) has refused, it fails with ImpossibleDependency.
// While it waits for a busy engine, an engine registering may take it.
// IPP_ERR_NOT_FOUND if msg_id is not running on engine.
ipp_err_t sched_unmet(sched_t *self, const char *msg_id, int engine);

// sched_engine_add: engine (≥ 0) is up; it gets work at once.
// IPP_ERR_INVALID if already registered or negative.
ipp_err_t sched_engine_add(sched_t *self, int engine);

// sched_engine_add_held: like sched_engine_add, but the engine gets no
// work until sched_engine_unhold: it counts as registered (tasks may queue
// for it, sched_adopt may place running tasks on it) but is never chosen.
// For an engine that registered and has not yet shown that it is alive.
ipp_err_t sched_engine_add_held(sched_t *self, int engine);

// sched_engine_unhold: engine (registered) may get work now; it is served
// at once. IPP_OK also when it was not held; IPP_ERR_NOT_FOUND if it is
// not registered.
ipp_err_t sched_engine_unhold(sched_t *self, int engine);

// sched_engine_remove: engine is gone. Its running tasks are lost: run
// again elsewhere if they have retries left, else failed with EngineError;
// its queued mux tasks fail with EngineError; dependents are updated.
// Tasks restricted to it by targets or follow keep waiting for it to come
// back (bound them with a timeout; a task whose targets are all down fails
// after targets_grace_us when that is set); a task every other registered engine
// has refused fails with ImpossibleDependency. IPP_ERR_NOT_FOUND if not
// registered.
ipp_err_t sched_engine_remove(sched_t *self, int engine);

// sched_engine_restart: a new process took engine's place (same id): it
// is held (as by sched_engine_add_held) until sched_engine_unhold. Of the
// tasks running on it, those named in keep (n_keep ids, borrowed: the new
// process says it runs them or holds their results) stay running there;
// the others are lost as in sched_engine_remove (retried elsewhere if they
// have retries left, else failed with EngineError). Queued mux tasks, and
// tasks restricted to it, keep waiting for it. IPP_ERR_NOT_FOUND if not
// registered.
ipp_err_t sched_engine_restart(sched_t *self, int engine, const char *const *keep, size_t n_keep);

// sched_abort: fail a waiting or queued task with TaskAborted (dependents
// updated). IPP_ERR_PENDING if it is running: it cannot be aborted here
// (the hub tells its engine), but it has no retries left from now on, so
// the outcome its engine reports, or the loss of its engine, is final.
// IPP_ERR_NOT_FOUND if not live.
ipp_err_t sched_abort(sched_t *self, const char *msg_id);

// sched_retries_left: how many more attempts msg_id may have after a
// failed one (0 if none, or if the task is not live here). The hub asks
// before recording a failed result: with retries left it is not final.
uint32_t sched_retries_left(const sched_t *self, const char *msg_id);

// sched_tick: fail the tasks whose timeout has passed (by ops->now).
void sched_tick(sched_t *self);

// sched_next_deadline: the earliest timeout (µs, ops->now's clock), or -1
// when none is armed. Poll no longer than until then, then call sched_tick.
int64_t sched_next_deadline(const sched_t *self);

// sched_task_state: where msg_id stands; *engine (if not NULL) gets the
// engine it runs on, ran on, or is queued for (-1 otherwise).
sched_state_t sched_task_state(const sched_t *self, const char *msg_id, int *engine);

// sched_engine_info: counts for engine. IPP_ERR_NOT_FOUND if the scheduler
// has never heard of it or forgot it.
ipp_err_t sched_engine_info(const sched_t *self, int engine, sched_engine_info_t *out);

// sched_engines: up to cap registered engine ids into ids (least recently
// used first); returns how many are registered (may exceed cap).
size_t sched_engines(const sched_t *self, int *ids, size_t cap);

// sched_foreach_task: call fn for each task on engine: queued mux tasks
// (running = false) in FIFO order, then running tasks (running = true).
// fn must not call sched_*. IPP_ERR_NOT_FOUND for an unknown engine.
ipp_err_t sched_foreach_task(const sched_t *self, int engine,
                             void (*fn)(void *arg, const char *msg_id, void *user, bool running),
                             void *arg);

// sched_stats: fill *out.
void sched_stats(const sched_t *self, sched_stats_t *out);

// sched_outcome_ename: IPython Parallel's exception name for why.
const char *sched_outcome_ename(sched_outcome_t why);

// sched_outcome_err: the ipp_err_t code for why.
ipp_err_t sched_outcome_err(sched_outcome_t why);

#endif
