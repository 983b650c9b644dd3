/* graph.c — DOT text from a workflow, laid out and rendered by Graphviz's
 * C library (gvc, cgraph) into SVG in memory.
 *
 * Owns nothing between calls: a Graphviz context is made and freed per
 * drawing. User text (labels) enters DOT only as escaped quoted strings;
 * msg_ids were checked to be hex and dashes by the API before.
 */
#include "tools/dashboard/graph.h"

#include <graphviz/cgraph.h>
#include <stdbool.h>
#include <graphviz/gvc.h>
#include <graphviz/gvplugin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Graphviz's own plugins, linked in: the dot layout and the core
// renderers (svg). Nothing else is loaded — in particular not the pango
// text plugin, whose font cache outlives a graph's strings (a use after
// free on the second drawing); text sizes come from Graphviz's built-in
// font metrics instead.
extern gvplugin_library_t gvplugin_dot_layout_LTX_library;
extern gvplugin_library_t gvplugin_core_LTX_library;

const char *dash_graph_fill(const char *status)
{
    static const struct {
        const char *status, *colour;
    } map[] = {{"ok", "#b7e4c7"},      {"error", "#f4a4a4"},       {"pending", "#fff3b0"},
               {"aborted", "#d9d9d9"}, {"unreachable", "#f2c6de"}, {"lost", "#f6bd8b"}};
    for (size_t i = 0; status && i < sizeof map / sizeof *map; i++)
        if (strcmp(status, map[i].status) == 0)
            return map[i].colour;
    return "#ffffff";
}

char *dash_graph_prefix_glob(const char *prefix)
{
    size_t n = strlen(prefix);
    char *out = malloc(3 * n + 2);
    if (!out)
        return NULL;
    char *o = out;
    for (const char *c = prefix; *c; c++) {
        // Inside brackets a glob character stands for itself.
        if (*c == '*' || *c == '?' || *c == '[') {
            *o++ = '[';
            *o++ = *c;
            *o++ = ']';
        } else {
            *o++ = *c;
        }
    }
    *o++ = '*';
    *o = '\0';
    return out;
}

// s_put_quoted: text into f as a DOT quoted string.
static void s_put_quoted(FILE *f, const char *text)
{
    fputc('"', f);
    for (const char *c = text ? text : ""; *c; c++) {
        if (*c == '"' || *c == '\\')
            fputc('\\', f);
        if (*c == '\n')
            fputs("\\n", f);
        else
            fputc(*c, f);
    }
    fputc('"', f);
}

// s_safe_id: id if it holds only hex digits and dashes, else "".
static const char *s_safe_id(const char *id)
{
    if (!id || strspn(id, "0123456789abcdefABCDEF-") != strlen(id))
        return "";
    return id;
}

char *dash_graph_dot(const json_t *workflow)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return NULL;
    fputs("digraph workflow {\n rankdir=TB; bgcolor=\"transparent\";\n"
          " node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\", fontsize=11];\n"
          " edge [color=\"#555555\"];\n",
          f);
    // Links to the task pages, unless the workflow says there are none.
    bool links = !json_is_false(json_object_get(workflow, "links"));
    const json_t *nodes = json_object_get(workflow, "nodes");
    size_t i;
    const json_t *n;
    json_array_foreach(nodes, i, n)
    {
        const char *id = s_safe_id(json_string_value(json_object_get(n, "msg_id")));
        const char *label = json_string_value(json_object_get(n, "label"));
        const char *status = json_string_value(json_object_get(n, "status"));
        const char *shown = label ? label : id;
        const char *slash = label ? strrchr(label, '/') : NULL;
        if (slash && slash[1])
            shown = slash + 1;
        fprintf(f, " \"%s\" [id=\"task-%s\", class=\"state-%s\", fillcolor=\"%s\", ", id, id,
                status && strspn(status, "abcdefghijklmnopqrstuvwxyz") == strlen(status)
                    ? status
                    : "unknown",
                dash_graph_fill(status));
        if (links)
            fprintf(f, "URL=\"/task/%s\", ", id);
        fputs("label=", f);
        s_put_quoted(f, shown);
        fputs(", tooltip=", f);
        s_put_quoted(f, label ? label : id);
        fputs("];\n", f);
    }
    const json_t *edges = json_object_get(workflow, "edges");
    json_array_foreach(edges, i, n)
    {
        const char *kind = json_string_value(json_object_get(n, "kind"));
        bool follow = kind && strcmp(kind, "follow") == 0;
        fprintf(f, " \"%s\" -> \"%s\" [class=\"%s\"%s];\n",
                s_safe_id(json_string_value(json_object_get(n, "from"))),
                s_safe_id(json_string_value(json_object_get(n, "to"))), follow ? "follow" : "after",
                follow ? ", style=dashed, color=\"#1f6feb\"" : "");
    }
    fputs("}\n", f);
    if (fclose(f) != 0) {
        free(text);
        return NULL;
    }
    return text;
}

char *dash_graph_svg(const json_t *workflow, ipp_error_t *err)
{
    char *dot = dash_graph_dot(workflow);
    if (!dot) {
        ipp_error_set(err, IPP_ERR_NOMEM, "dashboard: out of memory");
        return NULL;
    }
    char *out = NULL;
    lt_symlist_t builtins[] = {
        {"gvplugin_dot_layout_LTX_library", &gvplugin_dot_layout_LTX_library},
        {"gvplugin_core_LTX_library", &gvplugin_core_LTX_library},
        {NULL, NULL},
    };
    GVC_t *gvc = gvContextPlugins(builtins, 0);
    Agraph_t *g = gvc ? agmemread(dot) : NULL;
    if (!g) {
        ipp_error_set(err, IPP_ERR_IO, "graphviz: cannot read the graph: %s",
                      aglasterr() ? aglasterr() : "?");
        goto out;
    }
    if (gvLayout(gvc, g, "dot") != 0) {
        ipp_error_set(err, IPP_ERR_IO, "graphviz: the dot layout failed");
        goto out;
    }
    char *data = NULL;
    unsigned int len = 0;
    if (gvRenderData(gvc, g, "svg", &data, &len) != 0 || !data) {
        ipp_error_set(err, IPP_ERR_IO, "graphviz: cannot render SVG");
    } else {
        out = malloc((size_t)len + 1);
        if (out) {
            memcpy(out, data, len);
            out[len] = '\0';
        } else {
            ipp_error_set(err, IPP_ERR_NOMEM, "dashboard: out of memory");
        }
    }
    gvFreeRenderData(data);
    gvFreeLayout(gvc, g);
out:
    if (g)
        agclose(g);
    if (gvc)
        gvFreeContext(gvc);
    free(dot);
    return out;
}
