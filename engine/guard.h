/* guard.h — eng_guard_t: a process that kills the engine's commands when
 * the engine dies, however it dies (kill -9 included).
 *
 * Why a process of its own. An engine killed with SIGKILL runs no cleanup
 * code, and the kernel does not kill a dead process's children: they are
 * reparented to init and go on, while the controller retries the task
 * elsewhere, so the work would run twice at once. PR_SET_PDEATHSIG alone
 * reaches only the direct child (the shell), never what it started in
 * the background; a subreaper only collects orphans, it kills nothing,
 * and the engine cannot be its own subreaper once it is dead. So the
 * engine keeps one small guard process, forked when the engine starts,
 * that holds the read end of a pipe whose only write ends are the
 * engine's (close-on-exec, so no command inherits one). Every command
 * runs in its own process group, and its first act after fork, before
 * exec, is to write its group id down that pipe (runner.c); the runner
 * writes the id again, negated, before it reaps the command, once the
 * group has been killed. When the engine dies the kernel closes its end
 * of the pipe, the guard reads end of file and SIGKILLs every group still
 * listed, then exits. The window before the child's write is closed by
 * PR_SET_PDEATHSIG(SIGKILL) on the child, checked against getppid()
 * after the prctl (runner.c). What a command moves out of its process
 * group on purpose (setsid, setpgid) is not followed.
 *
 * The guard ignores the signals a terminal or a stop sends (INT, TERM,
 * HUP, QUIT), sits in a process group of its own so a signal to the
 * engine's group does not reach it, and calls only async-signal-safe
 * functions after fork, so the engine may have threads when it starts.
 */
#ifndef IPP_ENGINE_GUARD_H
#define IPP_ENGINE_GUARD_H

#include "ipp/error.h"
#include "proto/log.h"

#include <stdbool.h>
#include <sys/types.h>

// Most groups held at once (the engine runs one command at a time; the
// limit only bounds the guard's table).
#define ENG_GUARD_MAX 64

typedef struct eng_guard_t eng_guard_t;

// eng_guard_new: fork the guard process. NULL with err filled when the
// pipe or the fork fails. lg (borrowed, may be NULL) must outlive it.
// Caller owns the result.
eng_guard_t *eng_guard_new(const ipp_logger_t *lg, ipp_error_t *err);

// eng_guard_destroy: close the pipe (the guard kills whatever is still
// listed and exits) and reap the guard; NULL-safe, sets *self_p = NULL.
void eng_guard_destroy(eng_guard_t **self_p);

// eng_guard_hold: reserve a slot for a command about to be forked; its
// child then writes its group to eng_guard_fd. IPP_ERR_INVALID with err
// filled past ENG_GUARD_MAX, IPP_ERR_CLOSED if the guard has died.
ipp_err_t eng_guard_hold(eng_guard_t *self, ipp_error_t *err);

// eng_guard_fd: the pipe's write end, for the child (write 4 bytes, the
// int32 group id; async-signal-safe). Borrowed; close-on-exec.
int eng_guard_fd(const eng_guard_t *self);

// eng_guard_release: the group pgid needs no guarding any more (it has
// been killed, or its child never started); frees the slot eng_guard_hold
// reserved. Call it before reaping the group's leader, so the id cannot
// have been reused when the guard acts on it.
void eng_guard_release(eng_guard_t *self, pid_t pgid);

// eng_guard_alive: whether the guard process still runs (reaps it if not).
bool eng_guard_alive(eng_guard_t *self);

// eng_guard_pid: the guard's pid, 0 once reaped.
pid_t eng_guard_pid(const eng_guard_t *self);

#endif
