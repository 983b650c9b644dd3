/* queries.c — the hub side of the client: AsyncHubResults and the
 * controller queries (result_status, queue_status, purge, resubmit,
 * db_query, history, abort, clear, shutdown, load).
 *
 * An AsyncHubResult never polls. For each id it subscribes to
 * done.<msg_id> first, then sends one RESULT_REQUEST (records = true);
 * completed records fill tasks at once, and a task still pending is asked
 * for again only when its done notification arrives (re-asks are batched
 * into one request per spin). Replies are unpacked and freed in this file;
 * what callers receive are plain copies they own (ipp_strv_t, ipp_intv_t,
 * structs with _fini).
 */
#include "client/internal.h"
#include "proto/grow.h"

#include <ctype.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(sizeof(int) == sizeof(int32_t), "engine ids are passed as int32 arrays");

// s_strv_from: copy n strings into out. IPP_ERR_NOMEM.
static ipp_err_t s_strv_from(char *const *v, size_t n, ipp_strv_t *out)
{
    if (!out)
        return IPP_OK;
    out->v = NULL;
    out->n = 0;
    if (!n)
        return IPP_OK;
    out->v = cl_strv_dup(v, n);
    if (!out->v)
        return IPP_ERR_NOMEM;
    out->n = n;
    return IPP_OK;
}

// s_intv_from: copy n ints into out. IPP_ERR_NOMEM.
static ipp_err_t s_intv_from(const int32_t *v, size_t n, ipp_intv_t *out)
{
    if (!out)
        return IPP_OK;
    out->v = NULL;
    out->n = 0;
    if (!n)
        return IPP_OK;
    out->v = malloc(n * sizeof *out->v);
    if (!out->v)
        return IPP_ERR_NOMEM;
    for (size_t i = 0; i < n; i++)
        out->v[i] = v[i];
    out->n = n;
    return IPP_OK;
}

static ipp_err_t s_nomem(ipp_error_t *err, const char *what)
{
    return ipp_error_set(err, IPP_ERR_NOMEM, "%s: out of memory", what);
}

// s_client_ok: the common argument check.
static ipp_err_t s_client_ok(const ipp_client_t *c, const void *list, size_t n, const char *what,
                             ipp_error_t *err)
{
    if (!c)
        return ipp_error_set(err, IPP_ERR_INVALID, "%s: no client", what);
    if (n && !list)
        return ipp_error_set(err, IPP_ERR_INVALID, "%s: %zu items but no list", what, n);
    return IPP_OK;
}

// ------------------------------------------------------ AsyncHubResults

// s_queue_reask: ask for id again at the end of this spin.
static void s_queue_reask(ipp_client_t *c, const char *id)
{
    if (IPP_GROW(c->reask, c->cap_reask, c->n_reask + 1, 64) != 0) {
        IPP_LOGE(&c->log, "client: no memory to ask again for %s", id);
        return;
    }
    snprintf(c->reask[c->n_reask++], sizeof(cl_id_t), "%s", id);
}

// s_hub_pending: a hub task with this id waits in the index.
static bool s_hub_pending(ipp_client_t *c, const char *id)
{
    for (cl_task_t *t = cl_index_find(&c->index, id); t; t = t->next_same)
        if (t->hub && !t->done)
            return true;
    return false;
}

// s_send_result_request: one RESULT_REQUEST (records) for ids, remembered
// as a hub request.
static ipp_err_t s_send_result_request(ipp_client_t *c, char **ids, size_t n, const cl_id_t *copy,
                                       ipp_error_t *err)
{
    Ipp__ResultRequest req = IPP__RESULT_REQUEST__INIT;
    req.n_msg_ids = n;
    req.msg_ids = ids;
    req.has_records = 1;
    req.records = 1;
    cl_id_t sent;
    ipp_err_t rc = cl_send(c, IPP__MSG_TYPE__RESULT_REQUEST, &req.base, NULL, 0, NULL, sent, err);
    if (rc != IPP_OK)
        return rc;
    if (cl_hubreq_add(c, sent, copy, n) != IPP_OK)
        IPP_LOGE(&c->log, "client: no memory to remember request %s", sent);
    return IPP_OK;
}

