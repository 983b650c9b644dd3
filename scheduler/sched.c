/* sched.c — the scheduler's lifecycle and its events.
 *
 * Makes and frees sched_t with everything it owns (task and engine
 * records, maps, pools, the finished cache, the timeout heap, the outbox,
 * scratch arrays), and takes the hub's events: a result, a release, a
 * refusal, an engine up or down, an abort, time passing. It checks each,
 * updates the records through records.c and leaves the decisions to
 * decide.c; submission and adoption are submit.c's, the read-only queries
 * access.c's. Never calls the hub's dispatch/finish itself (decide.c tells
 * them at the end of the outermost call), never scans waiting tasks, and
 * never touches the hub's user pointers.
 */
#include "scheduler/sched.h"
#include "scheduler/sched_int.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define DONE_CACHE_DEFAULT 65536
#define POOL_BLOCK 1024

// ---------------------------------------------------------------- config

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

// ------------------------------------------------------------- lifecycle

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
    self->targets_grace = c.targets_grace_us > 0 ? c.targets_grace_us : 0;
    self->seed = c.seed;
    sched_rng_seed(&self->rng, c.seed);
    ipp_pool_init(&self->task_pool, sizeof(sched_task_t), POOL_BLOCK);
    ipp_pool_init(&self->slot_pool, sizeof(sched_slot_t), POOL_BLOCK);
    sched_timeheap_init(&self->timers, &self->st.ops);
    sched_outbox_init(&self->outbox);
    self->done = sched_done_new(c.done_cache ? c.done_cache : DONE_CACHE_DEFAULT, c.seed);
    if (!self->done || sched_idmap_init(&self->tasks, sched_rec_task_eq) != 0 ||
        sched_idmap_init(&self->engines, sched_rec_engine_eq) != 0) {
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
            sched_rec_place_free(t->place);
        }
    }
    for (size_t i = 0; self->engines.slots && i <= self->engines.mask; i++)
        free(self->engines.slots[i].val);
    sched_timeheap_fini(&self->timers);  // touches timers inside task records
    sched_idmap_fini(&self->tasks);
    sched_idmap_fini(&self->engines);
    ipp_pool_fini(&self->task_pool);
    ipp_pool_fini(&self->slot_pool);
    sched_done_destroy(&self->done);
    sched_outbox_fini(&self->outbox);
    free(self->cands);
    free(self->cand_eng);
    free(self->ids);
    free(self->xbuf);
    free(self);
    *self_p = NULL;
}

// ---------------------------------------------------------------- events

ipp_err_t sched_result(sched_t *self, const char *msg_id, bool ok, int engine, bool *final)
{
    if (final)
        *final = true;
    if (!self || !sched_rec_valid_id(msg_id))
        return IPP_ERR_INVALID;
    if (engine < -1)
        engine = -1;
    ipp_err_t rc = IPP_OK;
    sched_decide_enter(self);
    sched_task_t *t = sched_rec_get(self, msg_id);
    if (!t) {
        if (sched_done_put(self->done, msg_id, ok, engine) != 0)
            sched_rec_oom(self);
        rc = IPP_ERR_NOT_FOUND;
        goto out;
    }
    if (t->state == T_EXPECTED) {
        sched_rec_done(self, t, ok, engine);
        goto out;
    }
    if (t->state != T_RUNNING) {
        // Finished without us sending it (the hub learnt the outcome).
        sched_rec_detach(self, t);
        sched_rec_done(self, t, ok, engine);
        goto out;
    }
    if (t->engine != engine) {
        rc = IPP_ERR_NOT_FOUND;  // a late result from an engine it was taken from
        goto out;
    }
    if (t->released) {
        // Its engine's slot was freed already; only the outcome is new.
        sched_rec_done(self, t, ok, engine);
        goto out;
    }
    sched_engine_t *e = sched_rec_engine(self, engine);
    if (!e) {
        rc = IPP_ERR_NOT_FOUND;  // cannot happen: a running task's engine is kept
        goto out;
    }
    sched_rec_tl_remove(&e->run_head, &e->run_tail, t);
    sched_rec_load_add(self, e, -1);
    e->completed++;
    if (!ok && t->retries > 0) {
        t->retries--;
        if (final)
            *final = false;
        if (t->queue == SCHED_QUEUE_TASK) {
            sched_place_t *p = sched_rec_place_get(t);
            if (!p || sched_rec_add(&p->avoid, &p->n_avoid, &p->cap_avoid, engine) != 0)
                sched_rec_oom(self);  // it may go back to the same engine: still correct
        }
        sched_decide_requeue(self, t);
    } else {
        sched_rec_done(self, t, ok, engine);
    }
    sched_decide_serve(self, e);
out:
    sched_decide_leave(self);
    return rc;
}

