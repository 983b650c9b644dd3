/* test_hub_reads.c — the controller's reader thread (hub/reads.c) on a
 * real task store: db_query and history answered in pages that join up to
 * what one read gives, in order; bad queries get an error; jobs left when
 * it stops are freed.
 */
#include "hub/reads.h"

#include "db/reader.h"
#include "db/writer.h"
#include "testutil.h"

#include <check.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char t_dir[256];
static char t_path[512];
enum { N = 300 };

static void t_id(int i, char out[64])
{
    snprintf(out, 64, "018f0000-0000-7000-8000-%012d", i);
}

// t_setup: a store with N tasks, labelled by parity.
static void t_setup(void)
{
    tu_tmpdir(t_dir, sizeof t_dir, "hub_reads");
    snprintf(t_path, sizeof t_path, "%s/tasks.db", t_dir);
    ipp_error_t err;
    db_writer_t *w = db_writer_new(t_path, NULL, NULL, &err);
    ck_assert_msg(w != NULL, "writer: %s", err.msg);
    ck_assert_int_eq(db_writer_start(w, &err), IPP_OK);
    uint64_t seq = 0;
    for (int i = 0; i < N; i++) {
        char id[64];
        t_id(i, id);
        db_request_t req = {
            .msg_id = id,
            .header = {"h", 1},
            .content = {"c", 1},
            .submitted = 1767225600000000 + i,
            .queue = "task",
            .label = i % 2 ? "odd" : "even",
        };
        ck_assert_int_eq(db_writer_insert(w, &req, &seq), IPP_OK);
    }
    ck_assert_int_eq(db_writer_sync(w, seq, 10000), IPP_OK);
    db_writer_destroy(&w);
}

static void t_teardown(void)
{
    tu_rmtree(t_dir);
}

// t_run: post job and wait for it back.
static hub_read_t *t_run(hub_reads_t *r, hub_read_t *job)
{
    hub_reads_post(r, job);
    for (int i = 0; i < 1000; i++) {
        struct pollfd p = {hub_reads_fd(r), POLLIN, 0};
        ck_assert_int_ge(poll(&p, 1, 10), 0);
        hub_read_t *done = hub_reads_take(r);
        if (done) {
            ck_assert_ptr_eq(done, job);
            return done;
        }
    }
    ck_abort_msg("the read did not come back in 10 s");
    return NULL;
}

static hub_read_t *t_query(const char *q, int64_t limit, int64_t offset)
{
    hub_read_t *job = calloc(1, sizeof *job);
    ck_assert_ptr_nonnull(job);
    job->kind = HUB_READ_DB_QUERY;
    job->query_json = strdup(q);
    job->keys = calloc(1, sizeof *job->keys);
    job->keys[0] = strdup("msg_id");
    job->n_keys = 1;
    job->limit = limit;
    job->offset = offset;
    return job;
}

// t_lines: how many lines text has.
static int64_t t_lines(const char *text)
{
    int64_t n = 0;
    for (const char *p = text; *p; p++)
        n += *p == '\n';
    return n;
}

