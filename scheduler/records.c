/* records.c — the scheduler's records and indices, with no decisions.
 *
 * Keeps every task, engine, edge and slot record and the indices over them
 * (the two maps, the FIFOs, the waiter lists, the running lists, the LRU
 * list, the timeout heap, the per-state counters) right as records move
 * between them. Owns nothing of its own: the records belong to sched_t
 * (sched_int.h). Never decides where a task goes or whether it fails,
 * never calls the hub's callbacks except `now` (to arm a timeout), and
 * calls no other file of the scheduler: decide.c, submit.c, access.c and
 * sched.c call down into it.
 */
#include "scheduler/sched_int.h"

#include <stdlib.h>
#include <string.h>

// -------------------------------------------------------------- lookups

bool sched_rec_task_eq(const void *val, const void *key)
{
    return strcmp(((const sched_task_t *)val)->msg_id, (const char *)key) == 0;
}

bool sched_rec_engine_eq(const void *val, const void *key)
{
    return ((const sched_engine_t *)val)->id == *(const int32_t *)key;
}

bool sched_rec_valid_id(const char *id)
{
    if (!id || !id[0])
        return false;
    return strnlen(id, SCHED_ID_MAX + 1) <= SCHED_ID_MAX;
}

// sched_rec_get: the live or EXPECTED record of msg_id, counting probes as ops.
sched_task_t *sched_rec_get(sched_t *self, const char *msg_id)
{
    return sched_idmap_get(&self->tasks, sched_hash_str(self->seed, msg_id), msg_id, &self->st.ops);
}

// sched_rec_find: sched_rec_get for read-only callers (not counted).
const sched_task_t *sched_rec_find(const sched_t *self, const char *msg_id)
{
    return sched_idmap_get(&self->tasks, sched_hash_str(self->seed, msg_id), msg_id, NULL);
}

sched_engine_t *sched_rec_engine(const sched_t *self, int32_t id)
{
    return sched_idmap_get(&self->engines, sched_hash_int(self->seed, id), &id, NULL);
}

// --------------------------------------------------------- small arrays

// sched_rec_ensure: grow *arr (of elem-size items) to hold n; 0 or -1.
int sched_rec_ensure(void **arr, size_t *cap, size_t n, size_t elem)
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

int sched_rec_ensure_cands(sched_t *self, size_t n)
{
    size_t cap = self->cap_cands;
    if (sched_rec_ensure((void **)&self->cands, &cap, n, sizeof *self->cands) != 0)
        return -1;
    cap = self->cap_cands;
    if (sched_rec_ensure((void **)&self->cand_eng, &cap, n, sizeof *self->cand_eng) != 0)
        return -1;
    self->cap_cands = cap;
    return 0;
}

bool sched_rec_has(const int32_t *arr, uint32_t n, int32_t v)
{
    for (uint32_t i = 0; i < n; i++)
        if (arr[i] == v)
            return true;
    return false;
}

