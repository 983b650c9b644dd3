/* engines.c — the controller's side of the engine conversation.
 *
 * Registration (engine uuid → stable id from the task store; at most
 * --max-engines at once, one per connection), heartbeats (echoed, so
 * engines know the controller lives; silence for `misses` periods means
 * death; the first one after a registration makes the engine schedulable:
 * until then the scheduler holds it), results, unmet-dependency answers,
 * leaving, and telling engines to stop. Sending tasks is the scheduler's side
 * (tasks.c). Owns nothing: engines live in hub->engines, tasks in
 * hub->tasks.
 */
#include "hub/hub.h"

#include "proto/clock.h"
#include "proto/codec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void hub_engine_info(const hub_engine_t *e, Ipp__EngineInfo *out, bool alive)
{
    ipp__engine_info__init(out);
    out->has_engine_id = 1;
    out->engine_id = e->id;
    out->uuid = (char *)e->uuid;
    out->hostname = (char *)e->hostname;
    out->has_pid = 1;
    out->pid = e->pid;
    out->n_tags = e->n_tags;
    out->tags = e->tags;
    out->n_functions = e->n_functions;
    out->functions = e->functions;
    out->has_registered = 1;
    out->registered = e->registered;
    out->has_alive = 1;
    out->alive = alive;
}

static void s_announce(hub_t *hub, const hub_engine_t *e, bool up)
{
    Ipp__EngineEvent ev = IPP__ENGINE_EVENT__INIT;
    Ipp__EngineInfo info;
    hub_engine_info(e, &info, up);
    ev.has_kind = 1;
    ev.kind = up ? IPP__ENGINE_EVENT__KIND__REGISTERED : IPP__ENGINE_EVENT__KIND__UNREGISTERED;
    ev.engine = &info;
    // A clock, not a counter, so it keeps rising over a restart.
    int64_t now = ipp_clock_now_us();
    hub->engines_seq = now > hub->engines_seq ? now : hub->engines_seq + 1;
    ev.has_seq = 1;
    ev.seq = hub->engines_seq;
    hub_publish(hub, "engine", IPP__MSG_TYPE__ENGINE_EVENT, &ev.base, true);
}

// s_engine_gone: engine e is dead or left: its tasks are retried or fail,
// it is announced and forgotten.
static void s_engine_gone(hub_t *hub, hub_engine_t *e, const char *why)
{
    int id = e->id;
    // Results it sent that are being recorded stand: those tasks were
    // released (sched_release) and are not lost with it.
    IPP_LOGW(hub->log, "engine %d (%s) unregistered: %s", id, e->uuid, why);
    hub_store_engine_gone(hub->store, e->uuid, ipp_clock_now_us());
    s_announce(hub, e, false);
    hub_registry_remove(hub->engines, id);
    // Last: the scheduler's callbacks may look engines up.
    sched_engine_remove(hub->sched, id);
}

// s_engine_restart: a new process registers with old's uuid: old is
// announced gone and forgotten by the registry, but the scheduler keeps
// the engine (held) with the tasks the new process reports; the others
// are lost (retried or failed). Returns old's id.
static int s_engine_restart(hub_t *hub, hub_engine_t *old, const Ipp__RegistrationRequest *req)
{
    int id = old->id;
    IPP_LOGW(hub->log, "engine %d (%s) unregistered: a new process registered with its uuid", id,
             old->uuid);
    size_t n = req->n_running + req->n_finished, k = 0;
    const char **keep = n ? calloc(n, sizeof *keep) : NULL;
    for (size_t i = 0; keep && i < n; i++) {
        const char *mid = i < req->n_running ? req->running[i] : req->finished[i - req->n_running];
        hub_task_t *task = mid ? ipp_strmap_get(hub->tasks, mid) : NULL;
        if (task && task->engine == id && task->in_sched && !task->result)
            keep[k++] = mid;
    }
    hub_store_engine_gone(hub->store, old->uuid, ipp_clock_now_us());
    s_announce(hub, old, false);
    hub_registry_remove(hub->engines, id);
    // Last: the scheduler's callbacks may look engines up. Without memory
    // for the list, nothing is kept: those tasks are lost as with a death.
    sched_engine_restart(hub->sched, id, keep, k);
    if (k)
        IPP_LOGI(hub->log, "engine %d: the new process holds %zu of its tasks: kept", id, k);
    free(keep);
    return id;
}

// s_adopt: after a restart, engine e says it holds msg_id (running, or
// finished with the result not yet acknowledged).
static void s_adopt(hub_t *hub, hub_engine_t *e, const char *msg_id)
{
    hub_task_t *task = ipp_strmap_get(hub->tasks, msg_id);
    if (!task || task->in_sched || task->result)
        return;  // finished already (or being recorded), or runs elsewhere now
    sched_spec_t spec;
    hub_task_spec(task, &spec);
    if (sched_adopt(hub->sched, &spec, e->id) == IPP_OK) {
        task->in_sched = true;
        task->held = false;
        task->engine = e->id;
        IPP_LOGI(hub->log, "task %s still held by engine %d: adopted", msg_id, e->id);
    }
}