void cl_flush_reasks(ipp_client_t *c)
{
    if (!c->n_reask)
        return;
    size_t n = c->n_reask;
    char **ids = malloc(n * sizeof *ids);
    cl_id_t *copy = malloc(n * sizeof *copy);
    if (!ids || !copy) {
        free(ids);
        free(copy);
        IPP_LOGE(&c->log, "client: no memory to ask again for %zu results", n);
        return;
    }
    memcpy(copy, c->reask, n * sizeof *copy);
    c->n_reask = 0;
    for (size_t i = 0; i < n; i++)
        ids[i] = copy[i];
    ipp_error_t e;
    if (s_send_result_request(c, ids, n, copy, &e) != IPP_OK)
        IPP_LOGW(&c->log, "client: cannot ask again for %zu results: %s", n, e.msg);
    free(ids);
    free(copy);
}

void cl_on_task_done(ipp_client_t *c, const Ipp__TaskDone *d)
{
    if (!d->msg_id || !s_hub_pending(c, d->msg_id))
        return;
    s_queue_reask(c, d->msg_id);
}

void cl_on_result_reply(ipp_client_t *c, wire_msg_t *m)
{
    const Ipp__ResultReply *r = (const Ipp__ResultReply *)m->content;
    size_t nb = wire_msg_n_buffers(m);
    size_t cursor = 0;
    for (size_t i = 0; i < r->n_records; i++) {
        const Ipp__TaskRecord *rec = r->records[i];
        size_t cnt =
            (rec->has_result_buffers && rec->result_buffers > 0) ? (size_t)rec->result_buffers : 0;
        if (cursor + cnt > nb) {
            IPP_LOGW(&c->log, "client: record %s claims %zu buffers, %zu left",
                     rec->msg_id ? rec->msg_id : "-", cnt, nb - cursor);
            cnt = nb - cursor;
        }
        for (cl_task_t *t = cl_index_find(&c->index, rec->msg_id); t;) {
            cl_task_t *next = t->next_same;
            if (t->hub && !t->done)
                cl_task_take_record(c, t, rec, m, cursor, cnt, false);
            t = next;
        }
        cursor += cnt;
    }
    for (size_t i = 0; i < r->n_unknown; i++) {
        for (cl_task_t *t = cl_index_find(&c->index, r->unknown[i]); t;) {
            cl_task_t *next = t->next_same;
            if (t->hub && !t->done) {
                char why[96];
                snprintf(why, sizeof why, "no such msg_id %s", t->msg_id);
                cl_task_fail(c, t, IPP_STATUS_UNKNOWN, IPP_ERR_NOT_FOUND, "KeyError", why);
            }
            t = next;
        }
    }
    // Completed but no record came with it: ask once more.
    for (size_t i = 0; i < r->n_completed; i++) {
        bool ask = false;
        for (cl_task_t *t = cl_index_find(&c->index, r->completed[i]); t; t = t->next_same) {
            if (t->hub && !t->done && !t->reasked) {
                t->reasked = 1;
                ask = true;
            }
        }
        if (ask)
            s_queue_reask(c, r->completed[i]);
    }
}

void cl_on_hub_error(ipp_client_t *c, cl_hubreq_t *req, const Ipp__ErrorReply *er)
{
    ipp_error_t e;
    ipp_err_t code = cl_error_from_reply(er, "result request", &e);
    for (size_t i = 0; i < req->n; i++) {
        for (cl_task_t *t = cl_index_find(&c->index, req->ids[i]); t;) {
            cl_task_t *next = t->next_same;
            if (t->hub && !t->done)
                cl_task_fail(c, t, IPP_STATUS_REFUSED, code,
                             er->ename ? er->ename : "ResultRequestFailed", e.msg);
            t = next;
        }
    }
}