int sched_rec_add(int32_t **arr, uint32_t *n, uint32_t *cap, int32_t v)
{
    if (sched_rec_has(*arr, *n, v))
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

void sched_rec_tl_push(sched_task_t **head, sched_task_t **tail, sched_task_t *t)
{
    t->next = NULL;
    t->prev = *tail;
    if (*tail)
        (*tail)->next = t;
    else
        *head = t;
    *tail = t;
}

void sched_rec_tl_remove(sched_task_t **head, sched_task_t **tail, sched_task_t *t)
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

// sched_rec_set_state: move t to state, keeping the per-state counters right.
void sched_rec_set_state(sched_t *self, sched_task_t *t, int state)
{
    size_t *old = NULL, *neu = NULL;
    size_t *by[] = {&self->st.expected, &self->st.waiting, &self->st.queued, &self->st.running,
                    NULL};
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

// sched_rec_task_new: a zeroed record for msg_id, in the map. NULL when out
// of memory.
sched_task_t *sched_rec_task_new(sched_t *self, const char *msg_id, int state)
{
    sched_task_t *t = ipp_pool_alloc(&self->task_pool);
    if (!t)
        return NULL;
    strcpy(t->msg_id, msg_id);
    t->hash = sched_hash_str(self->seed, msg_id);
    t->engine = -1;
    t->state = T_DONE;  // counted by sched_rec_set_state below
    sched_timer_init(&t->timer);
    if (sched_idmap_put(&self->tasks, t->hash, t) != 0) {
        ipp_pool_free(&self->task_pool, t);
        return NULL;
    }
    sched_rec_set_state(self, t, state);
    return t;
}

void sched_rec_place_free(sched_place_t *p)
{
    if (!p)
        return;
    free(p->targets);
    free(p->refused);
    free(p->avoid);
    sched_loc_fini(&p->loc);
    free(p);
}

// sched_rec_task_free: release t's own allocations and the record. It must be
// out of every index already.
void sched_rec_task_free(sched_t *self, sched_task_t *t)
{
    if (t->edges && t->edges != t->inline_edges)
        free(t->edges);
    sched_rec_place_free(t->place);
    ipp_pool_free(&self->task_pool, t);
}

sched_place_t *sched_rec_place_get(sched_task_t *t)
{
    if (!t->place) {
        t->place = calloc(1, sizeof *t->place);
        if (t->place)
            sched_loc_init(&t->place->loc);
    }
    return t->place;
}

// ---------------------------------------------------------------- edges

void sched_rec_edge_add(sched_t *self, sched_task_t *t, sched_task_t *dep, int kind)
{
    sched_edge_t *e = &t->edges[t->n_edges++];
    e->task = t;
    e->kind = kind;
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

// sched_rec_task_forget: drop an EXPECTED record nobody waits for any more.
void sched_rec_task_forget(sched_t *self, sched_task_t *d)
{
    sched_idmap_del(&self->tasks, d->hash, d->msg_id);
    sched_rec_set_state(self, d, T_DONE);
    sched_rec_task_free(self, d);
}

void sched_rec_edge_unlink(sched_t *self, sched_edge_t *e)
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
        sched_rec_task_forget(self, dep);
}

// sched_rec_drop_edges: t no longer waits on anything.
void sched_rec_drop_edges(sched_t *self, sched_task_t *t)
{
    for (uint32_t i = 0; i < t->n_edges; i++)
        sched_rec_edge_unlink(self, &t->edges[i]);
}

// sched_rec_drop_after_edges: t is sent; its `after` is met for good. Its
// pending `follow` ids (any-mode) stay linked: where they run matters if t
// comes back (refused, retried, engine lost).
void sched_rec_drop_after_edges(sched_t *self, sched_task_t *t)
{
    for (uint32_t i = 0; i < t->n_edges; i++)
        if (t->edges[i].kind == EDGE_AFTER)
            sched_rec_edge_unlink(self, &t->edges[i]);
}

// -------------------------------------------------------------- engines

bool sched_rec_is_free(const sched_t *self, const sched_engine_t *e)
{
    return e->registered && !e->held && (self->hwm == 0 || e->load < self->hwm);
}

// sched_rec_load_add: change e's load by delta, keeping n_free right.
void sched_rec_load_add(sched_t *self, sched_engine_t *e, int delta)
{
    bool was = sched_rec_is_free(self, e);
    e->load = (uint32_t)((int64_t)e->load + delta);
    bool now = sched_rec_is_free(self, e);
    if (was && !now)
        self->n_free--;
    else if (!was && now)
        self->n_free++;
}

sched_engine_t *sched_rec_engine_get_or_new(sched_t *self, int32_t id)
{
    sched_engine_t *e = sched_rec_engine(self, id);
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

// sched_rec_engine_maybe_free: forget an engine record nothing refers to.
void sched_rec_engine_maybe_free(sched_t *self, sched_engine_t *e)
{
    if (e->registered || e->pinned || e->n_slots || e->n_mux || e->load || e->run_head)
        return;
    sched_idmap_del(&self->engines, sched_hash_int(self->seed, e->id), &e->id);
    free(e);
}

void sched_rec_lru_unlink(sched_t *self, sched_engine_t *e)
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

// sched_rec_lru_touch: e was just used: most recent.
void sched_rec_lru_touch(sched_t *self, sched_engine_t *e)
{
    e->lru_stamp = ++self->lru_hi;
    if (self->lru_tail == e)
        return;
    sched_rec_lru_unlink(self, e);
    e->lru_prev = self->lru_tail;
    if (self->lru_tail)
        self->lru_tail->lru_next = e;
    else
        self->lru_head = e;
    self->lru_tail = e;
}

// ---------------------------------------------------------------- slots

sched_slot_t *sched_rec_slot_add(sched_t *self, sched_task_t *t, sched_engine_t *e)
{
    sched_slot_t *s = ipp_pool_alloc(&self->slot_pool);
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

// sched_rec_slot_del: unlink s from its engine and task and free it; the engine
// record may be freed too.
void sched_rec_slot_del(sched_t *self, sched_slot_t *s)
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
    ipp_pool_free(&self->slot_pool, s);
    self->st.ops++;
    sched_rec_engine_maybe_free(self, e);
}

// ----------------------------------------------------- leaving an index

// sched_rec_unready: take a READY task out of whichever index holds it.
void sched_rec_unready(sched_t *self, sched_task_t *t)
{
    switch (t->where) {
    case W_FIFO:
        sched_rec_tl_remove(&self->fifo_head, &self->fifo_tail, t);
        break;
    case W_MUX: {
        sched_engine_t *e = sched_rec_engine(self, t->engine);
        if (e) {
            sched_rec_tl_remove(&e->mux_head, &e->mux_tail, t);
            e->n_mux--;
            sched_rec_engine_maybe_free(self, e);
        }
        break;
    }
    case W_SLOTS:
        while (t->place->slots)
            sched_rec_slot_del(self, t->place->slots);
        if (t->place->cofinite)
            sched_rec_tl_remove(&self->cof_head, &self->cof_tail, t);
        t->place->cofinite = false;
        t->place->n_reg = 0;
        break;
    default:
        break;
    }
    t->where = W_NONE;
    self->st.ops++;
}

// sched_rec_detach: t leaves WAITING/READY: out of every index, timer off.
void sched_rec_detach(sched_t *self, sched_task_t *t)
{
    if (t->state == T_READY)
        sched_rec_unready(self, t);
    sched_rec_drop_edges(self, t);
    sched_timeheap_disarm(&self->timers, &t->timer);
}

void sched_rec_oom(sched_t *self)
{
    self->st.oom = true;
}

// sched_rec_done: t (out of every index) has finished with (ok, engine):
// remember the outcome, forget the task, queue its waiters for resolution.
void sched_rec_done(sched_t *self, sched_task_t *t, bool ok, int32_t engine)
{
    sched_rec_drop_edges(self, t);
    t->done_ok = ok;
    t->engine = engine;
    sched_idmap_del(&self->tasks, t->hash, t->msg_id);
    if (sched_done_put(self->done, t->msg_id, ok, engine) != 0)
        sched_rec_oom(self);
    sched_rec_set_state(self, t, T_DONE);
    t->work = NULL;
    if (self->fin_tail)
        self->fin_tail->work = t;
    else
        self->fin_head = t;
    self->fin_tail = t;
}

bool sched_rec_excluded(const sched_place_t *p, int32_t id)
{
    return sched_rec_has(p->refused, p->n_refused, id) || sched_rec_has(p->avoid, p->n_avoid, id);
}

bool sched_rec_deps_met(const sched_task_t *t)
{
    return sched_depset_met(&t->after) && sched_depset_met(&t->follow);
}

int sched_rec_arm(sched_t *self, sched_task_t *t)
{
    if (t->grace)
        sched_timeheap_disarm(&self->timers, &t->timer);
    t->grace = false;
    t->due = 0;
    if (t->timeout <= 0)
        return 0;
    sched_timeheap_disarm(&self->timers, &t->timer);
    t->due = self->ops.now(self->ctx) + t->timeout;
    return sched_timeheap_arm(&self->timers, &t->timer, t->due);
}
