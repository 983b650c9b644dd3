/* test_db_keys.c — the Curve keys table: names given once, roles and
 * public keys checked, revocation kept with its first date, last seen
 * through the writer, and a version-2 file migrated to hold the table.
 */
#include "db/keys.h"
#include "db/schema.h"
#include "db/writer.h"

#include "testutil.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

static char t_dir[256];
static char t_path[320];

static void t_setup(void)
{
    tu_tmpdir(t_dir, sizeof t_dir, "db_keys");
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

static db_curve_key_t t_key(const char *name, db_role_t role)
{
    db_curve_key_t k;
    memset(&k, 0, sizeof k);
    char sec[41];
    ck_assert_int_eq(zmq_curve_keypair(k.public_key, sec), 0);
    snprintf(k.name, sizeof k.name, "%s", name);
    k.role = role;
    k.created = 1000;
    return k;
}

START_TEST(test_add_list_revoke)
{
    sqlite3 *db = t_open();
    ipp_error_t err;
    db_curve_key_t a = t_key("alice", DB_ROLE_CLIENT), e = t_key("node-1", DB_ROLE_ENGINE);
    ck_assert_int_eq(db_keys_add(db, &a, &err), IPP_OK);
    ck_assert_int_eq(db_keys_add(db, &e, &err), IPP_OK);
    // A name is given once; a public key belongs to one name.
    db_curve_key_t again = t_key("alice", DB_ROLE_ADMIN);
    ck_assert_int_eq(db_keys_add(db, &again, &err), IPP_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "alice"));
    db_curve_key_t same = a;
    snprintf(same.name, sizeof same.name, "carol");
    ck_assert_int_eq(db_keys_add(db, &same, &err), IPP_ERR_INVALID);
    // Bad names, roles and keys are refused, naming what is wrong.
    db_curve_key_t bad = t_key("-x", DB_ROLE_CLIENT);
    ck_assert_int_eq(db_keys_add(db, &bad, &err), IPP_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "key name"));
    bad = t_key("a b", DB_ROLE_CLIENT);
    ck_assert_int_eq(db_keys_add(db, &bad, &err), IPP_ERR_INVALID);
    bad = t_key("dave", DB_ROLE_NONE);
    ck_assert_int_eq(db_keys_add(db, &bad, &err), IPP_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "role"));
    bad = t_key("dave", DB_ROLE_CLIENT);
    bad.public_key[5] = '\0';
    ck_assert_int_eq(db_keys_add(db, &bad, &err), IPP_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "public key"));

    db_curve_key_t *v = NULL;
    size_t n = 0;
    ipp_err_t rc = db_keys_list(db, &v, &n, &err);
    ck_assert_msg(rc == IPP_OK, "%s", err.msg);
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(v[0].name, "alice");
    ck_assert_int_eq(v[0].role, DB_ROLE_CLIENT);
    ck_assert_str_eq(v[0].public_key, a.public_key);
    ck_assert_str_eq(v[1].name, "node-1");
    ck_assert_int_eq(v[1].role, DB_ROLE_ENGINE);
    free(v);

    ck_assert_int_eq(db_keys_revoke(db, "alice", 5000, &err), IPP_OK);
    ck_assert_int_eq(db_keys_revoke(db, "alice", 9000, &err), IPP_OK);
    db_curve_key_t got;
    ck_assert_int_eq(db_keys_get(db, "alice", &got, &err), IPP_OK);
    ck_assert_int_eq(got.revoked, 5000);
    ck_assert_int_eq(db_keys_revoke(db, "nobody", 1, &err), IPP_ERR_NOT_FOUND);
    ck_assert_ptr_nonnull(strstr(err.msg, "nobody"));
    ck_assert_int_eq(db_keys_get(db, "nobody", &got, &err), IPP_ERR_NOT_FOUND);
    sqlite3_close_v2(db);
}
END_TEST

START_TEST(test_seen_through_writer)
{
    sqlite3 *db = t_open();
    ipp_error_t err;
    db_curve_key_t a = t_key("alice", DB_ROLE_ADMIN);
    ck_assert_int_eq(db_keys_add(db, &a, &err), IPP_OK);
    db_writer_t *w = db_writer_new(t_path, NULL, NULL, &err);
    ck_assert_ptr_nonnull(w);
    ck_assert_int_eq(db_writer_start(w, &err), IPP_OK);
    ck_assert_int_eq(db_writer_key_seen(w, "alice", 7000, NULL), IPP_OK);
    ck_assert_int_eq(db_writer_key_seen(w, "alice", 6000, NULL), IPP_OK);  // older: kept 7000
    ck_assert_int_eq(db_writer_key_seen(w, "ghost", 6000, NULL), IPP_OK);  // nothing to do
    ck_assert_int_eq(db_writer_key_seen(w, "", 6000, NULL), IPP_ERR_INVALID);
    ck_assert_int_eq(db_writer_sync(w, db_writer_last_seq(w), 20000), IPP_OK);
    db_report_t rep;
    ck_assert(!db_writer_next_report(w, &rep));
    db_writer_destroy(&w);
    db_curve_key_t got;
    ck_assert_int_eq(db_keys_get(db, "alice", &got, &err), IPP_OK);
    ck_assert_int_eq(got.last_seen, 7000);
    sqlite3_close_v2(db);
}
END_TEST

START_TEST(test_roles)
{
    ck_assert_int_eq(db_role_parse("client"), DB_ROLE_CLIENT);
    ck_assert_int_eq(db_role_parse("engine"), DB_ROLE_ENGINE);
    ck_assert_int_eq(db_role_parse("admin"), DB_ROLE_ADMIN);
    ck_assert_int_eq(db_role_parse("root"), DB_ROLE_NONE);
    ck_assert_int_eq(db_role_parse(NULL), DB_ROLE_NONE);
    ck_assert_str_eq(db_role_name(DB_ROLE_ADMIN), "admin");
    ck_assert(db_keys_name_ok("a.b_c-1"));
    ck_assert(!db_keys_name_ok(".hidden"));
    ck_assert(!db_keys_name_ok(""));
    char big[80];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    ck_assert(!db_keys_name_ok(big));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("db_keys");
    TCase *tc = tcase_create("keys");
    tcase_add_checked_fixture(tc, t_setup, t_teardown);
    tcase_add_test(tc, test_add_list_revoke);
    tcase_add_test(tc, test_seen_through_writer);
    tcase_add_test(tc, test_roles);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
