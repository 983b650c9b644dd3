/* server.h — the dashboard's HTTP server (libmicrohttpd): access token,
 * pages, the JSON API, server-sent events, and the two actions.
 *
 * Every request must carry the access token — ?token=…, the cookie set on
 * the first visit with it, or an X-IPP-Token header — or it gets 403 and
 * nothing else. Pages are the embedded web/ files; /api/… answers JSON (a
 * bad parameter is 400 with {"error": reason}); /api/events is a stream of
 * server-sent events. The actions (POST /api/abort, /api/resubmit) are 403
 * unless the server was started with allow_actions, and then need the
 * X-IPP-CSRF header with the value /api/config gives the page.
 *
 * One thread per connection (a stream blocks in its own thread); at most
 * DASH_SERVER_CONNECTIONS at once. Owns the daemon; borrows api, live and
 * the action hook, which must outlive it.
 */
#ifndef IPP_TOOLS_DASHBOARD_SERVER_H
#define IPP_TOOLS_DASHBOARD_SERVER_H

#include "ipp/error.h"
#include "tools/dashboard/api.h"
#include "tools/dashboard/live.h"

#include <jansson.h>
#include <stdbool.h>

#define DASH_SERVER_CONNECTIONS 64

// An action on a task: what is "abort" or "resubmit". Returns IPP_OK with
// *result (a JSON object the caller of the hook owns) or an error.
typedef ipp_err_t dash_action_fn(void *arg, const char *what, const char *msg_id, json_t **result,
                                 ipp_error_t *err);

typedef struct dash_server_opts_t {
    const char *ip;          // address to bind (IPv4 or IPv6 literal)
    int port;                // 0: any free port
    const char *token;       // the access token (copied)
    const char *csrf;        // the CSRF token for actions (copied)
    bool allow_actions;      // abort and resubmit allowed
    const char *db_path;     // shown by /api/config (copied)
    dash_api_t *api;         // answers (borrowed)
    dash_live_t *live;       // the present, for /api/events (borrowed)
    dash_action_fn *action;  // runs actions (may be NULL: 503)
    void *action_arg;        // its argument
} dash_server_opts_t;

typedef struct dash_server_t dash_server_t;

// dash_server_start: bind and start serving. Caller owns the result. NULL
// with err set: IPP_ERR_INVALID (not an address), IPP_ERR_IO (cannot bind).
dash_server_t *dash_server_start(const dash_server_opts_t *opts, ipp_error_t *err);

// dash_server_port: the port bound.
int dash_server_port(const dash_server_t *s);

// dash_server_stop: stop serving (call dash_live_stop first, so streams
// end) and free; NULL-safe; sets *s_p = NULL.
void dash_server_stop(dash_server_t **s_p);

#endif