ipp_err_t sched_release(sched_t *self, const char *msg_id, int engine)
{
    if (!self || !sched_rec_valid_id(msg_id))
        return IPP_ERR_INVALID;
    sched_task_t *t = sched_rec_get(self, msg_id);
    if (!t || t->state != T_RUNNING || t->engine != engine || t->released)
        return IPP_ERR_NOT_FOUND;
    sched_engine_t *e = sched_rec_engine(self, engine);
    if (!e)
        return IPP_ERR_NOT_FOUND;  // cannot happen: a running task's engine is kept
    sched_decide_enter(self);
    sched_rec_tl_remove(&e->run_head, &e->run_tail, t);
    sched_rec_load_add(self, e, -1);
    e->completed++;
    t->released = true;
    sched_decide_serve(self, e);
    sched_decide_leave(self);
    return IPP_OK;
}

ipp_err_t sched_unmet(sched_t *self, const char *msg_id, int engine)
{
    if (!self || !sched_rec_valid_id(msg_id))
        return IPP_ERR_INVALID;
    sched_task_t *t = sched_rec_get(self, msg_id);
    if (!t || t->state != T_RUNNING || t->engine != engine)
        return IPP_ERR_NOT_FOUND;
    sched_engine_t *e = sched_rec_engine(self, engine);
    if (!e)
        return IPP_ERR_NOT_FOUND;  // cannot happen: a running task's engine is kept
    sched_decide_enter(self);
    sched_rec_tl_remove(&e->run_head, &e->run_tail, t);
    sched_rec_load_add(self, e, -1);
    sched_place_t *p = sched_rec_place_get(t);
    if (!p || sched_rec_add(&p->refused, &p->n_refused, &p->cap_refused, engine) != 0) {
        sched_rec_oom(self);
        sched_decide_fail(self, t, SCHED_INTERNAL, "out of memory noting a refusal");
    } else {
        sched_decide_requeue(self, t);
    }
    sched_decide_serve(self, e);
    sched_decide_leave(self);
    return IPP_OK;
}

// s_engine_up: sched_engine_add, the engine held (no work) or not.
static ipp_err_t s_engine_up(sched_t *self, int engine, bool held)
{
    if (!self || engine < 0)
        return IPP_ERR_INVALID;
    sched_engine_t *e = sched_rec_engine(self, engine);
    if (e && e->registered)
        return IPP_ERR_INVALID;
    if (sched_rec_ensure_cands(self, (size_t)self->n_registered + 1) != 0)
        return IPP_ERR_NOMEM;
    if (!e && !(e = sched_rec_engine_get_or_new(self, engine)))
        return IPP_ERR_NOMEM;
    sched_decide_enter(self);
    e->registered = true;
    e->held = held;
    e->completed = 0;
    self->n_registered++;
    self->st.engines = self->n_registered;
    if (sched_rec_is_free(self, e))
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
        if (!sched_rec_excluded(t->place, engine) && !sched_rec_slot_add(self, t, e))
            sched_rec_oom(self);
    }
    sched_decide_serve(self, e);
    sched_decide_leave(self);
    return IPP_OK;
}

ipp_err_t sched_engine_add(sched_t *self, int engine)
{
    return s_engine_up(self, engine, false);
}

ipp_err_t sched_engine_add_held(sched_t *self, int engine)
{
    return s_engine_up(self, engine, true);
}

ipp_err_t sched_engine_unhold(sched_t *self, int engine)
{
    sched_engine_t *e = self ? sched_rec_engine(self, engine) : NULL;
    if (!e || !e->registered)
        return IPP_ERR_NOT_FOUND;
    if (!e->held)
        return IPP_OK;
    sched_decide_enter(self);
    e->held = false;
    if (sched_rec_is_free(self, e))
        self->n_free++;
    sched_decide_serve(self, e);
    sched_decide_leave(self);
    return IPP_OK;
}

ipp_err_t sched_engine_remove(sched_t *self, int engine)
{
    if (!self)
        return IPP_ERR_INVALID;
    sched_engine_t *e = sched_rec_engine(self, engine);
    if (!e || !e->registered)
        return IPP_ERR_NOT_FOUND;
    sched_decide_enter(self);
    e->pinned = true;  // failing its tasks below must not free the record
    if (sched_rec_is_free(self, e))
        self->n_free--;
    e->registered = false;
    self->n_registered--;
    self->st.engines = self->n_registered;
    sched_rec_lru_unlink(self, e);

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
            sched_rec_slot_del(self, s);  // not counted again: e is down
        // With targets, also when no engine is left: its grace starts.
        if (t->place->n_reg == 0 && (self->n_registered > 0 || t->place->n_targets)) {
            t->rework = work;
            work = t;
        }
    }
    while (e->mux_head)
        sched_decide_fail(self, e->mux_head, SCHED_LOST, "engine %d went away before running it",
                          engine);
    while (e->run_head) {
        sched_task_t *t = e->run_head;
        sched_rec_tl_remove(&e->run_head, &e->run_tail, t);
        e->load--;
        self->st.ops++;
        if (t->queue == SCHED_QUEUE_TASK && t->retries > 0) {
            t->retries--;
            sched_place_t *p = sched_rec_place_get(t);
            if (!p || sched_rec_add(&p->avoid, &p->n_avoid, &p->cap_avoid, engine) != 0)
                sched_rec_oom(self);
            sched_decide_requeue(self, t);
        } else {
            sched_decide_fail(self, t, SCHED_LOST, "engine %d died while running the task", engine);
        }
    }
    while (work) {
        sched_task_t *t = work;
        work = t->rework;
        t->rework = NULL;
        if (t->state == T_READY) {
            sched_rec_unready(self, t);
            sched_rec_set_state(self, t, T_WAITING);
            sched_decide_ready(self, t);
        }
    }
    e->pinned = false;
    sched_rec_engine_maybe_free(self, e);
    sched_decide_leave(self);
    return IPP_OK;
}

