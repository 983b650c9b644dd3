/* main.c — ipp-dashboard: the dashboard's process. Opens the task database
 * read-only, starts the HTTP server, and follows the controller (libipp:
 * engine events, every task's done notification, queue status once a
 * second) — or, with no controller, the database file itself.
 *
 * Owns the process: the only place that exits, and the only place that
 * holds the client. The client belongs to this thread; the server's
 * threads reach it only through the action hook, under client_mu.
 */
#include "db/reader.h"
#include "ipp/ipp.h"
#include "proto/conn.h"
#include "tools/dashboard/api.h"
#include "tools/dashboard/live.h"
#include "tools/dashboard/server.h"

#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char s_usage[] =
    "usage: ipp-dashboard [--profile NAME | --connection FILE] [--db PATH] [--ip ADDR]\n"
    "                     [--port N] [--allow-actions] [--token TOKEN]\n"
    "       (also as `ipp dashboard …`)\n"
    "\n"
    "A dashboard in the browser: engines and queues, a live task stream per\n"
    "engine, the whole history (filtered, paginated), each task, a workflow's\n"
    "DAG and the audit chain, with a JSON API behind every page (docs/DASHBOARD.md).\n"
    "It reads the task database read-only and follows the controller's\n"
    "notifications; with no controller running it shows the file alone.\n"
    "\n"
    "It prints a URL with an access token; every request without the token is\n"
    "refused (403). After the first visit the browser keeps it in a cookie.\n"
    "\n"
    "options:\n"
    "  --profile NAME     the profile's controller and database ($IPP_DIR/profile_NAME;\n"
    "                     default $IPP_PROFILE, else default)\n"
    "  --connection FILE  the controller of this client connection file\n"
    "  --db PATH          this database file (default PROFILE/db/tasks.db); alone,\n"
    "                     without --profile or --connection, no controller is asked\n"
    "  --ip ADDR          address to listen on (default 127.0.0.1; anything else\n"
    "                     exposes the dashboard to the network, token or not)\n"
    "  --port N           port (default 8770; 0: any free port)\n"
    "  --allow-actions    show abort and resubmit buttons (off: read-only)\n"
    "  --token TOKEN      use this access token (default: a random one;\n"
    "                     also $IPP_DASHBOARD_TOKEN)\n"
    "  -h, --help         this help\n"
    "\n"
    "exit codes: 0 stopped by a signal, 2 usage error, 3 cannot open the database\n"
    "or listen.\n";

static volatile sig_atomic_t s_stop;

static void s_on_signal(int sig)
{
    (void)sig;
    s_stop = 1;
}

// Everything the loop and the action hook share.
typedef struct s_app_t {
    pthread_mutex_t client_mu;  // guards client
    ipp_client_t *client;       // the controller, or NULL (owned)
    ipp_client_opts_t copts;    // how to connect
    bool offline_only;          // --db alone: never ask a controller
    dash_live_t *live;          // the present (owned)
    db_reader_t *poll;          // main thread's reader, for offline events (owned)
    int64_t last_completed;     // newest completion already announced offline
} s_app_t;

// s_now: µs since the epoch (UTC).
static int64_t s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

// s_status_name: a status's name as the database writes it.
static const char *s_status_name(ipp_status_t st)
{
    return db_status_name((db_status_t)st);
}

// s_on_done: a task-done notification: an event for the streams.
static void s_on_done(void *arg, const char *msg_id, const char *label, ipp_status_t status,
                      int engine_id)
{
    s_app_t *app = arg;
    dash_live_push(app->live, "task",
                   json_pack("{s:s,s:s?,s:s,s:i,s:I}", "msg_id", msg_id, "label", label, "status",
                             s_status_name(status), "engine_id", engine_id, "at",
                             (json_int_t)s_now()));
}

