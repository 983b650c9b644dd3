/* test_sched_model.c — random operations against a shadow model.
 *
 * Thousands of random submits (both queues, after/follow with random
 * switches, targets, retries, timeouts, dependencies on ids only the
 * "database" knows), results, refusals, engines coming and going, aborts
 * and clock ticks. The model checks every decision the scheduler reports:
 *  - a dispatch goes to a registered, allowed, unrefused engine under hwm,
 *    after its `after` dependencies are met and where `follow` is met;
 *  - a failure has a reason that holds (abort, timeout, engine gone,
 *    dependency unreachable, refusals);
 *  - after every operation no runnable task waits while an engine it may
 *    use has room, and no task that can never run is left waiting;
 *  - in the end, with every engine up and every task answered, each task
 *    finished exactly once and nothing is left in the scheduler.
 */
#include "test_sched_fake.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MT 600  // tasks per run
#define ME 5    // engine ids 0..ME-1
#define MD 3    // max ids per dependency
#define NDB 12  // database-only ids

enum { M_NEW, M_PENDING, M_RUNNING, M_DONE };

typedef struct {
    char ids[MD][16];  // dependency ids
    int n;             // how many
    bool all, success, failure;
} mdep_t;

typedef struct {
    char id[16];
    int queue;       // sched_queue_t
    int mux_engine;  // mux target
    int targets[3];  // allowed engines
    int nt;          // 0 = any
    mdep_t after, follow;
    uint32_t retries;  // left
    bool retried;      // failed or lost at least once, then re-run
    int64_t timeout;   // µs
    int state;         // M_*
    int engine;        // RUNNING: where
    bool ok;           // DONE: outcome
    int done_engine;   // DONE: where it ran, -1 if not
    bool refused[ME];  // engines that answered unmet
    bool expect_lost;  // engine removed under it with no retry left
    int finishes;      // finish callbacks + final results
} mtask_t;

typedef struct {
    char id[16];
    sched_lookup_t state;  // what the database says
    int engine;
    int task;  // PENDING: index of the task that will be submitted, else -1
} mdb_t;

typedef struct {
    fake_hub_t *h;
    sched_rng_t rng;
    uint32_t hwm;      // task-queue limit (0 = none)
    uint32_t mux_hwm;  // mux limit (0 = none)
    mtask_t t[MT];
    int n;  // tasks created
    mdb_t db[NDB];
    bool up[ME];   // registered
    int load[ME];  // running tasks per engine
    // context of the current operation, for judging finish reasons
    int op;         // 'a' abort, 't' tick, 'r' remove, other
    int op_task;    // abort: the task
    int op_engine;  // remove: the engine
} model_t;

static mtask_t *m_find(model_t *m, const char *id)
{
    for (int i = 0; i < m->n; i++)
        if (strcmp(m->t[i].id, id) == 0)
            return &m->t[i];
    return NULL;
}

// m_outcome: is id finished, and how?
static bool m_outcome(model_t *m, const char *id, bool *ok, int *engine)
{
    mtask_t *t = m_find(m, id);
    if (t) {
        if (t->state != M_DONE)
            return false;
        *ok = t->ok;
        *engine = t->done_engine;
        return true;
    }
    for (int i = 0; i < NDB; i++) {
        if (strcmp(m->db[i].id, id) == 0 &&
            (m->db[i].state == SCHED_LOOKUP_OK || m->db[i].state == SCHED_LOOKUP_ERROR)) {
            *ok = m->db[i].state == SCHED_LOOKUP_OK;
            *engine = m->db[i].engine;
            return true;
        }
    }
    return false;
}

static bool m_unknown(model_t *m, const char *id)
{
    for (int i = 0; i < NDB; i++)
        if (strcmp(m->db[i].id, id) == 0)
            return m->db[i].state == SCHED_LOOKUP_UNKNOWN;
    return false;
}

// m_state: the i-th id of d: 0 pending, 1 counts, 2 cannot count. engine
// is -2 for `after`; for `follow` it is the engine asked about, and an id
// counts only if it ran there.
static int m_state(model_t *m, const mdep_t *d, int i, int engine)
{
    bool ok;
    int where;
    if (!m_outcome(m, d->ids[i], &ok, &where))
        return m_unknown(m, d->ids[i]) ? 2 : 0;
    bool counts = ok ? d->success : d->failure;
    if (engine != -2)
        counts = counts && where == engine;
    return counts ? 1 : 2;
}

