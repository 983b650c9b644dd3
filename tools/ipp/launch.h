/* launch.h — the engine launchers of `ipp cluster` (tools/ipp/launch.c).
 *
 * A launcher starts one engine set: `local` (ipp-engine processes of
 * ours), `mpi` (one mpiexec -n N), `slurm` (one sbatch job whose batch
 * script runs the engines under srun) or `ssh` (ipp-engine processes on
 * another host, one set per host). The engines of set ID get uuids
 * starting "setID-" (db/sets.h) and find the controller from the
 * connection info they are given: a file (local, slurm: shared file
 * system), $IPP_CONNECTION_INFO (mpi), or the same JSON on ssh's stdin
 * (ssh: no shared file system). What a launch started is written into the
 * set's row fields so that state and stop work from any later process.
 */
#ifndef IPP_TOOLS_LAUNCH_H
#define IPP_TOOLS_LAUNCH_H

#include "db/sets.h"
#include "tools/ipp/cli.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

// The options of a launch, from the command line.
typedef struct lx_opts_t {
    const char *launcher;        // "local", "mpi", "slurm", "ssh"
    long n;                      // engines (ssh: per host without /N)
    bool n_given;                // -n was given
    cli_strv_t tags;             // --tag
    const char *mpiexec;         // --mpiexec (default: mpiexec on $PATH)
    const char *mpi_args;        // --mpi-args, split at white space
    const char *batch_template;  // --batch-template FILE
    const char *partition;       // --partition (also {queue})
    const char *account;         // --account
    const char *time_limit;      // --time
    const char *qos;             // --qos
    cli_strv_t sbatch_args;      // --sbatch-arg
    const char *hosts;           // --hosts
    const char *hosts_file;      // --hosts-file
    const char *remote_engine;   // --remote-engine PATH
    const char *remote_log_dir;  // --remote-log-dir (default /tmp)
    const char *ssh_args;        // --ssh-args, split at white space
    const char *location;        // --location ADDR: where engines reach the controller
    int restart;                 // --restart-engines 1, --no-restart-engines -1, else 0
} lx_opts_t;

// Options for getopt tables (values from LX_O_FIRST up), and their help.
enum {
    LX_O_FIRST = 1200,
    LX_O_LAUNCHER = LX_O_FIRST,
    LX_O_MPIEXEC,
    LX_O_MPI_ARGS,
    LX_O_TEMPLATE,
    LX_O_PARTITION,
    LX_O_ACCOUNT,
    LX_O_TIME,
    LX_O_QOS,
    LX_O_SBATCH_ARG,
    LX_O_HOSTS,
    LX_O_HOSTS_FILE,
    LX_O_REMOTE_ENGINE,
    LX_O_REMOTE_LOG_DIR,
    LX_O_SSH_ARGS,
    LX_O_LOCATION,
    LX_O_RESTART,
    LX_O_NO_RESTART,
};
#define LX_OPTIONS                                                                                 \
    {"engines", required_argument, NULL, LX_O_LAUNCHER},                                           \
        {"mpiexec", required_argument, NULL, LX_O_MPIEXEC},                                        \
        {"mpi-args", required_argument, NULL, LX_O_MPI_ARGS},                                      \
        {"batch-template", required_argument, NULL, LX_O_TEMPLATE},                                \
        {"partition", required_argument, NULL, LX_O_PARTITION},                                    \
        {"account", required_argument, NULL, LX_O_ACCOUNT},                                        \
        {"time", required_argument, NULL, LX_O_TIME}, {"qos", required_argument, NULL, LX_O_QOS},  \
        {"sbatch-arg", required_argument, NULL, LX_O_SBATCH_ARG},                                  \
        {"hosts", required_argument, NULL, LX_O_HOSTS},                                            \
        {"hosts-file", required_argument, NULL, LX_O_HOSTS_FILE},                                  \
        {"remote-engine", required_argument, NULL, LX_O_REMOTE_ENGINE},                            \
        {"remote-log-dir", required_argument, NULL, LX_O_REMOTE_LOG_DIR},                          \
        {"ssh-args", required_argument, NULL, LX_O_SSH_ARGS},                                      \
        {"restart-engines", no_argument, NULL, LX_O_RESTART},                                      \
        {"no-restart-engines", no_argument, NULL, LX_O_NO_RESTART},                                \
    {                                                                                              \
        "location", required_argument, NULL, LX_O_LOCATION                                         \
    }
