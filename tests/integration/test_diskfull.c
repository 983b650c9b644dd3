/* test_diskfull.c — a real full disk under a running controller.
 *
 * The task database lives on a small tmpfs mounted by this test in a
 * mount namespace of its own (so the mount disappears with the test's
 * processes, whatever happens). While a task runs, the file system is
 * filled; its result then cannot be committed. What must hold:
 *   - nothing uncommitted is delivered: the client gets no result while
 *     the disk is full, and the record stays pending;
 *   - new submissions are refused with a clear error, recorded nowhere and
 *     never dispatched;
 *   - reads keep working (result_status answers);
 *   - when space returns, the controller writes the result it holds —
 *     the task is not run again (one attempt) — and the client gets it;
 *   - a fresh task runs, and the database is intact.
 * Skipped, saying why, only where the kernel refuses a mount namespace
 * (not root, or a container without CAP_SYS_ADMIN).
 */
#include "harness.h"

#include "proto/clock.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

static h_cluster_t C;
static h_client_t K;

// s_private_mounts: a mount namespace of our own whose mounts do not
// propagate back; false (errno set) where the kernel refuses.
static bool s_private_mounts(void)
{
    if (unshare(CLONE_NEWNS) != 0)
        return false;
    return mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0;
}

// s_fill: write path until the file system is full; bytes written.
static size_t s_fill(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert_int_ge(fd, 0);
    static char block[65536];
    memset(block, 'f', sizeof block);
    size_t total = 0;
    size_t chunk = sizeof block;
    for (;;) {
        ssize_t n = write(fd, block, chunk);
        if (n > 0) {
            total += (size_t)n;
            continue;
        }
        ck_assert_int_eq(errno, ENOSPC);
        if (chunk == 1)
            break;
        chunk /= 2;  // the last pages, down to the byte
    }
    close(fd);
    return total;
}

// s_status: the task's status in the store ("" if no record).
static void s_status(const char *id, char *out, size_t size)
{
    char sql[200];
    snprintf(sql, sizeof sql, "SELECT status FROM tasks WHERE msg_id='%s'", id);
    if (!h_db_text(&C, sql, out, size))
        out[0] = '\0';
}

