/* sets.c — the engine sets of `ipp cluster` (see sets.h). */
#include "tools/ipp/sets.h"

#include "db/keys.h"
#include "db/schema.h"
#include "db/sets.h"
#include "proto/clock.h"
#include "proto/conn.h"
#include "tools/ipp/launch.h"
#include "tools/ipp/proc.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

// ------------------------------------------------------------ engine sets

// s_db_path: the task database of the cluster: db, else the one the last
// start recorded, else PROFILE/db/tasks.db.
static void s_db_path(const char *dir, const char *db, char *out, size_t size)
{
    if (db) {
        snprintf(out, size, "%s", db);
        return;
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, CS_DB_PATH_FILE);
    FILE *f = fopen(path, "r");
    if (f) {
        bool ok = fgets(out, (int)size, f) != NULL;
        fclose(f);
        out[strcspn(out, "\n")] = '\0';
        if (ok && out[0])
            return;
    }
    snprintf(out, size, "%s/db/tasks.db", dir);
}

// cs_db_open: the cluster's task database, read-write; NULL after a message.
sqlite3 *cs_db_open(const char *dir, const char *db)
{
    char path[4200];
    s_db_path(dir, db, path, sizeof path);
    static const ipp_logger_t quiet = {IPP_LOG_ERROR, NULL, "ipp"};
    ipp_error_t err;
    sqlite3 *h = db_schema_open(path, DB_OPEN_READWRITE, &quiet, &err);
    if (!h)
        cli_error("%s", err.msg);
    return h;
}

// s_set_prefix: "setID-", the uuid prefix of set id's engines.
static void s_set_prefix(int64_t id, char *buf, size_t size)
{
    snprintf(buf, size, "set%lld-", (long long)id);
}

// cs_set_engines: the ids of set s's registered engines (alive only, or
// all) into ids (up to max); returns how many.
size_t cs_set_engines(ipp_client_t *client, int64_t set, bool alive_only, int *ids,
                      ipp_engine_info_t *pinfo, size_t max)
{
    if (!client)
        return 0;
    static ipp_engine_info_t info[CS_MAX_ENGINES];
    size_t n = ipp_client_engines(client, info, CS_MAX_ENGINES), k = 0;
    char prefix[32];
    s_set_prefix(set, prefix, sizeof prefix);
    size_t pl = strlen(prefix);
    for (size_t i = 0; i < n && i < CS_MAX_ENGINES && k < max; i++) {
        if (!info[i].uuid || strncmp(info[i].uuid, prefix, pl) != 0)
            continue;
        if (alive_only && !info[i].alive)
            continue;
        if (pinfo)
            pinfo[k] = info[i];
        ids[k++] = info[i].id;
    }
    return k;
}

// s_tell_keys: ask the controller to read key name again (best effort).
static void s_tell_keys(ipp_client_t *client, const char *name)
{
    if (!client)
        return;
    ipp_error_t err;
    const char *names[1] = {name};
    if (ipp_client_keys_reload(client, names, 1, NULL, &err) != IPP_OK)
        cli_error("warning: the controller did not read key %s: %s", name, err.msg);
}

// s_set_update: write s back; a failure is said, not fatal.
static void s_set_update(sqlite3 *db, const db_engine_set_t *s)
{
    ipp_error_t err;
    if (db_sets_update(db, s, &err) != IPP_OK)
        cli_error("warning: %s", err.msg);
}

// cs_set_stop: stop set s: its engines through the controller (client may
// be NULL), then the launcher's own way, then any of its engines on this
// host still running; record it stopped (or failed) and revoke its key.
void cs_set_stop(sqlite3 *db, ipp_client_t *client, db_engine_set_t *s, const char *state,
                 double grace)
{
    int ids[CS_MAX_ENGINES];
    ipp_engine_info_t info[CS_MAX_ENGINES];
    ipp_error_t err;
    size_t n = 0;
    if (client && ipp_client_refresh_engines(client, &err) == IPP_OK)
        n = cs_set_engines(client, s->id, true, ids, info, CS_MAX_ENGINES);
    // Engines of the set on this host, in case they outlive their launcher
    // (the client's strings last only until its next refresh).
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    pid_t left[CS_MAX_ENGINES];
    size_t nl = 0;
    for (size_t i = 0; i < n; i++)
        if (info[i].pid > 0 && info[i].hostname && strcmp(info[i].hostname, host) == 0 &&
            strcmp(s->launcher, "ssh") != 0)
            left[nl++] = info[i].pid;
    if (n && ipp_client_shutdown(client, ids, n, false, NULL, NULL, &err) == IPP_OK) {
        int64_t until = ipp_clock_mono_us() + (int64_t)(grace * 1e6);
        while (ipp_clock_mono_us() < until) {
            if (ipp_client_refresh_engines(client, &err) != IPP_OK ||
                cs_set_engines(client, s->id, true, ids, NULL, CS_MAX_ENGINES) == 0)
                break;
            usleep(100000);
        }
    }
    lx_stop(s, grace);
    proc_terminate(left, nl, false, "ipp-engine", 2);
    free(s->state);
    s->state = strdup(state);
    s->stopped = ipp_clock_now_us();
    s_set_update(db, s);
    if (s->key_name) {
        if (db_keys_revoke(db, s->key_name, ipp_clock_now_us(), &err) == IPP_OK)
            s_tell_keys(client, s->key_name);
    }
}