ipp_ar_t *ipp_client_get_result(ipp_client_t *c, const char *const *ids, size_t n, ipp_error_t *err)
{
    if (s_client_ok(c, ids, n, "get_result", err) != IPP_OK)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (!ipp_msgid_valid(ids[i])) {
            ipp_error_set(err, IPP_ERR_INVALID, "get_result: \"%s\" is not a msg_id",
                          ids[i] ? ids[i] : "(null)");
            return NULL;
        }
    }
    ipp_ar_t *ar = cl_ar_new(c, n, true);
    char **req_ids = malloc((n ? n : 1) * sizeof *req_ids);
    cl_id_t *copy = malloc((n ? n : 1) * sizeof *copy);
    if (!ar || !req_ids || !copy) {
        free(req_ids);
        free(copy);
        ipp_ar_destroy(&ar);
        s_nomem(err, "get_result");
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        cl_task_t *t = &ar->tasks[i];
        for (size_t k = 0; k <= IPP_MSGID_LEN; k++)
            t->msg_id[k] = (char)tolower((unsigned char)ids[i][k]);
        memcpy(copy[i], t->msg_id, sizeof copy[i]);
        req_ids[i] = t->msg_id;
        // Subscribe before asking: a completion between the reply and the
        // subscription would otherwise never be heard of.
        cl_subscribe_done(c, t->msg_id, true);
        t->subscribed = 1;
        if (cl_index_add(&c->index, t) != IPP_OK)
            cl_task_fail(c, t, IPP_STATUS_REFUSED, IPP_ERR_NOMEM, "MemoryError",
                         "no memory to track the task");
    }
    ipp_err_t rc = n ? s_send_result_request(c, req_ids, n, copy, err) : IPP_OK;
    free(req_ids);
    free(copy);
    if (rc != IPP_OK) {
        ipp_ar_destroy(&ar);
        return NULL;
    }
    return ar;
}

// -------------------------------------------------------------- queries

ipp_err_t ipp_client_result_status(ipp_client_t *c, const char *const *ids, size_t n,
                                   ipp_result_status_t *out, ipp_error_t *err)
{
    ipp_err_t rc = s_client_ok(c, ids, n, "result_status", err);
    if (rc != IPP_OK)
        return rc;
    if (out)
        memset(out, 0, sizeof *out);
    Ipp__ResultRequest req = IPP__RESULT_REQUEST__INIT;
    req.n_msg_ids = n;
    req.msg_ids = (char **)ids;
    req.has_records = 1;
    req.records = 0;
    wire_msg_t reply;
    rc = cl_request(c, IPP__MSG_TYPE__RESULT_REQUEST, &req.base, IPP__MSG_TYPE__RESULT_REPLY,
                    &reply, err);
    if (rc != IPP_OK)
        return rc;
    const Ipp__ResultReply *r = (const Ipp__ResultReply *)reply.content;
    if (out && (s_strv_from(r->pending, r->n_pending, &out->pending) != IPP_OK ||
                s_strv_from(r->completed, r->n_completed, &out->completed) != IPP_OK ||
                s_strv_from(r->unknown, r->n_unknown, &out->unknown) != IPP_OK)) {
        ipp_result_status_fini(out);
        rc = s_nomem(err, "result_status");
    }
    wire_msg_fini(&reply);
    return rc;
}

void ipp_result_status_fini(ipp_result_status_t *rs)
{
    if (!rs)
        return;
    ipp_strv_fini(&rs->pending);
    ipp_strv_fini(&rs->completed);
    ipp_strv_fini(&rs->unknown);
}

void ipp_queue_status_fini(ipp_queue_status_t *qs)
{
    if (!qs)
        return;
    for (size_t i = 0; i < qs->n_engines; i++) {
        ipp_strv_fini(&qs->engines[i].queued_ids);
        ipp_strv_fini(&qs->engines[i].running_ids);
    }
    free(qs->engines);
    ipp_strv_fini(&qs->unassigned_ids);
    free(qs->refused_messages);
    memset(qs, 0, sizeof *qs);
}

