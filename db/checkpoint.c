/* db/checkpoint.c — the WAL hook and the checkpointer thread.
 *
 * Owns the checkpointer's thread and connection. The hook runs on the
 * committing thread after each commit; it only ever takes this object's
 * own mutex, briefly, to wake the thread. Must never block a commit on a
 * checkpoint in progress: checkpoints are PASSIVE, and a busy one is
 * simply tried again after the WAL grew some more.
 */
#include "db/checkpoint.h"

#include <string.h>

// WAL size (pages) at which the checkpointer is woken, and again each time
// the WAL has grown by S_CKPT_STEP pages since: one checkpoint per commit
// of a few pages would cost a wake-up and two syncs per commit. While
// commits keep coming, its checkpoints copy pages back but the WAL cannot
// always start over; past S_CKPT_FORCE_PAGES the committing thread
// checkpoints itself between commits (cheap then: the checkpointer has
// copied nearly everything) so it can.
#define S_CKPT_PAGES 2000
#define S_CKPT_STEP 1000
#define S_CKPT_FORCE_PAGES 32000

// s_wal_hook: after each commit, with the WAL's size in pages. Wakes the
// checkpointer; if it has fallen far behind, or is not running,
// checkpoints here, where no commit runs concurrently, so the WAL can
// start over.
static int s_wal_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
    db_ckpt_t *c = arg;
    if (pages < S_CKPT_PAGES || pages < c->next) {
        if (pages < c->next - S_CKPT_STEP)
            c->next = S_CKPT_PAGES;  // the WAL started over
        return SQLITE_OK;
    }
    c->next = pages + S_CKPT_STEP;
    bool self = pages >= S_CKPT_FORCE_PAGES;
    if (!self) {
        pthread_mutex_lock(&c->mu);
        if (c->running && !c->stopping) {
            c->wanted = true;
            pthread_cond_signal(&c->wake);
        } else {
            self = true;
        }
        pthread_mutex_unlock(&c->mu);
    }
    if (self) {
        int rc = sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        if (rc != SQLITE_OK && rc != SQLITE_BUSY)
            IPP_LOGW(c->lg, "db: %s: checkpoint: %s", c->path, sqlite3_errstr(rc));
    }
    return SQLITE_OK;
}

static void *s_thread(void *arg)
{
    db_ckpt_t *c = arg;
    pthread_setname_np(pthread_self(), "ipp-db-ckpt");
    pthread_mutex_lock(&c->mu);
    for (;;) {
        while (!c->wanted && !c->stopping)
            pthread_cond_wait(&c->wake, &c->mu);
        if (c->stopping)
            break;
        c->wanted = false;
        pthread_mutex_unlock(&c->mu);
        int rc = sqlite3_wal_checkpoint_v2(c->db, "main", SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        if (rc != SQLITE_OK && rc != SQLITE_BUSY)
            IPP_LOGW(c->lg, "db: %s: background checkpoint: %s", c->path, sqlite3_errstr(rc));
        pthread_mutex_lock(&c->mu);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

ipp_err_t db_ckpt_init(db_ckpt_t *c, sqlite3 *wdb, const char *path, int busy_timeout_ms,
                       const ipp_logger_t *lg, ipp_error_t *err)
{
    memset(c, 0, sizeof *c);
    c->path = path;
    c->lg = lg;
    c->busy_timeout_ms = busy_timeout_ms;
    if (pthread_mutex_init(&c->mu, NULL) != 0)
        return ipp_error_set(err, IPP_ERR_NOMEM, "cannot create the checkpointer's lock");
    if (pthread_cond_init(&c->wake, NULL) != 0) {
        pthread_mutex_destroy(&c->mu);
        return ipp_error_set(err, IPP_ERR_NOMEM, "cannot create the checkpointer's lock");
    }
    c->have_sync = true;
    // Checkpoints: ours, not SQLite's automatic ones inside COMMIT.
    sqlite3_wal_hook(wdb, s_wal_hook, c);
    return IPP_OK;
}

bool db_ckpt_start(db_ckpt_t *c)
{
    if (!c->have_sync)
        return false;
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(c->path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        sqlite3_close_v2(db);
        return false;
    }
    sqlite3_busy_timeout(db, c->busy_timeout_ms);
    // A connection learns the file is in WAL mode on its first read;
    // until then a checkpoint on it does nothing.
    sqlite3_exec(db, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL);
    pthread_mutex_lock(&c->mu);
    c->db = db;
    c->stopping = false;
    bool ok = pthread_create(&c->thread, NULL, s_thread, c) == 0;
    if (ok)
        c->running = true;
    else
        c->db = NULL;
    pthread_mutex_unlock(&c->mu);
    if (!ok)
        sqlite3_close_v2(db);
    return ok;
}

void db_ckpt_stop(db_ckpt_t *c)
{
    if (!c->have_sync)
        return;
    pthread_mutex_lock(&c->mu);
    bool running = c->running;
    c->stopping = true;
    c->running = false;
    pthread_cond_broadcast(&c->wake);
    pthread_mutex_unlock(&c->mu);
    if (running)
        pthread_join(c->thread, NULL);
    sqlite3_close_v2(c->db);
    c->db = NULL;
}

void db_ckpt_fini(db_ckpt_t *c)
{
    if (!c->have_sync)
        return;
    db_ckpt_stop(c);
    pthread_cond_destroy(&c->wake);
    pthread_mutex_destroy(&c->mu);
    c->have_sync = false;
}
