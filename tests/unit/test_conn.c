/* test_conn.c — connection files and profile folders: round trip, and
 * each way a file can be wrong, with the error naming file and field.
 */
#include "proto/conn.h"

#include "testutil.h"

#include <check.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char s_dir[256];

static void s_setup(void)
{
    tu_tmpdir(s_dir, sizeof s_dir, "conn");
}

static void s_teardown(void)
{
    ck_assert_int_eq(tu_rmtree(s_dir), 0);
}

static void s_write_raw(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    chmod(path, mode);
}

START_TEST(test_round_trip_client_and_engine)
{
    char path[512];
    conn_info_t w, r;
    conn_info_init(&w, CONN_CLIENT);
    conn_info_new_key(&w);
    w.client_port = 50001;
    w.notify_port = 50002;
    w.controller_pid = 4242;
    snprintf(path, sizeof path, "%s/client.json", s_dir);
    ipp_error_t err;
    ck_assert_int_eq(conn_write(path, &w, &err), IPP_OK);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0600);
    ck_assert_int_eq(conn_read(path, CONN_CLIENT, &r, &err), IPP_OK);
    ck_assert_int_eq(r.client_port, 50001);
    ck_assert_int_eq(r.notify_port, 50002);
    ck_assert_int_eq(r.controller_pid, 4242);
    ck_assert_uint_eq(r.key_len, 32);
    ck_assert(memcmp(r.key, w.key, 32) == 0);
    ck_assert_str_eq(r.ip, "127.0.0.1");
    ck_assert_str_eq(r.scheme, WIRE_SCHEME);
    ck_assert_str_eq(r.curve_server_key, "");
    char ep[128];
    ck_assert_str_eq(conn_endpoint(&r, r.client_port, ep, sizeof ep), "tcp://127.0.0.1:50001");

    // Reading it as an engine file is an error naming "kind".
    ck_assert_int_eq(conn_read(path, CONN_ENGINE, &r, &err), IPP_ERR_CONN_FILE);
    ck_assert(strstr(err.msg, "\"kind\"") != NULL);

    conn_info_init(&w, CONN_ENGINE);
    conn_info_new_key(&w);
    w.engine_port = 50003;
    snprintf(w.ip, sizeof w.ip, "::1");
    char z85[41];
    uint8_t pub[32], sec[32];
    crypto_box_keypair(pub, sec);
    zmq_z85_encode(z85, pub, 32);
    snprintf(w.curve_server_key, sizeof w.curve_server_key, "%s", z85);
    snprintf(path, sizeof path, "%s/engine.json", s_dir);
    ck_assert_int_eq(conn_write(path, &w, &err), IPP_OK);
    ck_assert_int_eq(conn_read(path, CONN_ENGINE, &r, &err), IPP_OK);
    ck_assert_int_eq(r.engine_port, 50003);
    ck_assert_str_eq(r.curve_server_key, z85);
    ck_assert_str_eq(conn_endpoint(&r, r.engine_port, ep, sizeof ep), "tcp://[::1]:50003");
}
END_TEST

// s_expect: reading text (mode 0600) fails with code and the message
// names the file and the given word.
static void s_expect(const char *text, ipp_err_t code, const char *word)
{
    char path[512];
    snprintf(path, sizeof path, "%s/bad.json", s_dir);
    s_write_raw(path, text, 0600);
    conn_info_t r;
    ipp_error_t err;
    ipp_error_clear(&err);
    ck_assert_int_eq(conn_read(path, CONN_CLIENT, &r, &err), code);
    ck_assert_msg(strstr(err.msg, path) != NULL, "message does not name the file: %s", err.msg);
    ck_assert_msg(strstr(err.msg, word) != NULL, "message does not name %s: %s", word, err.msg);
}

#define GOOD_KEY "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="

