/* db/schema.c — create, check and migrate the task database file.
 *
 * Owns nothing after it returns: the connection goes to the caller. Every
 * change to the file (creation, each migration step) happens inside one
 * IMMEDIATE transaction that re-reads the version first, so two processes
 * opening the same old file at once migrate it exactly once. Must never
 * touch a file that is not ours: the foreign-file checks run before WAL is
 * switched on and before an existing file's mode is brought to 0600. A
 * file it creates is 0600 from the start, and so are the -wal and -shm.
 */
#include "db/schema.h"

#include "db/audit.h"
#include "db/fnmatch.h"
#include "db/sql.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

// The mode of the database file and, through SQLite, of its -wal and -shm
// files: records hold commands, outputs and keys' work, for the owner alone.
#define S_FILE_MODE 0600

// The Curve keys of clients, engines and admins (db/keys.h): a name is
// given once, so a revoked name stays taken and its tasks stay its own.
#define S_KEYS_TABLE_SQL                                                                           \
    "CREATE TABLE keys ("                                                                          \
    " name TEXT PRIMARY KEY NOT NULL, role TEXT NOT NULL"                                          \
    " CHECK (role IN ('client','engine','admin')), public_key TEXT NOT NULL UNIQUE,"               \
    " created INTEGER NOT NULL, last_seen INTEGER, revoked INTEGER);"

// The engine sets `ipp cluster` started (db/sets.h), since version 4.
#define S_SETS_TABLE_SQL                                                                           \
    "CREATE TABLE engine_sets ("                                                                   \
    " id INTEGER PRIMARY KEY, launcher TEXT NOT NULL, asked INTEGER NOT NULL,"                     \
    " state TEXT NOT NULL, job_id TEXT, hosts TEXT, pids TEXT, key_name TEXT, log TEXT,"           \
    " options TEXT,"                                                                               \
    " created INTEGER NOT NULL, stopped INTEGER);"

// The current schema, for a new file.
static const char s_create_sql[] =
    "CREATE TABLE tasks ("
    // Small, often read columns first and bulky ones last, so reading a
    // status never has to walk a large row's overflow pages.
    " msg_id TEXT PRIMARY KEY NOT NULL, status TEXT NOT NULL DEFAULT 'pending',"
    " engine_id INTEGER, submitted INTEGER, started INTEGER, completed INTEGER,"
    " received INTEGER, client_uuid TEXT, engine_uuid TEXT, label TEXT, queue TEXT,"
    " attempts INTEGER NOT NULL DEFAULT 0, timeout INTEGER, retries INTEGER,"
    " resubmitted TEXT, chain_seq INTEGER, chain_prev TEXT, chain_hash BLOB, req_hash BLOB,"
    " \"after\" TEXT, follow TEXT, targets TEXT, requires TEXT, error TEXT,"
    " execute_input TEXT, execute_result TEXT, stdout TEXT, stderr TEXT,"
    " header BLOB, content BLOB, buffers BLOB,"
    " result_header BLOB, result_content BLOB, result_buffers BLOB,"
    " submitted_by TEXT, submitted_by_key INTEGER);"
    "CREATE INDEX tasks_label ON tasks(label) WHERE label IS NOT NULL;"
    // Most tasks end 'ok' and a status index helps only for the rare
    // values, so 'ok' rows stay out of it: a completion then removes one
    // entry instead of moving it. The query compiler adds the matching
    // `status <> 'ok'` term whenever a condition excludes 'ok'.
    "CREATE INDEX tasks_status ON tasks(status) WHERE status <> 'ok';"
    // No (msg_id, status) index: result_status takes each rowid from the
    // primary key's own index and the statuses that are not 'ok' from
    // tasks_status (db/reader.c). That copy of every msg_id cost each task
    // a tenth of the bytes it writes (docs/BENCHMARKS.md, "The leaner
    // row").
    "CREATE INDEX tasks_submitted ON tasks(submitted);"
    "CREATE INDEX tasks_completed ON tasks(completed) WHERE completed IS NOT NULL;"
    "CREATE INDEX tasks_engine ON tasks(engine_id) WHERE engine_id IS NOT NULL;"
    "CREATE INDEX tasks_client ON tasks(client_uuid);"
    "CREATE TABLE deps ("
    " task TEXT NOT NULL, depends_on TEXT NOT NULL,"
    " kind TEXT NOT NULL CHECK (kind IN ('after','follow')), flags INTEGER NOT NULL,"
    " PRIMARY KEY (task, kind, depends_on)) WITHOUT ROWID;"
    "CREATE INDEX deps_depends_on ON deps(depends_on);"
    "CREATE TABLE engines ("
    " id INTEGER PRIMARY KEY, uuid TEXT NOT NULL UNIQUE, hostname TEXT, pid INTEGER,"
    " registered INTEGER, unregistered INTEGER);"
    "CREATE TABLE purges ("
    " id INTEGER PRIMARY KEY, at INTEGER NOT NULL, purged_by TEXT, what TEXT NOT NULL,"
    " count INTEGER NOT NULL);"
    "CREATE TABLE purge_items ("
    " chain_seq INTEGER PRIMARY KEY, purge_id INTEGER NOT NULL, msg_id TEXT NOT NULL,"
    " chain_prev TEXT, chain_hash BLOB NOT NULL);"
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID;" S_KEYS_TABLE_SQL
        S_SETS_TABLE_SQL;