// m_met: d is met (for follow: on engine); loc: -2 for after.
static bool m_met(model_t *m, const mdep_t *d, int engine)
{
    if (d->n == 0)
        return true;
    int hit = 0;
    for (int i = 0; i < d->n; i++)
        hit += m_state(m, d, i, engine) == 1;
    return d->all ? hit == d->n : hit > 0;
}

static bool m_unreachable_after(model_t *m, const mdep_t *d)
{
    if (d->n == 0)
        return false;
    int bad = 0;
    for (int i = 0; i < d->n; i++)
        bad += m_state(m, d, i, -2) == 2;
    return d->all ? bad > 0 : bad == d->n;
}

// m_follow_dead: follow can never be met anywhere.
static bool m_follow_dead(model_t *m, const mdep_t *d)
{
    if (d->n == 0)
        return false;
    int bad = 0, first = -1;
    bool spread = false;
    for (int i = 0; i < d->n; i++) {
        bool ok;
        int where;
        if (m_unknown(m, d->ids[i])) {
            bad++;
            continue;
        }
        if (!m_outcome(m, d->ids[i], &ok, &where))
            continue;
        bool counts = (ok ? d->success : d->failure) && where >= 0;
        if (!counts)
            bad++;
        else if (first < 0)
            first = where;
        else if (where != first)
            spread = true;
    }
    return d->all ? (bad > 0 || spread) : bad == d->n;
}

// m_names_unknown: does t depend on an id nobody knows? (It fails at once,
// whatever the switches.)
static bool m_names_unknown(model_t *m, const mtask_t *t)
{
    for (int i = 0; i < t->after.n; i++)
        if (m_unknown(m, t->after.ids[i]))
            return true;
    for (int i = 0; i < t->follow.n; i++)
        if (m_unknown(m, t->follow.ids[i]))
            return true;
    return false;
}

static bool m_target_ok(const mtask_t *t, int e)
{
    if (t->nt == 0)
        return true;
    for (int i = 0; i < t->nt; i++)
        if (t->targets[i] == e)
            return true;
    return false;
}

// m_allowed: may t run on e as far as placement goes (not capacity)?
static bool m_allowed(model_t *m, const mtask_t *t, int e)
{
    if (t->queue == SCHED_QUEUE_MUX)
        return e == t->mux_engine && !t->refused[e];
    return m_target_ok(t, e) && !t->refused[e] && m_met(m, &t->follow, e);
}

static void m_on_dispatch(fake_hub_t *h, const char *msg_id, int engine)
{
    model_t *m = h->arg;
    mtask_t *t = m_find(m, msg_id);
    ck_assert_msg(t, "dispatch of unknown %s", msg_id);
    ck_assert_msg(t->state == M_PENDING, "%s dispatched in state %d", msg_id, t->state);
    ck_assert_msg(engine >= 0 && engine < ME && m->up[engine], "%s to engine %d (down)", msg_id,
                  engine);
    ck_assert_msg(m_allowed(m, t, engine), "%s to engine %d: not allowed", msg_id, engine);
    ck_assert_msg(m_met(m, &t->after, -2), "%s sent before 'after' was met", msg_id);
    if (t->queue == SCHED_QUEUE_TASK && m->hwm)
        ck_assert_msg((uint32_t)m->load[engine] < m->hwm, "%s over hwm on %d", msg_id, engine);
    if (t->queue == SCHED_QUEUE_MUX && m->mux_hwm)
        ck_assert_msg((uint32_t)m->load[engine] < m->mux_hwm, "%s over mux_hwm on %d", msg_id,
                      engine);
    t->state = M_RUNNING;
    t->engine = engine;
    m->load[engine]++;
}