START_TEST(test_each_error_names_file_and_field)
{
    s_expect("not json", IPP_ERR_CONN_FILE, "JSON");
    s_expect("[1,2]", IPP_ERR_CONN_FILE, "object");
    const char *fields[] = {"kind",        "transport",   "ip", "signature_scheme",
                            "client_port", "notify_port", "key"};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        // A complete file minus one field.
        json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:i,s:i,s:s}", "kind", "client", "transport", "tcp",
                              "ip", "127.0.0.1", "signature_scheme", WIRE_SCHEME, "client_port",
                              1000, "notify_port", 1001, "key", GOOD_KEY);
        json_object_del(o, fields[i]);
        char *text = json_dumps(o, 0);
        char want[64];
        snprintf(want, sizeof want, "\"%s\" is missing", fields[i]);
        s_expect(text, IPP_ERR_CONN_FILE, want);
        free(text);
        json_decref(o);
    }
    s_expect("{\"kind\":\"client\",\"transport\":\"tcp\",\"ip\":\"127.0.0.1\","
             "\"signature_scheme\":\"" WIRE_SCHEME "\",\"client_port\":70000,"
             "\"notify_port\":1,\"key\":\"" GOOD_KEY "\"}",
             IPP_ERR_CONN_FILE, "client_port");
    s_expect("{\"kind\":\"client\",\"transport\":\"tcp\",\"ip\":\"127.0.0.1\","
             "\"signature_scheme\":\"" WIRE_SCHEME "\",\"client_port\":\"12\","
             "\"notify_port\":1,\"key\":\"" GOOD_KEY "\"}",
             IPP_ERR_CONN_FILE, "client_port");
    s_expect("{\"kind\":\"client\",\"transport\":\"tcp\",\"ip\":\"127.0.0.1\","
             "\"signature_scheme\":\"" WIRE_SCHEME "\",\"client_port\":1,"
             "\"notify_port\":2,\"key\":\"!!not base64!!\"}",
             IPP_ERR_CONN_FILE, "\"key\"");
    s_expect("{\"kind\":\"client\",\"transport\":\"tcp\",\"ip\":\"127.0.0.1\","
             "\"signature_scheme\":\"" WIRE_SCHEME "\",\"client_port\":1,"
             "\"notify_port\":2,\"key\":\"c2hvcnQ=\"}",
             IPP_ERR_CONN_FILE, "\"key\"");
    s_expect("{\"kind\":\"client\",\"transport\":\"tcp\",\"ip\":\"127.0.0.1\","
             "\"signature_scheme\":\"hmac-md5\",\"client_port\":1,"
             "\"notify_port\":2,\"key\":\"" GOOD_KEY "\"}",
             IPP_ERR_CONN_FILE, "signature_scheme");
    s_expect("{\"kind\":\"client\",\"transport\":\"udp\",\"ip\":\"127.0.0.1\","
             "\"signature_scheme\":\"" WIRE_SCHEME "\",\"client_port\":1,"
             "\"notify_port\":2,\"key\":\"" GOOD_KEY "\"}",
             IPP_ERR_CONN_FILE, "transport");
    s_expect("{\"kind\":\"client\",\"transport\":\"tcp\",\"ip\":\"127.0.0.1\","
             "\"signature_scheme\":\"" WIRE_SCHEME "\",\"client_port\":1,"
             "\"notify_port\":2,\"key\":\"" GOOD_KEY "\",\"curve_server_key\":\"short\"}",
             IPP_ERR_CONN_FILE, "curve_server_key");
    s_expect("{\"kind\":\"client\",\"ip\":7}", IPP_ERR_CONN_FILE, "transport");
}
END_TEST

START_TEST(test_permissions_and_missing_file)
{
    char path[512];
    conn_info_t w, r;
    conn_info_init(&w, CONN_CLIENT);
    conn_info_new_key(&w);
    w.client_port = 1;
    w.notify_port = 2;
    snprintf(path, sizeof path, "%s/open.json", s_dir);
    ck_assert_int_eq(conn_write(path, &w, NULL), IPP_OK);
    chmod(path, 0644);
    ipp_error_t err;
    ck_assert_int_eq(conn_read(path, CONN_CLIENT, &r, &err), IPP_ERR_PERMISSION);
    ck_assert(strstr(err.msg, path) != NULL);
    ck_assert(strstr(err.msg, "0644") != NULL);
    chmod(path, 0600);
    ck_assert_int_eq(conn_read(path, CONN_CLIENT, &r, &err), IPP_OK);

    snprintf(path, sizeof path, "%s/none.json", s_dir);
    ck_assert_int_eq(conn_read(path, CONN_CLIENT, &r, &err), IPP_ERR_NOT_FOUND);
    ck_assert(strstr(err.msg, path) != NULL);

    // Writing into a folder that does not exist fails cleanly.
    snprintf(path, sizeof path, "%s/no/such/dir.json", s_dir);
    ck_assert_int_eq(conn_write(path, &w, &err), IPP_ERR_IO);
}
END_TEST

