/* runner.h — one command task as a child process, driven by the engine's
 * event loop.
 *
 * eng_runner_new starts the command (argv with a PATH search, or a shell
 * string through /bin/sh -c) in its own process group with pipes for
 * stdin, stdout and stderr, then never blocks: the loop polls the fds from
 * eng_runner_pollfds (plus eng_runner_timeout_ms for the wall-time limit
 * and grace periods) and calls eng_runner_poll whenever one is ready or the
 * timeout passed, until it reports done; then the result is read or taken.
 * eng_runner_wait does all that in a private poll() loop.
 *
 * Policy: status OK only for exit 0. Non-zero exit → "CommandFailed"; a
 * signal → "CommandKilled"; the program not found → "CommandNotFound";
 * any other failure to start (cwd, permissions, fork) → "ExecError"; over
 * the wall-time limit → SIGTERM to the group, SIGKILL after the grace,
 * "WallTimeExceeded"; aborted → SIGKILL to the group, status ABORTED,
 * "TaskAborted". When the command's own process ends, whatever it left
 * running in its process group is killed (unless keep_strays), and its
 * pipes are drained until end of file or for drain_grace_us at most.
 *
 * With a guard (engine/guard.h) the command's group is killed when the
 * engine dies, kill -9 included; the child also carries
 * PR_SET_PDEATHSIG(SIGKILL), which fires when the thread that created the
 * runner ends, so create runners on a thread that lives as long as they do.
 *
 * SIGPIPE: writing stdin to a child that has gone never raises SIGPIPE in
 * the engine (it is blocked around the write and any pending one consumed),
 * whatever the engine's disposition is. Children start with every signal
 * at its default and none blocked, and inherit no fd but stdio.
 *
 * The runner reaps its own child: the rest of the engine must not reap
 * with waitpid(-1) nor set SIGCHLD to SIG_IGN, or exit statuses are lost
 * (the result then says so).
 */
#ifndef IPP_ENGINE_RUNNER_H
#define IPP_ENGINE_RUNNER_H

#include "engine/guard.h"
#include "engine/result.h"
#include "ipp/error.h"
#include "proto/log.h"

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

// Most fds a runner asks to poll at once: exit notification, stdin,
// stdout, stderr.
#define ENG_RUNNER_MAX_FDS 4
// Defaults for the zero values in eng_command_t.
#define ENG_RUNNER_KILL_GRACE_US ((int64_t)2000000)
#define ENG_RUNNER_DRAIN_GRACE_US ((int64_t)500000)

typedef struct eng_runner_t eng_runner_t;

// An environment addition: name=value on top of the engine's environment;
// value NULL removes name.
typedef struct eng_envvar_t {
    const char *name;   // variable name: non-empty, no '='
    const char *value;  // its value, or NULL to unset
} eng_envvar_t;

// What to run. Everything is borrowed only for the eng_runner_new call.
typedef struct eng_command_t {
    const char *const *argv;  // program and arguments (argv[0] searched on PATH)
    size_t argc;              // entries in argv
    const char *shell;        // if set: /bin/sh -c shell, argv giving $0 $1 …
    const eng_envvar_t *env;  // environment additions
    size_t nenv;              // entries in env
    const char *cwd;          // working directory; NULL = the engine's
    const void *stdin_data;   // bytes for stdin; NULL = /dev/null
    size_t stdin_len;         // their length
    int64_t wall_limit_us;    // wall-time limit; 0 = none
    size_t stdout_limit;      // bytes of stdout kept; 0 = 1 MiB
    size_t stderr_limit;      // bytes of stderr kept; 0 = 1 MiB
    int64_t kill_grace_us;    // SIGTERM → SIGKILL delay; 0 = 2 s
    int64_t drain_grace_us;   // output drain after exit; 0 = 0.5 s
    bool keep_strays;         // leave the group's other processes running
                              // (they are not guarded then)
    eng_guard_t *guard;       // kills the group if the engine dies (borrowed,
                              // must outlive the runner); NULL = unguarded
    bool poll_for_exit;       // no pidfd: look for the exit every 10 ms (the
                              // fallback for kernels before 5.3; tests use it)
} eng_command_t;

// eng_runner_new: start cmd now. Caller owns the runner. Returns NULL only
// when out of memory; when the command is invalid or cannot be started the
// runner is already done with an error result ("InvalidCommand",
// "ExecError"). lg (borrowed, may be NULL) must outlive the runner.
eng_runner_t *eng_runner_new(const eng_command_t *cmd, const ipp_logger_t *lg);

// eng_runner_destroy: if still running, SIGKILL the process group and
// reap the child (blocking briefly); close everything; sets *self_p = NULL.
// NULL-safe.
void eng_runner_destroy(eng_runner_t **self_p);

// eng_runner_pollfds: the fds to poll now (POLLIN / POLLOUT in events),
// at most ENG_RUNNER_MAX_FDS, written to fds[0..cap); returns how many.
// The set changes as pipes close: ask again before every poll.
size_t eng_runner_pollfds(const eng_runner_t *self, struct pollfd *fds, size_t cap);

// eng_runner_timeout_ms: ms until the runner must be polled even with no
// fd ready (wall limit, kill grace, drain grace); -1 when no deadline; 0
// when it is due or done.
int eng_runner_timeout_ms(const eng_runner_t *self);

// eng_runner_poll: do everything that can be done without blocking: feed
// stdin, drain output, act on deadlines, reap the child. Returns true once
// the runner is done.
bool eng_runner_poll(eng_runner_t *self);

// eng_runner_done: whether the result is final.
bool eng_runner_done(const eng_runner_t *self);

// eng_runner_wait: poll until done or timeout_us passes (< 0 = no limit).
// IPP_OK when done, IPP_ERR_TIMEOUT otherwise, IPP_ERR_IO if poll() fails.
ipp_err_t eng_runner_wait(eng_runner_t *self, int64_t timeout_us);

// eng_runner_abort: kill the command's process group with SIGKILL now;
// the result (after the next polls) has status ABORTED. No effect once the
// command has ended.
void eng_runner_abort(eng_runner_t *self);

// eng_runner_pid: the child's pid (also its process group id) while it
// has not been reaped; 0 before start, after reaping, or if never started.
pid_t eng_runner_pid(const eng_runner_t *self);

// eng_runner_result: the result, borrowed (valid until take or destroy);
// NULL until done.
const eng_result_t *eng_runner_result(const eng_runner_t *self);

// eng_runner_take_result: move the result into *out (fini'ed first;
// caller owns it then). IPP_ERR_PENDING while not done.
ipp_err_t eng_runner_take_result(eng_runner_t *self, eng_result_t *out);

#endif
