/* daemon_int.h — the engine daemon's state, shared by its two files.
 *
 * Private to engine/: daemon.c (lifecycle, connection, registration,
 * messages, the loop) and tasks.c (the tasks: queue, execution, worker
 * thread, results kept until acknowledged) both work on eng_daemon_t.
 * Nothing outside engine/ may include it. Arrows run one way: daemon.c
 * calls tasks.c, and both send through eng_daemon_send below.
 */
#ifndef IPP_ENGINE_DAEMON_INT_H
#define IPP_ENGINE_DAEMON_INT_H

#include "engine/daemon.h"

#include "engine/functions.h"
#include "engine/guard.h"
#include "engine/namespace.h"
#include "engine/plugin.h"
#include "engine/result.h"
#include "engine/runner.h"
#include "proto/ipp.pb-c.h"
#include "proto/strmap.h"
#include "proto/wire.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

// A task received and not finished.
typedef struct eng_job_t {
    char msg_id[IPP_MSGID_LEN + 1];  // the task
    Ipp__TaskRequest *req;           // decoded request, owned
    zmq_msg_t *bufs;                 // argument buffers, owned
    size_t n_bufs;                   // how many
    struct eng_job_t *next;          // FIFO link (in the queue or the pipe)
    uint64_t seq;                    // its number once handed to the worker
    bool aheadable;                  // a call the worker may hand ahead
    // Under the daemon's mu while in the pipe:
    int state;          // ENG_JOB_* (pipe only)
    int64_t deadline;   // mono µs its wall-time limit passes; 0 = none
    atomic_int cancel;  // abort it (IPP_CALL_CANCEL_*)
    eng_result_t res;   // its result once ENG_JOB_DONE
    bool ahead_done;    // handed ahead already (the worker's own)
} eng_job_t;

// Where a job handed to the worker is.
enum { ENG_JOB_HANDED = 0, ENG_JOB_RUNNING = 1, ENG_JOB_DONE = 2 };

// A finished task whose result the controller has not acknowledged.
typedef struct eng_held_t {
    char msg_id[IPP_MSGID_LEN + 1];  // the task
    eng_result_t res;                // its result, owned
    bool is_command;                 // exit status and signal mean something
    bool unsent;                     // finished and not sent yet (eng_tasks_flush)
    struct eng_held_t *prev;         // list links (oldest first)
    struct eng_held_t *next;
} eng_held_t;

struct eng_daemon_t {
    eng_daemon_opts_t opts;              // as given (pointers borrowed)
    const ipp_logger_t *log;             // logger
    char uuid[IPP_MSGID_LEN + 1];        // engine uuid = routing id
    char hostname[256];                  // gethostname
    char endpoint[256];                  // where the DEALER is connected
    void *zctx;                          // ZeroMQ context
    void *sock;                          // DEALER to the controller
    wire_session_t *wire;                // signing session
    eng_functions_t *functions;          // call functions
    eng_plugin_t **plugins;              // loaded plugins, owned
    size_t n_plugins;                    // how many
    eng_namespace_t *ns;                 // the engine namespace
    int engine_id;                       // id given by the controller, -1
    bool registered;                     // a registration reply arrived
    char controller[IPP_MSGID_LEN + 1];  // controller session we registered with
    int64_t period_us;                   // heartbeat period
    int misses;                          // silent periods before re-registering
    int64_t last_heard;                  // mono µs of the last controller message
    int64_t next_beat;                   // mono µs of the next heartbeat
    int64_t next_register;               // mono µs of the next registration attempt
    int64_t connect_backoff_us;          // wait after a failed connect; 0 = none failed
    char connect_error[sizeof(((ipp_error_t *)0)->msg)];  // the last connect failure logged
    uint64_t beat_seq;                                    // heartbeat counter
    eng_job_t *queue_head, *queue_tail;                   // tasks waiting, FIFO
    eng_job_t *current;                                   // the task in progress (for
                                                          // calls: the pipe's head)
    eng_runner_t *runner;                                 // its child process (command tasks)
    eng_guard_t *guard;                                   // kills commands if the engine dies
    bool in_worker;                                       // it is a call on the worker thread
    eng_held_t *held_head, *held_tail;                    // results not acknowledged
    size_t n_unsent;                                      // of them, the last ones: not sent yet
    bool batches;                                         // the controller takes RESULT_BATCH
    ipp_strmap_t *jobs_idx;                               // msg_id → queued or running job
    ipp_strmap_t *held_idx;                               // msg_id → held result
    bool stopping;                                        // STOP received
    bool started;                                         // eng_daemon_start was called
    bool running;                                         // started and not stopped: run may loop
    bool clear_pending;                                   // clear the namespace when idle
    // worker thread
    pthread_t worker;     // runs slow calls
    bool worker_started;  // joined at stop
    // The pipe: calls handed to the worker, in order, until the loop
    // collects their results. Its links and ends change under mu, only by
    // the loop (which may read them without it); the worker runs them one
    // at a time and may hand the ones behind the running one ahead
    // (ipp_plugin_set_ahead) when all of them can be.
    pthread_mutex_t mu;                // guards the pipe's states and the below
    pthread_cond_t cv;                 // signals a job or quit
    eng_job_t *pipe_head, *pipe_tail;  // the pipe
    size_t n_pipe;                     // jobs in it
    eng_job_t *work_next;              // the next one for the worker; NULL = none
    eng_job_t *work_running;           // the one it runs; NULL = none
    bool worker_quit;                  // leave
    bool work_signalled;               // efd written since the loop last collected
    _Atomic int64_t run_deadline;      // work_running's deadline while not cancelled
    uint64_t next_seq;                 // numbers for the jobs handed over
    int efd;                           // eventfd: worker → loop
};

