/* db/sets.h — the engine sets table: what `ipp cluster` started, and how.
 *
 * One row per engine set (a launch of N engines by one launcher: local,
 * mpi, slurm or ssh): its launcher, how many engines were asked for, its
 * state ("running", "stopped", "failed"), the launcher's job id (the
 * Slurm job, or the pid of mpiexec), the hosts (ssh: "user@host:port"
 * per line), the pids it started ("host pid" per line, or a pid per line
 * for this host), the Curve key its engines use, its log, and when it was
 * made and stopped. Engines of set ID use uuids starting "setID-", so the
 * set's registered engines can be counted from the controller's list.
 *
 * Written and read by `ipp cluster` on its own connection (so status and
 * stop work from any shell and after a controller restart); the
 * controller never touches it.
 */
#ifndef IPP_DB_SETS_H
#define IPP_DB_SETS_H

#include "ipp/error.h"

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

// A set as stored; every string is malloc'd and owned by the struct.
typedef struct db_engine_set_t {
    int64_t id;       // its id (given by db_sets_add)
    char *launcher;   // "local", "mpi", "slurm", "ssh"
    int asked;        // engines asked for
    char *state;      // "running", "stopped", "failed"
    char *job_id;     // launcher's job (Slurm job id, mpiexec pid), or NULL
    char *hosts;      // hosts, one per line, or NULL
    char *pids;       // pids started, one per line ("host pid" for ssh), or NULL
    char *key_name;   // the Curve key of its engines, or NULL
    char *log;        // the launcher's log file, or NULL
    char *options;    // launcher options needed to reach it later (ssh: --ssh-args), or NULL
    int64_t created;  // µs UTC
    int64_t stopped;  // µs UTC, 0 = not stopped
} db_engine_set_t;

// db_set_fini: free what s holds (NULL-safe) and zero it.
void db_set_fini(db_engine_set_t *s);

// db_sets_add: record s (launcher, asked, state and created needed; the
// rest may be NULL/0) and put its new id in s->id. IPP_ERR_DB on failure.
ipp_err_t db_sets_add(sqlite3 *db, db_engine_set_t *s, ipp_error_t *err);

// db_sets_update: write every field of s over row s->id.
// IPP_ERR_NOT_FOUND when there is no such row.
ipp_err_t db_sets_update(sqlite3 *db, const db_engine_set_t *s, ipp_error_t *err);

// db_sets_list: the sets (all, or only those in state `state` when not
// NULL) by id, into a malloc'd array *out of *n (caller frees each with
// db_set_fini, then the array; NULL when there are none).
ipp_err_t db_sets_list(sqlite3 *db, const char *state, db_engine_set_t **out, size_t *n,
                       ipp_error_t *err);

#endif