// s_snapshot: the engines and queues as the controller says now; false if
// it did not answer.
static bool s_snapshot(s_app_t *app)
{
    ipp_error_t err;
    ipp_queue_status_t qs = {0};
    if (ipp_client_queue_status(app->client, NULL, 0, false, &qs, &err) != IPP_OK)
        return false;
    long waiting = qs.unassigned;
    for (size_t i = 0; i < qs.n_engines; i++)
        waiting += qs.engines[i].queued + qs.engines[i].running;
    // The running ids only while the lists are small: verbose lists every
    // queued id too.
    if (waiting <= 10000) {
        ipp_queue_status_t v = {0};
        if (ipp_client_queue_status(app->client, NULL, 0, true, &v, &err) == IPP_OK) {
            ipp_queue_status_fini(&qs);
            qs = v;
        }
    }
    ipp_engine_info_t info[256];
    size_t n = ipp_client_engines(app->client, info, 256);
    if (n > 256)
        n = 256;
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        const ipp_engine_info_t *e = &info[i];
        json_t *tags = json_array();
        for (const char *t = e->tags; t && *t;) {
            size_t len = strcspn(t, ",");
            json_array_append_new(tags, json_stringn(t, len));
            t += len + (t[len] == ',');
        }
        json_t *o = json_pack("{s:i,s:s,s:s,s:i,s:I,s:b,s:i,s:i,s:I,s:[],s:o}", "id", e->id, "uuid",
                              e->uuid, "hostname", e->hostname, "pid", e->pid, "registered",
                              (json_int_t)e->registered, "up", e->alive, "queued", 0, "running", 0,
                              "completed", (json_int_t)0, "current", "tags", tags);
        for (size_t k = 0; o && k < qs.n_engines; k++) {
            const ipp_engine_queue_t *q = &qs.engines[k];
            if (q->engine_id != e->id)
                continue;
            json_object_set_new(o, "queued", json_integer(q->queued));
            json_object_set_new(o, "running", json_integer(q->running));
            json_object_set_new(o, "completed", json_integer(q->completed));
            json_t *cur = json_object_get(o, "current");
            for (size_t r = 0; r < q->running_ids.n && r < 8; r++)
                json_array_append_new(cur, json_string(q->running_ids.v[r]));
        }
        json_array_append_new(arr, o);
    }
    dash_live_set(app->live, arr, qs.unassigned, true);
    ipp_queue_status_fini(&qs);
    return true;
}

// s_poll_db: offline, announce completions recorded since the last look.
static void s_poll_db(s_app_t *app)
{
    sqlite3 *db = db_reader_sqlite(app->poll);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT msg_id, label, status, engine_id, completed FROM tasks"
                           " WHERE completed > ?1 ORDER BY completed LIMIT 500",
                           -1, &st, NULL) != SQLITE_OK)
        return;
    sqlite3_bind_int64(st, 1, app->last_completed);
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *label = (const char *)sqlite3_column_text(st, 1);
        json_t *ev =
            json_pack("{s:s,s:s?,s:s,s:i,s:I}", "msg_id", sqlite3_column_text(st, 0), "label",
                      label, "status", sqlite3_column_text(st, 2), "engine_id",
                      sqlite3_column_type(st, 3) == SQLITE_NULL ? -1 : sqlite3_column_int(st, 3),
                      "at", (json_int_t)sqlite3_column_int64(st, 4));
        app->last_completed = sqlite3_column_int64(st, 4);
        dash_live_push(app->live, "task", ev);
    }
    sqlite3_finalize(st);
}