// s_connection_for: the engine connection info of a new set: the
// profile's engine file, with --location's address, and with Curve a new
// engine key recorded as "setID" (its file PROFILE/security/keys/setID.json,
// 0600). conn_file (0600) and *json (malloc'd, one line, caller wipes and
// frees) get it. false after a message.
static bool s_connection_for(sqlite3 *db, ipp_client_t *client, const char *dir,
                             const char *location, db_engine_set_t *s, char *conn_file, size_t size,
                             char **json, char *ip, size_t ip_size)
{
    char path[4200];
    conn_info_t info;
    ipp_error_t err;
    if (conn_file_path(dir, CONN_ENGINE, path, sizeof path, &err) != IPP_OK ||
        conn_read(path, CONN_ENGINE, &info, &err) != IPP_OK) {
        cli_error("%s", err.msg);
        return false;
    }
    bool own = false;
    if (location) {
        snprintf(info.ip, sizeof info.ip, "%s", location);
        own = true;
    }
    if (info.curve_server_key[0]) {
        char name[64];
        snprintf(name, sizeof name, "set%lld", (long long)s->id);
        db_curve_key_t k;
        memset(&k, 0, sizeof k);
        snprintf(k.name, sizeof k.name, "%s", name);
        k.role = DB_ROLE_ENGINE;
        k.created = ipp_clock_now_us();
        if (zmq_curve_keypair(info.curve_public_key, info.curve_secret_key) != 0) {
            cli_error("cannot make a key pair: %s", zmq_strerror(zmq_errno()));
            sodium_memzero(&info, sizeof info);
            return false;
        }
        memcpy(k.public_key, info.curve_public_key, sizeof k.public_key);
        snprintf(info.key_name, sizeof info.key_name, "%s", name);
        if (db_keys_add(db, &k, &err) != IPP_OK) {
            cli_error("%s", err.msg);
            sodium_memzero(&info, sizeof info);
            return false;
        }
        s->key_name = strdup(name);
        s_tell_keys(client, name);
        own = true;
    }
    snprintf(ip, ip_size, "%s", info.ip);
    if (own) {
        snprintf(path, sizeof path, "%s/security/keys", dir);
        if (mkdir(path, 0700) != 0 && errno != EEXIST) {
            cli_error("cannot create %s: %s", path, strerror(errno));
            sodium_memzero(&info, sizeof info);
            return false;
        }
        snprintf(path, sizeof path, "%s/security/keys/set%lld.json", dir, (long long)s->id);
        if (conn_write(path, &info, &err) != IPP_OK) {
            cli_error("%s", err.msg);
            sodium_memzero(&info, sizeof info);
            return false;
        }
    }
    snprintf(conn_file, size, "%s", path);
    *json = conn_format(&info);
    sodium_memzero(&info, sizeof info);
    if (!*json) {
        cli_error("out of memory");
        return false;
    }
    for (char *p = *json; *p; p++)
        if (*p == '\n')
            *p = ' ';
    return true;
}

