/* capture.c — bounded capture of a task's output.
 *
 * Owns one growing buffer per stream, never larger than its limit plus
 * the truncation marker. Must never block: reads are single, non-blocking
 * calls driven by the runner.
 */
#include "engine/capture.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

// Largest single read; also the scratch size for dropped bytes.
#define S_READ_CHUNK ((size_t)64 * 1024)

void eng_capture_init(eng_capture_t *self, size_t limit)
{
    memset(self, 0, sizeof *self);
    self->limit = limit ? limit : ENG_CAPTURE_DEFAULT_LIMIT;
}

void eng_capture_fini(eng_capture_t *self)
{
    if (!self)
        return;
    free(self->data);
    size_t limit = self->limit;
    eng_capture_init(self, limit);
}

bool eng_capture_truncated(const eng_capture_t *self)
{
    return self->total > self->len;
}

// s_reserve: make room for `want` more kept bytes (want ≤ limit - len).
static ipp_err_t s_reserve(eng_capture_t *self, size_t want)
{
    size_t need = self->len + want;
    if (need <= self->cap)
        return IPP_OK;
    size_t cap = self->cap ? self->cap : 4096;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    if (cap > self->limit)
        cap = self->limit;
    char *grown = realloc(self->data, cap);
    if (!grown)
        return IPP_ERR_NOMEM;
    self->data = grown;
    self->cap = cap;
    return IPP_OK;
}

ipp_err_t eng_capture_append(eng_capture_t *self, const void *data, size_t n)
{
    size_t room = self->limit - self->len;
    size_t keep = n < room ? n : room;
    if (keep) {
        if (s_reserve(self, keep) != IPP_OK)
            return IPP_ERR_NOMEM;
        memcpy(self->data + self->len, data, keep);
        self->len += keep;
    }
    self->total += n;
    return IPP_OK;
}

ipp_err_t eng_capture_vprintf(eng_capture_t *self, const char *fmt, va_list ap)
{
    char small[512];
    va_list copy;
    va_copy(copy, ap);
    int n = vsnprintf(small, sizeof small, fmt, copy);
    va_end(copy);
    if (n < 0)
        return IPP_ERR_INVALID;
    if ((size_t)n < sizeof small)
        return eng_capture_append(self, small, (size_t)n);
    char *big = malloc((size_t)n + 1);
    if (!big)
        return IPP_ERR_NOMEM;
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    ipp_err_t rc = eng_capture_append(self, big, (size_t)n);
    free(big);
    return rc;
}

ssize_t eng_capture_read_fd(eng_capture_t *self, int fd)
{
    size_t room = self->limit - self->len;
    ssize_t got;
    size_t want = room < S_READ_CHUNK ? room : S_READ_CHUNK;
    // out of memory: keep draining into scratch; the loss shows as truncation
    if (room && s_reserve(self, want) == IPP_OK) {
        got = read(fd, self->data + self->len, want);
        if (got > 0)
            self->len += (size_t)got;
    } else {
        char scratch[S_READ_CHUNK / 4];
        got = read(fd, scratch, sizeof scratch);
    }
    if (got > 0)
        self->total += (uint64_t)got;
    return got;
}

ipp_err_t eng_capture_finish(eng_capture_t *self, eng_buf_t *out, bool *truncated)
{
    ipp_err_t rc = IPP_OK;
    bool cut = eng_capture_truncated(self);
    if (cut) {
        char marker[96];
        int n = snprintf(marker, sizeof marker, "\n[ipp: output truncated after %zu bytes]\n",
                         self->len);
        char *grown = realloc(self->data, self->len + (size_t)n);
        if (grown) {
            memcpy(grown + self->len, marker, (size_t)n);
            self->data = grown;
            self->len += (size_t)n;
        } else {
            rc = IPP_ERR_NOMEM;
        }
    }
    out->data = self->len ? self->data : NULL;
    out->len = self->len;
    if (!self->len)
        free(self->data);
    if (truncated)
        *truncated = cut;
    size_t limit = self->limit;
    eng_capture_init(self, limit);
    return rc;
}
