/* access.c — the scheduler's read-only queries.
 *
 * Answers where a task stands, an engine's counts, the registered engines,
 * an engine's tasks, the counters and a task's retries left, from the
 * records of sched_t and its finished-outcome cache. Owns nothing, changes
 * nothing (every function takes a const sched_t), calls records.c only,
 * and never calls any of the hub's callbacks.
 */
#include "scheduler/sched_int.h"

sched_state_t sched_task_state(const sched_t *self, const char *msg_id, int *engine)
{
    if (engine)
        *engine = -1;
    if (!self || !sched_rec_valid_id(msg_id))
        return SCHED_STATE_UNKNOWN;
    const sched_task_t *t = sched_rec_find(self, msg_id);
    if (t) {
        switch (t->state) {
        case T_EXPECTED:
            return SCHED_STATE_EXPECTED;
        case T_WAITING:
            return SCHED_STATE_WAITING;
        case T_READY:
            if (engine && t->where == W_MUX)
                *engine = t->engine;
            return SCHED_STATE_QUEUED;
        case T_RUNNING:
            if (engine)
                *engine = t->engine;
            return SCHED_STATE_RUNNING;
        default:
            return SCHED_STATE_UNKNOWN;
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
    const sched_engine_t *e = self ? sched_rec_engine(self, engine) : NULL;
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
    const sched_engine_t *e = self ? sched_rec_engine(self, engine) : NULL;
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
    const sched_task_t *t = sched_rec_find(self, msg_id);
    return t ? t->retries : 0;
}
