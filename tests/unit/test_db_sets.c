/* test_db_sets.c — the engine sets table: a set added gets an id and
 * reads back as written, an update replaces every field, NULL fields stay
 * NULL, the list filters by state, and an update of a missing row says so.
 */
#include "db/schema.h"
#include "db/sets.h"

#include "testutil.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char t_dir[256];
static char t_path[320];

static void t_setup(void)
{
    tu_tmpdir(t_dir, sizeof t_dir, "db_sets");
    snprintf(t_path, sizeof t_path, "%s/tasks.db", t_dir);
}

static void t_teardown(void)
{
    tu_rmtree(t_dir);
}

static sqlite3 *t_open(void)
{
    ipp_error_t err;
    sqlite3 *db = db_schema_open(t_path, DB_OPEN_READWRITE, NULL, &err);
    ck_assert_msg(db != NULL, "%s", err.msg);
    return db;
}

static void t_free(db_engine_set_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        db_set_fini(&v[i]);
    free(v);
}

START_TEST(test_add_update_list)
{
    sqlite3 *db = t_open();
    ipp_error_t err;
    db_engine_set_t a = {0};
    a.launcher = strdup("mpi");
    a.state = strdup("starting");
    a.asked = 4;
    a.created = 1000;
    ck_assert_int_eq(db_sets_add(db, &a, &err), IPP_OK);
    ck_assert_int_eq(a.id, 1);
    db_engine_set_t b = {0};
    b.launcher = strdup("ssh");
    b.state = strdup("failed");
    b.asked = 2;
    b.hosts = strdup("root@h:22");
    b.options = strdup("-F cfg");
    b.created = 2000;
    b.stopped = 2500;
    ck_assert_int_eq(db_sets_add(db, &b, &err), IPP_OK);
    ck_assert_int_eq(b.id, 2);

    // An update replaces the fields.
    free(a.state);
    a.state = strdup("running");
    a.job_id = strdup("4242");
    a.pids = strdup("4242\n");
    a.key_name = strdup("set1");
    a.log = strdup("/p/log/engines-1.log");
    ck_assert_int_eq(db_sets_update(db, &a, &err), IPP_OK);

    db_engine_set_t *v = NULL;
    size_t n = 0;
    ck_assert_int_eq(db_sets_list(db, NULL, &v, &n, &err), IPP_OK);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(v[0].id, 1);
    ck_assert_str_eq(v[0].launcher, "mpi");
    ck_assert_str_eq(v[0].state, "running");
    ck_assert_int_eq(v[0].asked, 4);
    ck_assert_str_eq(v[0].job_id, "4242");
    ck_assert_str_eq(v[0].pids, "4242\n");
    ck_assert_str_eq(v[0].key_name, "set1");
    ck_assert_str_eq(v[0].log, "/p/log/engines-1.log");
    ck_assert_ptr_null(v[0].hosts);
    ck_assert_ptr_null(v[0].options);
    ck_assert_int_eq(v[0].created, 1000);
    ck_assert_int_eq(v[0].stopped, 0);
    ck_assert_str_eq(v[1].hosts, "root@h:22");
    ck_assert_str_eq(v[1].options, "-F cfg");
    ck_assert_int_eq(v[1].stopped, 2500);
    t_free(v, n);

    // By state.
    ck_assert_int_eq(db_sets_list(db, "running", &v, &n, &err), IPP_OK);
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(v[0].id, 1);
    t_free(v, n);
    ck_assert_int_eq(db_sets_list(db, "stopped", &v, &n, &err), IPP_OK);
    ck_assert_uint_eq(n, 0);
    ck_assert_ptr_null(v);

    // A row that is not there.
    db_engine_set_t none = {0};
    none.id = 99;
    none.launcher = (char *)"local";
    none.state = (char *)"running";
    ck_assert_int_eq(db_sets_update(db, &none, &err), IPP_ERR_NOT_FOUND);
    ck_assert_ptr_nonnull(strstr(err.msg, "99"));

    db_set_fini(&a);
    db_set_fini(&b);
    db_set_fini(NULL);
    sqlite3_close_v2(db);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("db_sets");
    TCase *tc = tcase_create("sets");
    tcase_add_checked_fixture(tc, t_setup, t_teardown);
    tcase_add_test(tc, test_add_update_list);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
