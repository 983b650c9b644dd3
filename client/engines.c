/* engines.c — the client's engine list.
 *
 * Owns the client's array of known engines (id order, uuid and hostname
 * strings) and keeps it current from three sources: the CONNECT_REPLY,
 * ENGINE_LIST_REPLYs, and ENGINE_EVENT notifications. Only this file
 * writes the array; views and the receive loop read it through
 * cl_engine_find and the public accessors. Waiting happens only through
 * cl_pump.
 */
#include "client/internal.h"
#include "proto/grow.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

// --------------------------------------------------------------- engines

const cl_engine_t *cl_engine_find(const ipp_client_t *c, int id)
{
    size_t lo = 0, hi = c->n_engines;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c->engines[mid].id == id)
            return &c->engines[mid];
        if (c->engines[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

void cl_engines_clear(ipp_client_t *c)
{
    for (size_t i = 0; i < c->n_engines; i++) {
        free(c->engines[i].uuid);
        free(c->engines[i].hostname);
        free(c->engines[i].tags);
    }
    c->n_engines = 0;
}

// s_engine_update: add or update the engine info says (as of seq),
// keeping id order.
static void s_engine_update(ipp_client_t *c, const Ipp__EngineInfo *info, bool alive, int64_t seq)
{
    if (!info || !info->has_engine_id)
        return;
    int id = info->engine_id;
    size_t pos = 0;
    while (pos < c->n_engines && c->engines[pos].id < id)
        pos++;
    cl_engine_t *e;
    if (pos < c->n_engines && c->engines[pos].id == id) {
        e = &c->engines[pos];
    } else {
        if (IPP_GROW(c->engines, c->cap_engines, c->n_engines + 1, 16) != 0) {
            IPP_LOGE(&c->log, "client: no memory to record engine %d", id);
            return;
        }
        memmove(&c->engines[pos + 1], &c->engines[pos],
                (c->n_engines - pos) * sizeof c->engines[0]);
        c->n_engines++;
        e = &c->engines[pos];
        memset(e, 0, sizeof *e);
        e->id = id;
    }
    // Keep what we knew when the event carries less.
    if (info->uuid || !e->uuid) {
        char *u = strdup(info->uuid ? info->uuid : "");
        if (u) {
            free(e->uuid);
            e->uuid = u;
        }
    }
    if (info->hostname || !e->hostname) {
        char *h = strdup(info->hostname ? info->hostname : "");
        if (h) {
            free(e->hostname);
            e->hostname = h;
        }
    }
    if (info->n_tags || !e->tags) {
        size_t len = 1;
        for (size_t i = 0; i < info->n_tags; i++)
            len += strlen(info->tags[i] ? info->tags[i] : "") + 1;
        char *t = malloc(len);
        if (t) {
            t[0] = '\0';
            for (size_t i = 0; i < info->n_tags; i++) {
                if (i)
                    strcat(t, ",");
                strcat(t, info->tags[i] ? info->tags[i] : "");
            }
            free(e->tags);
            e->tags = t;
        }
    }
    if (!e->uuid || !e->hostname || !e->tags) {
        // Out of memory with nothing to keep: drop the entry.
        free(e->uuid);
        free(e->hostname);
        free(e->tags);
        memmove(&c->engines[pos], &c->engines[pos + 1],
                (c->n_engines - pos - 1) * sizeof c->engines[0]);
        c->n_engines--;
        return;
    }
    if (info->has_pid)
        e->pid = info->pid;
    if (info->has_registered)
        e->registered = info->registered;
    e->alive = alive;
    e->seq = seq;
}

// cl_engines_replace: the list a CONNECT_REPLY or ENGINE_LIST_REPLY
// carries, made when the controller's last event had seq. An entry from an
// event after that (its ENGINE_EVENT overtook the reply, which travels on
// the other socket) is newer than the list and stays as it is.
void cl_engines_replace(ipp_client_t *c, Ipp__EngineInfo **infos, size_t n, int64_t seq)
{
    size_t kept = 0;
    for (size_t i = 0; i < c->n_engines; i++) {
        cl_engine_t *e = &c->engines[i];
        if (seq > 0 && e->seq > seq) {
            c->engines[kept++] = *e;
        } else {
            free(e->uuid);
            free(e->hostname);
            free(e->tags);
        }
    }
    c->n_engines = kept;
    for (size_t i = 0; i < n; i++) {
        const Ipp__EngineInfo *info = infos[i];
        if (info->has_engine_id && kept && cl_engine_find(c, info->engine_id))
            continue;  // heard of since
        s_engine_update(c, info, info->has_alive ? info->alive : true, seq);
    }
}

size_t ipp_client_ids(const ipp_client_t *c, int *out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < c->n_engines; i++) {
        if (!c->engines[i].alive)
            continue;
        if (out && n < max)
            out[n] = c->engines[i].id;
        n++;
    }
    return n;
}

size_t ipp_client_engines(const ipp_client_t *c, ipp_engine_info_t *out, size_t max)
{
    for (size_t i = 0; i < c->n_engines && out && i < max; i++) {
        const cl_engine_t *e = &c->engines[i];
        out[i] = (ipp_engine_info_t){e->id,         e->uuid,  e->hostname, e->pid,
                                     e->registered, e->alive, e->tags};
    }
    return c->n_engines;
}

// cl_on_engine_event: an engine registered or left.
void cl_on_engine_event(ipp_client_t *c, wire_msg_t *m)
{
    const Ipp__EngineEvent *ev = (const Ipp__EngineEvent *)m->content;
    if (!ev->engine)
        return;
    int64_t seq = ev->has_seq ? ev->seq : 0;
    const cl_engine_t *known =
        ev->engine->has_engine_id ? cl_engine_find(c, ev->engine->engine_id) : NULL;
    if (seq > 0 && known && known->seq >= seq)
        return;  // a list made after this event is already in
    if (ev->kind == IPP__ENGINE_EVENT__KIND__REGISTERED)
        s_engine_update(c, ev->engine, true, seq);
    else if (ev->kind == IPP__ENGINE_EVENT__KIND__UNREGISTERED)
        s_engine_update(c, ev->engine, false, seq);
}

ipp_err_t ipp_client_refresh_engines(ipp_client_t *c, ipp_error_t *err)
{
    Ipp__EngineListRequest req = IPP__ENGINE_LIST_REQUEST__INIT;
    wire_msg_t reply;
    ipp_err_t rc = cl_request(c, IPP__MSG_TYPE__ENGINE_LIST_REQUEST, &req.base,
                              IPP__MSG_TYPE__ENGINE_LIST_REPLY, &reply, err);
    if (rc != IPP_OK)
        return rc;
    const Ipp__EngineListReply *r = (const Ipp__EngineListReply *)reply.content;
    cl_engines_replace(c, r->engines, r->n_engines, r->has_seq ? r->seq : 0);
    wire_msg_fini(&reply);
    return IPP_OK;
}

// How often wait_for_engines asks for the list again while it waits.
#define S_RELIST_US 1000000

ipp_err_t ipp_client_wait_for_engines(ipp_client_t *c, size_t n, double timeout, ipp_error_t *err)
{
    if (!c)
        return ipp_error_set(err, IPP_ERR_INVALID, "wait_for_engines: no client");
    int64_t t = cl_timeout_us(timeout);
    int64_t deadline = t < 0 ? -1 : cl_mono_us() + t;
    // Engine events are heard only once the subscription is live at the
    // controller, which says so (SUBSCRIBED). The list asked for after
    // that covers every engine that came before; events cover the rest.
    // A list asked for earlier could miss an engine that registered
    // between the reply and the subscription reaching the controller.
    // Events are news, the list is the truth: a notification can still be
    // lost (a SUB drops what passes its high-water mark), so while short
    // of n the list is asked for again every S_RELIST_US.
    int64_t relist = -1;
    for (;;) {
        if (ipp_client_ids(c, NULL, 0) >= n)
            return IPP_OK;
        int64_t now = cl_mono_us();
        if (c->sub_epoch != c->list_epoch || (c->sub_epoch && relist >= 0 && now >= relist)) {
            uint32_t epoch = c->sub_epoch;
            ipp_err_t rc = ipp_client_refresh_engines(c, err);
            if (rc != IPP_OK)
                return rc;
            c->list_epoch = epoch;
            relist = cl_mono_us() + S_RELIST_US;
            continue;
        }
        int64_t left = deadline < 0 ? -1 : deadline - now;
        if (relist >= 0 && (left < 0 || relist - now < left))
            left = relist - now > 0 ? relist - now : 0;
        if (deadline >= 0 && deadline - now <= 0) {
            if (!c->sub_epoch)
                return ipp_error_set(err, IPP_ERR_TIMEOUT,
                                     "wait_for_engines: %zu of %zu engines after %.1f s; the "
                                     "controller at %s never confirmed the notification "
                                     "subscription on %s",
                                     ipp_client_ids(c, NULL, 0), n, timeout, c->endpoint,
                                     c->notify_endpoint);
            return ipp_error_set(err, IPP_ERR_TIMEOUT,
                                 "wait_for_engines: %zu of %zu engines after %.1f s",
                                 ipp_client_ids(c, NULL, 0), n, timeout);
        }
        ipp_err_t rc = cl_pump(c, left, err);
        if (rc != IPP_OK)
            return rc;
    }
}