START_TEST(test_disk_full_then_space_returns)
{
    if (!s_private_mounts()) {
        fprintf(stderr,
                "integration_diskfull: skipped: the kernel refuses a private mount "
                "namespace here (%s); this test needs root\n",
                strerror(errno));
        return;
    }
    h_cluster_init(&C);
    char dbdir[700];
    snprintf(dbdir, sizeof dbdir, "%s/db", C.profile_dir);
    ck_assert_int_eq(mkdir(C.profile_dir, 0700), 0);
    ck_assert_int_eq(mkdir(dbdir, 0700), 0);
    ck_assert_msg(
        mount("ipp-diskfull", dbdir, "tmpfs", MS_NOSUID | MS_NODEV, "size=24m,mode=0700") == 0,
        "mount tmpfs on %s: %s", dbdir, strerror(errno));
    h_controller_start(&C, NULL);
    h_engine_start(&C, NULL);
    h_client_open(&K, &C);
    ck_assert_msg(h_wait_engines(&K, 1, 15000), "the engine did not register");

    char warm[1][IPP_MSGID_LEN + 1];
    h_task_t w = {.call = "echo", .args = (const char *[]){"warm"}, .n_args = 1, .target = -1};
    h_submit(&K, &w, warm[0]);
    h_result_t res[1];
    ck_assert_uint_eq(h_collect(&K, warm, 1, res, 20000), 1);
    ck_assert_int_eq(res[0].status, IPP__STATUS__OK);

    // A task that runs long enough to fill the disk under it, and whose
    // 600 KB of output cannot fit in space the log already has.
    char big[1][IPP_MSGID_LEN + 1];
    h_task_t b = {
        .shell = "sleep 1.5; head -c 600000 /dev/zero | tr '\\0' x", .target = -1, .label = "big"};
    h_submit(&K, &b, big[0]);
    char st[64];
    int64_t until = ipp_clock_mono_us() + 10000000;
    for (;;) {
        ck_assert_msg(ipp_clock_mono_us() < until, "the task did not start");
        char sql[200];
        snprintf(sql, sizeof sql, "SELECT count(*) FROM tasks WHERE msg_id='%s' AND engine_id=0",
                 big[0]);
        if (h_db_int(&C, sql) == 1)
            break;
        usleep(20000);
    }
    char filler[800];
    snprintf(filler, sizeof filler, "%s/filler", dbdir);
    ck_assert_uint_gt(s_fill(filler), 0);

    // While full: no result reaches the client, the record stays pending.
    ck_assert_uint_eq(h_collect(&K, big, 1, res, 4000), 0);
    s_status(big[0], st, sizeof st);
    ck_assert_str_eq(st, "pending");

    // A new submission is refused, with a reason, and not recorded.
    char refused[1][IPP_MSGID_LEN + 1];
    // It would leave a mark if an engine ever ran it.
    char mark[800], touch[900];
    snprintf(mark, sizeof mark, "%s/never-ran", C.dir);
    snprintf(touch, sizeof touch, "touch '%s'", mark);
    h_task_t n = {.shell = touch, .target = -1, .label = "while-full"};
    h_submit(&K, &n, refused[0]);
    ck_assert_uint_eq(h_collect(&K, refused, 1, res, 20000), 1);
    ck_assert_msg(res[0].refused, "a submission was accepted while the disk was full");
    ck_assert_msg(strstr(res[0].evalue, "full") || strstr(res[0].evalue, "disk"),
                  "refusal does not say the disk is full: '%s'", res[0].evalue);
    ck_assert_int_eq(h_db_int(&C, "SELECT count(*) FROM tasks WHERE label='while-full'"), 0);

    // Reads still work.
    Ipp__ResultRequest rq = IPP__RESULT_REQUEST__INIT;
    char *one[1] = {big[0]};
    rq.n_msg_ids = 1;
    rq.msg_ids = one;
    ck_assert_int_eq(h_request(&K, IPP__MSG_TYPE__RESULT_REQUEST, &rq.base, 5000),
                     IPP__MSG_TYPE__RESULT_REPLY);
    ck_assert_uint_eq(((Ipp__ResultReply *)K.msg.content)->n_pending, 1);

    // Space returns: the held result is written, once, and delivered.
    ck_assert_int_eq(unlink(filler), 0);
    ck_assert_uint_eq(h_collect(&K, big, 1, res, 30000), 1);
    ck_assert_int_eq(res[0].status, IPP__STATUS__OK);
    ck_assert_msg(strncmp(res[0].out, "xxxxxxxx", 8) == 0, "output: '%s'", res[0].out);
    s_status(big[0], st, sizeof st);
    ck_assert_str_eq(st, "ok");
    char sql[200];
    snprintf(sql, sizeof sql, "SELECT attempts FROM tasks WHERE msg_id='%s'", big[0]);
    ck_assert_int_eq(h_db_int(&C, sql), 1);
    snprintf(sql, sizeof sql, "SELECT length(stdout) FROM tasks WHERE msg_id='%s'", big[0]);
    ck_assert_int_eq(h_db_int(&C, sql), 600000);

    ck_assert_msg(access(mark, F_OK) != 0, "a refused submission was dispatched and ran");

    char fresh[1][IPP_MSGID_LEN + 1];
    h_task_t f = {.call = "echo", .args = (const char *[]){"after"}, .n_args = 1, .target = -1};
    h_submit(&K, &f, fresh[0]);
    ck_assert_uint_eq(h_collect(&K, fresh, 1, res, 20000), 1);
    ck_assert_int_eq(res[0].status, IPP__STATUS__OK);
    ck_assert_str_eq(res[0].buf0, "after");

    h_client_close(&K);
    int bad = h_cluster_stop(&C);
    char text[64];
    ck_assert(h_db_text(&C, "PRAGMA integrity_check", text, sizeof text));
    ck_assert_str_eq(text, "ok");
    ck_assert_int_eq(umount(dbdir), 0);
    h_cluster_fini(&C);
    ck_assert_msg(bad == 0, "%d processes did not stop cleanly", bad);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("diskfull");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_disk_full_then_space_returns);
    suite_add_tcase(s, tc);
    return h_main(s);
}
