/* keys.c — `ipp keys new|list|revoke`: the Curve keys of a profile.
 *
 * Keys live in the profile's task database (db/keys.h), written here on
 * this process's own connection, whether or not a controller runs. A
 * running controller is then told over its client socket (a
 * KEYS_RELOAD_REQUEST, which needs an admin key: the profile's
 * ipp-client.json holds the owner's) and reads the keys named again from
 * the database, so a new key works and a revoked one stops at once. The
 * secret half of a new key goes only into the connection file written
 * for its holder (0600); the database keeps the public half.
 * Owns what one invocation allocates.
 */
#include "tools/ipp/cli.h"

#include "db/keys.h"
#include "db/schema.h"
#include "proto/clock.h"
#include "proto/conn.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

static const cli_cmd_t s_keys_cmd = {
    "keys",
    "usage: ipp keys new --role client|engine|admin NAME [--out FILE] [--db PATH]\n"
    "       ipp keys list [--db PATH]\n"
    "       ipp keys revoke NAME [--db PATH]\n"
    "\n"
    "The CurveZMQ keys of the profile's controller (ipp-controller --curve, or any\n"
    "non-loopback --ip). Each client and engine has its own key under a NAME,\n"
    "given once; the controller lets a key in only on the socket of its role and\n"
    "records the NAME with every task it submits.\n"
    "\n"
    "  new      make a key pair, record its public half under NAME, and write a\n"
    "           connection file (0600) with the controller's endpoints and key and\n"
    "           the new pair: give it to the key's holder (ipp --connection FILE,\n"
    "           ipp-engine --connection FILE). Default FILE:\n"
    "           PROFILE/security/keys/NAME.json. Needs a controller started once\n"
    "           with Curve (its connection files hold the server key).\n"
    "  list     name, role, created, last seen, revoked\n"
    "  revoke   refuse the key from now on, also on connections already open\n"
    "\n"
    "roles: engine (the engine protocol only), client (submit and query; abort,\n"
    "purge and resubmit its own tasks), admin (also anyone's tasks, clear,\n"
    "shutdown, keys).\n"
    "\n"
    "A running controller is told at once (through the profile's ipp-client.json,\n"
    "which holds the owner's admin key, or --connection FILE of another admin key);\n"
    "one that is not running reads the keys when it starts.\n"
    "\n"
    "options:\n"
    "  --role ROLE          new: client, engine or admin\n"
    "  --out FILE           new: where to write the connection file (not overwritten)\n"
    "  --db PATH            the task database (default: PROFILE/db/tasks.db)\n" CLI_COMMON_HELP "\n"
    "exit: 0 ok, 1 refused (name taken, no such key, no Curve), 2 usage.\n",
};

enum { S_O_ROLE = CLI_O_FIRST, S_O_OUT, S_O_DB };

// s_open: the task database of the profile (or db), read-write.
static sqlite3 *s_open(const char *dir, const char *db_path)
{
    char path[4200];
    if (db_path)
        snprintf(path, sizeof path, "%s", db_path);
    else
        snprintf(path, sizeof path, "%s/db/tasks.db", dir);
    ipp_error_t err;
    if (!db_path) {
        // A profile never started has no db/ folder yet.
        if (conn_profile_prepare(dir, &err) != IPP_OK) {
            cli_error("%s", err.msg);
            return NULL;
        }
    }
    static const ipp_logger_t quiet = {IPP_LOG_ERROR, NULL, "ipp"};
    sqlite3 *db = db_schema_open(path, DB_OPEN_READWRITE, &quiet, &err);
    if (!db)
        cli_error("%s", err.msg);
    return db;
}

// s_tell: ask the running controller, if any, to read key name again.
static void s_tell(cli_t *cli, const char *dir, const char *name)
{
    char path[4200];
    ipp_error_t err;
    if (cli->connection)
        snprintf(path, sizeof path, "%s", cli->connection);
    else if (conn_file_path(dir, CONN_CLIENT, path, sizeof path, &err) != IPP_OK)
        return;
    conn_info_t info;
    if (conn_read(path, CONN_CLIENT, &info, &err) != IPP_OK) {
        printf("no controller to tell (%s); it reads the keys when it starts\n", err.msg);
        return;
    }
    memset(info.key, 0, sizeof info.key);
    memset(info.curve_secret_key, 0, sizeof info.curve_secret_key);
    if (info.controller_pid > 0 && kill((pid_t)info.controller_pid, 0) != 0 && errno == ESRCH) {
        printf("the controller is not running; it reads the keys when it starts\n");
        return;
    }
    ipp_client_opts_t o;
    memset(&o, 0, sizeof o);
    o.connection_file = path;
    o.timeout = cli->timeout < 5 ? cli->timeout : 5;
    o.log_level = IPP_LOG_LEVEL_ERROR;
    ipp_client_t *client = ipp_client_new(&o, &err);
    if (!client) {
        printf("could not tell the controller (%s); it reads the keys when it starts\n", err.msg);
        return;
    }
    const char *names[1] = {name};
    int loaded = 0;
    if (ipp_client_keys_reload(client, names, 1, &loaded, &err) != IPP_OK)
        printf("the controller refused to read the keys again: %s\n", err.msg);
    else
        printf("the controller has read key %s again\n", name);
    ipp_client_destroy(&client);
}

