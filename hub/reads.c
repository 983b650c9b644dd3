/* reads.c — the reader thread: db_query and hub_history pages off the
 * controller's loop (see reads.h).
 */
#include "hub/reads.h"

#include "db/reader.h"
#include "proto/ipp.pb-c.h"
#include "proto/grow.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct hub_reads_t {
    db_reader_t *reader;    // the thread's own read-only connection
    pthread_t thread;       // the reader thread
    pthread_mutex_t mu;     // guards everything below
    pthread_cond_t cv;      // a job was posted, or stop
    hub_read_t *todo_head;  // posted, in order
    hub_read_t *todo_tail;
    hub_read_t *done_head;  // finished, in order
    hub_read_t *done_tail;
    bool stopping;      // leave after the job under way
    int efd;            // eventfd: finished jobs wait
    size_t page_bytes;  // a db_query page ends past this much text
    size_t page_ids;    // ids in a history page
};

void hub_read_free(hub_read_t *job)
{
    if (!job)
        return;
    free(job->query_json);
    for (size_t i = 0; i < job->n_keys; i++)
        free(job->keys[i]);
    free(job->keys);
    free(job->text);
    for (size_t i = 0; i < job->n_ids; i++)
        free(job->ids[i]);
    free(job->ids);
    free(job);
}

// s_append: text[len..] += line and a newline, growing *text; false when
// out of memory.
static bool s_append(char **text, size_t *len, size_t *cap, const char *line)
{
    size_t ll = strlen(line);
    if (*len + ll + 2 > *cap) {
        size_t c = *cap ? *cap : 4096;
        while (*len + ll + 2 > c)
            c *= 2;
        char *t = realloc(*text, c);
        if (!t)
            return false;
        *text = t;
        *cap = c;
    }
    memcpy(*text + *len, line, ll);
    *len += ll;
    (*text)[(*len)++] = '\n';
    (*text)[*len] = '\0';
    return true;
}

// s_row: rec as one JSON line (frames left out; the submitter from the
// request header as "user"), or NULL when out of memory.
static char *s_row(const db_record_t *rec)
{
    json_t *o = db_record_to_json(rec, DB_JSON_ISO_TIME | DB_JSON_NO_BYTES);
    if (o && rec->header.data) {
        Ipp__Header *h = ipp__header__unpack(NULL, rec->header.size, rec->header.data);
        if (h && h->username && h->username[0])
            json_object_set_new(o, "user", json_string(h->username));
        if (h)
            ipp__header__free_unpacked(h, NULL);
    }
    char *line = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return line;
}

// s_db_query: one page of job's query.
static void s_db_query(hub_reads_t *self, hub_read_t *job)
{
    json_t *keys = NULL;
    if (job->n_keys) {
        keys = json_array();
        for (size_t i = 0; keys && i < job->n_keys; i++)
            json_array_append_new(keys, json_string(job->keys[i]));
    }
    const char *q = (job->query_json && job->query_json[0]) ? job->query_json : "{}";
    db_cursor_t *cur = db_reader_find_text(self->reader, q, keys, job->limit, &job->err);
    json_decref(keys);
    if (!cur)
        return;
    size_t len = 0, cap = 0;
    int64_t seen = 0;
    for (;;) {
        db_record_t *rec = NULL;
        if (db_cursor_next(cur, &rec, &job->err) != IPP_OK)
            break;
        if (!rec)
            break;
        if (seen++ < job->offset) {
            db_record_destroy(&rec);
            continue;
        }
        if (len >= self->page_bytes) {
            // A row past the page: the next page starts with it.
            db_record_destroy(&rec);
            job->more = true;
            break;
        }
        char *line = s_row(rec);
        db_record_destroy(&rec);
        if (!line || !s_append(&job->text, &len, &cap, line)) {
            free(line);
            ipp_error_set(&job->err, IPP_ERR_NOMEM, "out of memory building the reply");
            break;
        }
        free(line);
        job->rows++;
    }
    db_cursor_destroy(&cur);
    if (job->err.code == IPP_OK && !job->text && !(job->text = strdup("")))
        ipp_error_set(&job->err, IPP_ERR_NOMEM, "out of memory building the reply");
}

// s_history: one page of msg_ids in submission order.
static void s_history(hub_reads_t *self, hub_read_t *job)
{
    sqlite3 *db = db_reader_sqlite(self->reader);
    sqlite3_stmt *st = NULL;
    // One more than a page, to know whether another follows.
    if (sqlite3_prepare_v2(db,
                           "SELECT msg_id FROM tasks ORDER BY submitted, rowid LIMIT ?1 "
                           "OFFSET ?2",
                           -1, &st, NULL) != SQLITE_OK) {
        ipp_error_set(&job->err, IPP_ERR_DB, "history: %s", sqlite3_errmsg(db));
        return;
    }
    sqlite3_bind_int64(st, 1, (sqlite3_int64)self->page_ids + 1);
    sqlite3_bind_int64(st, 2, job->offset);
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (job->n_ids == self->page_ids) {
            job->more = true;
            rc = SQLITE_DONE;
            break;
        }
        if (IPP_GROW(job->ids, cap, job->n_ids + 1, 1024) != 0)
            break;
        const char *id = (const char *)sqlite3_column_text(st, 0);
        if (!(job->ids[job->n_ids] = strdup(id ? id : "")))
            break;
        job->n_ids++;
    }
    if (rc == SQLITE_ROW)
        ipp_error_set(&job->err, IPP_ERR_NOMEM, "out of memory building the history");
    else if (rc != SQLITE_DONE)
        ipp_error_set(&job->err, IPP_ERR_DB, "history: %s", sqlite3_errmsg(db));
    job->rows = (int64_t)job->n_ids;
    sqlite3_finalize(st);
}