static void m_on_finish(fake_hub_t *h, const char *msg_id, sched_outcome_t why)
{
    model_t *m = h->arg;
    mtask_t *t = m_find(m, msg_id);
    ck_assert_msg(t, "finish of unknown %s", msg_id);
    ck_assert_msg(t->state == M_PENDING, "%s finished in state %d", msg_id, t->state);
    switch (why) {
    case SCHED_ABORTED:
        ck_assert_msg(m->op == 'a' && &m->t[m->op_task] == t, "%s aborted unasked", msg_id);
        break;
    case SCHED_TIMEOUT:
        ck_assert_msg(m->op == 't' && t->timeout > 0, "%s timed out unasked", msg_id);
        break;
    case SCHED_LOST:
        ck_assert_msg(t->expect_lost || (t->queue == SCHED_QUEUE_MUX && !m->up[t->mux_engine]),
                      "%s lost without cause: %s", msg_id, h->last_evalue);
        break;
    case SCHED_UNREACHABLE: {
        bool refused = false;
        for (int e = 0; e < ME; e++)
            refused |= t->refused[e];
        bool no_place = t->nt > 0 && t->follow.n > 0;  // targets ∩ follow may be empty
        ck_assert_msg(m_unreachable_after(m, &t->after) || m_follow_dead(m, &t->follow) ||
                          refused || no_place || m_names_unknown(m, t),
                      "%s impossible without cause: %s", msg_id, h->last_evalue);
        break;
    }
    default:
        ck_abort_msg("%s: unexpected outcome %d", msg_id, (int)why);
    }
    t->state = M_DONE;
    t->ok = false;
    t->done_engine = t->expect_lost ? t->engine : -1;
    t->expect_lost = false;
    t->finishes++;
    fake_db(h, t->id, SCHED_LOOKUP_ERROR, t->done_engine);  // the hub records it
}

// m_check_idle: after an operation, nothing runnable waits beside room,
// and nothing doomed waits.
static void m_check_idle(model_t *m)
{
    for (int i = 0; i < m->n; i++) {
        mtask_t *t = &m->t[i];
        if (t->state != M_PENDING)
            continue;
        ck_assert_msg(!m_unreachable_after(m, &t->after), "%s should have failed (after)", t->id);
        ck_assert_msg(!m_names_unknown(m, t), "%s should have failed (unknown id)", t->id);
        if (t->queue == SCHED_QUEUE_TASK)
            ck_assert_msg(!m_follow_dead(m, &t->follow), "%s should have failed (follow)", t->id);
        if (!m_met(m, &t->after, -2) || t->retried)
            continue;
        for (int e = 0; e < ME; e++) {
            if (!m->up[e] || !m_allowed(m, t, e))
                continue;
            uint32_t limit = t->queue == SCHED_QUEUE_MUX ? m->mux_hwm : m->hwm;
            bool room = limit == 0 || (uint32_t)m->load[e] < limit;
            ck_assert_msg(!room, "%s waits while engine %d has room", t->id, e);
        }
    }
}

static void m_rand_dep(model_t *m, mdep_t *d, bool allow_db)
{
    d->n = (int)sched_rng_below(&m->rng, MD + 1);
    int flags = (int)sched_rng_below(&m->rng, 4);
    d->all = sched_rng_below(&m->rng, 3) != 0;
    d->success = flags != 1;
    d->failure = flags == 1 || flags == 2;
    for (int i = 0; i < d->n; i++) {
        int k = (int)sched_rng_below(&m->rng, NDB);
        if (((allow_db && sched_rng_below(&m->rng, 5) == 0) || m->n == 0) &&
            m->db[k].task != m->n) {
            strcpy(d->ids[i], m->db[k].id);
        } else if (m->n == 0) {
            strcpy(d->ids[i], m->db[0].id);
        } else {
            // mostly recent tasks, so chains form
            int back = (int)sched_rng_below(&m->rng, m->n < 20 ? (uint64_t)m->n : 20);
            strcpy(d->ids[i], m->t[m->n - 1 - back].id);
        }
    }
}

