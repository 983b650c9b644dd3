/* reads.h — the controller's reads that may be large, off its loop.
 *
 * A db_query or a hub_history may read the whole task store; on the loop
 * thread that held every dispatch and result for as long as it took. The
 * loop posts such a read as a job; one reader thread, with a read-only
 * connection of its own, runs it and hands the job back, filled, through
 * an eventfd the loop polls; the loop then sends the reply. Replies are
 * paged: a page ends at HUB_READS_PAGE_BYTES of rows (db_query) or
 * HUB_READS_PAGE_IDS ids (history), and says where the next one starts.
 *
 * The thread touches only the job and its own connection: no ZeroMQ
 * socket, no hub state. Jobs are done in the order posted.
 */
#ifndef IPP_HUB_READS_H
#define IPP_HUB_READS_H

#include "ipp/error.h"
#include "proto/log.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HUB_READS_PAGE_BYTES (16u << 20)  // JSON text of one db_query page, about
#define HUB_READS_PAGE_IDS 250000         // msg_ids of one history page

typedef enum hub_read_kind_t {
    HUB_READ_DB_QUERY = 1,  // rows matching a db_query, as JSON lines
    HUB_READ_HISTORY = 2,   // msg_ids in submission order
} hub_read_kind_t;

// One read: what the loop asks (filled before posting) and what the thread
// answers (filled before handing back). Owned by whoever holds it.
typedef struct hub_read_t {
    hub_read_kind_t kind;
    // Where the reply goes.
    uint8_t ident[256];  // the client's routing id
    size_t ident_len;    // its length
    char parent[64];     // the request's msg_id
    // The question.
    char *query_json;  // db_query: the query (owned)
    char **keys;       // db_query: the keys asked for (owned, n_keys)
    size_t n_keys;
    int64_t limit;   // db_query: rows at most, 0 = all
    int64_t offset;  // rows (ids) to skip: where this page starts
    // The answer.
    ipp_error_t err;  // err.code != IPP_OK: the read failed
    char *text;       // db_query: JSON lines (owned)
    char **ids;       // history: msg_ids (owned, n_ids)
    size_t n_ids;
    int64_t rows;             // rows (ids) in this page
    bool more;                // another page follows at offset + rows
    struct hub_read_t *next;  // queue link (reads.c's)
} hub_read_t;

typedef struct hub_reads_t hub_reads_t;

// hub_reads_new: open db_path read-only and start the reader thread. A
// db_query page ends once page_bytes of rows are in it, a history page
// holds page_ids ids (0: HUB_READS_PAGE_BYTES, HUB_READS_PAGE_IDS). Caller
// owns the result; NULL with err filled. lg (borrowed, must outlive it)
// may be NULL.
hub_reads_t *hub_reads_new(const char *db_path, size_t page_bytes, size_t page_ids,
                           const ipp_logger_t *lg, ipp_error_t *err);

// hub_reads_destroy: stop the thread (a read under way finishes first),
// free jobs not handed back; sets *self_p = NULL. NULL-safe.
void hub_reads_destroy(hub_reads_t **self_p);

// hub_reads_fd: readable when finished jobs wait in hub_reads_take.
int hub_reads_fd(const hub_reads_t *self);

// hub_reads_post: queue job (taken: the reads own it until it is handed
// back by hub_reads_take).
void hub_reads_post(hub_reads_t *self, hub_read_t *job);

// hub_reads_take: the next finished job (the caller owns it; free with
// hub_read_free), or NULL when none is finished. Clears the fd's
// readiness once nothing is left.
hub_read_t *hub_reads_take(hub_reads_t *self);

// hub_read_free: free job and what it holds. NULL-safe.
void hub_read_free(hub_read_t *job);

#endif
