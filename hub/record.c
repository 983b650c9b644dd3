/* record.c — the controller's task record (hub_task_t): where it comes
 * from (hub_t.task_pool: no malloc per task), its buffer arrays (inline
 * for a few), who watches it, its scheduler spec, freeing its result and
 * itself. A leaf: used by tasks.c, deliver.c, queries.c and recovery.c,
 * calling none of them.
 */
#include "hub/hub.h"

#include <stdlib.h>
#include <string.h>

hub_task_t *hub_task_new(hub_t *hub)
{
    hub_task_t *task = ipp_pool_alloc(&hub->task_pool);
    if (task)
        task->engine = -1;
    return task;
}

// s_bufs: an array of n frames for *bufs_p: inl (HUB_TASK_BUFS long) when
// it will do, else from the heap. false when out of memory.
static bool s_bufs(zmq_msg_t **bufs_p, zmq_msg_t *inl, size_t n)
{
    if (n == 0) {
        *bufs_p = NULL;
        return true;
    }
    zmq_msg_t *v = n <= HUB_TASK_BUFS ? inl : calloc(n, sizeof *v);
    if (!v)
        return false;
    *bufs_p = v;
    return true;
}

bool hub_task_bufs(hub_task_t *task, size_t n)
{
    return s_bufs(&task->bufs, task->bufs_inline, n);
}

bool hub_task_rbufs(hub_task_t *task, size_t n)
{
    return s_bufs(&task->rbufs, task->rbufs_inline, n);
}

void hub_task_free_bufs(hub_task_t *task, zmq_msg_t **bufs_p)
{
    if (*bufs_p != task->bufs_inline && *bufs_p != task->rbufs_inline)
        free(*bufs_p);
    *bufs_p = NULL;
}

void hub_task_watch(hub_task_t *task, const wire_frame_t *ident)
{
    if (!ident || ident->size > sizeof task->watchers[0].ident)
        return;
    if (task->client_len == ident->size && memcmp(task->client, ident->data, ident->size) == 0)
        return;  // the submitter gets TASK_RESULT anyway
    for (size_t i = 0; i < task->n_watchers; i++)
        if (task->watchers[i].len == ident->size &&
            memcmp(task->watchers[i].ident, ident->data, ident->size) == 0)
            return;
    hub_watcher_t *v = realloc(task->watchers, (task->n_watchers + 1) * sizeof *v);
    if (!v)
        return;  // the subscription still has its chance
    task->watchers = v;
    memcpy(v[task->n_watchers].ident, ident->data, ident->size);
    v[task->n_watchers].len = ident->size;
    task->n_watchers++;
}

// hub_task_result_drop: free task's result and its buffers, if any, and leave
// it without. The one place a TaskResult the hub holds is freed: one taken
// from an engine's message (hub_task_result) or built like an unpacked one
// (hub_task_fail_now).
void hub_task_result_drop(hub_task_t *task)
{
    if (task->result)
        ipp__task_result__free_unpacked(task->result, NULL);
    task->result = NULL;
    for (size_t i = 0; i < task->n_rbufs; i++)
        zmq_msg_close(&task->rbufs[i]);
    hub_task_free_bufs(task, &task->rbufs);
    task->n_rbufs = 0;
}

void hub_task_free(hub_t *hub, hub_task_t *task)
{
    if (!task)
        return;
    free(task->watchers);
    if (task->req)
        ipp__task_request__free_unpacked(task->req, NULL);
    for (size_t i = 0; i < task->n_bufs; i++)
        zmq_msg_close(&task->bufs[i]);
    hub_task_free_bufs(task, &task->bufs);
    hub_task_result_drop(task);
    ipp_pool_free(&hub->task_pool, task);
}

// s_dep: a scheduler dependency from a wire Dependency (pointers borrowed).
static sched_dep_t s_dep(const Ipp__Dependency *d)
{
    hub_dep_t h = hub_dep_read(d);
    return (sched_dep_t){h.ids, h.n, h.all, h.success, h.failure};
}

void hub_task_spec(const hub_task_t *task, sched_spec_t *spec)
{
    const Ipp__TaskRequest *r = task->req;
    memset(spec, 0, sizeof *spec);
    spec->msg_id = task->msg_id;
    spec->user = (void *)task;
    if (r->queue == IPP__QUEUE__QUEUE_MUX) {
        spec->queue = SCHED_QUEUE_MUX;
        spec->engine = r->n_targets ? r->targets[0] : -1;
    } else {
        spec->queue = SCHED_QUEUE_TASK;
        spec->targets = r->n_targets ? r->targets : NULL;
        spec->n_targets = r->n_targets;
    }
    spec->after = s_dep(r->after);
    spec->follow = s_dep(r->follow);
    spec->timeout_us = r->has_timeout_us ? r->timeout_us : 0;
    spec->retries = (r->has_retries && r->retries > 0) ? (uint32_t)r->retries : 0;
}