// Version 1 → 2: the audit chain and purge log, the engine and client
// indexes, the status index made partial (version 2 also had a (msg_id,
// status) index, which version 5 dropped: a file migrated from 1 never
// builds it). The hashes of existing records are computed
// by db_audit_rehash afterwards.
static const char s_migrate_1_to_2[] =
    "ALTER TABLE tasks ADD COLUMN req_hash BLOB;"
    "ALTER TABLE tasks ADD COLUMN chain_seq INTEGER;"
    "ALTER TABLE tasks ADD COLUMN chain_prev TEXT;"
    "ALTER TABLE tasks ADD COLUMN chain_hash BLOB;"
    "DROP INDEX IF EXISTS tasks_status;"
    "CREATE INDEX tasks_status ON tasks(status) WHERE status <> 'ok';"
    "CREATE INDEX IF NOT EXISTS tasks_engine ON tasks(engine_id) WHERE engine_id IS NOT NULL;"
    "CREATE INDEX IF NOT EXISTS tasks_client ON tasks(client_uuid);"
    "CREATE TABLE purges ("
    " id INTEGER PRIMARY KEY, at INTEGER NOT NULL, purged_by TEXT, what TEXT NOT NULL,"
    " count INTEGER NOT NULL);"
    "CREATE TABLE purge_items ("
    " chain_seq INTEGER PRIMARY KEY, purge_id INTEGER NOT NULL, msg_id TEXT NOT NULL,"
    " chain_prev TEXT, chain_hash BLOB NOT NULL);"
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID;";

// Version 2 → 3: who submitted each task (the Curve key's name, or the
// self-declared user of the header), and the keys table. Older records
// keep NULL there, and their audit hashes stay valid (see db/audit.h).
static const char s_migrate_2_to_3[] =
    "ALTER TABLE tasks ADD COLUMN submitted_by TEXT;"
    "ALTER TABLE tasks ADD COLUMN submitted_by_key INTEGER;" S_KEYS_TABLE_SQL;

// Version 3 → 4: the engine sets table (additive).
static const char s_migrate_3_to_4[] = S_SETS_TABLE_SQL;

// Version 4 → 5: the (msg_id, status) index goes; it duplicated the
// primary key's index (see s_create_sql). Versions 2 to 4 had it.
static const char s_migrate_4_to_5[] = "DROP INDEX IF EXISTS tasks_msg_status;";

