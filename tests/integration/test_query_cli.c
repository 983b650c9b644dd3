/* test_query_cli.c — ipp-query's command line without a working cluster:
 * --help for the tool and every subcommand, usage errors (exit 2 with a
 * message naming what is wrong and the usage line), an unreachable
 * controller (exit 3, quickly: no connection file, or one left by a
 * controller that was killed), and database files that are missing or are
 * not databases (exit 3). Nothing here may crash or hang.
 */
#include "harness.h"
#include "test_query_util.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const SUBCOMMANDS[] = {"result_status", "queue_status", "history", "get", "db",
                                          "audit",         "verify",       "gantt",   "dag"};
enum { N_SUB = sizeof SUBCOMMANDS / sizeof *SUBCOMMANDS };

START_TEST(test_help)
{
    qt_run_t r;
    qt_run(&r, 20, (const char *[]){"--help", NULL});
    ck_assert_int_eq(r.status, 0);
    ck_assert(qt_has_line(r.out, "usage: ipp-query", NULL));
    ck_assert(qt_has_line(r.out, "exit status:", NULL));
    for (int i = 0; i < N_SUB; i++)
        ck_assert_msg(qt_has_line(r.out, "  ", SUBCOMMANDS[i]), "%s not in --help", SUBCOMMANDS[i]);
    ck_assert_str_eq(r.err, "");
    qt_run_fini(&r);
    for (int i = 0; i < N_SUB; i++) {
        char want[64];
        snprintf(want, sizeof want, "usage: ipp-query %s", SUBCOMMANDS[i]);
        // Both spellings: SUBCOMMAND --help and help SUBCOMMAND.
        qt_run(&r, 20, (const char *[]){SUBCOMMANDS[i], "--help", NULL});
        ck_assert_int_eq(r.status, 0);
        ck_assert_msg(strncmp(r.out, want, strlen(want)) == 0, "%s --help: %s", SUBCOMMANDS[i],
                      r.out);
        qt_run_fini(&r);
        qt_run(&r, 20, (const char *[]){"help", SUBCOMMANDS[i], NULL});
        ck_assert_int_eq(r.status, 0);
        ck_assert(strncmp(r.out, want, strlen(want)) == 0);
        qt_run_fini(&r);
    }
    // The exit codes and verify's choice of file are documented.
    qt_run(&r, 20, (const char *[]){"verify", "--help", NULL});
    ck_assert_ptr_nonnull(strstr(r.out, "db/tasks.db"));
    qt_run_fini(&r);
}
END_TEST

// One usage error: the arguments and a piece of the message.
typedef struct {
    const char *args[8];
    const char *says;
} s_bad_t;