START_TEST(test_db_query_pages_join_up)
{
    ipp_error_t err;
    hub_reads_t *whole = hub_reads_new(t_path, 0, 0, NULL, &err);
    ck_assert_msg(whole != NULL, "%s", err.msg);
    hub_read_t *all = t_run(whole, t_query("{\"label\": \"odd\"}", 0, 0));
    ck_assert_int_eq(all->err.code, IPP_OK);
    ck_assert(!all->more);
    ck_assert_int_eq(all->rows, N / 2);
    ck_assert_int_eq(t_lines(all->text), N / 2);

    // Pages of about 1 KB: several, joined they are the one read.
    hub_reads_t *small = hub_reads_new(t_path, 1000, 0, NULL, &err);
    ck_assert_ptr_nonnull(small);
    char *joined = calloc(1, strlen(all->text) + 1);
    int64_t offset = 0;
    int pages = 0;
    for (;;) {
        hub_read_t *p = t_run(small, t_query("{\"label\": \"odd\"}", 0, offset));
        ck_assert_int_eq(p->err.code, IPP_OK);
        ck_assert_int_gt(p->rows, 0);
        ck_assert_int_eq(t_lines(p->text), p->rows);
        strcat(joined, p->text);
        offset += p->rows;
        pages++;
        bool more = p->more;
        hub_read_free(p);
        if (!more)
            break;
    }
    ck_assert_int_gt(pages, 3);
    ck_assert_int_eq(offset, N / 2);
    ck_assert_str_eq(joined, all->text);
    free(joined);

    // A limit holds over all pages.
    offset = 0;
    int64_t rows = 0;
    for (;;) {
        hub_read_t *p = t_run(small, t_query("{}", 25, offset));
        rows += p->rows;
        offset += p->rows;
        bool more = p->more;
        hub_read_free(p);
        if (!more)
            break;
    }
    ck_assert_int_eq(rows, 25);

    // Past the end: an empty last page.
    hub_read_t *past = t_run(small, t_query("{}", 0, N + 10));
    ck_assert_int_eq(past->err.code, IPP_OK);
    ck_assert_int_eq(past->rows, 0);
    ck_assert(!past->more);
    ck_assert_str_eq(past->text, "");
    hub_read_free(past);

    // A bad query: an error, and the thread goes on.
    hub_read_t *bad = t_run(small, t_query("{\"nokey\": 1}", 0, 0));
    ck_assert_int_eq(bad->err.code, IPP_ERR_QUERY);
    ck_assert(strlen(bad->err.msg) > 0);
    hub_read_free(bad);
    hub_read_t *notjson = t_run(small, t_query("{not json", 0, 0));
    ck_assert_int_eq(notjson->err.code, IPP_ERR_QUERY);
    hub_read_free(notjson);
    hub_read_t *again = t_run(small, t_query("{}", 0, 0));
    ck_assert_int_eq(again->err.code, IPP_OK);
    hub_read_free(again);

    hub_read_free(all);
    hub_reads_destroy(&small);
    hub_reads_destroy(&whole);
    ck_assert_ptr_null(whole);
}
END_TEST

START_TEST(test_history_pages_in_submission_order)
{
    ipp_error_t err;
    hub_reads_t *r = hub_reads_new(t_path, 0, 64, NULL, &err);
    ck_assert_ptr_nonnull(r);
    int64_t offset = 0;
    int pages = 0;
    for (;;) {
        hub_read_t *job = calloc(1, sizeof *job);
        job->kind = HUB_READ_HISTORY;
        job->offset = offset;
        job = t_run(r, job);
        ck_assert_int_eq(job->err.code, IPP_OK);
        for (size_t i = 0; i < job->n_ids; i++) {
            char id[64];
            t_id((int)(offset + (int64_t)i), id);
            ck_assert_str_eq(job->ids[i], id);
        }
        ck_assert_uint_le(job->n_ids, 64);
        offset += job->rows;
        pages++;
        bool more = job->more;
        hub_read_free(job);
        if (!more)
            break;
    }
    ck_assert_int_eq(offset, N);
    ck_assert_int_eq(pages, (N + 63) / 64);
    hub_reads_destroy(&r);
}
END_TEST

START_TEST(test_stop_frees_what_is_left)
{
    ipp_error_t err;
    hub_reads_t *r = hub_reads_new(t_path, 0, 0, NULL, &err);
    ck_assert_ptr_nonnull(r);
    for (int i = 0; i < 20; i++)
        hub_reads_post(r, t_query("{}", 0, 0));
    hub_reads_destroy(&r);  // LeakSanitizer checks that every job was freed
    hub_reads_destroy(&r);  // NULL-safe
    hub_read_free(NULL);
    ck_assert_ptr_null(hub_reads_new("/nonexistent/dir/tasks.db", 0, 0, NULL, &err));
    ck_assert_int_eq(err.code, IPP_ERR_NOT_FOUND);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("hub_reads");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, t_setup, t_teardown);
    tcase_add_test(tc, test_db_query_pages_join_up);
    tcase_add_test(tc, test_history_pages_in_submission_order);
    tcase_add_test(tc, test_stop_frees_what_is_left);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
