/* submit.c — submission and adoption: how a task comes into the scheduler.
 *
 * Checks a spec, copies it into a record (ids deduplicated, targets sorted),
 * links the task to each dependency id it names — a live record, a
 * finished outcome from the cache, or what the hub's lookup says (an id
 * pending in the hub gets an EXPECTED record) — and hands it to decide.c
 * once its dependencies are met; adoption takes a task already running on
 * an engine. Owns nothing beyond the call: the record goes to sched_t's
 * map. Calls decide.c and records.c only; never calls the hub's dispatch
 * or finish itself, and never keeps a pointer into the caller's spec.
 */
#include "scheduler/sched_int.h"

#include <stdlib.h>
#include <string.h>

// ------------------------------------------------------------------ spec

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
        if (!sched_rec_valid_id(dep->ids[i]))
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
    if (!spec || !sched_rec_valid_id(spec->msg_id))
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
    const sched_task_t *old = sched_rec_find(self, spec->msg_id);
    return !old || old->state == T_EXPECTED;
}

// ---------------------------------------------------------------- record

// s_fill: set up t's fields from spec (allocations first; on failure t is
// unchanged), with room for n_after + n_follow edges; 0 or -1.
static int s_fill(sched_task_t *t, const sched_spec_t *spec, size_t n_after, size_t n_follow)
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
    sched_rec_place_free(place);
    return -1;
}

// s_take: get or create the record of spec->msg_id and fill it: its
// EXPECTED record (waiters kept, still EXPECTED), else a new one in the map
// (T_DONE, counted nowhere), set up from spec with room for n_after +
// n_follow edges; the caller gives it its state. NULL when out of memory,
// and then nothing has changed (a new record is forgotten again).
static sched_task_t *s_take(sched_t *self, const sched_spec_t *spec, size_t n_after,
                            size_t n_follow)
{
    sched_task_t *t = sched_rec_get(self, spec->msg_id);
    bool fresh = t == NULL;
    if (fresh && !(t = sched_rec_task_new(self, spec->msg_id, T_DONE)))
        return NULL;
    if (s_fill(t, spec, n_after, n_follow) != 0) {
        if (fresh)
            sched_rec_task_forget(self, t);
        return NULL;
    }
    return t;
}

// ---------------------------------------------------------- public calls

ipp_err_t sched_submit(sched_t *self, const sched_spec_t *spec)
{
    if (!self || !s_check_spec(self, spec))
        return IPP_ERR_INVALID;
    size_t need = spec->after.n + spec->follow.n;
    if (sched_rec_ensure((void **)&self->ids, &self->cap_ids, need ? need : 1, sizeof *self->ids) !=
        0)
        return IPP_ERR_NOMEM;
    long n_after = s_dedupe(self, &spec->after, 0);
    long n_follow = n_after < 0 ? -1 : s_dedupe(self, &spec->follow, (size_t)n_after);
    if (n_after < 0 || n_follow < 0)
        return IPP_ERR_INVALID;
    // Room for the timer now, so arming cannot fail after commitment.
    if (spec->timeout_us > 0 &&
        sched_rec_ensure((void **)&self->timers.items, &self->timers.cap, self->timers.count + 1,
                         sizeof *self->timers.items) != 0)
        return IPP_ERR_NOMEM;

    sched_task_t *t = s_take(self, spec, (size_t)n_after, (size_t)n_follow);
    if (!t)
        return IPP_ERR_NOMEM;
    sched_decide_enter(self);
    sched_done_del(self->done, spec->msg_id);
    sched_rec_set_state(self, t, T_WAITING);
    sched_rec_arm(self, t);

    for (long i = 0; i < n_after + n_follow; i++) {
        const char *id = self->ids[i];
        int kind = i < n_after ? EDGE_AFTER : EDGE_FOLLOW;
        if (strcmp(id, t->msg_id) == 0) {
            sched_decide_fail(self, t, SCHED_INVALID, "the task depends on itself");
            goto out;
        }
        sched_task_t *d = sched_rec_get(self, id);
        if (d) {
            sched_rec_edge_add(self, t, d, kind);
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
                d = sched_rec_task_new(self, id, T_EXPECTED);
                if (!d) {
                    sched_rec_oom(self);
                    sched_decide_fail(self, t, SCHED_INTERNAL, "out of memory waiting for '%s'",
                                      id);
                    goto out;
                }
                sched_rec_edge_add(self, t, d, kind);
                continue;
            }
            if (found != SCHED_LOOKUP_OK && found != SCHED_LOOKUP_ERROR) {
                sched_decide_fail(self, t, SCHED_UNREACHABLE, "dependency '%s' is unknown", id);
                goto out;
            }
            ok = found == SCHED_LOOKUP_OK;
            if (engine < -1)
                engine = -1;
            if (sched_done_put(self->done, id, ok, engine) != 0)
                sched_rec_oom(self);
        }
        if (kind == EDGE_FOLLOW && !t->place) {
            sched_rec_oom(self);  // cannot happen: s_fill made place for follow
            sched_decide_fail(self, t, SCHED_INTERNAL, "no place record");
            goto out;
        }
        if (sched_decide_note(self, t, kind, id, ok, engine, false))
            goto out;
    }
    if (sched_rec_deps_met(t))
        sched_decide_ready(self, t);
out:
    sched_decide_leave(self);
    return IPP_OK;
}

ipp_err_t sched_adopt(sched_t *self, const sched_spec_t *spec, int engine)
{
    if (!self || !s_check_spec(self, spec))
        return IPP_ERR_INVALID;
    sched_engine_t *e = sched_rec_engine(self, engine);
    if (!e || !e->registered)
        return IPP_ERR_INVALID;
    sched_task_t *t = s_take(self, spec, 0, 0);
    if (!t)
        return IPP_ERR_NOMEM;
    sched_decide_enter(self);
    sched_done_del(self->done, spec->msg_id);
    sched_rec_set_state(self, t, T_RUNNING);
    t->engine = engine;
    sched_rec_tl_push(&e->run_head, &e->run_tail, t);
    sched_rec_load_add(self, e, +1);
    sched_decide_leave(self);
    return IPP_OK;
}
