/* test_sched_fake.c — the fake hub behind the scheduler's unit tests.
 *
 * Owns the scheduler it creates and its event log. Aborts the test (through
 * Check) on its own allocation failures; never hides a scheduler error.
 */
#include "test_sched_fake.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fake_db_t {
    char id[64];           // msg_id
    sched_lookup_t state;  // answer
    int engine;            // where it ran
};

static void s_push(fake_hub_t *h, const fake_event_t *e)
{
    if (!h->record)
        return;
    if (h->n_ev == h->cap_ev) {
        h->cap_ev = h->cap_ev ? h->cap_ev * 2 : 256;
        h->ev = realloc(h->ev, h->cap_ev * sizeof *h->ev);
        ck_assert_ptr_nonnull(h->ev);
    }
    h->ev[h->n_ev++] = *e;
}

static void s_dispatch(void *ctx, void *user, const char *msg_id, int engine)
{
    fake_hub_t *h = ctx;
    fake_event_t e = {.kind = 'D', .engine = engine, .user = user};
    snprintf(e.msg_id, sizeof e.msg_id, "%s", msg_id);
    s_push(h, &e);
    h->n_dispatch++;
    if (h->on_dispatch)
        h->on_dispatch(h, msg_id, engine);
}

static void s_finish(void *ctx, void *user, const char *msg_id, sched_outcome_t why,
                     const char *ename, const char *evalue)
{
    fake_hub_t *h = ctx;
    fake_event_t e = {.kind = 'F', .engine = -1, .why = why, .user = user};
    snprintf(e.msg_id, sizeof e.msg_id, "%s", msg_id);
    snprintf(e.ename, sizeof e.ename, "%s", ename);
    snprintf(e.evalue, sizeof e.evalue, "%s", evalue);
    s_push(h, &e);
    snprintf(h->last_evalue, sizeof h->last_evalue, "%s", evalue);
    h->n_finish++;
    if (h->on_finish)
        h->on_finish(h, msg_id, why);
}

static sched_lookup_t s_lookup(void *ctx, const char *msg_id, int *engine)
{
    fake_hub_t *h = ctx;
    h->n_lookups++;
    for (size_t i = 0; i < h->n_db; i++) {
        if (strcmp(h->db[i].id, msg_id) == 0) {
            *engine = h->db[i].engine;
            return h->db[i].state;
        }
    }
    return SCHED_LOOKUP_UNKNOWN;
}

static int64_t s_now(void *ctx)
{
    return ((fake_hub_t *)ctx)->now;
}

fake_hub_t *fake_new(const sched_config_t *cfg)
{
    fake_hub_t *h = calloc(1, sizeof *h);
    ck_assert_ptr_nonnull(h);
    h->record = true;
    h->now = 1000000;
    sched_ops_t ops = {s_dispatch, s_finish, s_lookup, s_now};
    h->sched = sched_new(cfg, &ops, h);
    ck_assert_ptr_nonnull(h->sched);
    return h;
}

void fake_destroy(fake_hub_t **h_p)
{
    fake_hub_t *h = *h_p;
    if (!h)
        return;
    sched_destroy(&h->sched);
    ck_assert_ptr_null(h->sched);
    free(h->ev);
    free(h->db);
    free(h);
    *h_p = NULL;
}

void fake_db(fake_hub_t *h, const char *id, sched_lookup_t state, int engine)
{
    for (size_t i = 0; i < h->n_db; i++) {
        if (strcmp(h->db[i].id, id) == 0) {
            h->db[i].state = state;
            h->db[i].engine = engine;
            return;
        }
    }
    h->db = realloc(h->db, (h->n_db + 1) * sizeof *h->db);
    ck_assert_ptr_nonnull(h->db);
    snprintf(h->db[h->n_db].id, sizeof h->db[h->n_db].id, "%s", id);
    h->db[h->n_db].state = state;
    h->db[h->n_db].engine = engine;
    h->n_db++;
}

void fake_reset(fake_hub_t *h)
{
    h->n_ev = 0;
}

void fake_engines(fake_hub_t *h, int n)
{
    for (int i = 0; i < n; i++)
        ck_assert_int_eq(sched_engine_add(h->sched, i), IPP_OK);
}

sched_spec_t fake_task(const char *id)
{
    sched_spec_t s = {0};
    s.msg_id = id;
    s.queue = SCHED_QUEUE_TASK;
    s.user = (void *)id;
    return s;
}

sched_spec_t fake_mux(const char *id, int engine)
{
    sched_spec_t s = fake_task(id);
    s.queue = SCHED_QUEUE_MUX;
    s.engine = engine;
    return s;
}

ipp_err_t fake_submit(fake_hub_t *h, const char *id)
{
    sched_spec_t s = fake_task(id);
    return sched_submit(h->sched, &s);
}

ipp_err_t fake_submit_after(fake_hub_t *h, const char *id, const char *const *ids, size_t n)
{
    sched_spec_t s = fake_task(id);
    s.after = SCHED_DEP(ids, n);
    return sched_submit(h->sched, &s);
}

int fake_where(const fake_hub_t *h, const char *id)
{
    for (size_t i = h->n_ev; i-- > 0;)
        if (h->ev[i].kind == 'D' && strcmp(h->ev[i].msg_id, id) == 0)
            return h->ev[i].engine;
    return -1;
}

size_t fake_dispatches(const fake_hub_t *h, const char *id)
{
    size_t n = 0;
    for (size_t i = 0; i < h->n_ev; i++)
        if (h->ev[i].kind == 'D' && strcmp(h->ev[i].msg_id, id) == 0)
            n++;
    return n;
}

const fake_event_t *fake_finished(const fake_hub_t *h, const char *id)
{
    for (size_t i = 0; i < h->n_ev; i++)
        if (h->ev[i].kind == 'F' && strcmp(h->ev[i].msg_id, id) == 0)
            return &h->ev[i];
    return NULL;
}

long fake_index(const fake_hub_t *h, char kind, const char *id)
{
    for (size_t i = 0; i < h->n_ev; i++)
        if (h->ev[i].kind == kind && strcmp(h->ev[i].msg_id, id) == 0)
            return (long)i;
    return -1;
}

static ipp_err_t s_result(fake_hub_t *h, const char *id, bool ok)
{
    int engine = -1;
    sched_state_t st = sched_task_state(h->sched, id, &engine);
    ck_assert_msg(st == SCHED_STATE_RUNNING, "%s is not running (state %d)", id, (int)st);
    return sched_result(h->sched, id, ok, engine, NULL);
}

ipp_err_t fake_ok(fake_hub_t *h, const char *id)
{
    return s_result(h, id, true);
}

ipp_err_t fake_fail(fake_hub_t *h, const char *id)
{
    return s_result(h, id, false);
}
