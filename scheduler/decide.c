/* decide.c — the scheduler's decisions: ready, dispatch, choose, place, cascade.
 *
 * Decides, for a task whose dependencies are met, whether it is sent now
 * (and to which engine, through the routing scheme), queued for an engine
 * slot, or failed because no engine can ever take it; gives an engine with
 * room its oldest queued work; applies a finished dependency to a waiting
 * task; and resolves, in a loop, the waiters of every task that finished
 * during a public call. Each decision goes to the outbox; the outermost
 * public call tells the hub (sched_decide_leave). Owns nothing: it works
 * on sched_t's records through records.c, the only file it calls. Never
 * calls the hub's dispatch/finish in the middle of an update (outbox.h),
 * never scans waiting tasks, never touches the hub's user pointers.
 */
#include "scheduler/sched_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// ------------------------------------------------------------- outcomes

const char *sched_outcome_ename(sched_outcome_t why)
{
    switch (why) {
    case SCHED_ABORTED:
        return "TaskAborted";
    case SCHED_UNREACHABLE:
        return "ImpossibleDependency";
    case SCHED_TIMEOUT:
        return "DependencyTimeout";
    case SCHED_LOST:
        return "EngineError";
    case SCHED_INVALID:
        return "InvalidDependency";
    case SCHED_INTERNAL:
        return "SchedulerError";
    }
    return "SchedulerError";
}

ipp_err_t sched_outcome_err(sched_outcome_t why)
{
    switch (why) {
    case SCHED_ABORTED:
        return IPP_ERR_ABORTED;
    case SCHED_UNREACHABLE:
        return IPP_ERR_UNREACHABLE;
    case SCHED_TIMEOUT:
        return IPP_ERR_UNREACHABLE;
    case SCHED_LOST:
        return IPP_ERR_ENGINE;
    case SCHED_INVALID:
        return IPP_ERR_CYCLE;
    case SCHED_INTERNAL:
        return IPP_ERR_NOMEM;
    }
    return IPP_ERR_INVALID;
}

// ---------------------------------------------------- fail and dispatch

// sched_decide_fail: the scheduler finishes t with an error: tell the hub,
// resolve dependents. t may be WAITING, READY, or RUNNING already taken off
// its engine (then t->engine is kept as where it ran).
void sched_decide_fail(sched_t *self, sched_task_t *t, sched_outcome_t why, const char *fmt, ...)
{
    int32_t ran = t->state == T_RUNNING ? t->engine : -1;
    sched_rec_detach(self, t);
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
        sched_rec_oom(self);
    }
    self->st.failed++;
    sched_rec_done(self, t, false, ran);
}

// s_dispatch: send t (READY or fresh) to engine e.
static void s_dispatch(sched_t *self, sched_task_t *t, sched_engine_t *e)
{
    if (t->state == T_READY)
        sched_rec_unready(self, t);
    sched_rec_drop_after_edges(self, t);
    sched_timeheap_disarm(&self->timers, &t->timer);
    sched_rec_set_state(self, t, T_RUNNING);
    t->engine = e->id;
    sched_rec_tl_push(&e->run_head, &e->run_tail, t);
    sched_rec_load_add(self, e, +1);
    sched_rec_lru_touch(self, e);
    sched_out_t *o = sched_outbox_push(&self->outbox);
    if (o) {
        o->kind = SCHED_OUT_DISPATCH;
        o->why = 0;
        o->engine = e->id;
        o->user = t->user;
        strcpy(o->msg_id, t->msg_id);
        o->evalue[0] = '\0';
    } else {
        sched_rec_oom(self);
    }
    self->st.dispatched++;
    self->st.ops++;
}

// ----------------------------------------------------- choose and place