// s_iso: µs UTC as "YYYY-MM-DDTHH:MM:SSZ", or "-" for 0.
static const char *s_iso(int64_t us, char *buf, size_t size)
{
    if (us <= 0)
        return "-";
    time_t t = (time_t)(us / 1000000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

static int s_new(cli_t *cli, const char *dir, const char *name, db_role_t role, const char *out,
                 const char *db_path)
{
    ipp_error_t err;
    if (!db_keys_name_ok(name))
        return cli_usage_error(&s_keys_cmd,
                               "key name \"%s\": use 1 to %d letters, digits, '.', '_', '-'", name,
                               DB_KEY_NAME_MAX);
    if (conn_curve_check("ipp keys", &err) != IPP_OK) {
        cli_error("%s", err.msg);
        return CLI_FAILED;
    }
    // The controller's endpoints and keys, from its connection file.
    conn_kind_t kind = role == DB_ROLE_ENGINE ? CONN_ENGINE : CONN_CLIENT;
    char tpath[4200], opath[4200];
    conn_info_t info;
    if (conn_file_path(dir, kind, tpath, sizeof tpath, &err) != IPP_OK ||
        conn_read(tpath, kind, &info, &err) != IPP_OK) {
        cli_error("%s", err.msg);
        return CLI_FAILED;
    }
    if (!info.curve_server_key[0]) {
        memset(info.key, 0, sizeof info.key);
        cli_error("%s has no Curve server key: start the controller with --curve first", tpath);
        return CLI_FAILED;
    }
    int rc = CLI_OK;
    // The name first: a name taken is the reason to give, also when its
    // file (the default path is the name's) is in the way.
    db_curve_key_t k;
    sqlite3 *db = s_open(dir, db_path);
    if (!db) {
        rc = CLI_FAILED;
        goto out;
    }
    ipp_err_t got = db_keys_get(db, name, &k, &err);
    if (got == IPP_OK) {
        char when[32];
        cli_error("a key named %s is already recorded (%s, created %s%s); a name is given "
                  "once, even after a revocation",
                  name, db_role_name(k.role), s_iso(k.created, when, sizeof when),
                  k.revoked ? ", revoked" : "");
        rc = CLI_FAILED;
        goto out;
    }
    if (got != IPP_ERR_NOT_FOUND) {
        cli_error("%s", err.msg);
        rc = CLI_FAILED;
        goto out;
    }
    if (out) {
        snprintf(opath, sizeof opath, "%s", out);
    } else {
        snprintf(opath, sizeof opath, "%s/security/keys", dir);
        if (mkdir(opath, 0700) != 0 && errno != EEXIST) {
            cli_error("cannot create %s: %s", opath, strerror(errno));
            rc = CLI_FAILED;
            goto out;
        }
        snprintf(opath, sizeof opath, "%s/security/keys/%s.json", dir, name);
    }
    struct stat st;
    if (lstat(opath, &st) == 0) {
        cli_error("%s exists; not overwritten (another key's file?)", opath);
        rc = CLI_FAILED;
        goto out;
    }
    memset(&k, 0, sizeof k);
    snprintf(k.name, sizeof k.name, "%s", name);
    k.role = role;
    k.created = ipp_clock_now_us();
    memset(info.curve_secret_key, 0, sizeof info.curve_secret_key);
    if (zmq_curve_keypair(info.curve_public_key, info.curve_secret_key) != 0) {
        cli_error("cannot make a key pair: %s", zmq_strerror(zmq_errno()));
        rc = CLI_FAILED;
        goto out;
    }
    memcpy(k.public_key, info.curve_public_key, sizeof k.public_key);
    snprintf(info.key_name, sizeof info.key_name, "%s", name);
    if (db_keys_add(db, &k, &err) != IPP_OK) {
        cli_error("%s", err.msg);
        rc = CLI_FAILED;
        goto out;
    }
    if (conn_write(opath, &info, &err) != IPP_OK) {
        cli_error("key %s is recorded but its file could not be written (%s); revoke it with "
                  "`ipp keys revoke %s`",
                  name, err.msg, name);
        rc = CLI_FAILED;
        goto out;
    }
    printf("key %s (%s) recorded; its connection file is %s (mode 0600)\n", name,
           db_role_name(role), opath);
out:
    memset(info.key, 0, sizeof info.key);
    memset(info.curve_secret_key, 0, sizeof info.curve_secret_key);
    if (db)
        sqlite3_close_v2(db);
    if (rc == CLI_OK)
        s_tell(cli, dir, name);
    return rc;
}

static int s_list(const char *dir, const char *db_path)
{
    sqlite3 *db = s_open(dir, db_path);
    if (!db)
        return CLI_FAILED;
    db_curve_key_t *v = NULL;
    size_t n = 0;
    ipp_error_t err;
    ipp_err_t rc = db_keys_list(db, &v, &n, &err);
    sqlite3_close_v2(db);
    if (rc != IPP_OK) {
        cli_error("%s", err.msg);
        return CLI_FAILED;
    }
    printf("%-20s  %-6s  %-20s  %-20s  %-20s\n", "NAME", "ROLE", "CREATED", "LAST SEEN", "REVOKED");
    for (size_t i = 0; i < n; i++) {
        char a[32], b[32], c[32];
        printf("%-20s  %-6s  %-20s  %-20s  %-20s\n", v[i].name, db_role_name(v[i].role),
               s_iso(v[i].created, a, sizeof a), s_iso(v[i].last_seen, b, sizeof b),
               s_iso(v[i].revoked, c, sizeof c));
    }
    free(v);
    return CLI_OK;
}

static int s_revoke(cli_t *cli, const char *dir, const char *name, const char *db_path)
{
    sqlite3 *db = s_open(dir, db_path);
    if (!db)
        return CLI_FAILED;
    ipp_error_t err;
    ipp_err_t rc = db_keys_revoke(db, name, ipp_clock_now_us(), &err);
    sqlite3_close_v2(db);
    if (rc != IPP_OK) {
        cli_error("%s", err.msg);
        return CLI_FAILED;
    }
    printf("key %s is revoked\n", name);
    s_tell(cli, dir, name);
    return CLI_OK;
}

int cli_cmd_keys(cli_t *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_COMMON_OPTIONS,
        {"role", required_argument, NULL, S_O_ROLE},
        {"out", required_argument, NULL, S_O_OUT},
        {"db", required_argument, NULL, S_O_DB},
        {NULL, 0, NULL, 0},
    };
    const char *role_name = NULL, *out = NULL, *db_path = NULL;
    int c;
    while ((c = cli_getopt(cli, &s_keys_cmd, argc, argv, ":h", opts)) != -1) {
        if (c == 'h')
            return cli_help(&s_keys_cmd);
        if (c == S_O_ROLE)
            role_name = optarg;
        else if (c == S_O_OUT)
            out = optarg;
        else if (c == S_O_DB)
            db_path = optarg;
        else
            return CLI_USAGE;
    }
    if (optind >= argc)
        return cli_usage_error(&s_keys_cmd, "new, list or revoke?");
    const char *what = argv[optind++];
    char dir[4096];
    if (!cli_profile_dir(cli, dir, sizeof dir))
        return CLI_USAGE;
    if (strcmp(what, "list") == 0) {
        if (optind < argc)
            return cli_usage_error(&s_keys_cmd, "unexpected argument '%s'", argv[optind]);
        return s_list(dir, db_path);
    }
    if (strcmp(what, "new") != 0 && strcmp(what, "revoke") != 0)
        return cli_usage_error(&s_keys_cmd, "unknown keys command '%s' (new, list, revoke)", what);
    if (optind + 1 != argc)
        return cli_usage_error(&s_keys_cmd, "keys %s takes one NAME", what);
    const char *name = argv[optind];
    if (strcmp(what, "revoke") == 0)
        return s_revoke(cli, dir, name, db_path);
    db_role_t role = db_role_parse(role_name);
    if (role == DB_ROLE_NONE)
        return cli_usage_error(&s_keys_cmd, "keys new needs --role client, engine or admin");
    return s_new(cli, dir, name, role, out, db_path);
}