static void m_submit_index(model_t *m, int i)
{
    mtask_t *t = &m->t[i];
    sched_spec_t s = fake_task(t->id);
    const char *after[MD], *follow[MD];
    for (int k = 0; k < t->after.n; k++)
        after[k] = t->after.ids[k];
    for (int k = 0; k < t->follow.n; k++)
        follow[k] = t->follow.ids[k];
    s.queue = t->queue;
    s.engine = t->mux_engine;
    s.targets = t->nt ? t->targets : NULL;
    s.n_targets = (size_t)t->nt;
    s.after =
        (sched_dep_t){after, (size_t)t->after.n, t->after.all, t->after.success, t->after.failure};
    s.follow = (sched_dep_t){follow, (size_t)t->follow.n, t->follow.all, t->follow.success,
                             t->follow.failure};
    s.retries = t->retries;
    s.timeout_us = t->timeout;
    t->state = M_PENDING;
    ck_assert_int_eq(sched_submit(m->h->sched, &s), IPP_OK);
}

static void m_new_task(model_t *m)
{
    int i = m->n;
    mtask_t *t = &m->t[i];
    memset(t, 0, sizeof *t);
    snprintf(t->id, sizeof t->id, "t%d", i);
    t->engine = -1;
    t->done_engine = -1;
    t->queue = sched_rng_below(&m->rng, 5) == 0 ? SCHED_QUEUE_MUX : SCHED_QUEUE_TASK;
    t->mux_engine = (int)sched_rng_below(&m->rng, ME);
    if (t->queue == SCHED_QUEUE_TASK && sched_rng_below(&m->rng, 5) == 0) {
        t->nt = 1 + (int)sched_rng_below(&m->rng, 3);
        for (int k = 0; k < t->nt; k++)
            t->targets[k] = (int)sched_rng_below(&m->rng, ME);
    }
    m_rand_dep(m, &t->after, true);
    if (t->queue == SCHED_QUEUE_TASK && sched_rng_below(&m->rng, 4) == 0)
        m_rand_dep(m, &t->follow, true);
    t->retries = (uint32_t)sched_rng_below(&m->rng, 3);
    if (sched_rng_below(&m->rng, 4) == 0)
        t->timeout = (int64_t)(1 + sched_rng_below(&m->rng, 50)) * 1000;
    m->n++;
    // A task the database already knows as pending is submitted later, and
    // has no dependencies itself (earlier tasks may wait on it: no cycles).
    for (int k = 0; k < NDB; k++) {
        if (m->db[k].task == i) {
            t->after.n = 0;
            t->follow.n = 0;
            return;
        }
    }
    m_submit_index(m, i);
}

static mtask_t *m_pick(model_t *m, int state)
{
    int cand[MT], n = 0;
    for (int i = 0; i < m->n; i++)
        if (m->t[i].state == state)
            cand[n++] = i;
    return n ? &m->t[cand[sched_rng_below(&m->rng, (uint64_t)n)]] : NULL;
}

static void m_result(model_t *m, mtask_t *t, bool ok)
{
    int e = t->engine;
    m->load[e]--;
    bool final_expected = ok || t->retries == 0;
    if (final_expected) {
        t->state = M_DONE;
        t->ok = ok;
        t->done_engine = e;
        t->finishes++;
        fake_db(m->h, t->id, ok ? SCHED_LOOKUP_OK : SCHED_LOOKUP_ERROR, e);
    } else {
        t->retries--;
        t->retried = true;
        t->state = M_PENDING;
    }
    bool final = !final_expected;
    ck_assert_int_eq(sched_result(m->h->sched, t->id, ok, e, &final), IPP_OK);
    ck_assert_int_eq(final, final_expected);
}

