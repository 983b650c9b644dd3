/* ipp/error.h — the one error enum of ipp, shared by every layer.
 *
 * Every fallible call returns an ipp_err_t (IPP_OK = 0) or NULL; where a
 * caller needs to know more, it passes an ipp_error_t that receives a code
 * and a message naming what went wrong (the field, the file, the id).
 * Codes are only ever appended, never renumbered: they travel on the wire
 * in ErrorReply.code.
 */
#ifndef IPP_ERROR_H
#define IPP_ERROR_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ipp_err_t {
    IPP_OK = 0,
    IPP_ERR_NOMEM = 1,       /* out of memory */
    IPP_ERR_INVALID = 2,     /* bad argument or usage */
    IPP_ERR_IO = 3,          /* file or OS error */
    IPP_ERR_ZMQ = 4,         /* a ZeroMQ call failed */
    IPP_ERR_TIMEOUT = 5,     /* nothing arrived in time */
    IPP_ERR_NOT_FOUND = 6,   /* no such id, file or record */
    IPP_ERR_CLOSED = 7,      /* the peer or object is gone */
    IPP_ERR_UNSUPPORTED = 8, /* this build or library cannot do it (Curve) */

    /* wire: a received message refused */
    IPP_ERR_NO_DELIMITER = 20,    /* no <IPP|> delimiter frame */
    IPP_ERR_BAD_MAC = 21,         /* MAC missing or wrong */
    IPP_ERR_REPLAY = 22,          /* MAC seen before inside the window */
    IPP_ERR_STALE = 23,           /* dated outside the accepted window */
    IPP_ERR_BAD_HEADER = 24,      /* header does not decode or lacks fields */
    IPP_ERR_BAD_CONTENT = 25,     /* content does not decode for its type */
    IPP_ERR_TOO_BIG = 26,         /* over the message size limit */
    IPP_ERR_TOO_MANY_FRAMES = 27, /* over the frame count limit */
    IPP_ERR_VERSION = 28,         /* protocol version not understood */
    IPP_ERR_UNKNOWN_TYPE = 29,    /* msg_type not known */

    /* files and configuration */
    IPP_ERR_CONN_FILE = 40,  /* connection file missing field, malformed */
    IPP_ERR_PERMISSION = 41, /* a file's mode is too open, or access denied */
    IPP_ERR_DENIED = 42,     /* the key's role does not permit the request */

    /* task store */
    IPP_ERR_DB = 60,        /* SQLite failed */
    IPP_ERR_DB_FULL = 61,   /* disk full */
    IPP_ERR_DB_SCHEMA = 62, /* newer or foreign database file */
    IPP_ERR_QUERY = 63,     /* bad db_query: unknown key, operator, type */
    IPP_ERR_PENDING = 64,   /* operation refused on a pending task */
    IPP_ERR_AUDIT = 65,     /* audit chain broken */
    IPP_ERR_BUSY = 66,      /* database locked by another writer */

    /* tasks and scheduling */
    IPP_ERR_REMOTE = 80,      /* a task failed; see its RemoteError */
    IPP_ERR_ABORTED = 81,     /* TaskAborted */
    IPP_ERR_UNREACHABLE = 82, /* ImpossibleDependency / DependencyTimeout */
    IPP_ERR_ENGINE = 83,      /* EngineError: the engine died */
    IPP_ERR_NO_ENGINES = 84,  /* no engine can take the task */
    IPP_ERR_CYCLE = 85,       /* a dependency cycle */

    IPP_ERR__END /* one past the last code */
} ipp_err_t;

/* An error with its message. Fixed size so it can live on the stack and
 * be filled without allocation on any path, including out-of-memory. */
typedef struct ipp_error_t {
    ipp_err_t code; /* IPP_OK when nothing failed */
    char msg[512];  /* human-readable detail, NUL-terminated */
} ipp_error_t;

/* ipp_strerror: a short static description of code; never NULL. */
const char *ipp_strerror(int code);

/* ipp_errname: the code's symbolic name ("IPP_ERR_BAD_MAC"); never NULL. */
const char *ipp_errname(int code);

/* ipp_error_set: fill err (if not NULL) with code and a printf-style
 * message; returns code so callers can `return ipp_error_set(…)`. */
ipp_err_t ipp_error_set(ipp_error_t *err, ipp_err_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ipp_error_clear: reset err (if not NULL) to IPP_OK and an empty message. */
void ipp_error_clear(ipp_error_t *err);

#ifdef __cplusplus
}
#endif
#endif
