/* capture.h — a bounded byte sink for a task's stdout or stderr.
 *
 * Keeps the first `limit` bytes, counts and drops the rest, and on finish
 * appends a marker line saying where the output was cut. Used by the
 * command runner (reading pipes) and by call functions (printing). The
 * struct is embedded (init/fini) and owns its buffer.
 */
#ifndef IPP_ENGINE_CAPTURE_H
#define IPP_ENGINE_CAPTURE_H

#include "engine/result.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

// Default bound on each captured stream.
#define ENG_CAPTURE_DEFAULT_LIMIT ((size_t)1 << 20)

typedef struct eng_capture_t {
    char *data;      // kept bytes, owned; NULL until something arrives
    size_t len;      // bytes kept (≤ limit)
    size_t cap;      // bytes allocated at data
    size_t limit;    // most bytes kept
    uint64_t total;  // bytes offered, kept or not
} eng_capture_t;

// eng_capture_init: an empty capture keeping at most limit bytes
// (0 = ENG_CAPTURE_DEFAULT_LIMIT). Allocates nothing.
void eng_capture_init(eng_capture_t *self, size_t limit);

// eng_capture_fini: free the buffer. NULL-safe.
void eng_capture_fini(eng_capture_t *self);

// eng_capture_truncated: whether bytes were dropped (past the limit, or
// because the buffer could not grow).
bool eng_capture_truncated(const eng_capture_t *self);

// eng_capture_append: offer data[0..n); bytes past the limit are counted
// and dropped. IPP_ERR_NOMEM leaves the capture as it was. IPP_ERR_NOMEM leaves the capture as it was.
ipp_err_t eng_capture_append(eng_capture_t *self, const void *data, size_t n);

// eng_capture_vprintf: offer printf output, as eng_capture_append.
ipp_err_t eng_capture_vprintf(eng_capture_t *self, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

// eng_capture_read_fd: one read() from fd into the capture (reads on past
// the limit, or when the buffer cannot grow, into scratch space so the
// writer never blocks). Returns bytes read, 0 at end of file, -1 with
// errno set (EAGAIN when nothing is there).
ssize_t eng_capture_read_fd(eng_capture_t *self, int fd);

// eng_capture_finish: move the kept bytes, followed by
// "\n[ipp: output truncated after N bytes]\n" when truncated, into *out
// (caller owns out->data) and set *truncated. The capture is left empty.
// On IPP_ERR_NOMEM the marker is missing but the bytes still move.
ipp_err_t eng_capture_finish(eng_capture_t *self, eng_buf_t *out, bool *truncated);

#endif
