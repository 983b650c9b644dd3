/* api.h — the dashboard's JSON API: one function per /api/ endpoint, each
 * answering from the task database (read-only) and the live state.
 *
 * Every handler takes its parameters through a getter (the HTTP query
 * string in the server, a table in the tests) and returns a JSON object
 * the caller owns, or NULL with err set: IPP_ERR_INVALID for a bad
 * parameter (HTTP 400; the message names the parameter and what it takes),
 * IPP_ERR_NOT_FOUND for an unknown task (404), anything else a failure of
 * the database (500). A bad request changes nothing.
 *
 * Timestamps are µs since the epoch (UTC) as JSON integers. Lists are
 * bounded (history pages, the stream, the workflow) so no request reads
 * the whole table: the history pages by keyset on (submitted, rowid),
 * never OFFSET, so the millionth record costs what the first does.
 *
 * Thread-safe: the object serialises its one read-only SQLite connection
 * with a mutex; any thread may call any handler.
 */
#ifndef IPP_TOOLS_DASHBOARD_API_H
#define IPP_TOOLS_DASHBOARD_API_H

#include "ipp/error.h"
#include "tools/dashboard/live.h"

#include <jansson.h>
#include <stdint.h>

typedef struct dash_api_t dash_api_t;

// A parameter getter: the value of name (borrowed), or NULL if absent.
typedef const char *dash_param_fn(void *arg, const char *name);

// Where a handler reads its parameters.
typedef struct dash_params_t {
    dash_param_fn *get;  // the getter
    void *arg;           // its argument
} dash_params_t;

// Limits on what one request may ask for.
#define DASH_PAGE_MAX 500       // history rows per page
#define DASH_STREAM_MAX 10000   // task-stream bars
#define DASH_WORKFLOW_MAX 2000  // workflow nodes

// dash_api_new: open the database at path read-only and answer with live
// (borrowed; must outlive the api). Caller owns the result. NULL with err
// set: IPP_ERR_NOT_FOUND (no file), IPP_ERR_DB_SCHEMA, IPP_ERR_DB.
dash_api_t *dash_api_new(const char *path, dash_live_t *live, ipp_error_t *err);

// dash_api_destroy: close; NULL-safe; sets *a_p = NULL.
void dash_api_destroy(dash_api_t **a_p);

// dash_api_http_status: the HTTP status for an error code (400, 404, 500…).
int dash_api_http_status(ipp_err_t code);

// dash_api_overview: engines (up/down, host, queue, current tasks, done,
// failures), unassigned, counts by status, tasks per second over the last
// five minutes, recent failures. now: µs UTC. GET /api/overview.
json_t *dash_api_overview(dash_api_t *a, int64_t now, ipp_error_t *err);

// dash_api_history: one page of tasks newest first, filtered by label
// (glob), status, engine, since/until (submitted; µs or ISO 8601),
// submitter; limit (1..DASH_PAGE_MAX, default 50); before (the "next"
// cursor of the previous page). GET /api/tasks.
json_t *dash_api_history(dash_api_t *a, const dash_params_t *p, ipp_error_t *err);

// dash_api_task: one task: its record (without byte columns), audit hash,
// dependencies both ways with their states. GET /api/task/ID.
json_t *dash_api_task(dash_api_t *a, const char *id, ipp_error_t *err);

// dash_api_stream: the bars of the task stream: tasks completed in
// [since, until) (µs or ISO; default the last 10 minutes before now), the
// last limit of them (default 2000, at most DASH_STREAM_MAX), plus those
// running now, and every engine id. GET /api/stream. Returns the JSON
// text (caller frees): written directly, not through jansson, to stay
// fast at ten thousand tasks.
char *dash_api_stream(dash_api_t *a, const dash_params_t *p, int64_t now, ipp_error_t *err);

// dash_api_workflow: the tasks whose label starts with prefix (required)
// and the after/follow edges between them. GET /api/workflow.
json_t *dash_api_workflow(dash_api_t *a, const dash_params_t *p, ipp_error_t *err);

// dash_api_workflow_svg: the same graph laid out by Graphviz as SVG text
// (caller frees). GET /api/workflow.svg.
char *dash_api_workflow_svg(dash_api_t *a, const dash_params_t *p, ipp_error_t *err);

// dash_api_audit: the audit chain's verification and the recorded purges.
// GET /api/audit.
json_t *dash_api_audit(dash_api_t *a, ipp_error_t *err);

// dash_api_parse_time: a time parameter — µs since the epoch, or ISO 8601
// UTC — into *us. false when it is neither.
bool dash_api_parse_time(const char *text, int64_t *us);

// dash_api_valid_id: whether id looks like a msg_id (hex digits and
// dashes, 1..64 characters); nothing else reaches SQL or a page.
bool dash_api_valid_id(const char *id);

#endif