// eng_daemon_send: send a message without waiting; false if it could not
// go out (EAGAIN: not connected yet, with ZMQ_IMMEDIATE). bufs are
// taken over whatever happens, as wire_send takes them.
static inline bool eng_daemon_send(eng_daemon_t *self, Ipp__MsgType type, const char *parent,
                                   const ProtobufCMessage *content, zmq_msg_t *bufs, size_t n_bufs)
{
    if (wire_send(self->wire, self->sock, NULL, 0, type, parent, content, bufs, n_bufs,
                  ZMQ_DONTWAIT, NULL, NULL) == IPP_OK)
        return true;
    if (errno != EAGAIN)
        IPP_LOGW(self->log, "send failed: %s", zmq_strerror(errno));
    return false;
}

// ---------------------------------------------------------- tasks.c

// eng_tasks_receive: take a TASK_REQUEST: queue it (content and frames
// move out of msg), answer UNMET_DEPENDENCY, or ignore a duplicate.
void eng_tasks_receive(eng_daemon_t *self, wire_msg_t *msg);

// eng_tasks_receive_batch: take a TASK_BATCH: each task as
// eng_tasks_receive takes one. A bad batch is logged and nothing of it
// taken.
void eng_tasks_receive_batch(eng_daemon_t *self, wire_msg_t *msg);

// eng_tasks_flush: send the results finished since the last flush: one
// RESULT_BATCH per WIRE_BATCH_MAX when the controller takes them and
// there are several, else a TASK_RESULT each. Called before the loop
// sleeps (and when WIRE_BATCH_MAX wait); nothing while unregistered (the
// registration sends them all again).
void eng_tasks_flush(eng_daemon_t *self);

// eng_tasks_start: begin queued tasks while idle (quick ones finish
// inline).
void eng_tasks_start(eng_daemon_t *self);

// eng_tasks_collect: stop the call in progress if its wall-time limit
// passed; if the task in progress has finished (its runner or the worker
// is done), keep and send its result.
void eng_tasks_collect(eng_daemon_t *self);

// eng_tasks_deadline: mono µs by which eng_tasks_collect must run to
// enforce the wall-time limit of the call in progress; 0 = none.
int64_t eng_tasks_deadline(const eng_daemon_t *self);

// eng_tasks_abort: stop msg_id if it runs or waits here.
void eng_tasks_abort(eng_daemon_t *self, const char *msg_id);

// eng_tasks_ack: forget the results the controller acknowledged.
void eng_tasks_ack(eng_daemon_t *self, const Ipp__ResultAck *ack);

// eng_tasks_resend: send every result not acknowledged again.
void eng_tasks_resend(eng_daemon_t *self);

// eng_tasks_worker: the worker thread's body (arg: the daemon).
void *eng_tasks_worker(void *arg);

// eng_tasks_stop_worker: cancel every call handed to the worker and join
// it (what it had not finished is not sent).
void eng_tasks_stop_worker(eng_daemon_t *self);

// eng_tasks_fini: free every job and held result (the worker is joined
// and the runner gone).
void eng_tasks_fini(eng_daemon_t *self);

#endif
