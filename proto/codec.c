/* codec.c — the msg_type → content descriptor table.
 *
 * Constant data only.
 */
#include "proto/codec.h"

#include <stddef.h>

typedef struct {
    int type;                                // Ipp__MsgType value
    const char *name;                        // lowercase name for logs
    const ProtobufCMessageDescriptor *desc;  // content message
} s_codec_t;

#define C(T, N, D)                                                                                 \
    {                                                                                              \
        IPP__MSG_TYPE__##T, N, &ipp__##D##__descriptor                                             \
    }
static const s_codec_t s_codecs[] = {
    C(REGISTRATION_REQUEST, "registration_request", registration_request),
    C(REGISTRATION_REPLY, "registration_reply", registration_reply),
    C(UNREGISTRATION, "unregistration", unregistration),
    C(HEARTBEAT, "heartbeat", heartbeat),
    C(TASK_REQUEST, "task_request", task_request),
    C(TASK_RESULT, "task_result", task_result),
    C(RESULT_ACK, "result_ack", result_ack),
    C(UNMET_DEPENDENCY, "unmet_dependency", unmet_dependency),
    C(ENGINE_CONTROL, "engine_control", engine_control),
    C(TASK_BATCH, "task_batch", task_batch),
    C(RESULT_BATCH, "result_batch", result_batch),
    C(SUBMIT_REPLY, "submit_reply", submit_reply),
    C(QUEUE_STATUS_REQUEST, "queue_status_request", queue_status_request),
    C(QUEUE_STATUS_REPLY, "queue_status_reply", queue_status_reply),
    C(RESULT_REQUEST, "result_request", result_request),
    C(RESULT_REPLY, "result_reply", result_reply),
    C(PURGE_REQUEST, "purge_request", purge_request),
    C(PURGE_REPLY, "purge_reply", purge_reply),
    C(RESUBMIT_REQUEST, "resubmit_request", resubmit_request),
    C(RESUBMIT_REPLY, "resubmit_reply", resubmit_reply),
    C(DB_QUERY_REQUEST, "db_query_request", db_query_request),
    C(DB_QUERY_REPLY, "db_query_reply", db_query_reply),
    C(HISTORY_REQUEST, "history_request", history_request),
    C(HISTORY_REPLY, "history_reply", history_reply),
    C(ABORT_REQUEST, "abort_request", abort_request),
    C(ABORT_REPLY, "abort_reply", abort_reply),
    C(CLEAR_REQUEST, "clear_request", clear_request),
    C(CLEAR_REPLY, "clear_reply", clear_reply),
    C(SHUTDOWN_REQUEST, "shutdown_request", shutdown_request),
    C(SHUTDOWN_REPLY, "shutdown_reply", shutdown_reply),
    C(LOAD_REQUEST, "load_request", load_request),
    C(LOAD_REPLY, "load_reply", load_reply),
    C(ENGINE_LIST_REQUEST, "engine_list_request", engine_list_request),
    C(ENGINE_LIST_REPLY, "engine_list_reply", engine_list_reply),
    C(CONNECT_REQUEST, "connect_request", connect_request),
    C(CONNECT_REPLY, "connect_reply", connect_reply),
    C(ERROR_REPLY, "error_reply", error_reply),
    C(KEYS_RELOAD_REQUEST, "keys_reload_request", keys_reload_request),
    C(KEYS_RELOAD_REPLY, "keys_reload_reply", keys_reload_reply),
    C(ENGINE_EVENT, "engine_event", engine_event),
    C(TASK_DONE, "task_done", task_done),
    C(SHUTDOWN_NOTICE, "shutdown_notice", shutdown_notice),
    C(SUBSCRIBED, "subscribed", subscribed),
};
#undef C

#define S_N ((int)(sizeof s_codecs / sizeof s_codecs[0]))

static const s_codec_t *s_find(int type)
{
    for (int i = 0; i < S_N; i++)
        if (s_codecs[i].type == type)
            return &s_codecs[i];
    return NULL;
}

const ProtobufCMessageDescriptor *wire_descriptor(int msg_type)
{
    const s_codec_t *c = s_find(msg_type);
    return c ? c->desc : NULL;
}

const char *wire_type_name(int msg_type)
{
    const s_codec_t *c = s_find(msg_type);
    return c ? c->name : "unknown";
}

int wire_type_count(void)
{
    return S_N;
}

int wire_type_at(int i)
{
    return (i >= 0 && i < S_N) ? s_codecs[i].type : 0;
}