// s_choose: run the scheme over the first n candidates; their engine.
static sched_engine_t *s_choose(sched_t *self, size_t n)
{
    size_t i = self->scheme->choose(self->cands, n, &self->rng);
    if (i >= n)
        i = 0;  // a custom scheme out of range: fall back to the LRU one
    return self->cand_eng[i];
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
    if (sched_rec_ensure((void **)&self->xbuf, &self->cap_xbuf, max ? max : 1,
                         sizeof *self->xbuf) != 0)
        return -1;
    long n = 0;
    if (p->n_targets) {
        for (uint32_t i = 0; i < p->n_targets; i++) {
            int32_t id = p->targets[i];
            self->st.ops++;
            if (by_follow && !sched_loc_has(&p->loc, id))
                continue;
            if (!sched_rec_excluded(p, id))
                self->xbuf[n++] = id;
        }
    } else {
        for (uint32_t i = 0; i < sched_loc_count(&p->loc); i++) {
            int32_t id = sched_loc_at(&p->loc, i);
            self->st.ops++;
            if (!sched_rec_excluded(p, id))
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

// s_arm_grace: READY t may only run on targets none of which is
// registered: fail it if none registers within the grace (sched_tick),
// unless its own timeout comes first.
static void s_arm_grace(sched_t *self, sched_task_t *t)
{
    int64_t at = self->ops.now(self->ctx) + self->targets_grace;
    if (sched_timer_armed(&t->timer) && t->timer.deadline <= at)
        return;
    sched_timeheap_disarm(&self->timers, &t->timer);
    if (sched_timeheap_arm(&self->timers, &t->timer, at) != 0) {
        sched_rec_oom(self);  // it only waits longer
        if (t->due > 0 && sched_timeheap_arm(&self->timers, &t->timer, t->due) != 0)
            sched_rec_oom(self);
        return;
    }
    t->grace = true;
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
            if (sched_rec_ensure_cands(self, self->n_registered ? self->n_registered : 1) != 0)
                goto oom;
            uint32_t allowed = 0;
            for (sched_engine_t *e = self->lru_head; e; e = e->lru_next) {
                self->st.ops++;
                if (sched_rec_excluded(p, e->id))
                    continue;
                allowed++;
                if (sched_rec_is_free(self, e)) {
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
                sched_decide_fail(self, t, SCHED_UNREACHABLE,
                                  "every registered engine (%u) refused it (unmet dependency)",
                                  self->n_registered);
                return;
            }
            // Wait: a slot on each allowed engine, and in the co-finite list
            // so engines registering later add theirs.
            sched_rec_set_state(self, t, T_READY);
            t->where = W_SLOTS;
            p->cofinite = true;
            p->n_reg = 0;
            sched_rec_tl_push(&self->cof_head, &self->cof_tail, t);
            for (sched_engine_t *e = self->lru_head; e; e = e->lru_next) {
                self->st.ops++;
                if (!sched_rec_excluded(p, e->id) && !sched_rec_slot_add(self, t, e))
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
                sched_decide_fail(self, t, SCHED_UNREACHABLE,
                                  "every allowed engine refused it (unmet dependency)");
            else
                sched_decide_fail(self, t, SCHED_UNREACHABLE,
                                  "its targets and the engines of its 'follow' dependencies"
                                  " do not intersect");
            return;
        }
        if (sched_rec_ensure_cands(self, (size_t)nx) != 0)
            goto oom;
        size_t nreg = 0;
        for (long i = 0; i < nx; i++) {
            sched_engine_t *e = sched_rec_engine(self, self->xbuf[i]);
            self->st.ops++;
            if (e && e->registered) {
                nreg++;
                if (sched_rec_is_free(self, e))
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
                sched_engine_t *e = sched_rec_engine(self, p->avoid[i]);
                if (e && e->registered)
                    avoided_up = true;
            }
            if (avoided_up) {
                p->n_avoid = 0;
                continue;
            }
        }
        sched_rec_set_state(self, t, T_READY);
        t->where = W_SLOTS;
        p->cofinite = false;
        p->n_reg = 0;
        for (long i = 0; i < nx; i++) {
            sched_engine_t *e = sched_rec_engine_get_or_new(self, self->xbuf[i]);
            if (!e || !sched_rec_slot_add(self, t, e))
                goto oom;
        }
        if (nreg == 0 && p->n_targets && self->targets_grace > 0)
            s_arm_grace(self, t);
        return;
    }
    return;
oom:
    sched_rec_oom(self);
    sched_decide_fail(self, t, SCHED_INTERNAL, "out of memory while placing the task");
}

// ------------------------------------------------ serve, ready, requeue

// sched_decide_serve: engine e may have room: give it queued work, oldest
// first.
void sched_decide_serve(sched_t *self, sched_engine_t *e)
{
    while (e->registered && !e->held) {
        self->st.ops++;
        if (e->mux_head && (self->mux_hwm == 0 || e->load < self->mux_hwm)) {
            s_dispatch(self, e->mux_head, e);
            continue;
        }
        if (!sched_rec_is_free(self, e))
            break;
        sched_task_t *a = e->slot_head ? e->slot_head->task : NULL;
        sched_task_t *b = self->fifo_head;
        sched_task_t *pick = !a ? b : !b ? a : (a->seq < b->seq ? a : b);
        if (!pick)
            break;
        s_dispatch(self, pick, e);
    }
}

// sched_decide_ready: t's dependencies are met: place it.
void sched_decide_ready(sched_t *self, sched_task_t *t)
{
    t->seq = ++self->seq;
    if (t->queue == SCHED_QUEUE_MUX) {
        sched_engine_t *e = sched_rec_engine(self, t->engine);
        if (!e || !e->registered) {
            sched_decide_fail(self, t, SCHED_LOST, "engine %d is not registered", (int)t->engine);
            return;
        }
        if (t->place && sched_rec_has(t->place->refused, t->place->n_refused, t->engine)) {
            sched_decide_fail(self, t, SCHED_UNREACHABLE, "engine %d refused it (unmet dependency)",
                              (int)t->engine);
            return;
        }
        sched_rec_set_state(self, t, T_READY);
        t->where = W_MUX;
        sched_rec_tl_push(&e->mux_head, &e->mux_tail, t);
        e->n_mux++;
        sched_decide_serve(self, e);
        return;
    }
    if (s_restricted(t)) {
        s_place_restricted(self, t);
        return;
    }
    if (self->n_free > 0) {
        if (sched_rec_ensure_cands(self, self->n_free) != 0) {
            sched_rec_oom(self);
            sched_decide_fail(self, t, SCHED_INTERNAL, "out of memory while placing the task");
            return;
        }
        size_t nc = 0;
        for (sched_engine_t *e = self->lru_head; e; e = e->lru_next) {
            self->st.ops++;
            if (sched_rec_is_free(self, e)) {
                self->cands[nc] = (sched_cand_t){e->id, e->load};
                self->cand_eng[nc++] = e;
            }
        }
        if (nc) {
            s_dispatch(self, t, s_choose(self, nc));
            return;
        }
    }
    sched_rec_set_state(self, t, T_READY);
    t->where = W_FIFO;
    sched_rec_tl_push(&self->fifo_head, &self->fifo_tail, t);
}

// sched_decide_requeue: t came back from an engine (refusal, retry, engine
// death): a new waiting period, then placement.
void sched_decide_requeue(sched_t *self, sched_task_t *t)
{
    sched_rec_set_state(self, t, T_WAITING);
    if (sched_rec_arm(self, t) != 0)
        sched_rec_oom(self);
    sched_decide_ready(self, t);
}

// --------------------------------------------------------- dependencies

static const char *s_verb(bool ok, int32_t engine)
{
    return ok ? "succeeded" : engine < 0 ? "did not run" : "failed";
}

// sched_decide_note: one of t's dependencies (dep_id, finished ok on engine)
// is known; update t and act: fail it when unreachable, place it when met.
// Returns true if t is no longer WAITING/READY.
bool sched_decide_note(sched_t *self, sched_task_t *t, int kind, const char *dep_id, bool ok,
                       int32_t engine, bool act)
{
    if (kind == EDGE_AFTER) {
        sched_depset_note(&t->after, sched_depset_counts(&t->after, ok));
        if (sched_depset_unreachable(&t->after)) {
            sched_decide_fail(self, t, SCHED_UNREACHABLE,
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
                sched_rec_oom(self);
                sched_decide_fail(self, t, SCHED_INTERNAL,
                                  "out of memory noting a 'follow' location");
                return true;
            }
        }
        sched_depset_note(&t->follow, counts);
        if (t->follow.all && t->place->loc.spread) {
            sched_decide_fail(self, t, SCHED_UNREACHABLE,
                              "'follow' dependencies ran on engines %d and %d;"
                              " with all=true it can never be met",
                              (int)first, (int)engine);
            return true;
        }
        if (sched_depset_unreachable(&t->follow)) {
            sched_decide_fail(self, t, SCHED_UNREACHABLE,
                              "'follow' dependency '%s' %s, so 'follow' can never be met", dep_id,
                              s_verb(ok, engine));
            return true;
        }
        if (act && added > 0 && t->state == T_READY) {
            // follow any: one more engine it may use.
            sched_rec_unready(self, t);
            sched_decide_ready(self, t);
            return t->state != T_READY;
        }
    }
    if (act && t->state == T_WAITING && sched_rec_deps_met(t)) {
        sched_decide_ready(self, t);
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
        sched_rec_oom(self);  // t just knows one engine fewer it may go back to
        counts = false;
    }
    sched_depset_note(&t->follow, counts);
}

// ------------------------------------------- the cascade and the outbox

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
            sched_rec_edge_unlink(self, e);
            if (t->state == T_WAITING || t->state == T_READY)
                sched_decide_note(self, t, kind, d->msg_id, d->done_ok, d->engine, true);
            else if (t->state == T_RUNNING)
                s_note_location(self, t, d->done_ok, d->engine);
        }
        sched_rec_task_free(self, d);
    }
}

void sched_decide_enter(sched_t *self)
{
    self->depth++;
}

// sched_decide_leave: finish internal work; the outermost call tells the hub.
void sched_decide_leave(sched_t *self)
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