// s_query_int: the integer result of a PRAGMA or any one-value query.
static int s_query_int(sqlite3 *db, const char *sql, int64_t *out)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            *out = sqlite3_column_int64(st, 0);
            rc = SQLITE_OK;
        } else if (rc == SQLITE_DONE) {
            *out = 0;
            rc = SQLITE_OK;
        }
    }
    sqlite3_finalize(st);
    return rc;
}

// The identity of a file as found on disk.
typedef struct {
    int64_t app_id;     // PRAGMA application_id
    int64_t version;    // PRAGMA user_version
    int64_t objects;    // rows in sqlite_schema
    int64_t has_tasks;  // 1 if a table named tasks exists
} s_ident_t;

static ipp_err_t s_identify(sqlite3 *db, const char *path, s_ident_t *id, ipp_error_t *err)
{
    int rc = s_query_int(db, "PRAGMA application_id", &id->app_id);
    if (rc == SQLITE_OK)
        rc = s_query_int(db, "PRAGMA user_version", &id->version);
    if (rc == SQLITE_OK)
        rc = s_query_int(db, "SELECT count(*) FROM sqlite_master", &id->objects);
    if (rc == SQLITE_OK)
        rc = s_query_int(db,
                         "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='tasks'",
                         &id->has_tasks);
    if (rc == SQLITE_NOTADB)
        return ipp_error_set(err, IPP_ERR_DB_SCHEMA, "%s is not an SQLite database", path);
    if (rc != SQLITE_OK)
        return db_sql_fail(err, db, rc, "reading the schema of %s", path);
    return IPP_OK;
}

// s_check: decide what to do with a file of identity id. Sets *create or
// *migrate, or returns IPP_ERR_DB_SCHEMA naming the file.
static ipp_err_t s_check(const s_ident_t *id, const char *path, db_open_mode_t mode, bool *create,
                         bool *migrate, ipp_error_t *err)
{
    *create = *migrate = false;
    if (id->app_id == 0 && id->version == 0 && id->objects == 0) {
        if (mode == DB_OPEN_READONLY)
            return ipp_error_set(err, IPP_ERR_DB_SCHEMA,
                                 "%s is empty: no ipp task database in it yet", path);
        *create = true;
        return IPP_OK;
    }
    if (id->app_id != DB_APPLICATION_ID || !id->has_tasks)
        return ipp_error_set(err, IPP_ERR_DB_SCHEMA,
                             "%s is not an ipp task database (application_id 0x%llx, "
                             "user_version %lld)",
                             path, (unsigned long long)id->app_id, (long long)id->version);
    if (id->version > DB_SCHEMA_VERSION)
        return ipp_error_set(err, IPP_ERR_DB_SCHEMA,
                             "%s has schema version %lld, newer than this build knows (%d); "
                             "use a newer ipp",
                             path, (long long)id->version, DB_SCHEMA_VERSION);
    if (id->version < 1)
        return ipp_error_set(err, IPP_ERR_DB_SCHEMA, "%s has an invalid schema version %lld", path,
                             (long long)id->version);
    if (id->version < DB_SCHEMA_VERSION) {
        if (mode == DB_OPEN_READONLY)
            return ipp_error_set(err, IPP_ERR_DB_SCHEMA,
                                 "%s has schema version %lld; open it read-write once (start the "
                                 "controller) to migrate it to %d",
                                 path, (long long)id->version, DB_SCHEMA_VERSION);
        *migrate = true;
    }
    return IPP_OK;
}

