/* daemon.h — ipp-engine's network side and main loop.
 *
 * An engine connects a DEALER (routing id = its uuid) to the controller's
 * engine port, registers, heartbeats, and runs the tasks it is sent one at
 * a time, in arrival order: commands as child processes (engine/runner.h),
 * call tasks through the function registry (quick built-ins inline, the
 * rest on a worker thread so heartbeats go on), namespace operations
 * inline. Every result is kept until the controller acknowledges it and is
 * sent again after a reconnect. When the controller goes silent for
 * `misses` heartbeat periods, or answers with a new session (it restarted),
 * the engine registers again, reporting what it runs and what it holds; it
 * re-reads the connection file then, so a controller that came back on
 * other ports is found. The connection info comes from the file, or from
 * the text given (IPP_CONNECTION_INFO); a file that is not there yet (an
 * engine started before its controller) is waited for with a back-off
 * from 50 ms to 2 s, logged once.
 */
#ifndef IPP_ENGINE_DAEMON_H
#define IPP_ENGINE_DAEMON_H

#include "ipp/error.h"
#include "proto/log.h"

#include <signal.h>
#include <stddef.h>

typedef struct eng_daemon_opts_t {
    const char *conn_path;        // engine connection file (this or conn_text)
    const char *conn_text;        // connection info as JSON text (borrowed), or NULL
    const char *uuid;             // engine uuid; NULL = a fresh one
    const char *const *tags;      // --tag values
    size_t n_tags;                // how many
    const char *const *plugins;   // --plugin paths
    size_t n_plugins;             // how many
    size_t output_limit;          // bytes of stdout/stderr kept; 0 = 1 MiB
    const ipp_logger_t *log;      // logger (borrowed)
    volatile sig_atomic_t *stop;  // set by a signal handler: leave
} eng_daemon_opts_t;

typedef struct eng_daemon_t eng_daemon_t;

// eng_daemon_new: check the options, load plugins, prepare everything
// that needs no thread, socket, process or file of the engine's own.
// NULL with err filled (a bad uuid, a plugin that does not load). Caller
// owns the result.
eng_daemon_t *eng_daemon_new(const eng_daemon_opts_t *opts, ipp_error_t *err);

// eng_daemon_start: start the command guard process and the worker
// thread, read the connection file and connect. Once only; on failure
// (a bad connection file or text, no fork) err is filled and the daemon
// can only be stopped and destroyed. A missing file is not a failure:
// run waits for it.
ipp_err_t eng_daemon_start(eng_daemon_t *self, ipp_error_t *err);

// eng_daemon_run: the loop, until the controller says STOP or opts->stop
// is set. Returns IPP_OK, IPP_ERR_INVALID if not started (or stopped), or
// an error if the loop itself failed.
ipp_err_t eng_daemon_run(eng_daemon_t *self);

// eng_daemon_stop: kill what runs, join the worker, unregister, close the
// socket, end the guard. Safe twice and without start; NULL-safe.
void eng_daemon_stop(eng_daemon_t *self);

// eng_daemon_destroy: stop if needed, then free everything; NULL-safe;
// sets *self_p = NULL.
void eng_daemon_destroy(eng_daemon_t **self_p);

#endif