#define LX_HELP                                                                                    \
    "  --engines KIND         launcher: local (default), mpi, slurm or ssh (a number\n"            \
    "                         is taken as -n, as before)\n"                                        \
    "  --tag TAG              give every engine of the set this tag (--require tag:TAG)\n"         \
    "  --location ADDR        the address engines connect to (default: the controller's)\n"        \
    "  --restart-engines      start an engine that dies again, same engine id (the\n"              \
    "                         default for local; ssh: a watcher asks the host every 2 s;\n"        \
    "                         refused for mpi and slurm); --no-restart-engines: do not\n"          \
    " mpi:   mpiexec -n N ipp-engine; each engine has the tag rank=K\n"                            \
    "  --mpiexec PATH         the mpiexec to run (default: mpiexec on $PATH)\n"                    \
    "  --mpi-args \"ARGS\"      more arguments for mpiexec (split at white space)\n"               \
    " slurm: sbatch of a batch script whose `srun` starts the engines\n"                           \
    "  --batch-template FILE  your batch script template ({n}, {queue}, {profile_dir},\n"          \
    "                         {cluster_id}, {output_file}, {program_and_args}; {{ }} for\n"        \
    "                         literal braces)\n"                                                   \
    "  --partition P, --account A, --time T, --qos Q, --sbatch-arg ARG (repeatable):\n"            \
    "                         added as #SBATCH lines unless the template has them\n"               \
    " ssh:   engines started over ssh, one set per host; connection info on ssh's stdin\n"         \
    "  --hosts [USER@]HOST[:PORT][/N],...   hosts (N engines there; default -n, else 1)\n"         \
    "  --hosts-file F         the same, one host per line (# comments)\n"                          \
    "  --remote-engine PATH   ipp-engine on the hosts (default: this one's path)\n"                \
    "  --remote-log-dir DIR   engine logs on the hosts (default /tmp)\n"                           \
    "  --ssh-args \"ARGS\"      more arguments for ssh (e.g. \"-i KEY -F CONFIG\")\n"

// lx_option: take option c (an LX_O_* value) with its argument into o.
// Returns 1 when taken, 0 when c is not a launcher option, -1 after a
// usage message for a bad value.
int lx_option(lx_opts_t *o, const cli_cmd_t *cmd, int c, const char *arg);

// lx_check: the options make sense together and their files and programs
// exist (mpiexec, sbatch, ssh; a template that parses; hosts that parse).
// Nothing is started. CLI_OK, or after a message CLI_USAGE (options that
// do not go together) or CLI_FAILED (a program, file or host that is not
// right).
int lx_check(const lx_opts_t *o, const cli_cmd_t *cmd);

// lx_check_reach: engines of o can reach a controller whose connection
// files name ip (--location, when given, stands for it): an ssh host other
// than this one cannot reach a loopback address. CLI_OK, or CLI_FAILED
// after a message saying why.
int lx_check_reach(const lx_opts_t *o, const char *ip);

// lx_n_sets: how many sets a launch makes (ssh: one per host, else 1).
size_t lx_n_sets(const lx_opts_t *o);

// What a launch needs from the cluster.
typedef struct lx_env_t {
    const char *profile;    // profile name (also {cluster_id})
    const char *dir;        // profile folder
    const char *eng_bin;    // ipp-engine here
    const char *conn_file;  // engine connection file for this set (0600)
    const char *conn_json;  // the same as one line of JSON
    const char *conn_ip;    // the address in it
    const char *db_path;    // the task database holding the set's row
} lx_env_t;

