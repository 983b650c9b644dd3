/* wait.c — waiting on an AsyncResult, collecting its values, aborting it.
 *
 * Owns nothing past a call: waiting is cl_pump until a condition on the
 * AsyncResult holds or the deadline passes; what is collected (get_dict,
 * concat) is copied into memory the caller owns. Aborting sends one
 * ABORT_REQUEST and waits for its reply like any blocking request.
 */
#include "client/internal.h"

#include "proto/clock.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

// --------------------------------------------------------------- waiting

typedef bool (*s_pred_t)(const ipp_ar_t *ar, size_t arg);

static bool s_is_ready(const ipp_ar_t *ar, size_t arg)
{
    (void)arg;
    return ar->n_done == ar->n;
}

static bool s_has_next(const ipp_ar_t *ar, size_t arg)
{
    (void)arg;
    return ar->next_pos < ar->n_done;
}

static bool s_task_done(const ipp_ar_t *ar, size_t i)
{
    return ar->tasks[i].done;
}

static ipp_err_t s_wait_loop(ipp_ar_t *ar, double timeout, s_pred_t pred, size_t arg,
                             const char *what, ipp_error_t *err);

// s_wait: spin ar's client until pred holds or timeout passes. ar stays
// allocated meanwhile even if a callback destroys it.
static ipp_err_t s_wait(ipp_ar_t *ar, double timeout, s_pred_t pred, size_t arg, const char *what,
                        ipp_error_t *err)
{
    ar->waiters++;
    ipp_err_t rc = s_wait_loop(ar, timeout, pred, arg, what, err);
    ar->waiters--;
    if (ar->zombie) {
        if (!ar->waiters && !ar->firing)
            cl_ar_free(ar);
        return ipp_error_set(err, IPP_ERR_CLOSED, "%s: the result was destroyed meanwhile", what);
    }
    return rc;
}

static ipp_err_t s_wait_loop(ipp_ar_t *ar, double timeout, s_pred_t pred, size_t arg,
                             const char *what, ipp_error_t *err)
{
    int64_t t = cl_timeout_us(timeout);
    int64_t deadline = t < 0 ? -1 : cl_mono_us() + t;
    bool pumped = false;
    for (;;) {
        if (ar->zombie)
            return IPP_ERR_CLOSED;
        if (pred(ar, arg))
            return IPP_OK;
        ipp_client_t *c = ar->client;
        if (!c)
            return ipp_error_set(err, IPP_ERR_CLOSED, "%s: the client is gone (%zu of %zu done)",
                                 what, ar->n_done, ar->n);
        int64_t left = deadline < 0 ? -1 : deadline - cl_mono_us();
        if (deadline >= 0 && left < 0)
            left = 0;
        if (pumped && c->shutdown_seen)
            return ipp_error_set(err, IPP_ERR_CLOSED,
                                 "%s: the controller shut down (%zu of %zu done)", what, ar->n_done,
                                 ar->n);
        if (pumped && left == 0)
            return ipp_error_set(err, IPP_ERR_TIMEOUT, "%s: %zu of %zu tasks done after %.3g s",
                                 what, ar->n_done, ar->n, timeout);
        if (c->shutdown_seen)
            left = 0;
        ipp_err_t rc = cl_pump(c, left, err);
        if (rc != IPP_OK)
            return rc;
        pumped = true;
    }
}

ipp_err_t ipp_ar_wait(ipp_ar_t *ar, double timeout, ipp_error_t *err)
{
    if (!ar)
        return ipp_error_set(err, IPP_ERR_INVALID, "wait: no result");
    return s_wait(ar, timeout, s_is_ready, 0, "wait", err);
}

ipp_err_t ipp_ar_wait_task(ipp_ar_t *ar, size_t i, double timeout, ipp_error_t *err)
{
    if (!ar || i >= ar->n)
        return ipp_error_set(err, IPP_ERR_INVALID, "wait_task: no task %zu", i);
    return s_wait(ar, timeout, s_task_done, i, "wait_task", err);
}

