/* test_sched_fake.h — a fake hub for the scheduler's unit tests.
 *
 * Records every dispatch and finish the scheduler decides, answers lookups
 * from a small table standing in for the database, and keeps a fake clock
 * the tests move by hand. Hooks let a test act from inside a callback
 * (re-entrancy) or check a long run without recording it.
 */
#ifndef IPP_TEST_SCHED_FAKE_H
#define IPP_TEST_SCHED_FAKE_H

#include "scheduler/sched.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct fake_event_t {
    char kind;            // 'D' dispatch, 'F' finish
    char msg_id[64];      // the task
    int engine;           // 'D': where to
    sched_outcome_t why;  // 'F': why
    char ename[32];       // 'F': exception name
    char evalue[256];     // 'F': message
    void *user;           // the user pointer handed back
} fake_event_t;

typedef struct fake_hub_t fake_hub_t;

struct fake_hub_t {
    int64_t now;            // fake monotonic clock (µs)
    sched_t *sched;         // the scheduler under test (owned)
    fake_event_t *ev;       // recorded events (owned)
    size_t n_ev;            // events recorded
    size_t cap_ev;          // allocated
    bool record;            // record events (default true)
    size_t n_dispatch;      // dispatch callbacks seen
    size_t n_finish;        // finish callbacks seen
    size_t n_lookups;       // lookup callbacks seen
    char last_evalue[256];  // evalue of the latest finish
    struct fake_db_t *db;   // lookup answers (owned)
    size_t n_db;            // entries
    // optional hooks, called after recording
    void (*on_dispatch)(fake_hub_t *h, const char *msg_id, int engine);
    void (*on_finish)(fake_hub_t *h, const char *msg_id, sched_outcome_t why);
    void *arg;  // for hooks
};

// fake_new: a hub with a scheduler made from cfg (NULL = defaults).
fake_hub_t *fake_new(const sched_config_t *cfg);

// fake_destroy: destroy the scheduler and the hub.
void fake_destroy(fake_hub_t **h_p);

// fake_db: lookups of id answer state (and engine) from now on.
void fake_db(fake_hub_t *h, const char *id, sched_lookup_t state, int engine);

// fake_reset: forget recorded events.
void fake_reset(fake_hub_t *h);

// fake_engines: register engines 0..n-1.
void fake_engines(fake_hub_t *h, int n);

// fake_task: a load-balanced spec for id with no dependencies.
sched_spec_t fake_task(const char *id);

// fake_mux: a direct spec for id on engine.
sched_spec_t fake_mux(const char *id, int engine);

// fake_submit: submit a plain load-balanced task; returns the error code.
ipp_err_t fake_submit(fake_hub_t *h, const char *id);

// fake_submit_after: a load-balanced task with after = ids (default flags).
ipp_err_t fake_submit_after(fake_hub_t *h, const char *id, const char *const *ids, size_t n);

// fake_where: the engine id was last dispatched to, or -1.
int fake_where(const fake_hub_t *h, const char *id);

// fake_dispatches: how many times id was dispatched.
size_t fake_dispatches(const fake_hub_t *h, const char *id);

// fake_finished: id's finish event, or NULL.
const fake_event_t *fake_finished(const fake_hub_t *h, const char *id);

// fake_index: position of the first event of kind for id, or -1.
long fake_index(const fake_hub_t *h, char kind, const char *id);

// fake_ok / fake_fail: report a result for id from the engine it runs on.
ipp_err_t fake_ok(fake_hub_t *h, const char *id);
ipp_err_t fake_fail(fake_hub_t *h, const char *id);

#endif