// cs_client_key: with Curve, the profile's default client key (named
// "client", its file PROFILE/security/keys/client.json), made once.
void cs_client_key(sqlite3 *db, ipp_client_t *client, const char *dir)
{
    ipp_error_t err;
    db_curve_key_t k;
    if (db_keys_get(db, CS_CLIENT_KEY, &k, &err) == IPP_OK)
        return;
    char path[4200];
    conn_info_t info;
    if (conn_file_path(dir, CONN_CLIENT, path, sizeof path, &err) != IPP_OK ||
        conn_read(path, CONN_CLIENT, &info, &err) != IPP_OK || !info.curve_server_key[0]) {
        sodium_memzero(&info, sizeof info);
        return;
    }
    memset(&k, 0, sizeof k);
    snprintf(k.name, sizeof k.name, "%s", CS_CLIENT_KEY);
    k.role = DB_ROLE_CLIENT;
    k.created = ipp_clock_now_us();
    snprintf(info.key_name, sizeof info.key_name, "%s", CS_CLIENT_KEY);
    snprintf(path, sizeof path, "%s/security/keys", dir);
    if ((mkdir(path, 0700) != 0 && errno != EEXIST) ||
        zmq_curve_keypair(info.curve_public_key, info.curve_secret_key) != 0) {
        sodium_memzero(&info, sizeof info);
        cli_error("warning: no default client key: cannot make %s", path);
        return;
    }
    memcpy(k.public_key, info.curve_public_key, sizeof k.public_key);
    snprintf(path, sizeof path, "%s/security/keys/%s.json", dir, CS_CLIENT_KEY);
    if (db_keys_add(db, &k, &err) != IPP_OK || conn_write(path, &info, &err) != IPP_OK) {
        cli_error("warning: no default client key: %s", err.msg);
    } else {
        s_tell_keys(client, CS_CLIENT_KEY);
        printf("client key %s: %s (mode 0600; ipp --connection %s)\n", CS_CLIENT_KEY, path, path);
    }
    sodium_memzero(&info, sizeof info);
}

// cs_launch: start the sets of lx on the running controller (client
// connected, db open) and wait up to timeout for their engines. Every set
// is recorded; one that fails is stopped, reported with its log and
// recorded failed. Returns how many sets came up; their rows go to up[]
// (caller finis them).
size_t cs_launch(const cli_t *cli, const char *dir, sqlite3 *db, ipp_client_t *client,
                 lx_opts_t *lx, const char *eng_bin, double timeout, db_engine_set_t *up,
                 size_t max)
{
    size_t n_sets = lx_n_sets(lx), n_up = 0;
    const char *kind = lx->launcher ? lx->launcher : "local";
    ipp_error_t err;
    for (size_t k = 0; k < n_sets && n_up < max; k++) {
        db_engine_set_t s;
        memset(&s, 0, sizeof s);
        s.launcher = strdup(kind);
        s.state = strdup("starting");
        s.asked = (int)lx->n;
        s.created = ipp_clock_now_us();
        if (!s.launcher || !s.state || db_sets_add(db, &s, &err) != IPP_OK) {
            cli_error("%s", s.launcher && s.state ? err.msg : "out of memory");
            db_set_fini(&s);
            continue;
        }
        char conn_file[4200], ip[64];
        char *json = NULL;
        bool ok = s_connection_for(db, client, dir, lx->location, &s, conn_file, sizeof conn_file,
                                   &json, ip, sizeof ip);
        const char *db_path = sqlite3_db_filename(db, "main");
        lx_env_t env = {cli->profile, dir, eng_bin, conn_file, json, ip, db_path};
        ok = ok && lx_launch(lx, k, &env, &s);
        if (json) {
            sodium_memzero(json, strlen(json));
            free(json);
        }
        if (!ok) {
            cli_error("engine set %lld (%s%s%s) not started", (long long)s.id, kind,
                      s.hosts ? " on " : "", s.hosts ? s.hosts : "");
            cs_set_stop(db, client, &s, "failed", 2);
            db_set_fini(&s);
            continue;
        }
        free(s.state);
        s.state = strdup("running");
        s_set_update(db, &s);
        up[n_up++] = s;
    }
    // Wait for their engines, watching the launchers.
    int64_t until = ipp_clock_mono_us() + (int64_t)(timeout * 1e6);
    int64_t next_check = 0;
    bool *done = calloc(n_up ? n_up : 1, sizeof *done);
    if (!done) {
        cli_error("out of memory");
        return n_up;
    }
    for (;;) {
        size_t waiting = 0;
        bool refreshed = ipp_client_refresh_engines(client, &err) == IPP_OK;
        int64_t now = ipp_clock_mono_us();
        bool check = now >= next_check;
        if (check)
            next_check = now + 1000000;
        for (size_t i = 0; i < n_up; i++) {
            if (done[i])
                continue;
            int ids[CS_MAX_ENGINES];
            size_t reg =
                refreshed ? cs_set_engines(client, up[i].id, true, ids, NULL, CS_MAX_ENGINES) : 0;
            if ((int)reg >= up[i].asked) {
                done[i] = true;
                continue;
            }
            char why[512];
            bool failed = check && lx_failed(&up[i], why, sizeof why);
            bool late = now >= until;
            if (failed || late) {
                if (failed)
                    cli_error("engine set %lld (%s): %s", (long long)up[i].id, up[i].launcher, why);
                else
                    cli_error("engine set %lld (%s): %zu of %d engines registered within %.0f s",
                              (long long)up[i].id, up[i].launcher, reg, up[i].asked, timeout);
                if (up[i].log && !strchr(up[i].log, '*'))
                    proc_tail(up[i].log, 15);
                else if (up[i].log) {
                    char first[4200];
                    snprintf(first, sizeof first, "%s/log/engine-0.log", dir);
                    proc_tail(first, 10);
                }
                cs_set_stop(db, client, &up[i], "failed", 2);
                db_set_fini(&up[i]);
                done[i] = true;
                up[i].id = -1;
                continue;
            }
            waiting++;
        }
        if (!waiting)
            break;
        usleep(200000);
    }
    free(done);
    // Keep the ones that came up, in order.
    size_t k = 0;
    for (size_t i = 0; i < n_up; i++)
        if (up[i].id > 0)
            up[k++] = up[i];
    return k;
}

