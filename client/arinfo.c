/* arinfo.c — reading an AsyncResult: its tasks' outcomes, metadata and
 * timing.
 *
 * Owns nothing: every pointer returned points into the AsyncResult (result.c
 * owns it) and stays valid until ipp_ar_destroy. Never waits and never
 * touches the sockets.
 */
#include "client/internal.h"

#include "proto/clock.h"

#include <stdlib.h>
#include <string.h>

// --------------------------------------------------------------- access

size_t ipp_ar_len(const ipp_ar_t *ar)
{
    return ar ? ar->n : 0;
}

const char *ipp_ar_msg_id(const ipp_ar_t *ar, size_t i)
{
    return (ar && i < ar->n) ? ar->tasks[i].msg_id : NULL;
}

bool ipp_ar_is_hub(const ipp_ar_t *ar)
{
    return ar && ar->hub;
}

bool ipp_ar_ready(const ipp_ar_t *ar)
{
    return ar && ar->n_done == ar->n;
}

bool ipp_ar_successful(const ipp_ar_t *ar)
{
    if (!ipp_ar_ready(ar))
        return false;
    for (size_t i = 0; i < ar->n; i++)
        if (ar->tasks[i].status != IPP_STATUS_OK)
            return false;
    return true;
}

size_t ipp_ar_progress(const ipp_ar_t *ar)
{
    return ar ? ar->n_done : 0;
}

ipp_status_t ipp_ar_status(const ipp_ar_t *ar, size_t i)
{
    return (ar && i < ar->n) ? (ipp_status_t)ar->tasks[i].status : IPP_STATUS_UNKNOWN;
}

const ipp_buf_t *ipp_ar_result(const ipp_ar_t *ar, size_t i, size_t *n)
{
    if (n)
        *n = 0;
    if (!ar || i >= ar->n || !ar->tasks[i].bufs)
        return NULL;
    if (n)
        *n = ar->tasks[i].bufs->n;
    return ar->tasks[i].bufs->views;
}

const ipp_remote_error_t *ipp_ar_error(const ipp_ar_t *ar, size_t i)
{
    if (!ar || i >= ar->n)
        return NULL;
    const cl_task_t *t = &ar->tasks[i];
    if (!t->done || t->status == IPP_STATUS_OK || !t->extra || !t->extra->has_error)
        return NULL;
    return &t->extra->error;
}

size_t ipp_ar_errors(const ipp_ar_t *ar, const ipp_remote_error_t **out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; ar && i < ar->n; i++) {
        const ipp_remote_error_t *e = ipp_ar_error(ar, i);
        if (!e)
            continue;
        if (out && n < max)
            out[n] = e;
        n++;
    }
    return n;
}

ipp_err_t ipp_ar_metadata(const ipp_ar_t *ar, size_t i, ipp_metadata_t *md)
{
    if (!ar || i >= ar->n || !md)
        return IPP_ERR_INVALID;
    const cl_task_t *t = &ar->tasks[i];
    const cl_extra_t *x = t->extra;
    memset(md, 0, sizeof *md);
    md->msg_id = t->msg_id;
    md->status = (ipp_status_t)t->status;
    md->accepted = t->accepted;
    md->submitted = t->submitted;
    md->started = t->started;
    md->completed = t->completed;
    md->received = t->received;
    md->engine_id = t->engine_id;
    md->exit_status = -1;
    md->label = ar->label;
    md->after = (const char *const *)ar->after;
    md->n_after = ar->n_after;
    md->follow = (const char *const *)ar->follow;
    md->n_follow = ar->n_follow;
    if (x) {
        md->engine_uuid = x->engine_uuid;
        if (x->label)
            md->label = x->label;
        md->stdout_data = x->stdout_data;
        md->stdout_len = x->stdout_len;
        md->stdout_truncated = x->stdout_trunc;
        md->stderr_data = x->stderr_data;
        md->stderr_len = x->stderr_len;
        md->stderr_truncated = x->stderr_trunc;
        md->exit_status = x->exit_status;
        md->term_signal = x->term_signal;
        md->attempts = x->attempts;
        md->summary = x->summary;
        if (x->after) {
            md->after = (const char *const *)x->after;
            md->n_after = x->n_after;
        }
        if (x->follow) {
            md->follow = (const char *const *)x->follow;
            md->n_follow = x->n_follow;
        }
    }
    md->error = ipp_ar_error(ar, i);
    return IPP_OK;
}

// ---------------------------------------------------------------- timing

static int64_t s_stamp(const cl_task_t *t, ipp_stamp_t which)
{
    switch (which) {
    case IPP_STAMP_SUBMITTED:
        return t->submitted;
    case IPP_STAMP_STARTED:
        return t->started;
    case IPP_STAMP_COMPLETED:
        return t->completed;
    case IPP_STAMP_RECEIVED:
        return t->received;
    }
    return 0;
}

double ipp_ar_timedelta(const ipp_ar_t *ar, ipp_stamp_t from, ipp_stamp_t to)
{
    int64_t first = 0, last = 0;
    for (size_t i = 0; ar && i < ar->n; i++) {
        int64_t a = s_stamp(&ar->tasks[i], from);
        int64_t b = s_stamp(&ar->tasks[i], to);
        if (a > 0 && (first == 0 || a < first))
            first = a;
        if (b > last)
            last = b;
    }
    if (!first || !last)
        return 0.0;
    return (double)(last - first) / 1e6;
}

double ipp_ar_wall_time(const ipp_ar_t *ar)
{
    return ipp_ar_timedelta(ar, IPP_STAMP_SUBMITTED, IPP_STAMP_RECEIVED);
}

double ipp_ar_serial_time(const ipp_ar_t *ar)
{
    int64_t sum = 0;
    for (size_t i = 0; ar && i < ar->n; i++) {
        const cl_task_t *t = &ar->tasks[i];
        if (t->started > 0 && t->completed >= t->started)
            sum += t->completed - t->started;
    }
    return (double)sum / 1e6;
}

double ipp_ar_elapsed(const ipp_ar_t *ar)
{
    if (!ar)
        return 0.0;
    if (ipp_ar_ready(ar))
        return ipp_ar_wall_time(ar);
    int64_t first = 0;
    for (size_t i = 0; i < ar->n; i++) {
        int64_t s = ar->tasks[i].submitted;
        if (s > 0 && (first == 0 || s < first))
            first = s;
    }
    if (!first)
        return 0.0;
    return (double)(ipp_clock_now_us() - first) / 1e6;
}
