/* server.c — routes, the token and CSRF checks, responses, and the
 * server-sent event stream, over libmicrohttpd in thread-per-connection
 * mode.
 *
 * Owns the MHD daemon and copies of the tokens. Never writes the task
 * database; actions go through the hook main.c gives (the controller).
 * Every response carries no-store caching and a strict Content-Security-
 * Policy (the pages load nothing but their own files).
 */
#include "tools/dashboard/server.h"

#include "tools/dashboard/assets.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define S_COOKIE "ipp_dashboard_token"

struct dash_server_t {
    struct MHD_Daemon *d;  // the daemon (owned)
    dash_server_opts_t o;  // options, strings below owned
    char *token;           // access token
    char *csrf;            // CSRF token
    char *db_path;         // database file shown by /api/config
    int port;              // bound port
};

// Per-request state kept between MHD's calls for one request.
typedef struct s_req_t {
    int seen;  // 1 after the first call (the headers)
} s_req_t;

// s_now: µs since the epoch (UTC).
static int64_t s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

// s_same: constant-time comparison of a given token with the real one.
static bool s_same(const char *given, const char *real)
{
    if (!given)
        return false;
    size_t n = strlen(real), m = strlen(given);
    unsigned char diff = (unsigned char)(n != m);
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)(real[i] ^ (i < m ? given[i] : 0));
    return diff == 0;
}

// s_headers: the headers every response carries.
static void s_headers(struct MHD_Response *r, const char *type)
{
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(r, "Content-Security-Policy",
                            "default-src 'self'; img-src 'self' data:; style-src 'self'; "
                            "frame-ancestors 'none'; form-action 'none'");
}

// s_send: queue a response of body (copied) with status and type; cookie
// (may be NULL) becomes Set-Cookie.
static enum MHD_Result s_send(struct MHD_Connection *c, unsigned status, const char *type,
                              const void *body, size_t size, const char *cookie)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(size, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    s_headers(r, type);
    if (cookie)
        MHD_add_response_header(r, "Set-Cookie", cookie);
    enum MHD_Result ok = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ok;
}

// s_json: queue j (a reference taken) as JSON.
static enum MHD_Result s_json(struct MHD_Connection *c, unsigned status, json_t *j)
{
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!text)
        return s_send(c, 500, "application/json", "{\"error\":\"out of memory\"}", 25, NULL);
    enum MHD_Result ok = s_send(c, status, "application/json", text, strlen(text), NULL);
    free(text);
    return ok;
}

// s_error: queue {"error": msg} with status.
static enum MHD_Result s_error(struct MHD_Connection *c, unsigned status, const char *msg)
{
    return s_json(c, status, json_pack("{s:s,s:i}", "error", msg, "status", (int)status));
}

// s_get: MHD's query-string getter, for dash_params_t.
static const char *s_get(void *arg, const char *name)
{
    return MHD_lookup_connection_value((struct MHD_Connection *)arg, MHD_GET_ARGUMENT_KIND, name);
}

// ------------------------------------------------------------ the stream

// One open event stream.
typedef struct s_sse_t {
    dash_live_t *live;  // where events come from (borrowed)
    uint64_t seq;       // the last event sent
    char *pending;      // text not yet sent (owned)
    size_t off;         // how much of it went
} s_sse_t;

static ssize_t s_sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    s_sse_t *s = cls;
    while (!s->pending) {
        char *text = NULL;
        if (!dash_live_wait(s->live, &s->seq, 15000, &text))
            return MHD_CONTENT_READER_END_OF_STREAM;
        s->pending = text ? text : strdup(": keep-alive\n\n");
        s->off = 0;
        if (!s->pending)
            return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    size_t left = strlen(s->pending + s->off);
    size_t n = left < max ? left : max;
    memcpy(buf, s->pending + s->off, n);
    s->off += n;
    if (s->off >= strlen(s->pending)) {
        free(s->pending);
        s->pending = NULL;
    }
    return (ssize_t)n;
}

static void s_sse_free(void *cls)
{
    s_sse_t *s = cls;
    free(s->pending);
    free(s);
}

static enum MHD_Result s_events(dash_server_t *srv, struct MHD_Connection *c)
{
    s_sse_t *s = calloc(1, sizeof *s);
    if (!s)
        return s_error(c, 500, "out of memory");
    s->live = srv->o.live;
    s->seq = dash_live_seq(s->live);
    s->pending = strdup("retry: 2000\n: ipp dashboard events\n\n");
    struct MHD_Response *r =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, s_sse_read, s, s_sse_free);
    if (!r) {
        s_sse_free(s);
        return MHD_NO;
    }
    s_headers(r, "text/event-stream");
    enum MHD_Result ok = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    return ok;
}

// ------------------------------------------------------------- the pages