START_TEST(test_profile_folders)
{
    char pdir[512], path[600];
    ipp_error_t err;
    setenv("IPP_DIR", s_dir, 1);
    ck_assert_int_eq(conn_profile_dir(NULL, "bench-1", pdir, sizeof pdir, &err), IPP_OK);
    snprintf(path, sizeof path, "%s/profile_bench-1", s_dir);
    ck_assert_str_eq(pdir, path);
    ck_assert_int_eq(conn_profile_dir(NULL, NULL, pdir, sizeof pdir, &err), IPP_OK);
    ck_assert(strstr(pdir, "profile_default") != NULL);
    ck_assert_int_eq(conn_profile_dir(NULL, "../etc", pdir, sizeof pdir, &err), IPP_ERR_INVALID);
    ck_assert_int_eq(conn_profile_dir(NULL, "a/b", pdir, sizeof pdir, &err), IPP_ERR_INVALID);

    char nested[512];
    snprintf(nested, sizeof nested, "%s/ippdir", s_dir);
    ck_assert_int_eq(conn_profile_dir(nested, "x", pdir, sizeof pdir, &err), IPP_OK);
    ck_assert_int_eq(conn_profile_prepare(pdir, &err), IPP_OK);
    ck_assert_int_eq(conn_profile_prepare(pdir, &err), IPP_OK);  // idempotent
    struct stat st;
    snprintf(path, sizeof path, "%s/security", pdir);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0700);
    ck_assert_int_eq(conn_file_path(pdir, CONN_ENGINE, path, sizeof path, &err), IPP_OK);
    ck_assert(strstr(path, "/security/ipp-engine.json") != NULL);

    unsetenv("IPP_DIR");
    setenv("HOME", s_dir, 1);
    ck_assert_int_eq(conn_ipp_dir(path, sizeof path, &err), IPP_OK);
    snprintf(pdir, sizeof pdir, "%s/.ipp", s_dir);
    ck_assert_str_eq(path, pdir);
}
END_TEST

