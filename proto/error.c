/* error.c — ipp_err_t names and messages.
 *
 * Owns nothing; the table is constant. Must never allocate: it is used on
 * out-of-memory paths.
 */
#include "ipp/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    int code;          // the ipp_err_t value
    const char *name;  // symbolic name
    const char *text;  // what it means
} s_entry_t;

static const s_entry_t s_table[] = {
    {IPP_OK, "IPP_OK", "success"},
    {IPP_ERR_NOMEM, "IPP_ERR_NOMEM", "out of memory"},
    {IPP_ERR_INVALID, "IPP_ERR_INVALID", "invalid argument"},
    {IPP_ERR_IO, "IPP_ERR_IO", "input/output error"},
    {IPP_ERR_ZMQ, "IPP_ERR_ZMQ", "messaging error"},
    {IPP_ERR_TIMEOUT, "IPP_ERR_TIMEOUT", "timed out"},
    {IPP_ERR_NOT_FOUND, "IPP_ERR_NOT_FOUND", "not found"},
    {IPP_ERR_CLOSED, "IPP_ERR_CLOSED", "connection closed"},
    {IPP_ERR_NO_DELIMITER, "IPP_ERR_NO_DELIMITER", "message has no delimiter frame"},
    {IPP_ERR_BAD_MAC, "IPP_ERR_BAD_MAC", "message signature missing or invalid"},
    {IPP_ERR_REPLAY, "IPP_ERR_REPLAY", "message replayed"},
    {IPP_ERR_STALE, "IPP_ERR_STALE", "message dated outside the accepted window"},
    {IPP_ERR_BAD_HEADER, "IPP_ERR_BAD_HEADER", "message header malformed"},
    {IPP_ERR_BAD_CONTENT, "IPP_ERR_BAD_CONTENT", "message content malformed"},
    {IPP_ERR_TOO_BIG, "IPP_ERR_TOO_BIG", "message too large"},
    {IPP_ERR_TOO_MANY_FRAMES, "IPP_ERR_TOO_MANY_FRAMES", "message has too many frames"},
    {IPP_ERR_VERSION, "IPP_ERR_VERSION", "unsupported protocol version"},
    {IPP_ERR_UNKNOWN_TYPE, "IPP_ERR_UNKNOWN_TYPE", "unknown message type"},
    {IPP_ERR_CONN_FILE, "IPP_ERR_CONN_FILE", "bad connection file"},
    {IPP_ERR_PERMISSION, "IPP_ERR_PERMISSION", "permission problem"},
    {IPP_ERR_DENIED, "IPP_ERR_DENIED", "not permitted for this key"},
    {IPP_ERR_DB, "IPP_ERR_DB", "database error"},
    {IPP_ERR_DB_FULL, "IPP_ERR_DB_FULL", "database disk full"},
    {IPP_ERR_DB_SCHEMA, "IPP_ERR_DB_SCHEMA", "database schema not supported"},
    {IPP_ERR_QUERY, "IPP_ERR_QUERY", "invalid query"},
    {IPP_ERR_PENDING, "IPP_ERR_PENDING", "task is pending"},
    {IPP_ERR_AUDIT, "IPP_ERR_AUDIT", "audit chain broken"},
    {IPP_ERR_BUSY, "IPP_ERR_BUSY", "database busy"},
    {IPP_ERR_REMOTE, "IPP_ERR_REMOTE", "task failed"},
    {IPP_ERR_ABORTED, "IPP_ERR_ABORTED", "task aborted"},
    {IPP_ERR_UNREACHABLE, "IPP_ERR_UNREACHABLE", "task dependencies cannot be met"},
    {IPP_ERR_ENGINE, "IPP_ERR_ENGINE", "engine died"},
    {IPP_ERR_NO_ENGINES, "IPP_ERR_NO_ENGINES", "no engine can run the task"},
    {IPP_ERR_CYCLE, "IPP_ERR_CYCLE", "dependency cycle"},
};

static const s_entry_t *s_find(int code)
{
    for (size_t i = 0; i < sizeof s_table / sizeof s_table[0]; i++)
        if (s_table[i].code == code)
            return &s_table[i];
    return NULL;
}

const char *ipp_strerror(int code)
{
    const s_entry_t *e = s_find(code);
    return e ? e->text : "unknown error";
}

const char *ipp_errname(int code)
{
    const s_entry_t *e = s_find(code);
    return e ? e->name : "IPP_ERR_UNKNOWN";
}

ipp_err_t ipp_error_set(ipp_error_t *err, ipp_err_t code, const char *fmt, ...)
{
    if (err) {
        err->code = code;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

void ipp_error_clear(ipp_error_t *err)
{
    if (err) {
        err->code = IPP_OK;
        err->msg[0] = '\0';
    }
}