static void m_step(model_t *m)
{
    m->op = 0;
    int r = (int)sched_rng_below(&m->rng, 100);
    mtask_t *t;
    if (r < 30 && m->n < MT) {
        m_new_task(m);
    } else if (r < 60 && (t = m_pick(m, M_RUNNING))) {
        m_result(m, t, sched_rng_below(&m->rng, 4) != 0);
    } else if (r < 66 && (t = m_pick(m, M_RUNNING))) {
        int e = t->engine;
        m->load[e]--;
        t->refused[e] = true;
        t->state = M_PENDING;
        ck_assert_int_eq(sched_unmet(m->h->sched, t->id, e), IPP_OK);
    } else if (r < 72) {
        int e = (int)sched_rng_below(&m->rng, ME);
        if (m->up[e])
            return;
        m->up[e] = true;
        ck_assert_int_eq(sched_engine_add(m->h->sched, e), IPP_OK);
    } else if (r < 76) {
        int e = (int)sched_rng_below(&m->rng, ME);
        if (!m->up[e])
            return;
        m->up[e] = false;
        m->op = 'r';
        m->op_engine = e;
        for (int i = 0; i < m->n; i++) {
            mtask_t *x = &m->t[i];
            if (x->state == M_RUNNING && x->engine == e) {
                m->load[e]--;
                x->state = M_PENDING;
                if (x->queue == SCHED_QUEUE_TASK && x->retries > 0) {
                    x->retries--;
                    x->retried = true;
                } else {
                    x->expect_lost = true;
                }
            }
        }
        ck_assert_int_eq(sched_engine_remove(m->h->sched, e), IPP_OK);
        for (int i = 0; i < m->n; i++)
            ck_assert_msg(!m->t[i].expect_lost, "%s was not failed as lost", m->t[i].id);
    } else if (r < 80 && (t = m_pick(m, M_PENDING))) {
        m->op = 'a';
        m->op_task = (int)(t - m->t);
        ck_assert_int_eq(sched_abort(m->h->sched, t->id), IPP_OK);
        ck_assert_int_eq(t->state, M_DONE);
    } else if (r < 82 && (t = m_pick(m, M_RUNNING))) {
        ck_assert_int_eq(sched_abort(m->h->sched, t->id), IPP_ERR_PENDING);
        t->retries = 0;  // aborted while running: whatever comes back is final
    } else if (r < 90) {
        m->h->now += (int64_t)sched_rng_below(&m->rng, 5000);
        m->op = 't';
        sched_tick(m->h->sched);
    } else {
        // A pending database id arrives.
        for (int k = 0; k < NDB; k++) {
            int i = m->db[k].task;
            if (i >= 0 && i < m->n && m->t[i].state == M_NEW) {
                m_submit_index(m, i);
                break;
            }
        }
    }
}

static void m_run(uint64_t seed, uint32_t hwm, uint32_t mux_hwm, const sched_scheme_ops_t *scheme)
{
    sched_config_t c = sched_config_default();
    c.hwm = hwm;
    c.mux_hwm = mux_hwm;
    c.scheme = scheme;
    c.seed = seed;
    c.done_cache = seed % 3 ? 64 : 4096;  // small: many ids go back to the lookup
    model_t *m = calloc(1, sizeof *m);
    ck_assert_ptr_nonnull(m);
    m->h = fake_new(&c);
    m->h->arg = m;
    m->h->record = false;
    m->h->on_dispatch = m_on_dispatch;
    m->h->on_finish = m_on_finish;
    m->hwm = hwm;
    m->mux_hwm = mux_hwm;
    sched_rng_seed(&m->rng, seed);
    // The database: finished ok / with errors elsewhere, unknown ids, and
    // ids pending there that will be submitted later as tasks.
    for (int k = 0; k < NDB; k++) {
        mdb_t *d = &m->db[k];
        d->task = -1;
        switch (k % 4) {
        case 0:
            snprintf(d->id, sizeof d->id, "dbok%d", k);
            d->state = SCHED_LOOKUP_OK;
            d->engine = k % ME;
            break;
        case 1:
            snprintf(d->id, sizeof d->id, "dberr%d", k);
            d->state = SCHED_LOOKUP_ERROR;
            d->engine = k % 2 ? -1 : 1;
            break;
        case 2:
            snprintf(d->id, sizeof d->id, "ghost%d", k);
            d->state = SCHED_LOOKUP_UNKNOWN;
            break;
        default:
            // will be task number 40·k: the model names it t<N>
            d->task = 40 * k;
            snprintf(d->id, sizeof d->id, "t%d", d->task);
            d->state = SCHED_LOOKUP_PENDING;
            d->engine = -1;
            break;
        }
        fake_db(m->h, d->id, d->state, d->engine);
    }
    for (int e = 0; e < 2; e++) {
        m->up[e] = true;
        ck_assert_int_eq(sched_engine_add(m->h->sched, e), IPP_OK);
    }
    for (int step = 0; step < 50000 && (m->n < MT || m_pick(m, M_RUNNING)); step++) {
        m_step(m);
        m->op = 0;
        m_check_idle(m);
    }
    // Wind down: everything up, every pending twin submitted, everything
    // answered, then far past every timeout.
    for (int e = 0; e < ME; e++) {
        if (!m->up[e]) {
            m->up[e] = true;
            ck_assert_int_eq(sched_engine_add(m->h->sched, e), IPP_OK);
        }
    }
    for (int i = 0; i < m->n; i++)
        if (m->t[i].state == M_NEW)
            m_submit_index(m, i);
    mtask_t *t;
    for (int guard = 0; guard < 100000; guard++) {
        if ((t = m_pick(m, M_RUNNING))) {
            m_result(m, t, true);
            continue;
        }
        m->h->now += 1000000000;
        m->op = 't';
        sched_tick(m->h->sched);
        m->op = 0;
        if (!m_pick(m, M_RUNNING))
            break;
    }
    sched_stats_t st;
    sched_stats(m->h->sched, &st);
    for (int i = 0; i < m->n; i++) {
        ck_assert_msg(m->t[i].state == M_DONE, "%s never finished (state %d)", m->t[i].id,
                      m->t[i].state);
        ck_assert_int_eq(m->t[i].finishes, 1);
    }
    ck_assert_uint_eq(st.waiting + st.queued + st.running + st.expected, 0);
    ck_assert_uint_eq(st.unassigned, 0);
    ck_assert(!st.oom);
    for (int e = 0; e < ME; e++) {
        sched_engine_info_t info;
        ck_assert_int_eq(sched_engine_info(m->h->sched, e, &info), IPP_OK);
        ck_assert_uint_eq(info.running, 0);
        ck_assert_uint_eq(info.queued, 0);
    }
    fake_destroy(&m->h);
    free(m);
}