static const s_bad_t BAD[] = {
    {{NULL}, "no subcommand"},
    {{"frobnicate", NULL}, "unknown subcommand 'frobnicate'"},
    {{"help", "frobnicate", NULL}, "unknown subcommand"},
    {{"history", "--frob", NULL}, "unknown option '--frob'"},
    {{"history", "-x", NULL}, "unknown option '-x'"},
    {{"history", "--label", NULL}, "needs a value"},
    {{"history", "--label", "\xff\xfe", NULL}, "--label"},
    {{"get", "--label", "", NULL}, "--label"},
    {{"history", "extra", NULL}, "takes no arguments"},
    {{"history", "--keys", "status", NULL}, "does not take --keys"},
    {{"queue_status", "--label", "x", NULL}, "does not take --label"},
    {{"result_status", NULL}, "give msg_ids or --label"},
    {{"get", NULL}, "give msg_ids or --label"},
    {{"db", NULL}, "exactly one argument"},
    {{"db", "{}", "{}", NULL}, "exactly one argument"},
    {{"db", "{\"status\": ", NULL}, "not valid JSON"},
    {{"db", "[1, 2]", NULL}, "bad query"},
    {{"db", "{\"no_such_key\": 1}", NULL}, "no_such_key"},
    {{"db", "{\"submitted\": {\"$lt\": \"yesterday\"}}", NULL}, "submitted"},
    {{"db", "{}", "--keys", "status,bogus", NULL}, "unknown key 'bogus'"},
    {{"db", "{}", "--limit", "0", NULL}, "--limit"},
    {{"db", "{}", "--limit", "ten", NULL}, "--limit"},
    {{"audit", "--since", "last tuesday", NULL}, "--since"},
    {{"audit", "--until", "5x", NULL}, "--until"},
    {{"audit", "--since", "2030-01-01", "--until", "2020-01-01", NULL}, "not before"},
    {{"history", "--json", "--csv", NULL}, "choose one of"},
    {{"history", "--db", "x.db", "--profile", "p", NULL}, "--db"},
    {{"history", "--timeout", "soon", NULL}, "--timeout"},
    {{"history", "--profile", "bad/name", NULL}, "profile"},
    {{"queue_status", "--db", "/nonexistent/tasks.db", NULL}, "needs the controller"},
    {{"gantt", NULL}, "give --svg FILE"},
    {{"gantt", "--svg", NULL}, "needs a value"},
    {{"gantt", "--svg", "", NULL}, "empty file name"},
    {{"gantt", "--svg", "g.svg", "--dot", "g.dot", NULL}, "does not take --dot"},
    {{"gantt", "--svg", "g.svg", "--until", "1h", NULL}, "does not take --until"},
    {{"gantt", "--svg", "g.svg", "extra", NULL}, "takes no arguments"},
    {{"history", "--svg", "h.svg", NULL}, "does not take --svg"},
    {{"dag", "--svg", "d.svg", NULL}, "give --label PREFIX"},
    {{"dag", "--label", "wf/", NULL}, "give --svg FILE or --dot FILE"},
    {{"dag", "--label", "wf/", "--svg", "d", "--dot", "d", NULL}, "same file"},
    {{"dag", "--label", "wf/", "--svg", "d.svg", "--since", "1h", NULL}, "does not take --since"},
};

START_TEST(test_usage_errors)
{
    // No controller anywhere: a usage error must be found before asking.
    h_cluster_t c;
    h_cluster_init(&c);
    for (size_t i = 0; i < sizeof BAD / sizeof *BAD; i++) {
        qt_run_t r;
        qt_run(&r, 20, BAD[i].args);
        ck_assert_msg(r.status == 2, "case %zu (%s): exit %d, stderr: %s", i,
                      BAD[i].args[0] ? BAD[i].args[0] : "-", r.status, r.err);
        ck_assert_msg(strstr(r.err, BAD[i].says) != NULL, "case %zu: no '%s' in: %s", i,
                      BAD[i].says, r.err);
        ck_assert_msg(strstr(r.err, "usage: ipp-query") != NULL, "case %zu: no usage line", i);
        ck_assert_str_eq(r.out, "");
        qt_run_fini(&r);
    }
    h_cluster_fini(&c);
}
END_TEST