// s_page_path: whether url is one of the pages (served by index.html).
static bool s_page_path(const char *url)
{
    static const char *const pages[] = {"/",        "/overview", "/stream",
                                        "/history", "/workflow", "/audit"};
    for (size_t i = 0; i < sizeof pages / sizeof *pages; i++)
        if (strcmp(url, pages[i]) == 0)
            return true;
    return strncmp(url, "/task/", 6) == 0;
}

static enum MHD_Result s_page(dash_server_t *srv, struct MHD_Connection *c, const char *url,
                              const char *cookie)
{
    const dash_asset_t *idx = dash_asset_find("index.html");
    if (!idx)
        return s_send(c, 500, "text/plain", "no index.html embedded\n", 23, NULL);
    unsigned status = 200;
    if (strncmp(url, "/task/", 6) == 0) {
        // An unknown task is a 404 page: the page itself says so too.
        ipp_error_t err = {0};
        json_t *t = dash_api_task(srv->o.api, url + 6, &err);
        if (!t)
            status = err.code == IPP_ERR_INVALID ? 404 : (unsigned)dash_api_http_status(err.code);
        json_decref(t);
    }
    return s_send(c, status, idx->type, idx->data, idx->size, cookie);
}

// --------------------------------------------------------------- the API

// s_answer: j, or the error err with its HTTP status.
static enum MHD_Result s_answer(struct MHD_Connection *c, json_t *j, const ipp_error_t *err)
{
    if (j)
        return s_json(c, 200, j);
    return s_error(c, (unsigned)dash_api_http_status(err->code), err->msg);
}

static enum MHD_Result s_action(dash_server_t *srv, struct MHD_Connection *c, const char *what,
                                const char *method)
{
    if (!srv->o.allow_actions)
        return s_error(c, 403,
                       "the dashboard is read-only: start it with --allow-actions to abort and "
                       "resubmit");
    if (strcmp(method, "POST") != 0)
        return s_error(c, 405, "actions take POST");
    const char *csrf = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-IPP-CSRF");
    if (!s_same(csrf, srv->csrf))
        return s_error(c, 403, "the X-IPP-CSRF header is missing or wrong (GET /api/config)");
    const char *id = s_get(c, "id");
    if (!dash_api_valid_id(id))
        return s_error(c, 400, "id must be a task id (hex digits and dashes)");
    if (!srv->o.action)
        return s_error(c, 503, "no controller: actions need a running controller");
    json_t *res = NULL;
    ipp_error_t err = {0};
    if (srv->o.action(srv->o.action_arg, what, id, &res, &err) != IPP_OK)
        return s_error(c, (unsigned)dash_api_http_status(err.code), err.msg);
    return s_json(c, 200, res);
}

static enum MHD_Result s_api(dash_server_t *srv, struct MHD_Connection *c, const char *url,
                             const char *method)
{
    const char *ep = url + 5;  // after "/api/"
    if (strcmp(ep, "abort") == 0 || strcmp(ep, "resubmit") == 0)
        return s_action(srv, c, ep, method);
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return s_error(c, 405, "this endpoint takes GET");
    dash_params_t p = {s_get, c};
    ipp_error_t err = {0};
    if (strcmp(ep, "events") == 0)
        return s_events(srv, c);
    if (strcmp(ep, "config") == 0) {
        bool online = false;
        json_decref(dash_live_snapshot(srv->o.live, NULL, &online));
        return s_json(c, 200,
                      json_pack("{s:b,s:s,s:s,s:b}", "allow_actions", srv->o.allow_actions, "csrf",
                                srv->o.allow_actions ? srv->csrf : "", "db", srv->db_path, "online",
                                online));
    }
    if (strcmp(ep, "overview") == 0)
        return s_answer(c, dash_api_overview(srv->o.api, s_now(), &err), &err);
    if (strcmp(ep, "tasks") == 0)
        return s_answer(c, dash_api_history(srv->o.api, &p, &err), &err);
    if (strncmp(ep, "task/", 5) == 0)
        return s_answer(c, dash_api_task(srv->o.api, ep + 5, &err), &err);
    if (strcmp(ep, "stream") == 0) {
        char *text = dash_api_stream(srv->o.api, &p, s_now(), &err);
        if (!text)
            return s_error(c, (unsigned)dash_api_http_status(err.code), err.msg);
        enum MHD_Result ok = s_send(c, 200, "application/json", text, strlen(text), NULL);
        free(text);
        return ok;
    }
    if (strcmp(ep, "workflow") == 0)
        return s_answer(c, dash_api_workflow(srv->o.api, &p, &err), &err);
    if (strcmp(ep, "workflow.svg") == 0) {
        char *svg = dash_api_workflow_svg(srv->o.api, &p, &err);
        if (!svg)
            return s_error(c, (unsigned)dash_api_http_status(err.code), err.msg);
        enum MHD_Result ok = s_send(c, 200, "image/svg+xml", svg, strlen(svg), NULL);
        free(svg);
        return ok;
    }
    if (strcmp(ep, "audit") == 0)
        return s_answer(c, dash_api_audit(srv->o.api, &err), &err);
    return s_error(c, 404, "no such API endpoint (see docs/DASHBOARD.md)");
}