// s_upgrade: create or migrate inside one IMMEDIATE transaction, checking
// the version again once the write lock is held.
static ipp_err_t s_upgrade(sqlite3 *db, const char *path, const ipp_logger_t *lg, ipp_error_t *err)
{
    ipp_err_t rc = db_sql_exec(db, "BEGIN IMMEDIATE", err);
    if (rc)
        return rc;
    s_ident_t id;
    bool create, migrate;
    if ((rc = s_identify(db, path, &id, err)) ||
        (rc = s_check(&id, path, DB_OPEN_READWRITE, &create, &migrate, err)))
        goto out;
    if (create) {
        char sql[128];
        snprintf(sql, sizeof sql, "PRAGMA application_id=%d; PRAGMA user_version=%d;",
                 DB_APPLICATION_ID, DB_SCHEMA_VERSION);
        if ((rc = db_sql_exec(db, s_create_sql, err)) || (rc = db_sql_exec(db, sql, err)))
            goto out;
        IPP_LOGI(lg, "db: created %s (schema version %d)", path, DB_SCHEMA_VERSION);
    }
    if (migrate) {
        int64_t from = id.version;
        // The rehash of 1 → 2 reads the request columns of the current
        // schema, so it runs once every step has added its columns.
        if (id.version == 1 && (rc = db_sql_exec(db, s_migrate_1_to_2, err)))
            goto out;
        if (id.version <= 2 && (rc = db_sql_exec(db, s_migrate_2_to_3, err)))
            goto out;
        if (id.version <= 3 && (rc = db_sql_exec(db, s_migrate_3_to_4, err)))
            goto out;
        if (id.version <= 4 && (rc = db_sql_exec(db, s_migrate_4_to_5, err)))
            goto out;
        if (id.version == 1 && (rc = db_audit_rehash(db, err)))
            goto out;
        char sql[64];
        snprintf(sql, sizeof sql, "PRAGMA user_version=%d", DB_SCHEMA_VERSION);
        if ((rc = db_sql_exec(db, sql, err)))
            goto out;
        IPP_LOGI(lg, "db: migrated %s from schema version %lld to %d", path, (long long)from,
                 DB_SCHEMA_VERSION);
    }
    rc = db_sql_exec(db, "COMMIT", err);
out:
    if (rc) {
        if (!sqlite3_get_autocommit(db))
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        if (rc != IPP_ERR_DB_SCHEMA && rc != IPP_ERR_BUSY) {
            char msg[sizeof err->msg];
            snprintf(msg, sizeof msg, "%s", err ? err->msg : "");
            ipp_error_set(err, rc, "%s: cannot set up the schema: %s", path, msg);
        }
    }
    return rc;
}

// s_tighten: give the open file fd mode S_FILE_MODE if it has another.
// When what is not NULL, a change is appended to it as "label 0644",
// comma-separated (what holds n bytes). Returns false, with errno set, if
// the mode could not be changed.
static bool s_tighten(int fd, const char *label, char *what, size_t n)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return false;
    if ((st.st_mode & 07777) == S_FILE_MODE)
        return true;
    if (fchmod(fd, S_FILE_MODE) != 0)
        return false;
    if (what) {
        size_t used = strlen(what);
        snprintf(what + used, n - used, "%s%s %04o", used ? ", " : "", label,
                 (unsigned)(st.st_mode & 07777));
    }
    return true;
}

// s_create_private: create path, empty, with mode 0600 if it does not
// exist, so SQLite never creates it with its own default (0644 less the
// umask). SQLite gives the -wal and -shm files it creates the database
// file's mode, whatever the umask, so they follow. Any failure is left
// to sqlite3_open_v2 to meet and report.
static void s_create_private(const char *path)
{
    if (!*path || strcmp(path, ":memory:") == 0)
        return;
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, S_FILE_MODE);
    if (fd < 0)
        return;
    // A umask such as 0277 takes bits the owner needs.
    s_tighten(fd, "", NULL, 0);
    close(fd);
}