// s_newest_completion: the newest completed time in the file (0: none).
static int64_t s_newest_completion(db_reader_t *r)
{
    sqlite3_stmt *st = NULL;
    int64_t v = 0;
    if (sqlite3_prepare_v2(db_reader_sqlite(r), "SELECT max(completed) FROM tasks", -1, &st,
                           NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

// s_action: the server's hook for abort and resubmit.
static ipp_err_t s_action(void *arg, const char *what, const char *msg_id, json_t **result,
                          ipp_error_t *err)
{
    s_app_t *app = arg;
    ipp_err_t rc = IPP_OK;
    pthread_mutex_lock(&app->client_mu);
    if (!app->client) {
        rc = ipp_error_set(err, IPP_ERR_CLOSED, "no controller: %s needs a running controller",
                           what);
    } else if (strcmp(what, "abort") == 0) {
        ipp_strv_t aborted = {0}, not_pending = {0};
        rc = ipp_client_abort(app->client, &msg_id, 1, NULL, 0, &aborted, &not_pending, err);
        if (rc == IPP_OK)
            *result = json_pack("{s:s,s:b}", "msg_id", msg_id, "aborted", aborted.n > 0);
        ipp_strv_fini(&aborted);
        ipp_strv_fini(&not_pending);
    } else {
        ipp_ar_t *ar = ipp_client_resubmit(app->client, &msg_id, 1, err);
        if (!ar) {
            rc = err->code ? err->code : IPP_ERR_INVALID;
        } else {
            const char *nid = ipp_ar_msg_id(ar, 0);
            *result = json_pack("{s:s,s:s?}", "msg_id", msg_id, "new_msg_id", nid);
            ipp_ar_destroy(&ar);
        }
    }
    pthread_mutex_unlock(&app->client_mu);
    return rc;
}

// s_connect: try the controller once (2 s); quiet when it is not there.
static void s_connect(s_app_t *app)
{
    ipp_error_t err;
    ipp_client_t *c = ipp_client_new(&app->copts, &err);
    if (!c)
        return;
    if (ipp_client_follow_tasks(c, s_on_done, app, &err) != IPP_OK ||
        ipp_client_refresh_engines(c, &err) != IPP_OK) {
        ipp_client_destroy(&c);
        return;
    }
    fprintf(stderr, "ipp-dashboard: following the controller of %s\n",
            ipp_client_connection_file(c));
    pthread_mutex_lock(&app->client_mu);
    app->client = c;
    pthread_mutex_unlock(&app->client_mu);
}

// s_lose: forget the controller (it stopped answering or shut down).
static void s_lose(s_app_t *app)
{
    pthread_mutex_lock(&app->client_mu);
    ipp_client_destroy(&app->client);
    pthread_mutex_unlock(&app->client_mu);
    app->last_completed = s_newest_completion(app->poll);
    fprintf(stderr, "ipp-dashboard: the controller is gone; showing the database alone\n");
}

static void s_loop(s_app_t *app)
{
    int64_t last_snap = s_now(), last_try = s_now(), last_poll = 0;
    while (!s_stop) {
        int64_t now = s_now();
        if (!app->client && !app->offline_only && now - last_try >= 5000000) {
            last_try = now;
            s_connect(app);
            last_snap = 0;
        }
        if (app->client) {
            pthread_mutex_lock(&app->client_mu);
            ipp_error_t err;
            ipp_err_t rc = ipp_client_spin(app->client, 0.2, &err);
            bool ok = rc == IPP_OK && !ipp_client_shutdown_seen(app->client);
            if (ok && s_now() - last_snap >= 1000000) {
                last_snap = s_now();
                ok = s_snapshot(app);
            }
            pthread_mutex_unlock(&app->client_mu);
            if (!ok) {
                s_lose(app);
                dash_live_set(app->live, json_array(), 0, false);
            }
        } else {
            if (now - last_poll >= 1000000) {
                last_poll = now;
                s_poll_db(app);
                dash_live_set(app->live, json_array(), 0, false);
            }
            usleep(200000);
        }
    }
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    const char *profile = getenv("IPP_PROFILE");
    const char *connection = NULL, *db = NULL, *ip = "127.0.0.1";
    const char *token = getenv("IPP_DASHBOARD_TOKEN");
    bool profile_given = false, allow = false;
    long port = 8770;
    enum { O_PROFILE = 1, O_CONN, O_DB, O_IP, O_PORT, O_ALLOW, O_TOKEN };
    static const struct option longs[] = {{"profile", required_argument, NULL, O_PROFILE},
                                          {"connection", required_argument, NULL, O_CONN},
                                          {"db", required_argument, NULL, O_DB},
                                          {"ip", required_argument, NULL, O_IP},
                                          {"port", required_argument, NULL, O_PORT},
                                          {"allow-actions", no_argument, NULL, O_ALLOW},
                                          {"token", required_argument, NULL, O_TOKEN},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    int o;
    opterr = 0;
    while ((o = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        char *end = NULL;
        switch (o) {
        case O_PROFILE:
            profile = optarg;
            profile_given = true;
            break;
        case O_CONN:
            connection = optarg;
            break;
        case O_DB:
            db = optarg;
            break;
        case O_IP:
            ip = optarg;
            break;
        case O_PORT:
            port = strtol(optarg, &end, 10);
            if (!*optarg || *end || port < 0 || port > 65535) {
                fprintf(stderr, "ipp-dashboard: --port takes 0..65535, not '%s'\n", optarg);
                return 2;
            }
            break;
        case O_ALLOW:
            allow = true;
            break;
        case O_TOKEN:
            token = optarg;
            break;
        case 'h':
            fputs(s_usage, stdout);
            return 0;
        default:
            fprintf(stderr, "ipp-dashboard: unknown option or missing value: %s\n\n%s",
                    argv[optind - 1], s_usage);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "ipp-dashboard: unexpected argument '%s'\n\n%s", argv[optind], s_usage);
        return 2;
    }
    if (!profile || !*profile)
        profile = "default";
    if (token && strlen(token) < 16) {
        fprintf(stderr, "ipp-dashboard: a token needs at least 16 characters\n");
        return 2;
    }
    if (sodium_init() < 0) {
        fprintf(stderr, "ipp-dashboard: libsodium did not start\n");
        return 3;
    }
    char path[4200];
    if (db) {
        snprintf(path, sizeof path, "%s", db);
    } else {
        char dir[4096];
        ipp_error_t err;
        if (conn_profile_dir(NULL, profile, dir, sizeof dir, &err) != IPP_OK) {
            fprintf(stderr, "ipp-dashboard: %s\n", err.msg);
            return 2;
        }
        snprintf(path, sizeof path, "%s/db/tasks.db", dir);
    }
    unsigned char raw[24];
    char tok[2 * sizeof raw + 1], csrf[2 * sizeof raw + 1];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2hex(tok, sizeof tok, raw, sizeof raw);
    randombytes_buf(raw, sizeof raw);
    sodium_bin2hex(csrf, sizeof csrf, raw, sizeof raw);
    if (token)
        snprintf(tok, sizeof tok, "%s", token);

    int rc = 3;
    s_app_t app = {0};
    pthread_mutex_init(&app.client_mu, NULL);
    app.copts.connection_file = connection;
    app.copts.profile = profile;
    app.copts.timeout = 2;
    app.copts.log_level = IPP_LOG_LEVEL_ERROR;
    app.offline_only = db && !profile_given && !connection;
    dash_api_t *api = NULL;
    dash_server_t *srv = NULL;
    ipp_error_t err;
    static const ipp_logger_t quiet = {IPP_LOG_ERROR, NULL, "ipp-dashboard"};
    app.live = dash_live_new();
    app.poll = db_reader_new(path, DB_OPEN_READONLY, &quiet, &err);
    if (!app.live || !app.poll) {
        fprintf(stderr, "ipp-dashboard: %s\n", app.live ? err.msg : "out of memory");
        goto out;
    }
    // This connection reads a few new completions a second: a small cache.
    sqlite3_exec(db_reader_sqlite(app.poll), "PRAGMA cache_size=-1024", NULL, NULL, NULL);
    app.last_completed = s_newest_completion(app.poll);
    // The controller first, so the first page already shows it.
    if (!app.offline_only) {
        s_connect(&app);
        if (app.client && !s_snapshot(&app))
            s_lose(&app);
    }
    api = dash_api_new(path, app.live, &err);
    if (!api) {
        fprintf(stderr, "ipp-dashboard: %s\n", err.msg);
        goto out;
    }
    dash_server_opts_t so = {.ip = ip,
                             .port = (int)port,
                             .token = tok,
                             .csrf = csrf,
                             .allow_actions = allow,
                             .db_path = path,
                             .api = api,
                             .live = app.live,
                             .action = s_action,
                             .action_arg = &app};
    srv = dash_server_start(&so, &err);
    if (!srv) {
        fprintf(stderr, "ipp-dashboard: %s\n", err.msg);
        goto out;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = s_on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    if (strcmp(ip, "127.0.0.1") != 0 && strcmp(ip, "::1") != 0)
        fprintf(stderr,
                "ipp-dashboard: warning: listening on %s, beyond this machine; the token "
                "travels in clear HTTP\n",
                ip);
    bool v6 = strchr(ip, ':') != NULL;
    printf("ipp dashboard: http://%s%s%s:%d/?token=%s\n", v6 ? "[" : "", ip, v6 ? "]" : "",
           dash_server_port(srv), tok);
    printf("database: %s%s\n", path, app.offline_only ? " (offline: no controller asked)" : "");
    fflush(stdout);
    s_loop(&app);
    rc = 0;
out:
    if (app.live)
        dash_live_stop(app.live);
    dash_server_stop(&srv);
    dash_api_destroy(&api);
    ipp_client_destroy(&app.client);
    db_reader_destroy(&app.poll);
    dash_live_destroy(&app.live);
    pthread_mutex_destroy(&app.client_mu);
    return rc;
}