ipp_err_t ipp_ar_next(ipp_ar_t *ar, double timeout, size_t *index, ipp_error_t *err)
{
    if (!ar)
        return ipp_error_set(err, IPP_ERR_INVALID, "next: no result");
    if (ar->next_pos >= ar->n)
        return ipp_error_set(err, IPP_ERR_NOT_FOUND, "next: all %zu tasks returned", ar->n);
    ipp_err_t rc = s_wait(ar, timeout, s_has_next, 0, "next", err);
    if (rc != IPP_OK)
        return rc;
    if (index)
        *index = ar->order[ar->next_pos];
    ar->next_pos++;
    return IPP_OK;
}

// s_describe: "ename: evalue (engine N)" for e into buf.
static void s_describe(const ipp_remote_error_t *e, char *buf, size_t size)
{
    if (e->engine_id >= 0)
        snprintf(buf, size, "%s: %s (engine %d)", e->ename, e->evalue, e->engine_id);
    else
        snprintf(buf, size, "%s: %s", e->ename, e->evalue);
}

ipp_err_t ipp_ar_get(ipp_ar_t *ar, double timeout, ipp_error_t *err)
{
    ipp_err_t rc = ipp_ar_wait(ar, timeout, err);
    if (rc != IPP_OK)
        return rc;
    size_t failed = 0, first = 0;
    for (size_t i = 0; i < ar->n; i++) {
        if (ar->tasks[i].status != IPP_STATUS_OK) {
            if (!failed)
                first = i;
            failed++;
        }
    }
    if (!failed)
        return IPP_OK;
    const ipp_remote_error_t *e = ipp_ar_error(ar, first);
    char what[400];
    if (e)
        s_describe(e, what, sizeof what);
    else
        snprintf(what, sizeof what, "task %s: %s", ar->tasks[first].msg_id,
                 ipp_status_name(ar->tasks[first].status));
    if (ar->n == 1)
        return ipp_error_set(err, e ? e->code : IPP_ERR_REMOTE, "RemoteError: %s", what);
    return ipp_error_set(err, IPP_ERR_REMOTE, "CompositeError: %zu of %zu tasks failed; first: %s",
                         failed, ar->n, what);
}

// s_cmp_int: qsort order for ints.
static int s_cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

ipp_err_t ipp_ar_get_dict(ipp_ar_t *ar, double timeout, ipp_ar_item_t *out, size_t max, size_t *n,
                          ipp_error_t *err)
{
    ipp_err_t rc = ipp_ar_get(ar, timeout, err);
    if (rc != IPP_OK)
        return rc;
    if (n)
        *n = ar->n;
    if (!out || max < ar->n)
        return ipp_error_set(err, IPP_ERR_INVALID, "get_dict: room for %zu items, %zu needed",
                             out ? max : 0, ar->n);
    int *ids = malloc((ar->n ? ar->n : 1) * sizeof *ids);
    if (!ids)
        return ipp_error_set(err, IPP_ERR_NOMEM, "get_dict: out of memory");
    for (size_t i = 0; i < ar->n; i++)
        ids[i] = ar->tasks[i].engine_id;
    qsort(ids, ar->n, sizeof *ids, s_cmp_int);
    for (size_t i = 1; i < ar->n; i++) {
        if (ids[i] == ids[i - 1]) {
            int dup = ids[i];
            free(ids);
            return ipp_error_set(err, IPP_ERR_INVALID,
                                 "get_dict: engine %d ran more than one of the tasks", dup);
        }
    }
    free(ids);
    for (size_t i = 0; i < ar->n; i++) {
        size_t nb = 0;
        const ipp_buf_t *b = ipp_ar_result(ar, i, &nb);
        out[i] = (ipp_ar_item_t){ar->tasks[i].engine_id, i, b, nb};
    }
    return IPP_OK;
}

