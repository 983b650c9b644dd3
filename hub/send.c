/* send.c — what the handlers share for speaking on the wire.
 *
 * Replies and error replies to clients (and error replies to engines),
 * notifications on the XPUB and the set of topics someone listens to
 * (read from the XPUB, so a notification nobody wants is not even
 * signed), and the reading of a wire Dependency with its defaults. The
 * lowest layer of hub/: it calls nothing else in hub/. Owns hub->subs and
 * what it records about them; it never handles a message, and never
 * touches the tasks, the scheduler or the task store.
 */
#include "hub/hub.h"

#include "proto/codec.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

ipp_err_t hub_reply(hub_t *hub, const wire_frame_t *ident, const char *parent, Ipp__MsgType type,
                    const ProtobufCMessage *content, zmq_msg_t *bufs, size_t n_bufs)
{
    ipp_err_t rc = wire_send(hub->wire, hub->client_sock, ident, ident ? 1 : 0, type, parent,
                             content, bufs, n_bufs, ZMQ_DONTWAIT, NULL, NULL);
    if (rc != IPP_OK) {
        int e = zmq_errno();
        // A client that has gone is normal (submit and exit); everything
        // it missed is in the store. One that does not read is worth a
        // warning.
        if (e == EHOSTUNREACH)
            IPP_LOGD(hub->log, "%s for %s not sent: the client has gone", wire_type_name(type),
                     parent ? parent : "-");
        else
            IPP_LOGW(hub->log, "%s for %s not sent: %s", wire_type_name(type),
                     parent ? parent : "-", zmq_strerror(e));
    }
    return rc;
}

void hub_error_fill(Ipp__ErrorReply *er, ipp_err_t code, const char *field, char *text)
{
    ipp__error_reply__init(er);
    er->has_code = 1;
    er->code = code;
    er->ename = (char *)ipp_errname(code);
    er->evalue = text;
    er->field = (char *)field;
}

hub_dep_t hub_dep_read(const Ipp__Dependency *d)
{
    hub_dep_t out = {NULL, 0, true, true, false};
    if (!d || d->n_ids == 0)
        return out;
    out.ids = (const char *const *)d->ids;
    out.n = d->n_ids;
    out.all = d->has_all ? d->all : true;
    out.success = d->has_success ? d->success : true;
    out.failure = d->has_failure ? d->failure : false;
    return out;
}

void hub_reply_error(hub_t *hub, void *sock, const wire_frame_t *ident, const char *parent,
                     ipp_err_t code, const char *field, const char *fmt, ...)
{
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    Ipp__ErrorReply er;
    hub_error_fill(&er, code, field, text);
    IPP_LOGI(hub->log, "request %s refused: %s", parent ? parent : "-", text);
    wire_send(hub->wire, sock, ident, ident ? 1 : 0, IPP__MSG_TYPE__ERROR_REPLY, parent, &er.base,
              NULL, 0, ZMQ_DONTWAIT, NULL, NULL);
}

// s_listened: whether some subscription is a prefix of topic. Only the
// prefix lengths some subscription has are looked up.
static bool s_listened(const hub_t *hub, const char *topic)
{
    if (hub->sub_lens == 0)
        return false;
    if (hub->sub_lens >> 63)
        return true;  // a long subscription: not worth checking, send
    char prefix[64];
    size_t len = strlen(topic);
    for (size_t n = 0; n <= len && n < 63; n++) {
        if (!(hub->sub_lens & ((uint64_t)1 << n)))
            continue;
        memcpy(prefix, topic, n);
        prefix[n] = '\0';
        if (ipp_strmap_get(hub->subs, prefix))
            return true;
    }
    return false;
}

static void s_len_count(void *arg, const char *key, void *value)
{
    (void)value;
    size_t n = strlen(key);
    *(uint64_t *)arg |= (uint64_t)1 << (n < 63 ? n : 63);
}

void hub_subscriptions(hub_t *hub)
{
    for (int i = 0; i < HUB_BATCH; i++) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, hub->pub_sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            break;
        }
        const uint8_t *d = zmq_msg_data(&m);
        size_t n = zmq_msg_size(&m);
        // Without ZMQ_XPUB_VERBOSE a topic arrives once when its first
        // subscriber comes and once when its last one goes: a set suffices.
        if (n >= 1 && (d[0] == 0 || d[0] == 1)) {
            char *topic = malloc(n);
            if (topic) {
                memcpy(topic, d + 1, n - 1);
                topic[n - 1] = '\0';
                char *have = ipp_strmap_get(hub->subs, topic);
                IPP_LOGD(hub->log, "%s \"%s\"", d[0] ? "subscribe" : "unsubscribe", topic);
                if (d[0] == 1 && strncmp(topic, "sync.", 5) == 0) {
                    // A client asks to hear when its subscriptions are live:
                    // everything it subscribed to before this topic is.
                    Ipp__Subscribed ok = IPP__SUBSCRIBED__INIT;
                    ok.topic = topic;
                    hub_publish(hub, topic, IPP__MSG_TYPE__SUBSCRIBED, &ok.base, true);
                } else if (d[0] == 1 && !have) {
                    if (ipp_strmap_put(hub->subs, topic, topic) == 0)
                        topic = NULL;
                } else if (d[0] == 0 && have) {
                    ipp_strmap_del(hub->subs, topic);
                    free(have);
                }
                free(topic);
            }
        }
        zmq_msg_close(&m);
    }
    // Recompute the lengths in use (subscriptions are few and change rarely).
    hub->sub_lens = 0;
    ipp_strmap_each(hub->subs, s_len_count, &hub->sub_lens);
}

void hub_publish(hub_t *hub, const char *topic, Ipp__MsgType type, const ProtobufCMessage *content,
                 bool force)
{
    if (!force && !s_listened(hub, topic))
        return;  // nobody listens: not even the cost of signing it
    wire_frame_t t = {topic, strlen(topic)};
    wire_send(hub->wire, hub->pub_sock, &t, 1, type, NULL, content, NULL, 0, ZMQ_DONTWAIT, NULL,
              NULL);
}