// s_registration_reply: tell the engine its id and the heartbeat rules.
static void s_registration_reply(hub_t *hub, const wire_frame_t *ident, const char *parent, int id)
{
    Ipp__RegistrationReply rep = IPP__REGISTRATION_REPLY__INIT;
    rep.has_engine_id = 1;
    rep.engine_id = id;
    rep.has_heartbeat_period_us = 1;
    rep.heartbeat_period_us = hub->cfg.heartbeat_us;
    rep.has_heartbeat_misses = 1;
    rep.heartbeat_misses = hub->cfg.heartbeat_misses;
    rep.controller_session = (char *)wire_session_id(hub->wire);
    rep.has_batches = 1;
    rep.batches = 1;  // RESULT_BATCH understood (dispatch.c)
    wire_send(hub->wire, hub->engine_sock, ident, 1, IPP__MSG_TYPE__REGISTRATION_REPLY, parent,
              &rep.base, NULL, 0, ZMQ_DONTWAIT, NULL, NULL);
}

void hub_engine_register(hub_t *hub, wire_msg_t *msg, const wire_frame_t *ident, hub_engine_t *from)
{
    (void)from;  // what counts is the uuid: a new process may reuse it
    Ipp__RegistrationRequest *req = (Ipp__RegistrationRequest *)msg->content;
    const char *parent = msg->header->msg_id;
    if (!req->uuid || !req->uuid[0] || strlen(req->uuid) >= 64) {
        hub_reply_error(hub, hub->engine_sock, ident, parent, IPP_ERR_INVALID, "uuid",
                        "registration needs an engine uuid of 1 to 63 characters");
        return;
    }
    if (ident->size > HUB_IDENT_MAX) {
        hub_reply_error(hub, hub->engine_sock, ident, parent, IPP_ERR_INVALID, "routing_id",
                        "routing id too long");
        return;
    }
    hub_engine_t *old = hub_registry_by_uuid(hub->engines, req->uuid);
    hub_engine_t *same_conn = hub_registry_by_ident(hub->engines, ident->data, ident->size);
    if (old && old->pid == req->pid &&
        strcmp(old->hostname, req->hostname ? req->hostname : "") == 0 &&
        old->ident_len == ident->size && memcmp(old->ident, ident->data, ident->size) == 0) {
        // The same process again (it heard nothing from us for a while):
        // nothing it runs was lost; answer as before. Results it holds
        // come again and are acknowledged.
        old->last_seen = ipp_clock_mono_us();
        s_registration_reply(hub, ident, parent, old->id);
        IPP_LOGI(hub->log, "engine %d registered again (same process)", old->id);
        return;
    }
    // A new process in an old one's place keeps the engine's id (it is the
    // uuid's) and, in the scheduler, whatever it says it runs or holds:
    // the controller may have sent it tasks meant for its predecessor
    // before it registered, and it may have run them already.
    int restarted = -1;
    if (old) {
        if (same_conn == old)
            same_conn = NULL;
        restarted = s_engine_restart(hub, old, req);
        old = NULL;
    }
    // One connection is one engine: what was registered on it is gone (its
    // messages could not be told apart from the new one's).
    if (same_conn)
        s_engine_gone(hub, same_conn, "its connection registered as another engine");
    if (restarted < 0 && hub_registry_count(hub->engines) >= hub->cfg.max_engines) {
        IPP_LOGW(hub->log, "registration of %s refused: %zu engines registered (--max-engines %zu)",
                 req->uuid, hub_registry_count(hub->engines), hub->cfg.max_engines);
        hub_reply_error(hub, hub->engine_sock, ident, parent, IPP_ERR_INVALID, NULL,
                        "registration refused: this controller takes at most %zu engines "
                        "(--max-engines)",
                        hub->cfg.max_engines);
        return;
    }
    ipp_error_t err;
    int id = -1;
    if (hub_store_engine_id(hub->store, req->uuid, req->hostname ? req->hostname : "", req->pid,
                            ipp_clock_now_us(), &id, &err) != IPP_OK) {
        if (restarted >= 0)
            sched_engine_remove(hub->sched, restarted);
        hub_reply_error(hub, hub->engine_sock, ident, parent, err.code, NULL,
                        "cannot record the engine: %s", err.msg);
        return;
    }
    hub_engine_t *e =
        hub_registry_add(hub->engines, id, req->uuid, req->hostname, req->pid, req->tags,
                         req->n_tags, req->functions, req->n_functions, ident->data, ident->size);
    if (!e) {
        if (restarted >= 0)
            sched_engine_remove(hub->sched, restarted);
        hub_reply_error(hub, hub->engine_sock, ident, parent, IPP_ERR_NOMEM, NULL,
                        "no memory to register engine %d", id);
        return;
    }
    e->registered = ipp_clock_now_us();
    e->last_seen = ipp_clock_mono_us();
    hub_keys_engine_registered(hub, e->uuid);
    e->batches = req->has_batches && req->batches;

    s_registration_reply(hub, ident, parent, id);
    IPP_LOGI(hub->log, "engine %d registered (%s, %s pid %d, %zu running, %zu held)", id, req->uuid,
             req->hostname ? req->hostname : "?", req->pid, req->n_running, req->n_finished);
    s_announce(hub, e, true);
    // No work until it proves it is alive with a heartbeat: a registration
    // alone may come from a peer that never runs anything.
    if (restarted != id) {
        if (restarted >= 0)
            sched_engine_remove(hub->sched, restarted);  // ids are the uuid's: not expected
        sched_engine_add_held(hub->sched, id);
    }
    for (size_t i = 0; i < req->n_running; i++)
        s_adopt(hub, e, req->running[i]);
    for (size_t i = 0; i < req->n_finished; i++)
        s_adopt(hub, e, req->finished[i]);
}

