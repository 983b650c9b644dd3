/* batch.h — checks of the batch messages of the engine legs (TASK_BATCH,
 * RESULT_BATCH; docs/PROTOCOL.md).
 *
 * A batch is refused whole or taken whole: these checks run before a
 * receiver takes anything from one, so a bad batch changes nothing. Pure
 * functions over decoded messages; they own and keep nothing.
 */
#ifndef IPP_PROTO_BATCH_H
#define IPP_PROTO_BATCH_H

#include "ipp/error.h"
#include "proto/ipp.pb-c.h"

#include <stddef.h>

// Most tasks or results one batch carries (a sender makes several above).
#define WIRE_BATCH_MAX 256

// wire_batch_check_tasks: IPP_OK when b is a well-formed TASK_BATCH whose
// message has n_buffers buffers: at least one task, at most
// WIRE_BATCH_MAX, as many msg_ids (each a valid msg_id) and n_buffers
// entries as tasks, the latter adding up to n_buffers. Else
// IPP_ERR_INVALID with err saying what is wrong and *field (if not NULL)
// the field at fault (a static string). An id twice is not refused here:
// receivers take a task or a result once already.
ipp_err_t wire_batch_check_tasks(const Ipp__TaskBatch *b, size_t n_buffers, const char **field,
                                 ipp_error_t *err);

// wire_batch_check_results: the same for a RESULT_BATCH: at least one
// result, at most WIRE_BATCH_MAX, each with a valid msg_id, as many
// n_buffers entries as results, adding up to n_buffers.
ipp_err_t wire_batch_check_results(const Ipp__ResultBatch *b, size_t n_buffers, const char **field,
                                   ipp_error_t *err);

#endif