ipp_err_t ipp_client_queue_status(ipp_client_t *c, const int *targets, size_t n, bool verbose,
                                  ipp_queue_status_t *out, ipp_error_t *err)
{
    ipp_err_t rc = s_client_ok(c, targets, n, "queue_status", err);
    if (rc != IPP_OK)
        return rc;
    if (out)
        memset(out, 0, sizeof *out);
    Ipp__QueueStatusRequest req = IPP__QUEUE_STATUS_REQUEST__INIT;
    req.n_targets = n;
    req.targets = (int32_t *)targets;
    req.has_verbose = 1;
    req.verbose = verbose;
    wire_msg_t reply;
    rc = cl_request(c, IPP__MSG_TYPE__QUEUE_STATUS_REQUEST, &req.base,
                    IPP__MSG_TYPE__QUEUE_STATUS_REPLY, &reply, err);
    if (rc != IPP_OK)
        return rc;
    const Ipp__QueueStatusReply *r = (const Ipp__QueueStatusReply *)reply.content;
    if (out) {
        out->unassigned = r->has_unassigned ? r->unassigned : 0;
        out->curve = r->has_curve && r->curve;
        for (size_t i = 0; i < r->n_refusals; i++) {
            const Ipp__Refusals *f = r->refusals[i];
            int64_t v = f->has_count ? f->count : 0;
            const char *why = f->reason ? f->reason : "";
            if (strcmp(why, "unknown key") == 0)
                out->refused_unknown_key = v;
            else if (strcmp(why, "wrong socket") == 0)
                out->refused_wrong_socket = v;
            else if (strcmp(why, "revoked") == 0)
                out->refused_revoked = v;
            else if (strcmp(why, "not permitted") == 0)
                out->refused_denied = v;
            else if (rc == IPP_OK) {
                // A message the wire layer refused: kept by its reason.
                ipp_refusal_count_t *m =
                    realloc(out->refused_messages,
                            (out->n_refused_messages + 1) * sizeof *out->refused_messages);
                if (!m) {
                    rc = s_nomem(err, "queue_status");
                    continue;
                }
                out->refused_messages = m;
                m += out->n_refused_messages++;
                snprintf(m->reason, sizeof m->reason, "%s", why);
                m->count = v > 0 ? (uint64_t)v : 0;
            }
        }
        if (r->n_engines) {
            out->engines = calloc(r->n_engines, sizeof *out->engines);
            if (!out->engines)
                rc = s_nomem(err, "queue_status");
        }
        for (size_t i = 0; rc == IPP_OK && i < r->n_engines; i++) {
            const Ipp__EngineQueue *q = r->engines[i];
            ipp_engine_queue_t *e = &out->engines[i];
            out->n_engines = i + 1;
            e->engine_id = q->has_engine_id ? q->engine_id : -1;
            e->queued = q->has_queued ? q->queued : 0;
            e->running = q->has_running ? q->running : 0;
            e->completed = q->has_completed ? q->completed : 0;
            if (s_strv_from(q->queued_ids, q->n_queued_ids, &e->queued_ids) != IPP_OK ||
                s_strv_from(q->running_ids, q->n_running_ids, &e->running_ids) != IPP_OK)
                rc = s_nomem(err, "queue_status");
        }
        if (rc == IPP_OK &&
            s_strv_from(r->unassigned_ids, r->n_unassigned_ids, &out->unassigned_ids) != IPP_OK)
            rc = s_nomem(err, "queue_status");
        if (rc != IPP_OK)
            ipp_queue_status_fini(out);
    }
    wire_msg_fini(&reply);
    return rc;
}

ipp_err_t ipp_client_keys_reload(ipp_client_t *c, const char *const *names, size_t n, int *loaded,
                                 ipp_error_t *err)
{
    ipp_err_t rc = s_client_ok(c, names, n, "keys_reload", err);
    if (rc != IPP_OK)
        return rc;
    Ipp__KeysReloadRequest req = IPP__KEYS_RELOAD_REQUEST__INIT;
    req.n_names = n;
    req.names = (char **)names;
    wire_msg_t reply;
    rc = cl_request(c, IPP__MSG_TYPE__KEYS_RELOAD_REQUEST, &req.base,
                    IPP__MSG_TYPE__KEYS_RELOAD_REPLY, &reply, err);
    if (rc != IPP_OK)
        return rc;
    const Ipp__KeysReloadReply *r = (const Ipp__KeysReloadReply *)reply.content;
    if (loaded)
        *loaded = r->has_loaded ? r->loaded : 0;
    wire_msg_fini(&reply);
    return IPP_OK;
}

