/* proc.h — processes of `ipp cluster` (tools/ipp/proc.c).
 *
 * Starting programs detached (own session, output to a log), running a
 * helper program (mpiexec --version, sbatch, squeue, ssh…) with a time
 * limit and reading what it prints, and checking and stopping pids. A pid
 * is only signalled after checking it still runs an ipp program (or, for
 * our own children and process groups, that it is ours), so a recycled
 * pid is left alone. Messages go to stderr through cli_error.
 */
#ifndef IPP_TOOLS_PROC_H
#define IPP_TOOLS_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

// proc_alive: pid runs (exists and is not a zombie).
bool proc_alive(pid_t pid);

// proc_is_ipp: pid runs a program whose command line names `what`
// ("ipp-engine", "ipp-controller", "mpiexec") in one of its first words.
bool proc_is_ipp(pid_t pid, const char *what);

// proc_ours: proc_alive and proc_is_ipp.
bool proc_ours(pid_t pid, const char *what);

// proc_read_pids: the pids in path, one per line, into pids (up to max);
// returns how many (0 when there is no file).
size_t proc_read_pids(const char *path, pid_t *pids, size_t max);

// proc_write_pids: pids, one per line, to path (temporary file, then
// rename). false (message printed) on failure.
bool proc_write_pids(const char *path, const pid_t *pids, size_t n);

// proc_executable: path names an executable regular file.
bool proc_executable(const char *path);

// proc_find_binary: an ipp program `name` — $env, else beside ipp, else in
// the build tree's build_sub/, else on $PATH — into out. false (message
// printed) when it is nowhere.
bool proc_find_binary(const char *name, const char *env, const char *build_sub, char *out,
                      size_t size);

// proc_on_path: name (or a path with a '/') as an executable on $PATH
// into out; false when there is none.
bool proc_on_path(const char *name, char *out, size_t size);

// proc_spawn: start argv[0] (a path) detached — new session, stdin
// /dev/null, stdout and stderr appended to log (0600), no other
// descriptors — with envp as its environment (NULL: ours). Returns the
// pid (also its process group), or -1 (message printed) when it could not
// be started; an exec failure is reported here.
pid_t proc_spawn(char *const *argv, char *const *envp, const char *log);

// proc_run: run argv (argv[0] looked up on $PATH) in its own process
// group, input (may be NULL) on its stdin, and wait up to timeout seconds
// for it to end; its stdout and stderr, together, into out (NUL-ended,
// cut to out_size). Returns its exit status (128+N for signal N), or -1
// when it could not be run or did not end in time (then killed; out says
// so). *status (may be NULL) gets the raw wait status.
int proc_run(char *const *argv, const char *input, double timeout, char *out, size_t out_size,
             int *status);

// proc_reaped: our child pid has exited (reaps it; *status, may be NULL,
// gets its wait status); false while it runs.
bool proc_reaped(pid_t pid, int *status);

// proc_describe_exit: "exited with status N" / "was killed by signal N".
void proc_describe_exit(int st, char *buf, size_t size);

// proc_tail: print the last `lines` lines of path to stderr under a header.
void proc_tail(const char *path, int lines);

// proc_terminate: stop pids (children of ours when `children`, else
// anyone's still running `what`): SIGTERM, up to grace seconds, SIGKILL.
// Stopped entries become 0. Returns how many needed SIGKILL.
int proc_terminate(pid_t *pids, size_t n, bool children, const char *what, double grace);

// proc_kill_group: SIGTERM to process group pgid (a session we started),
// up to grace seconds for it to go, then SIGKILL; reaps pgid if ours.
void proc_kill_group(pid_t pgid, double grace);

#endif