START_TEST(test_controller_unreachable)
{
    h_cluster_t c;
    h_cluster_init(&c);
    qt_run_t r;
    // No connection file at all: exit 3 at once.
    qt_run(&r, 20, (const char *[]){"history", NULL});
    ck_assert_int_eq(r.status, 3);
    ck_assert_ptr_nonnull(strstr(r.err, "cannot reach the controller"));
    ck_assert_ptr_nonnull(strstr(r.err, "ipp-client.json"));
    qt_run_fini(&r);
    qt_run(&r, 20,
           (const char *[]){"result_status", "--profile", "elsewhere",
                            "0190aaaa-bbbb-7ccc-8ddd-eeeeeeeeeeee", NULL});
    ck_assert_int_eq(r.status, 3);
    ck_assert_ptr_nonnull(strstr(r.err, "profile_elsewhere"));
    qt_run_fini(&r);

    // A controller killed -9 leaves its connection file: nobody answers,
    // exit 3 within the timeout asked for.
    h_controller_start(&c, NULL);
    h_controller_kill(&c);
    const char *const *cases[] = {
        (const char *[]){"history", "--timeout", "1", NULL},
        (const char *[]){"queue_status", "--timeout", "1", "--json", NULL},
        (const char *[]){"get", "--timeout", "1", "0190aaaa-bbbb-7ccc-8ddd-eeeeeeeeeeee", NULL},
        (const char *[]){"audit", "--timeout", "1", "--csv", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        qt_run(&r, 20, cases[i]);
        ck_assert_msg(r.status == 3, "%s: exit %d: %s", cases[i][0], r.status, r.err);
        ck_assert_msg(r.secs < 6.0, "%s: took %.1f s", cases[i][0], r.secs);
        ck_assert_ptr_nonnull(strstr(r.err, "cannot reach the controller"));
        ck_assert_str_eq(r.out, "");
        qt_run_fini(&r);
    }
    // ... while the database it left is readable offline.
    qt_run(&r, 20, (const char *[]){"history", "--db", c.db_path, NULL});
    ck_assert_int_eq(r.status, 0);
    ck_assert_str_eq(r.out, "msg_id\n");
    qt_run_fini(&r);
    h_cluster_fini(&c);
}
END_TEST

START_TEST(test_database_unreadable)
{
    h_cluster_t c;
    h_cluster_init(&c);
    qt_run_t r;
    const char *missing = "/nonexistent/ipp/tasks.db";
    const char *const *cases[] = {
        (const char *[]){"history", "--db", missing, NULL},
        (const char *[]){"audit", "--db", missing, "--json", NULL},
        (const char *[]){"get", "--db", missing, "0190aaaa-bbbb-7ccc-8ddd-eeeeeeeeeeee", NULL},
        (const char *[]){"db", "{}", "--db", missing, NULL},
        (const char *[]){"verify", "--db", missing, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        qt_run(&r, 20, cases[i]);
        ck_assert_msg(r.status == 3, "%s: exit %d: %s", cases[i][0], r.status, r.err);
        ck_assert_msg(strstr(r.err, missing) != NULL, "%s: %s", cases[i][0], r.err);
        qt_run_fini(&r);
    }
    // verify without --db: the profile's database, which is not there.
    qt_run(&r, 20, (const char *[]){"verify", NULL});
    ck_assert_int_eq(r.status, 3);
    ck_assert_ptr_nonnull(strstr(r.err, "profile_default/db/tasks.db"));
    qt_run_fini(&r);

    // A file that is no database at all, and an empty one.
    char junk[600], empty[600];
    snprintf(junk, sizeof junk, "%s/junk.db", c.dir);
    snprintf(empty, sizeof empty, "%s/empty.db", c.dir);
    FILE *f = fopen(junk, "w");
    ck_assert_ptr_nonnull(f);
    for (int i = 0; i < 400; i++)
        fputs("this is not an SQLite database ", f);
    fclose(f);
    f = fopen(empty, "w");
    ck_assert_ptr_nonnull(f);
    fclose(f);
    const char *files[] = {junk, empty};
    for (int i = 0; i < 2; i++) {
        qt_run(&r, 20, (const char *[]){"history", "--db", files[i], NULL});
        ck_assert_msg(r.status == 3, "%s: exit %d: %s", files[i], r.status, r.err);
        qt_run_fini(&r);
        qt_run(&r, 20, (const char *[]){"verify", "--db", files[i], NULL});
        ck_assert_msg(r.status == 3, "verify %s: exit %d: %s", files[i], r.status, r.err);
        qt_run_fini(&r);
    }
    // Read-only means read-only: the empty file was not turned into a database.
    struct stat sb;
    ck_assert_int_eq(stat(empty, &sb), 0);
    ck_assert_int_eq(sb.st_size, 0);
    h_cluster_fini(&c);
}
END_TEST

static Suite *s_suite(void)
{
    Suite *s = suite_create("query_cli");
    TCase *tc = tcase_create("cli");
    tcase_set_timeout(tc, 90);
    tcase_add_test(tc, test_help);
    tcase_add_test(tc, test_usage_errors);
    tcase_add_test(tc, test_controller_unreachable);
    tcase_add_test(tc, test_database_unreadable);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(s_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