ipp_err_t ipp_client_purge_results(ipp_client_t *c, const char *const *ids, size_t n_ids, bool all,
                                   const int *engines, size_t n_engines, int64_t *purged,
                                   ipp_error_t *err)
{
    ipp_err_t rc = s_client_ok(c, ids, n_ids, "purge_results", err);
    if (rc == IPP_OK)
        rc = s_client_ok(c, engines, n_engines, "purge_results", err);
    if (rc != IPP_OK)
        return rc;
    if (purged)
        *purged = 0;
    if (!n_ids && !all && !n_engines)
        return ipp_error_set(err, IPP_ERR_INVALID,
                             "purge_results: give msg_ids, all, or engine ids");
    Ipp__PurgeRequest req = IPP__PURGE_REQUEST__INIT;
    req.n_msg_ids = n_ids;
    req.msg_ids = (char **)ids;
    req.has_all = 1;
    req.all = all;
    req.n_engine_ids = n_engines;
    req.engine_ids = (int32_t *)engines;
    wire_msg_t reply;
    rc = cl_request(c, IPP__MSG_TYPE__PURGE_REQUEST, &req.base, IPP__MSG_TYPE__PURGE_REPLY, &reply,
                    err);
    if (rc != IPP_OK)
        return rc;
    const Ipp__PurgeReply *r = (const Ipp__PurgeReply *)reply.content;
    if (purged)
        *purged = r->has_purged ? r->purged : 0;
    wire_msg_fini(&reply);
    return IPP_OK;
}

ipp_ar_t *ipp_client_resubmit(ipp_client_t *c, const char *const *ids, size_t n, ipp_error_t *err)
{
    if (s_client_ok(c, ids, n, "resubmit", err) != IPP_OK)
        return NULL;
    if (!n) {
        ipp_error_set(err, IPP_ERR_INVALID, "resubmit: no msg_ids");
        return NULL;
    }
    Ipp__ResubmitRequest req = IPP__RESUBMIT_REQUEST__INIT;
    req.n_msg_ids = n;
    req.msg_ids = (char **)ids;
    wire_msg_t reply;
    if (cl_request(c, IPP__MSG_TYPE__RESUBMIT_REQUEST, &req.base, IPP__MSG_TYPE__RESUBMIT_REPLY,
                   &reply, err) != IPP_OK)
        return NULL;
    const Ipp__ResubmitReply *r = (const Ipp__ResubmitReply *)reply.content;
    // new_ids[i] replaces old_ids[i]; put them in the order the caller
    // named the old ones when the controller answered for each of them.
    size_t k = r->n_new_ids;
    const char **order = malloc((k ? k : 1) * sizeof *order);
    ipp_ar_t *ar = NULL;
    if (!order) {
        s_nomem(err, "resubmit");
        goto out;
    }
    for (size_t i = 0; i < k; i++)
        order[i] = r->new_ids[i];
    if (r->n_old_ids == k && k == n) {
        for (size_t i = 0; i < n; i++) {
            for (size_t j = 0; j < k; j++) {
                if (r->old_ids[j] && strcasecmp(r->old_ids[j], ids[i]) == 0) {
                    order[i] = r->new_ids[j];
                    break;
                }
            }
        }
    }
    ar = ipp_client_get_result(c, order, k, err);
out:
    free(order);
    wire_msg_fini(&reply);
    return ar;
}

// s_db_query: the DB_QUERY_REQUEST round trip; *reply on IPP_OK.
static ipp_err_t s_db_query(ipp_client_t *c, const char *query_json, const char *const *keys,
                            size_t n_keys, int64_t limit, int64_t offset, wire_msg_t *reply,
                            ipp_error_t *err)
{
    ipp_err_t rc = s_client_ok(c, keys, n_keys, "db_query", err);
    if (rc != IPP_OK)
        return rc;
    Ipp__DbQueryRequest req = IPP__DB_QUERY_REQUEST__INIT;
    req.query_json = (char *)(query_json ? query_json : "{}");
    req.n_keys = n_keys;
    req.keys = (char **)keys;
    if (limit > 0) {
        req.has_limit = 1;
        req.limit = limit;
    }
    if (offset > 0) {
        req.has_offset = 1;
        req.offset = offset;
    }
    return cl_request(c, IPP__MSG_TYPE__DB_QUERY_REQUEST, &req.base, IPP__MSG_TYPE__DB_QUERY_REPLY,
                      reply, err);
}