// s_secure_existing: bring the database file at path and its -wal and
// -shm (left by an older version or a killed process, or made by SQLite
// from the file's old mode just now) to mode 0600, logging once what had
// another mode. Called only for a file found to be ours. A file whose mode
// cannot be changed (another user's) is a warning.
static void s_secure_existing(const char *path, const ipp_logger_t *lg)
{
    if (!*path || strcmp(path, ":memory:") == 0)
        return;
    char what[128] = "";
    static const char *const suffix[] = {"", "-wal", "-shm"};
    static const char *const label[] = {"the database", "its -wal", "its -shm"};
    for (size_t i = 0; i < sizeof suffix / sizeof suffix[0]; i++) {
        char name[4096];
        if (snprintf(name, sizeof name, "%s%s", path, suffix[i]) >= (int)sizeof name)
            continue;
        // By path, never through a descriptor: closing any descriptor of
        // a file drops every POSIX lock this process holds on it, and
        // other connections of this process hold SQLite's locks on these
        // files (dropping them let a commit write into a -shm being
        // reset: SIGBUS, lost commits). The -wal and -shm are SQLite's
        // own files, never links to follow.
        struct stat st;
        if ((i ? lstat(name, &st) : stat(name, &st)) != 0 || !S_ISREG(st.st_mode))
            continue;
        if ((st.st_mode & 07777) == S_FILE_MODE)
            continue;
        if (chmod(name, S_FILE_MODE) != 0) {
            IPP_LOGW(lg, "db: %s: cannot set mode 0600: %s", name, strerror(errno));
            continue;
        }
        size_t used = strlen(what);
        snprintf(what + used, sizeof what - used, "%s%s %04o", used ? ", " : "", label[i],
                 (unsigned)(st.st_mode & 07777));
    }
    if (*what)
        IPP_LOGW(lg, "db: %s: files set to mode 0600 (owner only); they had: %s", path, what);
}

// s_sqlite_setup: process-wide SQLite settings, before its first use.
// Memory statistics off: with them, every allocation SQLite makes takes a
// global mutex, for figures nothing here reads. Refused (SQLITE_MISUSE)
// if SQLite was initialised already by someone else; it then keeps its
// defaults, which are correct, only slower.
static void s_sqlite_setup(void)
{
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

sqlite3 *db_schema_open(const char *path, db_open_mode_t mode, const ipp_logger_t *lg,
                        ipp_error_t *err)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, s_sqlite_setup);
    sqlite3 *db = NULL;
    if (!path) {
        ipp_error_set(err, IPP_ERR_INVALID, "no database path given");
        return NULL;
    }
    if (mode == DB_OPEN_READONLY && access(path, F_OK) != 0) {
        ipp_error_set(err, IPP_ERR_NOT_FOUND, "%s: no such database file", path);
        return NULL;
    }
    if (mode == DB_OPEN_READWRITE)
        s_create_private(path);
    int flags = SQLITE_OPEN_NOMUTEX |
                (mode == DB_OPEN_READONLY ? SQLITE_OPEN_READONLY
                                          : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    int rc = sqlite3_open_v2(path, &db, flags, NULL);
    if (rc != SQLITE_OK) {
        db_sql_fail(err, db, rc, "opening %s", path);
        goto fail;
    }
    sqlite3_extended_result_codes(db, 0);
    sqlite3_busy_timeout(db, 5000);
    s_ident_t id;
    bool create, migrate;
    if (s_identify(db, path, &id, err) || s_check(&id, path, mode, &create, &migrate, err))
        goto fail;
    if (mode == DB_OPEN_READWRITE) {
        // Ours (or empty): now it is safe to change its mode, before the
        // switch to WAL creates a -wal and -shm with it, and to switch.
        s_secure_existing(path, lg);
        if (db_sql_exec(db, "PRAGMA journal_mode=WAL", err))
            goto fail;
        if ((create || migrate) && s_upgrade(db, path, lg, err))
            goto fail;
    } else if (db_sql_exec(db, "PRAGMA query_only=1", err)) {
        goto fail;
    }
    if (db_sql_exec(db, "PRAGMA temp_store=MEMORY; PRAGMA cache_size=-65536;", err) ||
        db_fnmatch_register(db, err))
        goto fail;
    return db;
fail:
    sqlite3_close_v2(db);
    return NULL;
}
