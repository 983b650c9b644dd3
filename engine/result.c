/* result.c — eng_result_t: the outcome of one task.
 *
 * Owns the result's strings and buffers. Never logs and never touches the
 * wire: turning a result into a TaskResult is the main loop's business.
 */
#include "engine/result.h"
#include "proto/grow.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void eng_result_init(eng_result_t *self)
{
    memset(self, 0, sizeof *self);
    self->status = ENG_STATUS_OK;
    self->exit_status = -1;
}

void eng_result_drop_buffers(eng_result_t *self)
{
    for (size_t i = 0; i < self->nbuffers; i++)
        free(self->buffers[i].data);
    free(self->buffers);
    self->buffers = NULL;
    self->nbuffers = 0;
    self->cap_buffers = 0;
}

void eng_result_fini(eng_result_t *self)
{
    if (!self)
        return;
    free(self->evalue);
    free(self->stdout_data.data);
    free(self->stderr_data.data);
    free(self->traceback);
    free(self->summary);
    eng_result_drop_buffers(self);
    eng_result_init(self);
}

void eng_result_move(eng_result_t *dst, eng_result_t *src)
{
    if (dst == src)
        return;
    eng_result_fini(dst);
    *dst = *src;
    eng_result_init(src);
}

ipp_err_t eng_result_set_error(eng_result_t *self, eng_status_t status, const char *ename,
                               const char *fmt, ...)
{
    self->status = status;
    snprintf(self->ename, sizeof self->ename, "%s", ename ? ename : "");
    free(self->evalue);
    self->evalue = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&self->evalue, fmt, ap);
    va_end(ap);
    if (n < 0) {
        self->evalue = NULL;
        return IPP_ERR_NOMEM;
    }
    return IPP_OK;
}

ipp_err_t eng_result_take_buffer(eng_result_t *self, void *data, size_t len)
{
    if (IPP_GROW(self->buffers, self->cap_buffers, self->nbuffers + 1, 4) != 0)
        return IPP_ERR_NOMEM;
    self->buffers[self->nbuffers].data = len ? data : NULL;
    self->buffers[self->nbuffers].len = len;
    self->nbuffers++;
    if (!len)
        free(data);
    return IPP_OK;
}

ipp_err_t eng_result_add_buffer(eng_result_t *self, const void *data, size_t len)
{
    void *copy = NULL;
    if (len) {
        copy = malloc(len);
        if (!copy)
            return IPP_ERR_NOMEM;
        memcpy(copy, data, len);
    }
    ipp_err_t rc = eng_result_take_buffer(self, copy, len);
    if (rc != IPP_OK)
        free(copy);
    return rc;
}