ipp_err_t ipp_ar_concat(ipp_ar_t *ar, double timeout, void **data, size_t *len, ipp_error_t *err)
{
    if (!data || !len)
        return ipp_error_set(err, IPP_ERR_INVALID, "concat: nowhere to put the bytes");
    *data = NULL;
    *len = 0;
    ipp_err_t rc = ipp_ar_get(ar, timeout, err);
    if (rc != IPP_OK)
        return rc;
    size_t total = 0;
    for (size_t i = 0; i < ar->n; i++) {
        const cl_bufs_t *b = ar->tasks[i].bufs;
        for (size_t j = 0; b && j < b->n; j++)
            total += b->views[j].size;
    }
    char *p = malloc(total ? total : 1);
    if (!p)
        return ipp_error_set(err, IPP_ERR_NOMEM, "concat: no memory for %zu bytes", total);
    size_t at = 0;
    for (size_t i = 0; i < ar->n; i++) {
        const cl_bufs_t *b = ar->tasks[i].bufs;
        for (size_t j = 0; b && j < b->n; j++) {
            if (b->views[j].size)
                memcpy(p + at, b->views[j].data, b->views[j].size);
            at += b->views[j].size;
        }
    }
    *data = p;
    *len = total;
    return IPP_OK;
}

ipp_err_t ipp_ar_wait_interactive(ipp_ar_t *ar, FILE *out, double interval, double timeout,
                                  ipp_error_t *err)
{
    if (!ar)
        return ipp_error_set(err, IPP_ERR_INVALID, "wait_interactive: no result");
    if (!out)
        out = stdout;
    if (interval <= 0)
        interval = 1.0;
    bool tty = isatty(fileno(out));
    int width = 1;
    for (size_t n = ar->n; n >= 10; n /= 10)
        width++;
    int64_t t = cl_timeout_us(timeout);
    int64_t start = cl_mono_us();
    int64_t deadline = t < 0 ? -1 : start + t;
    size_t shown = SIZE_MAX;
    ipp_err_t rc;
    for (;;) {
        double elapsed = ipp_ar_elapsed(ar);
        if (tty) {
            fprintf(out, "\r%*zu/%zu tasks finished after %4.0f s", width, ar->n_done, ar->n,
                    elapsed);
            fflush(out);
        } else if (ar->n_done != shown) {
            fprintf(out, "%zu/%zu tasks finished after %.0f s\n", ar->n_done, ar->n, elapsed);
            fflush(out);
        }
        shown = ar->n_done;
        double step = interval;
        if (deadline >= 0) {
            double left = (double)(deadline - cl_mono_us()) / 1e6;
            if (left < step)
                step = left > 0 ? left : 0;
        }
        rc = ipp_ar_wait(ar, step, err);
        if (rc != IPP_ERR_TIMEOUT)
            break;
        if (deadline >= 0 && cl_mono_us() >= deadline)
            break;
    }
    if (rc == IPP_OK && tty)
        fprintf(out, "\r%*zu/%zu tasks finished after %4.0f s\ndone\n", width, ar->n_done, ar->n,
                ipp_ar_elapsed(ar));
    else if (rc == IPP_OK && ar->n_done != shown)
        fprintf(out, "%zu/%zu tasks finished after %.0f s\ndone\n", ar->n_done, ar->n,
                ipp_ar_elapsed(ar));
    else if (rc == IPP_OK)
        fprintf(out, "done\n");
    else if (tty)
        fprintf(out, "\n");
    fflush(out);
    return rc;
}

ipp_err_t ipp_ar_abort(ipp_ar_t *ar, size_t *aborted, ipp_error_t *err)
{
    if (aborted)
        *aborted = 0;
    if (!ar)
        return ipp_error_set(err, IPP_ERR_INVALID, "abort: no result");
    if (!ar->client)
        return ipp_error_set(err, IPP_ERR_CLOSED, "abort: the client is gone");
    size_t n = ar->n - ar->n_done;
    if (!n)
        return IPP_OK;
    const char **ids = malloc(n * sizeof *ids);
    if (!ids)
        return ipp_error_set(err, IPP_ERR_NOMEM, "abort: out of memory");
    size_t k = 0;
    for (size_t i = 0; i < ar->n; i++)
        if (!ar->tasks[i].done)
            ids[k++] = ar->tasks[i].msg_id;
    ipp_strv_t done = {NULL, 0};
    ipp_err_t rc = ipp_client_abort(ar->client, ids, k, NULL, 0, &done, NULL, err);
    free(ids);
    if (rc == IPP_OK && aborted)
        *aborted = done.n;
    ipp_strv_fini(&done);
    return rc;
}