// cs_write_local_pids: the pids of the running local sets into
// PROFILE/engines.pid (as before engine sets existed).
void cs_write_local_pids(const char *dir, const db_engine_set_t *sets, size_t n)
{
    pid_t pids[CS_MAX_ENGINES];
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(sets[i].launcher, "local") != 0 || !sets[i].pids)
            continue;
        for (const char *p = sets[i].pids; *p && k < CS_MAX_ENGINES;) {
            char *end = NULL;
            long v = strtol(p, &end, 10);
            if (end == p)
                break;
            if (v > 0)
                pids[k++] = (pid_t)v;
            p = end;
            while (*p == '\n')
                p++;
        }
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, CS_ENGINES_PID);
    if (k)
        proc_write_pids(path, pids, k);
}

int cs_set_sync_pids(sqlite3 *db, int64_t id, const char *pids)
{
    // Read first (a WAL reader takes no lock the controller waits on);
    // write only when the row is live and says something else.
    sqlite3_stmt *st = NULL;
    int rc =
        sqlite3_prepare_v2(db, "SELECT state, pids FROM engine_sets WHERE id = ?1", -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 1, id);
    char state[32] = "";
    bool same = false;
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char *s = sqlite3_column_text(st, 0);
        const unsigned char *p = sqlite3_column_text(st, 1);
        snprintf(state, sizeof state, "%s", s ? (const char *)s : "");
        same = p && strcmp((const char *)p, pids) == 0;
        rc = SQLITE_OK;
    } else if (rc == SQLITE_DONE) {
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (rc != SQLITE_OK) {
        cli_error("engine set %lld: cannot read its row: %s", (long long)id, sqlite3_errmsg(db));
        return -1;
    }
    if (same || (strcmp(state, "running") != 0 && strcmp(state, "starting") != 0))
        return 0;
    rc = sqlite3_prepare_v2(db, "UPDATE engine_sets SET pids = ?1 WHERE id = ?2 AND state = ?3", -1,
                            &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(st, 1, pids, -1, SQLITE_TRANSIENT);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 2, id);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(st, 3, state, -1, SQLITE_TRANSIENT);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
    sqlite3_finalize(st);
    if (rc != SQLITE_OK) {
        cli_error("engine set %lld: cannot record its pids: %s", (long long)id, sqlite3_errmsg(db));
        return -1;
    }
    return sqlite3_changes(db) > 0;
}

void cs_replace_local_pids(const char *dir, const pid_t *old, size_t n_old, const pid_t *now,
                           size_t n_now)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, CS_ENGINES_PID);
    pid_t cur[CS_MAX_ENGINES], out[CS_MAX_ENGINES];
    size_t n = proc_read_pids(path, cur, CS_MAX_ENGINES), k = 0;
    bool mine = false, changed = false;
    for (size_t i = 0; i < n; i++) {
        bool stale = false, known = false;
        for (size_t j = 0; j < n_old && !stale; j++)
            stale = cur[i] == old[j];
        for (size_t j = 0; j < n_now && !known; j++)
            known = cur[i] == now[j];
        mine |= stale || known;
        if (stale && !known)
            changed = true;
        else
            out[k++] = cur[i];
    }
    if (!mine)
        return;  // the set is not one `ipp cluster start` wrote there
    for (size_t j = 0; j < n_now && k < CS_MAX_ENGINES; j++) {
        bool there = false;
        for (size_t i = 0; i < k && !there; i++)
            there = out[i] == now[j];
        if (!there) {
            out[k++] = now[j];
            changed = true;
        }
    }
    if (changed)
        proc_write_pids(path, out, k);
}