ipp_err_t ipp_client_db_query(ipp_client_t *c, const char *query_json, const char *const *keys,
                              size_t n_keys, int64_t limit, char **text, ipp_error_t *err)
{
    if (!text)
        return ipp_error_set(err, IPP_ERR_INVALID, "db_query: nowhere to put the rows");
    *text = NULL;
    // The controller answers in pages; they are joined here.
    char *all = NULL;
    size_t len = 0;
    int64_t offset = 0;
    ipp_err_t rc = IPP_OK;
    for (;;) {
        wire_msg_t reply;
        rc = s_db_query(c, query_json, keys, n_keys, limit, offset, &reply, err);
        if (rc != IPP_OK)
            break;
        const Ipp__DbQueryReply *r = (const Ipp__DbQueryReply *)reply.content;
        const char *page = r->records_json ? r->records_json : "";
        size_t pl = strlen(page);
        char *t = realloc(all, len + pl + 1);
        if (!t) {
            wire_msg_fini(&reply);
            rc = s_nomem(err, "db_query");
            break;
        }
        all = t;
        memcpy(all + len, page, pl + 1);
        len += pl;
        bool more = r->has_more && r->more && r->has_next_offset && r->next_offset > offset;
        offset = r->has_next_offset ? r->next_offset : offset;
        wire_msg_fini(&reply);
        if (!more)
            break;
    }
    if (rc != IPP_OK) {
        free(all);
        return rc;
    }
    *text = all;
    return IPP_OK;
}

ipp_err_t ipp_client_db_query_json(ipp_client_t *c, const char *query_json, const char *const *keys,
                                   size_t n_keys, int64_t limit, struct json_t **rows,
                                   ipp_error_t *err)
{
    if (!rows)
        return ipp_error_set(err, IPP_ERR_INVALID, "db_query: nowhere to put the rows");
    *rows = NULL;
    char *text = NULL;
    ipp_err_t rc = ipp_client_db_query(c, query_json, keys, n_keys, limit, &text, err);
    if (rc != IPP_OK)
        return rc;
    json_t *arr = json_array();
    if (!arr) {
        free(text);
        return s_nomem(err, "db_query");
    }
    size_t line = 0;
    for (char *p = text; *p;) {
        char *end = strchr(p, '\n');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        line++;
        size_t k = 0;
        while (k < len && isspace((unsigned char)p[k]))
            k++;
        if (k < len) {
            json_error_t je;
            json_t *o = json_loadb(p, len, 0, &je);
            if (!o || !json_is_object(o)) {
                json_decref(o);
                rc = ipp_error_set(err, IPP_ERR_BAD_CONTENT,
                                   "db_query: reply line %zu is not a JSON object: %s", line,
                                   o ? "not an object" : je.text);
                break;
            }
            if (json_array_append_new(arr, o) != 0) {
                rc = s_nomem(err, "db_query");
                break;
            }
        }
        p += len;
        if (*p == '\n')
            p++;
    }
    free(text);
    if (rc != IPP_OK) {
        json_decref(arr);
        return rc;
    }
    *rows = arr;
    return IPP_OK;
}

ipp_err_t ipp_client_find_label(ipp_client_t *c, const char *pattern, ipp_strv_t *out,
                                ipp_error_t *err)
{
    if (!out)
        return ipp_error_set(err, IPP_ERR_INVALID, "find_label: nowhere to put the ids");
    memset(out, 0, sizeof *out);
    if (!pattern || !pattern[0])
        return ipp_error_set(err, IPP_ERR_INVALID, "find_label: no pattern");
    // Built with jansson so the pattern is escaped, never pasted.
    json_t *q = json_pack("{s:{s:s}}", "label", "$glob", pattern);
    char *query = q ? json_dumps(q, JSON_COMPACT) : NULL;
    json_decref(q);
    if (!query)
        return s_nomem(err, "find_label");
    const char *keys[] = {"msg_id"};
    json_t *rows = NULL;
    ipp_err_t rc = ipp_client_db_query_json(c, query, keys, 1, 0, &rows, err);
    free(query);
    if (rc != IPP_OK)
        return rc;
    size_t n = json_array_size(rows);
    out->v = calloc(n ? n : 1, sizeof *out->v);
    if (!out->v) {
        json_decref(rows);
        return s_nomem(err, "find_label");
    }
    for (size_t i = 0; i < n; i++) {
        const char *id = json_string_value(json_object_get(json_array_get(rows, i), "msg_id"));
        if (!id)
            continue;
        if (!(out->v[out->n] = strdup(id))) {
            rc = s_nomem(err, "find_label");
            break;
        }
        out->n++;
    }
    json_decref(rows);
    if (rc != IPP_OK)
        ipp_strv_fini(out);
    return rc;
}

