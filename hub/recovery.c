/* recovery.c — a controller started on an existing task store.
 *
 * Every pending record comes back into memory with its request, buffers
 * and dependencies, in submission order. Tasks that had never been sent to
 * an engine are scheduled at once. Tasks that had been sent are held for a
 * grace period: an engine that still runs one, or still holds its result,
 * reports it when it registers and the task is adopted where it is; what
 * nobody claims by the end of the grace period is scheduled again. So
 * execution is at least once, and recording exactly once.
 */
#include "hub/hub.h"

#include "db/reader.h"
#include "proto/clock.h"
#include "proto/grow.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// s_task_from: a pending task rebuilt from its record; NULL if the request
// does not decode (err says so) or memory runs out.
static hub_task_t *s_task_from(hub_t *hub, const db_record_t *rec, ipp_error_t *err)
{
    hub_task_t *task = hub_task_new(hub);
    if (!task) {
        ipp_error_set(err, IPP_ERR_NOMEM, "no memory");
        return NULL;
    }
    snprintf(task->msg_id, sizeof task->msg_id, "%s", rec->msg_id);
    task->attempts = rec->attempts;
    if (rec->submitted_by) {
        snprintf(task->by, sizeof task->by, "%s", rec->submitted_by);
        task->by_key = rec->submitted_by_key == 1;
    }
    // Clients use their session uuid as routing id: if the submitter is
    // connected again, it gets the result.
    if (rec->client_uuid && strlen(rec->client_uuid) <= sizeof task->client) {
        task->client_len = strlen(rec->client_uuid);
        memcpy(task->client, rec->client_uuid, task->client_len);
    }
    task->req = rec->content.data
                    ? ipp__task_request__unpack(NULL, rec->content.size, rec->content.data)
                    : NULL;
    if (!task->req) {
        ipp_error_set(err, IPP_ERR_BAD_CONTENT, "the recorded request of %s does not decode",
                      rec->msg_id);
        hub_task_free(hub, task);
        return NULL;
    }
    size_t nb = rec->buffers.n;
    if (nb) {
        if (!hub_task_bufs(task, nb)) {
            hub_task_free(hub, task);
            ipp_error_set(err, IPP_ERR_NOMEM, "no memory");
            return NULL;
        }
        for (size_t i = 0; i < nb; i++) {
            zmq_msg_init_size(&task->bufs[i], rec->buffers.v[i].size);
            if (rec->buffers.v[i].size)
                memcpy(zmq_msg_data(&task->bufs[i]), rec->buffers.v[i].data,
                       rec->buffers.v[i].size);
        }
        task->n_bufs = nb;
    }
    return task;
}

// s_schedule: hand task to the scheduler (or fail it if it refuses).
static void s_schedule(hub_t *hub, hub_task_t *task)
{
    sched_spec_t spec;
    hub_task_spec(task, &spec);
    task->in_sched = true;
    task->held = false;
    if (sched_submit(hub->sched, &spec) != IPP_OK) {
        task->in_sched = false;
        hub_task_fail_now(hub, task, IPP__STATUS__UNREACHABLE, "InvalidDependency",
                          "the scheduler refused the recovered task");
    }
}

ipp_err_t hub_recover(hub_t *hub, ipp_error_t *err)
{
    db_cursor_t *cur = db_reader_pending(hub_store_reader(hub->store), err);
    if (!cur)
        return err->code;
    size_t n = 0, held = 0, broken = 0;
    ipp_err_t rc = IPP_OK;
    for (;;) {
        db_record_t *rec = NULL;
        if ((rc = db_cursor_next(cur, &rec, err)) != IPP_OK || !rec)
            break;
        ipp_error_t terr;
        hub_task_t *task = s_task_from(hub, rec, &terr);
        bool was_sent = !(rec->nulls & DB_KEYBIT(DB_KEY_ENGINE_ID)) && rec->engine_id >= 0;
        if (!task) {
            // A record we cannot run: finish it with the reason rather
            // than leave it pending forever.
            IPP_LOGE(hub->log, "pending task %s cannot be recovered: %s", rec->msg_id, terr.msg);
            hub_task_t stub = {0};
            snprintf(stub.msg_id, sizeof stub.msg_id, "%s", rec->msg_id);
            hub_store_fail(hub->store, &stub, IPP__STATUS__ERROR, "RecoveryError", terr.msg,
                           ipp_clock_now_us());
            db_record_destroy(&rec);
            broken++;
            continue;
        }
        db_record_destroy(&rec);
        if (ipp_strmap_put(hub->tasks, task->msg_id, task) != 0) {
            hub_task_free(hub, task);
            rc = ipp_error_set(err, IPP_ERR_NOMEM, "no memory to recover pending tasks");
            break;
        }
        n++;
        if (was_sent) {
            task->held = true;
            held++;
        } else {
            s_schedule(hub, task);
        }
    }
    db_cursor_destroy(&cur);
    if (rc != IPP_OK)
        return rc;
    if (held) {
        hub->recovering = true;
        hub->grace_until = ipp_clock_mono_us() + hub->cfg.grace_us;
    }
    if (n || broken)
        IPP_LOGI(hub->log,
                 "recovered %zu pending tasks (%zu were running: engines have %.1f s to claim "
                 "them); %zu could not be recovered",
                 n, held, (double)hub->cfg.grace_us / 1e6, broken);
    return IPP_OK;
}

typedef struct {
    hub_task_t **v;  // held tasks
    size_t n;        // how many
    size_t cap;      // allocated
} s_held_t;

static void s_gather(void *arg, const char *key, void *value)
{
    (void)key;
    s_held_t *h = arg;
    hub_task_t *task = value;
    if (!task->held)
        return;
    if (IPP_GROW(h->v, h->cap, h->n + 1, 64) != 0)
        return;
    h->v[h->n++] = task;
}

void hub_recovery_end(hub_t *hub)
{
    hub->recovering = false;
    // Gather first: scheduling may finish (and free) tasks.
    s_held_t h = {0};
    ipp_strmap_each(hub->tasks, s_gather, &h);
    if (h.n)
        IPP_LOGI(hub->log, "grace period over: %zu tasks no engine claimed run again", h.n);
    for (size_t i = 0; i < h.n; i++)
        s_schedule(hub, h.v[i]);
    free(h.v);
}
