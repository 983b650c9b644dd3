/* graph.h — a workflow's DAG drawn by Graphviz (the dot layout) as SVG,
 * the library ipp_graph that ipp-dashboard and ipp-query share.
 *
 * Takes a workflow object ({"nodes": [{msg_id, label, status}], "edges":
 * [{from, to, kind}]}, as dash_api_workflow and ipp-query dag build it)
 * and returns the DOT or SVG text. Every node is an SVG group with id
 * "task-MSGID" and class "node state-STATUS", linked to /task/MSGID
 * unless the workflow says "links": false (a picture saved to a file has
 * no dashboard to link to); after edges are solid, follow edges dashed
 * (class "edge after|follow"). Not thread-safe (Graphviz is not): callers
 * serialise.
 */
#ifndef IPP_TOOLS_DASHBOARD_GRAPH_H
#define IPP_TOOLS_DASHBOARD_GRAPH_H

#include "ipp/error.h"

#include <jansson.h>

// dash_graph_fill: the fill colour ("#rrggbb") of a task's status (ok,
// error, pending, aborted, unreachable, lost; white for anything else);
// static.
const char *dash_graph_fill(const char *status);

// dash_graph_prefix_glob: the $glob pattern (db/query.h) matching every
// label that starts with prefix: prefix with its glob characters * ? [
// made literal, then "*". Caller frees; NULL when out of memory.
char *dash_graph_prefix_glob(const char *prefix);

// dash_graph_dot: the DOT text of workflow (caller frees); NULL when out
// of memory.
char *dash_graph_dot(const json_t *workflow);

// dash_graph_svg: the SVG text of workflow (caller frees). NULL with err
// set if Graphviz fails (IPP_ERR_IO with its message).
char *dash_graph_svg(const json_t *workflow, ipp_error_t *err);

#endif
