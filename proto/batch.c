/* batch.c — the checks of TASK_BATCH and RESULT_BATCH (see batch.h).
 *
 * Reads decoded messages only; keeps nothing, sends nothing.
 */
#include "proto/batch.h"

#include "proto/msgid.h"

#include <stdint.h>

// s_counts: n_items items, n_counts buffer counts adding up to
// n_buffers? IPP_OK, or err and *field filled.
static ipp_err_t s_counts(const char *what, size_t n_items, const uint32_t *counts, size_t n_counts,
                          size_t n_buffers, const char **field, ipp_error_t *err)
{
    if (n_items == 0) {
        *field = what;
        return ipp_error_set(err, IPP_ERR_INVALID, "a batch with no %s", what);
    }
    if (n_items > WIRE_BATCH_MAX) {
        *field = what;
        return ipp_error_set(err, IPP_ERR_INVALID, "a batch of %zu %s; at most %d", n_items, what,
                             WIRE_BATCH_MAX);
    }
    if (n_counts != n_items) {
        *field = "n_buffers";
        return ipp_error_set(err, IPP_ERR_INVALID, "%zu %s but %zu n_buffers entries", n_items,
                             what, n_counts);
    }
    uint64_t sum = 0;
    for (size_t i = 0; i < n_counts; i++)
        sum += counts[i];
    if (sum != n_buffers) {
        *field = "n_buffers";
        return ipp_error_set(err, IPP_ERR_INVALID,
                             "n_buffers add up to %llu but the message has %zu buffers",
                             (unsigned long long)sum, n_buffers);
    }
    return IPP_OK;
}

ipp_err_t wire_batch_check_tasks(const Ipp__TaskBatch *b, size_t n_buffers, const char **field,
                                 ipp_error_t *err)
{
    const char *f = NULL;
    ipp_err_t rc = s_counts("tasks", b->n_tasks, b->n_buffers, b->n_n_buffers, n_buffers, &f, err);
    if (rc == IPP_OK && b->n_msg_ids != b->n_tasks) {
        f = "msg_ids";
        rc = ipp_error_set(err, IPP_ERR_INVALID, "%zu tasks but %zu msg_ids", b->n_tasks,
                           b->n_msg_ids);
    }
    for (size_t i = 0; rc == IPP_OK && i < b->n_msg_ids; i++) {
        if (!ipp_msgid_valid(b->msg_ids[i])) {
            f = "msg_ids";
            rc = ipp_error_set(err, IPP_ERR_INVALID, "msg_ids[%zu] is not a msg_id", i);
        }
    }
    if (field)
        *field = f;
    return rc;
}

ipp_err_t wire_batch_check_results(const Ipp__ResultBatch *b, size_t n_buffers, const char **field,
                                   ipp_error_t *err)
{
    const char *f = NULL;
    ipp_err_t rc =
        s_counts("results", b->n_results, b->n_buffers, b->n_n_buffers, n_buffers, &f, err);
    for (size_t i = 0; rc == IPP_OK && i < b->n_results; i++) {
        if (!ipp_msgid_valid(b->results[i]->msg_id)) {
            f = "results.msg_id";
            rc = ipp_error_set(err, IPP_ERR_INVALID, "results[%zu] does not name its task", i);
        }
    }
    if (field)
        *field = f;
    return rc;
}