ipp_err_t ipp_client_history(ipp_client_t *c, ipp_strv_t *out, ipp_error_t *err)
{
    ipp_err_t rc = s_client_ok(c, NULL, 0, "history", err);
    if (rc != IPP_OK)
        return rc;
    if (out)
        memset(out, 0, sizeof *out);
    // The controller answers in pages; they are joined here.
    ipp_strv_t got = {0};
    int64_t offset = 0;
    for (;;) {
        Ipp__HistoryRequest req = IPP__HISTORY_REQUEST__INIT;
        if (offset > 0) {
            req.has_offset = 1;
            req.offset = offset;
        }
        wire_msg_t reply;
        rc = cl_request(c, IPP__MSG_TYPE__HISTORY_REQUEST, &req.base, IPP__MSG_TYPE__HISTORY_REPLY,
                        &reply, err);
        if (rc != IPP_OK)
            break;
        const Ipp__HistoryReply *r = (const Ipp__HistoryReply *)reply.content;
        ipp_strv_t page = {0};
        if (s_strv_from(r->msg_ids, r->n_msg_ids, &page) != IPP_OK) {
            wire_msg_fini(&reply);
            rc = s_nomem(err, "history");
            break;
        }
        char **v = page.n ? realloc(got.v, (got.n + page.n) * sizeof *v) : got.v;
        if (page.n && !v) {
            ipp_strv_fini(&page);
            wire_msg_fini(&reply);
            rc = s_nomem(err, "history");
            break;
        }
        if (page.n) {
            got.v = v;
            memcpy(got.v + got.n, page.v, page.n * sizeof *v);
            got.n += page.n;
        }
        free(page.v);  // its strings are got's now
        bool more = r->has_more && r->more && r->has_next_offset && r->next_offset > offset;
        offset = r->has_next_offset ? r->next_offset : offset;
        wire_msg_fini(&reply);
        if (!more)
            break;
    }
    if (rc != IPP_OK) {
        ipp_strv_fini(&got);
        return rc;
    }
    if (out)
        *out = got;
    else
        ipp_strv_fini(&got);
    return IPP_OK;
}

ipp_err_t ipp_client_abort(ipp_client_t *c, const char *const *ids, size_t n_ids,
                           const int *targets, size_t n_targets, ipp_strv_t *aborted,
                           ipp_strv_t *not_pending, ipp_error_t *err)
{
    ipp_err_t rc = s_client_ok(c, ids, n_ids, "abort", err);
    if (rc == IPP_OK)
        rc = s_client_ok(c, targets, n_targets, "abort", err);
    if (rc != IPP_OK)
        return rc;
    if (aborted)
        memset(aborted, 0, sizeof *aborted);
    if (not_pending)
        memset(not_pending, 0, sizeof *not_pending);
    Ipp__AbortRequest req = IPP__ABORT_REQUEST__INIT;
    req.n_msg_ids = n_ids;
    req.msg_ids = (char **)ids;
    req.n_targets = n_targets;
    req.targets = (int32_t *)targets;
    wire_msg_t reply;
    rc = cl_request(c, IPP__MSG_TYPE__ABORT_REQUEST, &req.base, IPP__MSG_TYPE__ABORT_REPLY, &reply,
                    err);
    if (rc != IPP_OK)
        return rc;
    const Ipp__AbortReply *r = (const Ipp__AbortReply *)reply.content;
    if (s_strv_from(r->aborted, r->n_aborted, aborted) != IPP_OK ||
        s_strv_from(r->not_pending, r->n_not_pending, not_pending) != IPP_OK) {
        ipp_strv_fini(aborted);
        ipp_strv_fini(not_pending);
        rc = s_nomem(err, "abort");
    }
    wire_msg_fini(&reply);
    return rc;
}

