/* sets.h — the engine sets of `ipp cluster` (sets.c): their rows in the
 * task database, the engines each has registered, starting them through
 * the launchers (launch.h) and stopping them. Used by cluster.c.
 */
#ifndef IPP_TOOLS_IPP_SETS_H
#define IPP_TOOLS_IPP_SETS_H

#include "db/sets.h"
#include "ipp/client.h"
#include "tools/ipp/cli.h"
#include "tools/ipp/launch.h"

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CS_ENGINES_PID "engines.pid"
#define CS_DB_PATH_FILE "cluster-db"
#define CS_MAX_ENGINES 1024
#define CS_CLIENT_KEY "client"

// cs_db_open: the cluster's task database, read-write; NULL after a message.
sqlite3 *cs_db_open(const char *dir, const char *db);

// cs_set_engines: the ids of set s's registered engines (alive only, or
// all) into ids (up to max); returns how many.
size_t cs_set_engines(ipp_client_t *client, int64_t set, bool alive_only, int *ids,
                      ipp_engine_info_t *pinfo, size_t max);

// cs_set_stop: stop set s: its engines through the controller (client may
// be NULL), then the launcher's own way, then any of its engines on this
// host still running; record it stopped (or failed) and revoke its key.
void cs_set_stop(sqlite3 *db, ipp_client_t *client, db_engine_set_t *s, const char *state,
                 double grace);

// cs_client_key: with Curve, the profile's default client key (named
// "client", its file PROFILE/security/keys/client.json), made once.
void cs_client_key(sqlite3 *db, ipp_client_t *client, const char *dir);

// cs_launch: start the sets of lx on the running controller (client
// connected, db open) and wait up to timeout for their engines. Every set
// is recorded; one that fails is stopped, reported with its log and
// recorded failed. Returns how many sets came up; their rows go to up[]
// (caller finis them).
size_t cs_launch(const cli_t *cli, const char *dir, sqlite3 *db, ipp_client_t *client,
                 lx_opts_t *lx, const char *eng_bin, double timeout, db_engine_set_t *up,
                 size_t max);

// cs_write_local_pids: the pids of the running local sets into
// PROFILE/engines.pid (as before engine sets existed).
void cs_write_local_pids(const char *dir, const db_engine_set_t *sets, size_t n);

// cs_set_sync_pids: make the pids column of live set id (state running or
// starting) say pids ("PID\n" per engine). Reads first and writes only
// when it differs, on the database's own connection as every writer of
// engine_sets does (the controller never writes that table, and WAL lets
// both work at once). Returns 1 written, 0 nothing to do (or the set is
// not live), -1 after a message.
int cs_set_sync_pids(sqlite3 *db, int64_t id, const char *pids);

// cs_replace_local_pids: in PROFILE/engines.pid, put the pids now in place
// of the pids old (that are no longer in now) -- only when the file holds
// any of either, that is when it lists this set.
void cs_replace_local_pids(const char *dir, const pid_t *old, size_t n_old, const pid_t *now,
                           size_t n_now);

#endif