START_TEST(test_model_hwm1_leastload)
{
    for (uint64_t seed = 1; seed <= 6; seed++)
        m_run(seed, 1, 0, &sched_scheme_leastload);
}
END_TEST

START_TEST(test_model_hwm0_plainrandom)
{
    for (uint64_t seed = 10; seed <= 15; seed++)
        m_run(seed, 0, 0, &sched_scheme_plainrandom);
}
END_TEST

START_TEST(test_model_windows_and_other_schemes)
{
    m_run(21, 2, 1, &sched_scheme_twobin);
    m_run(22, 2, 0, &sched_scheme_weighted);
    m_run(23, 1, 2, &sched_scheme_lru);
    m_run(24, 3, 1, &sched_scheme_leastload);
}
END_TEST

// The soak: SOAK_SEEDS seeds by default — each scheme with each hwm 0..3,
// mux_hwm 0..2 in turn — so the normal run covers every scheme and hwm in a
// few seconds; IPP_SCHED_MODEL_SEEDS=N runs N seeds instead (N ≥ 60 covers
// every scheme × hwm × mux_hwm; run more for changes to the scheduler).
#define SOAK_SEEDS 20

START_TEST(test_model_soak)
{
    const char *env = getenv("IPP_SCHED_MODEL_SEEDS");
    long n = env && *env ? strtol(env, NULL, 10) : SOAK_SEEDS;
    const sched_scheme_ops_t *schemes[] = {&sched_scheme_leastload, &sched_scheme_lru,
                                           &sched_scheme_plainrandom, &sched_scheme_twobin,
                                           &sched_scheme_weighted};
    for (long i = 0; i < n; i++) {
        uint64_t seed = 100000 + (uint64_t)i;
        m_run(seed, (uint32_t)(i / 5 % 4), (uint32_t)(i % 3), schemes[i % 5]);
    }
}
END_TEST

static Suite *s_suite(void)
{
    Suite *s = suite_create("sched_model");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 3600);  // the soak; the ctest TIMEOUT bounds normal runs
    tcase_add_test(tc, test_model_hwm1_leastload);
    tcase_add_test(tc, test_model_hwm0_plainrandom);
    tcase_add_test(tc, test_model_windows_and_other_schemes);
    tcase_add_test(tc, test_model_soak);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(s_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
