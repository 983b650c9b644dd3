/* result.h — the outcome of one task as the engine core produces it.
 *
 * Command runs, calls and namespace operations all fill an eng_result_t;
 * the engine main loop turns it into a TaskResult (status, RemoteError
 * ename/evalue, stdout/stderr, buffers, timestamps, exit status, signal)
 * and keeps it until the controller acknowledges it. The struct is embedded
 * (init/fini) and owns every byte it points to.
 */
#ifndef IPP_ENGINE_RESULT_H
#define IPP_ENGINE_RESULT_H

#include "ipp/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

// How a task ended; maps onto ipp.Status OK / ERROR / ABORTED.
typedef enum eng_status_t {
    ENG_STATUS_OK = 0,       // ran and succeeded
    ENG_STATUS_ERROR = 1,    // ran (or tried to) and failed; see ename/evalue
    ENG_STATUS_ABORTED = 2,  // stopped by an abort request
} eng_status_t;

// Borrowed bytes: task inputs (argument buffers, pushed values).
typedef struct eng_span_t {
    const void *data;  // first byte; may be NULL when len is 0
    size_t len;        // length in bytes
} eng_span_t;

// Owned bytes: outputs. data is malloc'ed (free() it) or NULL when len is 0.
typedef struct eng_buf_t {
    void *data;  // owned by whoever holds the eng_buf_t
    size_t len;  // length in bytes
} eng_buf_t;

#define ENG_ENAME_MAX 64

typedef struct eng_result_t {
    eng_status_t status;        // outcome
    char ename[ENG_ENAME_MAX];  // error class ("CommandFailed"); "" when ok
    char *evalue;               // error text, owned; NULL when ok (or no memory)
    eng_buf_t stdout_data;      // captured stdout, truncation marker included
    eng_buf_t stderr_data;      // captured stderr
    bool stdout_truncated;      // stdout exceeded its bound
    bool stderr_truncated;      // stderr exceeded its bound
    eng_buf_t *buffers;         // result buffers (calls, pulls), owned array
    size_t nbuffers;            // entries used in buffers
    size_t cap_buffers;         // entries allocated in buffers
    int64_t started;            // µs UTC when the task began (ipp_clock_now_us)
    int64_t completed;          // µs UTC when it ended
    char *traceback;            // error traceback text (lines split by '\n'),
                                // owned; NULL when none
    char *summary;              // readable form of the value (UTF-8), owned;
                                // NULL when none
    int exit_status;            // command exit code; -1 if it never exited normally
    int term_signal;            // signal that ended the command; 0 = none
} eng_result_t;

// eng_result_init: an empty OK result with exit_status -1.
void eng_result_init(eng_result_t *self);

// eng_result_fini: free everything self owns and re-init it. NULL-safe.
void eng_result_fini(eng_result_t *self);

// eng_result_move: hand src's contents to dst (dst is fini'ed first);
// src is left empty (initialised).
void eng_result_move(eng_result_t *dst, eng_result_t *src);

// eng_result_set_error: set status and ename (truncated to fit) and a
// printf-style evalue. Never fails as a whole: when the evalue cannot be
// allocated it stays NULL and IPP_ERR_NOMEM is returned.
ipp_err_t eng_result_set_error(eng_result_t *self, eng_status_t status, const char *ename,
                               const char *fmt, ...) __attribute__((format(printf, 4, 5)));

// eng_result_add_buffer: append a copy of data[0..len) to the buffers.
ipp_err_t eng_result_add_buffer(eng_result_t *self, const void *data, size_t len);

// eng_result_take_buffer: append data[0..len) itself; takes ownership of
// data (malloc'ed) on success only.
ipp_err_t eng_result_take_buffer(eng_result_t *self, void *data, size_t len);

// eng_result_drop_buffers: free every result buffer (a failed call
// returns none).
void eng_result_drop_buffers(eng_result_t *self);

#endif