void hub_engine_heartbeat(hub_t *hub, wire_msg_t *msg, const wire_frame_t *ident, hub_engine_t *e)
{
    if (!e) {
        // Not registered in this run (a controller restart): ask it to.
        hub_reply_error(hub, hub->engine_sock, ident, msg->header->msg_id, IPP_ERR_NOT_FOUND,
                        "engine", "engine not registered with this controller");
        return;
    }
    const Ipp__Heartbeat *hb = (const Ipp__Heartbeat *)msg->content;
    if (!e->alive && (!hb->has_engine_id || hb->engine_id == e->id)) {
        // The first heartbeat since it registered, naming the id the reply
        // gave it: it is alive, and may get work.
        e->alive = true;
        sched_engine_unhold(hub->sched, e->id);
        IPP_LOGD(hub->log, "engine %d is alive: it gets work", e->id);
    }
    wire_send(hub->wire, hub->engine_sock, ident, 1, IPP__MSG_TYPE__HEARTBEAT, msg->header->msg_id,
              msg->content, NULL, 0, ZMQ_DONTWAIT, NULL, NULL);
}

void hub_engine_unmet(hub_t *hub, wire_msg_t *msg, const wire_frame_t *ident, hub_engine_t *e)
{
    (void)ident;
    Ipp__UnmetDependency *u = (Ipp__UnmetDependency *)msg->content;
    if (!e || !u->msg_id)
        return;
    IPP_LOGI(hub->log, "engine %d cannot run %s (%zu requirements missing)", e->id, u->msg_id,
             u->n_missing);
    hub_task_t *task = ipp_strmap_get(hub->tasks, u->msg_id);
    if (task && task->engine == e->id)
        task->engine = -1;
    sched_unmet(hub->sched, u->msg_id, e->id);
}

void hub_engine_unregister(hub_t *hub, wire_msg_t *msg, const wire_frame_t *ident, hub_engine_t *e)
{
    (void)msg;
    (void)ident;
    if (e)
        s_engine_gone(hub, e, "engine left");
}

void hub_engines_check(hub_t *hub, int64_t now_mono)
{
    int64_t limit = hub->cfg.heartbeat_us * hub->cfg.heartbeat_misses;
    // Removing shifts the registry; walk from the end.
    for (size_t i = hub_registry_count(hub->engines); i-- > 0;) {
        hub_engine_t *e = hub_registry_at(hub->engines, i);
        if (e && now_mono - e->last_seen > limit) {
            char why[96];
            snprintf(why, sizeof why, "no heartbeat for %.1f s",
                     (double)(now_mono - e->last_seen) / 1e6);
            s_engine_gone(hub, e, why);
        }
    }
}

size_t hub_engines_drop_revoked(hub_t *hub)
{
    size_t n = 0;
    if (!hub->keys || !hub->engine_keys)
        return 0;
    // Removing shifts the registry; walk from the end.
    for (size_t i = hub_registry_count(hub->engines); i-- > 0;) {
        hub_engine_t *e = hub_registry_at(hub->engines, i);
        const hub_engine_key_t *ek = e ? ipp_strmap_get(hub->engine_keys, e->uuid) : NULL;
        if (!ek)
            continue;
        const hub_key_t *k = ipp_strmap_get(hub->keys, ek->name);
        if (k && !k->revoked)
            continue;
        char why[128];
        snprintf(why, sizeof why, "its key %s was %s", ek->name, k ? "revoked" : "removed");
        s_engine_gone(hub, e, why);
        n++;
    }
    return n;
}

void hub_engines_stop(hub_t *hub, const int *targets, size_t n)
{
    Ipp__EngineControl ctl = IPP__ENGINE_CONTROL__INIT;
    ctl.has_action = 1;
    ctl.action = IPP__ENGINE_CONTROL__ACTION__STOP;
    for (size_t i = 0; i < hub_registry_count(hub->engines); i++) {
        hub_engine_t *e = hub_registry_at(hub->engines, i);
        bool want = n == 0;
        for (size_t k = 0; k < n && !want; k++)
            want = targets[k] == e->id;
        if (!want)
            continue;
        wire_frame_t ident = {e->ident, e->ident_len};
        wire_send(hub->wire, hub->engine_sock, &ident, 1, IPP__MSG_TYPE__ENGINE_CONTROL, NULL,
                  &ctl.base, NULL, 0, ZMQ_DONTWAIT, NULL, NULL);
    }
}