// lx_launch: start set k (of lx_n_sets) as s (s->id given; s->launcher
// and s->asked set here), filling s->job_id, hosts, pids and log. false
// after a message (and the launcher's last lines); then nothing of the
// set is left running.
bool lx_launch(const lx_opts_t *o, size_t k, const lx_env_t *env, db_engine_set_t *s);

// lx_failed: the launcher of s has ended before its engines (why gets the
// reason); false while it runs or when it cannot tell.
bool lx_failed(const db_engine_set_t *s, char *why, size_t size);

// What lx_state found besides its text.
typedef struct lx_view_t {
    bool running;    // anything of the set still runs (or it cannot tell)
    bool unwatched;  // local: engines run but their watcher is gone
    int restarts;    // local: restarts by the watcher so far
    int lost;        // local: engines the watcher gave up
} lx_view_t;

// lx_state: the launcher's own view of s, for status ("mpiexec pid 12
// running", "RUNNING", "2 of 2 pids alive", "2 pids alive, 1 restart, 0
// lost; watcher pid 7 running"), and *v.
void lx_state(const db_engine_set_t *s, char *buf, size_t size, lx_view_t *v);

// lx_stop: end everything of s (SIGTERM then SIGKILL, scancel, kill over
// ssh), waiting up to grace seconds. Returns false (message printed) when
// something could not be stopped.
bool lx_stop(const db_engine_set_t *s, double grace);

// lx_nanny_main: `ipp cluster nanny DIR SET N ENGINE CONN DB [TAG...]`,
// the watcher of a local set started with --restart-engines (nanny.c), or
// `... DIR SET N - - DB ssh HOSTS OPTIONS WHICH BIN LOGDIR PIDS [TAG...]`
// of an ssh set (connection info in $IPP_CONNECTION_INFO);
// runs until SIGTERM or until no engine is left. Keeps the set's pids in
// DB's engine_sets row and in PROFILE/engines.pid. Returns a CLI_* code.
int lx_nanny_main(int argc, char **argv);

// lx_nanny_state: what the nanny of local set `set` last wrote (restarts
// in all, engines lost, their current pids into pids up to max: *n_pids);
// false when the set has no nanny file.
bool lx_nanny_state(const char *dir, int64_t set, int *restarts, int *lost, pid_t *pids, size_t max,
                    size_t *n_pids);

// lx_rewatch: start a new watcher for local set s (running, its watcher
// gone), taking over its engines that run and starting those that do not
// (nanny.c); it records pids in db_path. *job_id gets its pid (malloc'd)
// for the set's row. false after a message.
bool lx_rewatch(const db_engine_set_t *s, const char *db_path, char **job_id);

// lx_ssh_script: the remote shell script that starts engines FROM..TO-1
// of ssh set `set` (host `which`) detached, uuids setSET-hWHICH-eI, one
// pid per line on stdout; the connection info is its first line of stdin.
// malloc'd; NULL when out of memory.
char *lx_ssh_script(const char *bin, const char *ldir, char *const *tags, size_t n_tags,
                    int64_t set, size_t which, long from, long to);
// lx_ssh_run: run cmd over ssh on hosts ("[USER@]HOST[:PORT]", as an ssh
// set records it) with ssh options (white space separated; NULL for
// none), input on its stdin; its output into out. Returns ssh's exit code
// (255: could not connect), -1 when hosts does not parse.
int lx_ssh_run(const char *hosts, const char *options, char *cmd, const char *input, double timeout,
               char *out, size_t size);
// lx_fini: free what o holds.
void lx_fini(lx_opts_t *o);

// ---- slurm.c
// The values of a batch template's variables (borrowed strings).
typedef struct lx_vars_t {
    const char *n, *queue, *profile_dir, *cluster_id, *output_file, *program_and_args;
} lx_vars_t;

// lx_slurm_script: the batch script for vars: o's --batch-template (or the
// default) filled, with the #SBATCH lines of the options it lacks
// (--partition, --account, --time, --qos, --sbatch-arg) after its first
// line when that is "#!...", else at the top.
// malloc'd (caller frees); NULL after a message on stderr naming what.
char *lx_slurm_script(const lx_opts_t *o, const lx_vars_t *vars);

#endif