ipp_err_t ipp_client_clear(ipp_client_t *c, const int *targets, size_t n, ipp_intv_t *cleared,
                           ipp_error_t *err)
{
    ipp_err_t rc = s_client_ok(c, targets, n, "clear", err);
    if (rc != IPP_OK)
        return rc;
    if (cleared)
        memset(cleared, 0, sizeof *cleared);
    Ipp__ClearRequest req = IPP__CLEAR_REQUEST__INIT;
    req.n_targets = n;
    req.targets = (int32_t *)targets;
    wire_msg_t reply;
    rc = cl_request(c, IPP__MSG_TYPE__CLEAR_REQUEST, &req.base, IPP__MSG_TYPE__CLEAR_REPLY, &reply,
                    err);
    if (rc != IPP_OK)
        return rc;
    const Ipp__ClearReply *r = (const Ipp__ClearReply *)reply.content;
    if (s_intv_from(r->cleared, r->n_cleared, cleared) != IPP_OK)
        rc = s_nomem(err, "clear");
    wire_msg_fini(&reply);
    return rc;
}

ipp_err_t ipp_client_shutdown(ipp_client_t *c, const int *targets, size_t n, bool hub,
                              ipp_intv_t *stopping, bool *hub_stopping, ipp_error_t *err)
{
    ipp_err_t rc = s_client_ok(c, targets, n, "shutdown", err);
    if (rc != IPP_OK)
        return rc;
    if (stopping)
        memset(stopping, 0, sizeof *stopping);
    if (hub_stopping)
        *hub_stopping = false;
    Ipp__ShutdownRequest req = IPP__SHUTDOWN_REQUEST__INIT;
    req.n_targets = n;
    req.targets = (int32_t *)targets;
    req.has_hub = 1;
    req.hub = hub;
    wire_msg_t reply;
    rc = cl_request(c, IPP__MSG_TYPE__SHUTDOWN_REQUEST, &req.base, IPP__MSG_TYPE__SHUTDOWN_REPLY,
                    &reply, err);
    if (rc != IPP_OK)
        return rc;
    const Ipp__ShutdownReply *r = (const Ipp__ShutdownReply *)reply.content;
    if (hub_stopping)
        *hub_stopping = r->has_hub && r->hub;
    if (s_intv_from(r->stopping, r->n_stopping, stopping) != IPP_OK)
        rc = s_nomem(err, "shutdown");
    wire_msg_fini(&reply);
    return rc;
}

ipp_err_t ipp_client_load(ipp_client_t *c, const int *targets, size_t n, ipp_intv_t *engine_ids,
                          ipp_intv_t *outstanding, ipp_error_t *err)
{
    ipp_err_t rc = s_client_ok(c, targets, n, "load", err);
    if (rc != IPP_OK)
        return rc;
    if (engine_ids)
        memset(engine_ids, 0, sizeof *engine_ids);
    if (outstanding)
        memset(outstanding, 0, sizeof *outstanding);
    Ipp__LoadRequest req = IPP__LOAD_REQUEST__INIT;
    req.n_targets = n;
    req.targets = (int32_t *)targets;
    wire_msg_t reply;
    rc = cl_request(c, IPP__MSG_TYPE__LOAD_REQUEST, &req.base, IPP__MSG_TYPE__LOAD_REPLY, &reply,
                    err);
    if (rc != IPP_OK)
        return rc;
    const Ipp__LoadReply *r = (const Ipp__LoadReply *)reply.content;
    if (s_intv_from(r->engine_ids, r->n_engine_ids, engine_ids) != IPP_OK ||
        s_intv_from(r->outstanding, r->n_outstanding, outstanding) != IPP_OK) {
        ipp_intv_fini(engine_ids);
        ipp_intv_fini(outstanding);
        rc = s_nomem(err, "load");
    }
    wire_msg_fini(&reply);
    return rc;
}