// s_kept: whether msg_id is one of keep[0..n).
static bool s_kept(const char *msg_id, const char *const *keep, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (keep[i] && strcmp(keep[i], msg_id) == 0)
            return true;
    return false;
}

ipp_err_t sched_engine_restart(sched_t *self, int engine, const char *const *keep, size_t n_keep)
{
    if (!self || (n_keep && !keep))
        return IPP_ERR_INVALID;
    sched_engine_t *e = sched_rec_engine(self, engine);
    if (!e || !e->registered)
        return IPP_ERR_NOT_FOUND;
    sched_decide_enter(self);
    e->pinned = true;
    // Held from here on, like a new registration: no work until it shows
    // it is alive.
    if (sched_rec_is_free(self, e))
        self->n_free--;
    e->held = true;
    e->completed = 0;
    // What the old process ran is lost unless the new one says it has it;
    // the kept ones stay where they are. Queued mux tasks were never sent
    // and wait for it as before.
    sched_task_t *lost = NULL;
    for (sched_task_t *t = e->run_head, *next; t; t = next) {
        next = t->next;
        if (s_kept(t->msg_id, keep, n_keep))
            continue;
        sched_rec_tl_remove(&e->run_head, &e->run_tail, t);
        sched_rec_load_add(self, e, -1);
        self->st.ops++;
        t->rework = lost;
        lost = t;
    }
    while (lost) {
        sched_task_t *t = lost;
        lost = t->rework;
        t->rework = NULL;
        if (t->queue == SCHED_QUEUE_TASK && t->retries > 0) {
            t->retries--;
            sched_decide_requeue(self, t);
        } else {
            sched_decide_fail(self, t, SCHED_LOST, "engine %d restarted while running the task",
                              engine);
        }
    }
    e->pinned = false;
    sched_decide_leave(self);
    return IPP_OK;
}

ipp_err_t sched_abort(sched_t *self, const char *msg_id)
{
    if (!self || !sched_rec_valid_id(msg_id))
        return IPP_ERR_INVALID;
    sched_task_t *t = sched_rec_get(self, msg_id);
    if (!t || t->state == T_EXPECTED)
        return IPP_ERR_NOT_FOUND;
    if (t->state == T_RUNNING) {
        // Its engine is told to stop it; whatever comes back is final.
        t->retries = 0;
        return IPP_ERR_PENDING;
    }
    sched_decide_enter(self);
    sched_decide_fail(self, t, SCHED_ABORTED, "aborted before it ran");
    sched_decide_leave(self);
    return IPP_OK;
}

void sched_tick(sched_t *self)
{
    if (!self)
        return;
    sched_decide_enter(self);
    int64_t now = self->ops.now(self->ctx);
    sched_timer_t *tm;
    while ((tm = sched_timeheap_peek(&self->timers)) && tm->deadline <= now) {
        sched_task_t *t = (sched_task_t *)((char *)tm - offsetof(sched_task_t, timer));
        if (t->grace) {
            t->grace = false;
            sched_timeheap_disarm(&self->timers, &t->timer);
            if (t->state == T_READY && t->place && t->place->n_reg == 0) {
                sched_decide_fail(self, t, SCHED_UNREACHABLE,
                                  "none of its target engines registered within %.3f s",
                                  (double)self->targets_grace / 1e6);
                continue;
            }
            // One came back meanwhile: its own timeout, if any, holds again.
            if (t->due > 0 && sched_timeheap_arm(&self->timers, &t->timer, t->due) != 0)
                sched_rec_oom(self);
            continue;
        }
        if (t->state == T_READY)
            sched_decide_fail(self, t, SCHED_TIMEOUT, "no engine could take it within %.3f s",
                              (double)t->timeout / 1e6);
        else
            sched_decide_fail(self, t, SCHED_TIMEOUT, "dependencies not met within %.3f s",
                              (double)t->timeout / 1e6);
    }
    sched_decide_leave(self);
}

int64_t sched_next_deadline(const sched_t *self)
{
    const sched_timer_t *tm = self ? sched_timeheap_peek(&self->timers) : NULL;
    return tm ? tm->deadline : -1;
}