static void *s_thread(void *arg)
{
    hub_reads_t *self = arg;
    pthread_mutex_lock(&self->mu);
    for (;;) {
        while (!self->todo_head && !self->stopping)
            pthread_cond_wait(&self->cv, &self->mu);
        if (self->stopping)
            break;
        hub_read_t *job = self->todo_head;
        self->todo_head = job->next;
        if (!self->todo_head)
            self->todo_tail = NULL;
        job->next = NULL;
        pthread_mutex_unlock(&self->mu);
        ipp_error_clear(&job->err);
        if (job->kind == HUB_READ_DB_QUERY)
            s_db_query(self, job);
        else if (job->kind == HUB_READ_HISTORY)
            s_history(self, job);
        else
            ipp_error_set(&job->err, IPP_ERR_INVALID, "unknown read");
        pthread_mutex_lock(&self->mu);
        if (self->done_tail)
            self->done_tail->next = job;
        else
            self->done_head = job;
        self->done_tail = job;
        uint64_t one = 1;
        ssize_t w = write(self->efd, &one, sizeof one);
        (void)w;  // a full counter is still readable
    }
    pthread_mutex_unlock(&self->mu);
    return NULL;
}

hub_reads_t *hub_reads_new(const char *db_path, size_t page_bytes, size_t page_ids,
                           const ipp_logger_t *lg, ipp_error_t *err)
{
    hub_reads_t *self = calloc(1, sizeof *self);
    if (!self) {
        ipp_error_set(err, IPP_ERR_NOMEM, "out of memory for the reader thread");
        return NULL;
    }
    self->page_bytes = page_bytes ? page_bytes : HUB_READS_PAGE_BYTES;
    self->page_ids = page_ids ? page_ids : HUB_READS_PAGE_IDS;
    self->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (self->efd < 0) {
        ipp_error_set(err, IPP_ERR_IO, "eventfd: %s", strerror(errno));
        free(self);
        return NULL;
    }
    self->reader = db_reader_new(db_path, DB_OPEN_READONLY, lg, err);
    if (!self->reader) {
        close(self->efd);
        free(self);
        return NULL;
    }
    pthread_mutex_init(&self->mu, NULL);
    pthread_cond_init(&self->cv, NULL);
    int rc = pthread_create(&self->thread, NULL, s_thread, self);
    if (rc != 0) {
        ipp_error_set(err, IPP_ERR_IO, "cannot start the reader thread: %s", strerror(rc));
        pthread_cond_destroy(&self->cv);
        pthread_mutex_destroy(&self->mu);
        db_reader_destroy(&self->reader);
        close(self->efd);
        free(self);
        return NULL;
    }
    return self;
}

void hub_reads_destroy(hub_reads_t **self_p)
{
    hub_reads_t *self = self_p ? *self_p : NULL;
    if (!self)
        return;
    pthread_mutex_lock(&self->mu);
    self->stopping = true;
    pthread_cond_signal(&self->cv);
    pthread_mutex_unlock(&self->mu);
    pthread_join(self->thread, NULL);
    for (hub_read_t *j = self->todo_head, *n; j; j = n) {
        n = j->next;
        hub_read_free(j);
    }
    for (hub_read_t *j = self->done_head, *n; j; j = n) {
        n = j->next;
        hub_read_free(j);
    }
    pthread_cond_destroy(&self->cv);
    pthread_mutex_destroy(&self->mu);
    db_reader_destroy(&self->reader);
    close(self->efd);
    free(self);
    *self_p = NULL;
}

int hub_reads_fd(const hub_reads_t *self)
{
    return self ? self->efd : -1;
}

void hub_reads_post(hub_reads_t *self, hub_read_t *job)
{
    job->next = NULL;
    pthread_mutex_lock(&self->mu);
    if (self->todo_tail)
        self->todo_tail->next = job;
    else
        self->todo_head = job;
    self->todo_tail = job;
    pthread_cond_signal(&self->cv);
    pthread_mutex_unlock(&self->mu);
}

hub_read_t *hub_reads_take(hub_reads_t *self)
{
    pthread_mutex_lock(&self->mu);
    hub_read_t *job = self->done_head;
    if (job) {
        self->done_head = job->next;
        if (!self->done_head)
            self->done_tail = NULL;
        job->next = NULL;
    } else {
        uint64_t v;
        ssize_t r = read(self->efd, &v, sizeof v);  // nothing left: not readable now
        (void)r;
    }
    pthread_mutex_unlock(&self->mu);
    return job;
}