// The ipc endpoints round trip; a peer takes them only on the
// controller's host and without IPP_TRANSPORT=tcp; each bad field is
// refused by name.
START_TEST(test_ipc_endpoints)
{
    char path[512], ep[CONN_IPC_MAX], here[CONN_HOST_ID_MAX];
    ck_assert(conn_host_id(here, sizeof here));
    ck_assert_ptr_nonnull(strstr(here, "/net:"));
    conn_info_t w, r;
    conn_info_init(&w, CONN_CLIENT);
    conn_info_new_key(&w);
    w.client_port = 50001;
    w.notify_port = 50002;
    ck_assert_int_eq(conn_profile_prepare(s_dir, NULL), IPP_OK);
    ck_assert(conn_ipc_endpoint(s_dir, "client", w.ipc_client, sizeof w.ipc_client));
    snprintf(path, sizeof path, "ipc://%s/security/ipc-client.sock", s_dir);
    ck_assert_str_eq(w.ipc_client, path);
    ck_assert(conn_ipc_endpoint(s_dir, "notify", w.ipc_notify, sizeof w.ipc_notify));
    // Stand-ins for the controller's socket files (what the peer checks is
    // that it may open them).
    s_write_raw(w.ipc_client + 6, "", 0600);
    s_write_raw(w.ipc_notify + 6, "", 0600);
    snprintf(w.host_id, sizeof w.host_id, "%s", here);
    snprintf(path, sizeof path, "%s/client.json", s_dir);
    ipp_error_t err;
    ck_assert_int_eq(conn_write(path, &w, &err), IPP_OK);
    ck_assert_int_eq(conn_read(path, CONN_CLIENT, &r, &err), IPP_OK);
    ck_assert_str_eq(r.ipc_client, w.ipc_client);
    ck_assert_str_eq(r.ipc_notify, w.ipc_notify);
    ck_assert_str_eq(r.host_id, here);

    unsetenv("IPP_TRANSPORT");
    ck_assert_str_eq(conn_peer_endpoint(&r, CONN_SOCK_CLIENT, ep, sizeof ep), w.ipc_client);
    ck_assert_str_eq(conn_peer_endpoint(&r, CONN_SOCK_NOTIFY, ep, sizeof ep), w.ipc_notify);
    // A socket this process may not open (gone, here): TCP.
    unlink(w.ipc_notify + 6);
    ck_assert_str_eq(conn_peer_endpoint(&r, CONN_SOCK_NOTIFY, ep, sizeof ep),
                     "tcp://127.0.0.1:50002");
    s_write_raw(w.ipc_notify + 6, "", 0600);
    setenv("IPP_TRANSPORT", "tcp", 1);
    ck_assert_str_eq(conn_peer_endpoint(&r, CONN_SOCK_CLIENT, ep, sizeof ep),
                     "tcp://127.0.0.1:50001");
    unsetenv("IPP_TRANSPORT");
    // Another host (or another network namespace): TCP.
    snprintf(r.host_id, sizeof r.host_id, "00000000-0000-0000-0000-000000000000/net:1");
    ck_assert_str_eq(conn_peer_endpoint(&r, CONN_SOCK_NOTIFY, ep, sizeof ep),
                     "tcp://127.0.0.1:50002");
    // No ipc in the file: TCP.
    conn_info_t e;
    conn_info_init(&e, CONN_ENGINE);
    e.engine_port = 50003;
    snprintf(e.host_id, sizeof e.host_id, "%s", here);
    ck_assert_str_eq(conn_peer_endpoint(&e, CONN_SOCK_ENGINE, ep, sizeof ep),
                     "tcp://127.0.0.1:50003");

    // A profile path too long for a Unix socket address: no ipc endpoint.
    char longdir[200];
    memset(longdir, 'a', sizeof longdir - 1);
    longdir[0] = '/';
    longdir[sizeof longdir - 1] = '\0';
    ck_assert(!conn_ipc_endpoint(longdir, "engine", ep, sizeof ep));
    ck_assert_str_eq(ep, "");
    ck_assert(!conn_ipc_endpoint("relative", "engine", ep, sizeof ep));

#define S_BASE                                                                                     \
    "{\"kind\":\"client\",\"transport\":\"tcp\",\"ip\":\"127.0.0.1\","                             \
    "\"signature_scheme\":\"" WIRE_SCHEME                                                          \
    "\",\"client_port\":1,\"notify_port\":2,\"key\":\"" GOOD_KEY "\","
    s_expect(S_BASE "\"host_id\":\"h\",\"ipc_client\":\"tcp://x:1\",\"ipc_notify\":\"ipc:///n\"}",
             IPP_ERR_CONN_FILE, "ipc_client");
    s_expect(S_BASE "\"host_id\":\"h\",\"ipc_client\":\"ipc://rel\",\"ipc_notify\":\"ipc:///n\"}",
             IPP_ERR_CONN_FILE, "ipc_client");
    s_expect(S_BASE "\"host_id\":\"h\",\"ipc_client\":\"ipc:///c\"}", IPP_ERR_CONN_FILE,
             "go together");
    s_expect(S_BASE "\"ipc_client\":\"ipc:///c\",\"ipc_notify\":\"ipc:///n\"}", IPP_ERR_CONN_FILE,
             "host_id");
    s_expect(S_BASE "\"host_id\":7}", IPP_ERR_CONN_FILE, "host_id");
    char text[512];
    snprintf(text, sizeof text,
             S_BASE "\"host_id\":\"h\",\"ipc_client\":\"ipc://%s\","
                    "\"ipc_notify\":\"ipc:///n\"}",
             longdir);
    s_expect(text, IPP_ERR_CONN_FILE, "ipc_client");
#undef S_BASE
}
END_TEST

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    Suite *s = suite_create("conn");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, s_setup, s_teardown);
    tcase_add_test(tc, test_round_trip_client_and_engine);
    tcase_add_test(tc, test_each_error_names_file_and_field);
    tcase_add_test(tc, test_permissions_and_missing_file);
    tcase_add_test(tc, test_profile_folders);
    tcase_add_test(tc, test_ipc_endpoints);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
