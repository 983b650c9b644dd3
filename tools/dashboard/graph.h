/* graph.h — a workflow's DAG drawn by Graphviz (the dot layout) as SVG.
 *
 * Takes the workflow object of dash_api_workflow ({"nodes": [{msg_id,
 * label, status}], "edges": [{from, to, kind}]}) and returns the SVG text.
 * Every node is an SVG group with id "task-MSGID" and class "node
 * state-STATUS" and a link to /task/MSGID; after edges are solid, follow
 * edges dashed (class "edge after|follow"). Not thread-safe (Graphviz is
 * not): callers serialise.
 */
#ifndef IPP_TOOLS_DASHBOARD_GRAPH_H
#define IPP_TOOLS_DASHBOARD_GRAPH_H

#include "ipp/error.h"

#include <jansson.h>

// dash_graph_dot: the DOT text of workflow (caller frees); NULL when out
// of memory.
char *dash_graph_dot(const json_t *workflow);

// dash_graph_svg: the SVG text of workflow (caller frees). NULL with err
// set if Graphviz fails (IPP_ERR_IO with its message).
char *dash_graph_svg(const json_t *workflow, ipp_error_t *err);

#endif
