/* request.h — a decoded TaskRequest turned into what the engine's
 * executors take.
 *
 * Translations only (the frames of a task as spans, a command task as a
 * runner's command): no process, no socket, no daemon state. The results
 * borrow from the request (strings, stdin bytes) and live no longer than
 * it; what had to be allocated is owned by the result and freed by its
 * fini.
 */
#ifndef IPP_ENGINE_REQUEST_H
#define IPP_ENGINE_REQUEST_H

#include "engine/runner.h"
#include "ipp/error.h"
#include "proto/ipp.pb-c.h"

#include <stddef.h>
#include <zmq.h>

// A task's frames seen as spans (borrowed from the frames), with no
// allocation for a few. Not to be copied: v may point into small.
typedef struct eng_spans_t {
    eng_span_t *v;        // n spans: small, or on the heap
    size_t n;             // how many
    eng_span_t small[8];  // storage for up to 8
} eng_spans_t;

// eng_spans_init: s views the n frames msgs (borrowed; they must outlive
// s). IPP_ERR_NOMEM when out of memory (s is then empty); call
// eng_spans_fini either way.
ipp_err_t eng_spans_init(eng_spans_t *s, zmq_msg_t *msgs, size_t n);

// eng_spans_fini: free what s allocated; idempotent.
void eng_spans_fini(eng_spans_t *s);

// A command task ready for eng_runner_new.
typedef struct eng_request_cmd_t {
    eng_command_t cmd;  // what to run; borrows from the request and env
    eng_envvar_t *env;  // the environment additions, owned
} eng_request_cmd_t;

// eng_request_command: fill out from command c (borrowed, must outlive
// out), keeping output_limit bytes of each stream. Every environment
// variable is passed on. IPP_ERR_NOMEM when out of memory (out is then
// empty); call eng_request_command_fini either way.
ipp_err_t eng_request_command(const Ipp__Command *c, size_t output_limit, eng_request_cmd_t *out);

// eng_request_command_fini: free what out owns; idempotent.
void eng_request_command_fini(eng_request_cmd_t *out);

#endif