static enum MHD_Result s_handle(void *cls, struct MHD_Connection *c, const char *url,
                                const char *method, const char *version, const char *upload,
                                size_t *upload_size, void **con_cls)
{
    (void)version;
    (void)upload;
    dash_server_t *srv = cls;
    s_req_t *req = *con_cls;
    if (!req) {
        req = calloc(1, sizeof *req);
        if (!req)
            return MHD_NO;
        *con_cls = req;
        return MHD_YES;  // the body, if any, comes next
    }
    if (*upload_size) {
        *upload_size = 0;  // bodies are not used: parameters are in the URL
        return MHD_YES;
    }
    // The token: the query string, a header, or the cookie set before.
    const char *q = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "token");
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-IPP-Token");
    const char *k = MHD_lookup_connection_value(c, MHD_COOKIE_KIND, S_COOKIE);
    const char *given = q ? q : h ? h : k;
    if (!given)
        return s_error(c, 403,
                       "no access token: open the URL ipp dashboard printed (it ends in ?token=…)");
    if (!s_same(given, srv->token))
        return s_error(c, 403, "wrong access token");
    if (strncmp(url, "/api/", 5) == 0)
        return s_api(srv, c, url, method);
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return s_error(c, 405, "pages take GET");
    if (strncmp(url, "/static/", 8) == 0) {
        const dash_asset_t *a = dash_asset_find(url + 8);
        if (!a)
            return s_send(c, 404, "text/plain", "not found\n", 10, NULL);
        return s_send(c, 200, a->type, a->data, a->size, NULL);
    }
    if (s_page_path(url)) {
        char cookie[256];
        snprintf(cookie, sizeof cookie, S_COOKIE "=%s; Path=/; HttpOnly; SameSite=Strict",
                 srv->token);
        return s_page(srv, c, url, q ? cookie : NULL);
    }
    return s_send(c, 404, "text/plain", "not found\n", 10, NULL);
}

static void s_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                        enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    free(*con_cls);
    *con_cls = NULL;
}

dash_server_t *dash_server_start(const dash_server_opts_t *opts, ipp_error_t *err)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    unsigned flags =
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
    if (opts->port < 0 || opts->port > 65535) {
        ipp_error_set(err, IPP_ERR_INVALID, "--port must be 0..65535");
        return NULL;
    }
    if (inet_pton(AF_INET, opts->ip, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)opts->port);
    } else if (inet_pton(AF_INET6, opts->ip, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)opts->port);
        flags |= MHD_USE_IPv6;
    } else {
        ipp_error_set(err, IPP_ERR_INVALID, "--ip '%s' is not an IPv4 or IPv6 address", opts->ip);
        return NULL;
    }
    dash_server_t *s = calloc(1, sizeof *s);
    if (!s) {
        ipp_error_set(err, IPP_ERR_NOMEM, "dashboard: out of memory");
        return NULL;
    }
    s->o = *opts;
    s->token = strdup(opts->token);
    s->csrf = strdup(opts->csrf);
    s->db_path = strdup(opts->db_path ? opts->db_path : "");
    if (!s->token || !s->csrf || !s->db_path) {
        ipp_error_set(err, IPP_ERR_NOMEM, "dashboard: out of memory");
        goto fail;
    }
    s->d = MHD_start_daemon(flags, (uint16_t)opts->port, NULL, NULL, s_handle, s,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)DASH_SERVER_CONNECTIONS,
                            MHD_OPTION_NOTIFY_COMPLETED, s_completed, s, MHD_OPTION_END);
    if (!s->d) {
        ipp_error_set(err, IPP_ERR_IO,
                      "cannot listen on %s port %d (in use, or not an address of "
                      "this machine)",
                      opts->ip, opts->port);
        goto fail;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : opts->port;
    return s;
fail:
    free(s->token);
    free(s->csrf);
    free(s->db_path);
    free(s);
    return NULL;
}

int dash_server_port(const dash_server_t *s)
{
    return s->port;
}

void dash_server_stop(dash_server_t **s_p)
{
    if (!s_p || !*s_p)
        return;
    dash_server_t *s = *s_p;
    MHD_stop_daemon(s->d);
    free(s->token);
    free(s->csrf);
    free(s->db_path);
    free(s);
    *s_p = NULL;
}
