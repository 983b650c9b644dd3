/* pictures.c — ipp-query gantt and dag: pictures of past work written to
 * files, for people without a browser at hand (see commands.h).
 *
 * gantt draws the task stream as SVG itself: a row per engine, a bar per
 * started task from its start to its end. dag hands a workflow object to
 * the dashboard's Graphviz drawing (tools/dashboard/graph.h), so both show
 * the same picture. The records come from the source (controller or file)
 * through db_query JSON built with jansson, never pasted text. A file is
 * written whole or not at all: a temporary file beside it, then rename.
 * Owns only what it allocates during a call.
 */
#include "tools/query/commands.h"

#include "proto/clock.h"
#include "tools/dashboard/graph.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

// The most tasks a workflow picture takes: Graphviz's layout grows far
// faster than linearly, and a longer prefix picks a smaller part.
#define Q_DAG_MAX 5000

static int s_fail(FILE *errf, const char *cmd, const ipp_error_t *err)
{
    fprintf(errf, "ipp-query %s: %s\n", cmd, err->msg[0] ? err->msg : ipp_strerror(err->code));
    return q_exit_for(err->code);
}

static int s_nomem(FILE *errf, const char *cmd)
{
    fprintf(errf, "ipp-query %s: out of memory\n", cmd);
    return Q_EXIT_UNREACHABLE;
}

// s_find: the records matching query (a JSON object, borrowed) with the
// key names keys[0..n), appended to *rows (made when NULL).
static ipp_err_t s_find(q_source_t *src, const json_t *query, const char *const *keys, size_t n,
                        int64_t limit, json_t **rows, ipp_error_t *err)
{
    json_t *k = json_array();
    for (size_t i = 0; k && i < n; i++)
        if (json_array_append_new(k, json_string(keys[i])) != 0) {
            json_decref(k);
            k = NULL;
        }
    char *text = json_dumps(query, JSON_COMPACT);
    json_t *found = NULL;
    ipp_err_t rc = k && text ? q_source_find(src, text, k, limit, false, &found, err)
                             : ipp_error_set(err, IPP_ERR_NOMEM, "out of memory");
    free(text);
    json_decref(k);
    if (rc != IPP_OK)
        return rc;
    if (!*rows) {
        *rows = found;
        return IPP_OK;
    }
    if (json_array_extend(*rows, found) != 0)
        rc = ipp_error_set(err, IPP_ERR_NOMEM, "out of memory");
    json_decref(found);
    return rc;
}

// s_write_file: data[0..len) as the whole of path, atomically: written to
// a temporary file in path's folder, then renamed over path. On failure
// nothing is left behind and path is as it was. An exit status.
static int s_write_file(const char *path, const char *data, size_t len, FILE *errf, const char *cmd)
{
    char *copy = strdup(path);
    char *base = copy ? strdup(path) : NULL;
    char *tmp = NULL;
    if (!copy || !base || asprintf(&tmp, "%s/.%s.XXXXXX", dirname(copy), basename(base)) < 0) {
        free(copy);
        free(base);
        return s_nomem(errf, cmd);
    }
    free(copy);
    free(base);
    int ex = Q_EXIT_OK;
    int fd = mkstemp(tmp);
    if (fd < 0) {
        fprintf(errf, "ipp-query %s: cannot write %s: %s\n", cmd, path, strerror(errno));
        free(tmp);
        return Q_EXIT_UNREACHABLE;
    }
    // mkstemp makes the file private; a picture gets the usual mode.
    mode_t mask = umask(0);
    umask(mask);
    const char *what = NULL;
    if (fchmod(fd, 0666 & ~mask) != 0)
        what = "setting its mode";
    for (size_t done = 0; !what && done < len;) {
        ssize_t w = write(fd, data + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            what = "writing";
        else
            done += (size_t)w;
    }
    if (!what && fsync(fd) != 0)
        what = "writing";
    if (close(fd) != 0 && !what)
        what = "writing";
    if (!what && rename(tmp, path) != 0)
        what = "renaming into place";
    if (what) {
        int e = errno;
        unlink(tmp);
        fprintf(errf, "ipp-query %s: cannot write %s (%s): %s\n", cmd, path, what, strerror(e));
        ex = Q_EXIT_UNREACHABLE;
    }
    free(tmp);
    return ex;
}

// s_xml: text into f as XML character data or attribute text: markup
// characters escaped, control characters XML cannot hold and bytes that
// are not UTF-8 shown as '?'.
static void s_xml(FILE *f, const char *text)
{
    if (!text)
        return;
    bool utf8 = fmt_utf8_valid(text, strlen(text));
    for (const unsigned char *c = (const unsigned char *)text; *c; c++) {
        switch (*c) {
        case '&':
            fputs("&amp;", f);
            break;
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        case '\'':
            fputs("&apos;", f);
            break;
        default:
            if ((*c < 0x20 && *c != '\n' && *c != '\t') || (*c >= 0x80 && !utf8))
                fputc('?', f);
            else
                fputc(*c, f);
        }
    }
}

// s_status_class: status as a class name: the lower-case word, or
// "unknown" for anything else.
static const char *s_status_class(const char *status)
{
    if (!status || !status[0] || strspn(status, "abcdefghijklmnopqrstuvwxyz") != strlen(status))
        return "unknown";
    return status;
}

// ------------------------------------------------------------ gantt

// One bar: a task that ran, its times in µs.
typedef struct {
    const json_t *rec;   // its record (borrowed)
    int engine;          // engine_id
    int64_t start, end;  // started, completed
} s_bar_t;

static int s_cmp_int(const void *x, const void *y)
{
    int a = *(const int *)x, b = *(const int *)y;
    return a < b ? -1 : a > b;
}

// s_tick_step: a round step (1, 2 or 5 times a power of ten, µs) giving
// at most about eight ticks over span µs.
static int64_t s_tick_step(int64_t span)
{
    int64_t raw = span / 8 > 1 ? span / 8 : 1;
    int64_t p = 1;
    while (p <= raw / 10)
        p *= 10;
    if (raw > 5 * p)
        return 10 * p;
    if (raw > 2 * p)
        return 5 * p;
    return raw > p ? 2 * p : p;
}

// s_offset_text: an offset of us µs from the start, as "+1.5 s", "+3 min",
// "+2 h".
static void s_offset_text(int64_t us, int64_t step, char *buf, size_t size)
{
    double s = (double)us / 1e6;
    if (step >= 3600 * 1000000LL)
        snprintf(buf, size, "+%g h", s / 3600);
    else if (step >= 60 * 1000000LL)
        snprintf(buf, size, "+%g min", s / 60);
    else
        snprintf(buf, size, "+%g s", s);
}

// The layout of the task stream, in SVG user units (pixels).
enum {
    G_WIDTH = 1000,
    G_LEFT = 100,  // engine names
    G_RIGHT = 24,
    G_TOP = 56,  // title and subtitle
    G_ROW = 26,
    G_BAR = 16,
};

// s_gantt_svg: the task stream of bars[0..n) on engines[0..ne) (sorted)
// into f. what names the selection for the subtitle.
static void s_gantt_svg(FILE *f, const s_bar_t *bars, size_t n, const int *engines, size_t ne,
                        const char *what)
{
    static const char *const legend[] = {"ok",          "error", "aborted",
                                         "unreachable", "lost",  "pending"};
    int64_t t0 = INT64_MAX, t1 = INT64_MIN;
    for (size_t i = 0; i < n; i++) {
        t0 = bars[i].start < t0 ? bars[i].start : t0;
        t1 = bars[i].end > t1 ? bars[i].end : t1;
    }
    int64_t span = t1 - t0 > 1000 ? t1 - t0 : 1000;  // at least a millisecond
    const double plot = G_WIDTH - G_LEFT - G_RIGHT;
    const int rows_h = (int)ne * G_ROW;
    const int axis_y = G_TOP + rows_h;
    const int legend_y = axis_y + 44;
    const int height = legend_y + 28;
    char from[40], to[40];
    ipp_clock_format_iso(t0, from, sizeof from);
    ipp_clock_format_iso(t1, to, sizeof to);

    fprintf(f,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"ipp-gantt\" width=\"%d\" "
            "height=\"%d\" viewBox=\"0 0 %d %d\" font-family=\"Helvetica, Arial, sans-serif\" "
            "font-size=\"12\">\n",
            G_WIDTH, height, G_WIDTH, height);
    fprintf(f, "<title>ipp task stream</title>\n");
    fprintf(f, "<rect class=\"background\" width=\"100%%\" height=\"100%%\" fill=\"#ffffff\"/>\n");
    fprintf(f,
            "<text class=\"title\" x=\"%d\" y=\"22\" font-size=\"15\" font-weight=\"bold\">Task "
            "stream: %zu task%s on %zu engine%s</text>\n",
            G_LEFT, n, n == 1 ? "" : "s", ne, ne == 1 ? "" : "s");
    fprintf(f, "<text class=\"subtitle\" x=\"%d\" y=\"40\" fill=\"#555555\">%s to %s", G_LEFT, from,
            to);
    if (what) {
        fputs(" · ", f);
        s_xml(f, what);
    }
    fputs("</text>\n", f);

    for (size_t e = 0; e < ne; e++) {
        int y = G_TOP + (int)e * G_ROW;
        fprintf(f, "<g class=\"engine-row\" data-engine=\"%d\">\n", engines[e]);
        fprintf(f,
                " <rect class=\"lane\" x=\"%d\" y=\"%d\" width=\"%.0f\" height=\"%d\" "
                "fill=\"%s\"/>\n",
                G_LEFT, y, plot, G_ROW, e % 2 ? "#f6f8fa" : "#ffffff");
        fprintf(f,
                " <text class=\"engine-name\" x=\"%d\" y=\"%d\" text-anchor=\"end\">engine "
                "%d</text>\n",
                G_LEFT - 10, y + G_ROW / 2 + 4, engines[e]);
        for (size_t i = 0; i < n; i++) {
            const s_bar_t *b = &bars[i];
            if (b->engine != engines[e])
                continue;
            const char *id = json_string_value(json_object_get(b->rec, "msg_id"));
            const char *label = json_string_value(json_object_get(b->rec, "label"));
            const char *status =
                s_status_class(json_string_value(json_object_get(b->rec, "status")));
            double x = G_LEFT + (double)(b->start - t0) / (double)span * plot;
            double w = (double)(b->end - b->start) / (double)span * plot;
            fputs(" <rect class=\"task ", f);
            s_xml(f, status);
            fputs("\" data-msg-id=\"", f);
            s_xml(f, id);
            fprintf(f,
                    "\" x=\"%.2f\" y=\"%d\" width=\"%.2f\" height=\"%d\" rx=\"2\" fill=\"%s\" "
                    "stroke=\"#444444\" stroke-width=\"0.5\"><title>",
                    x, y + (G_ROW - G_BAR) / 2, w < 1 ? 1.0 : w, G_BAR, dash_graph_fill(status));
            if (label) {
                s_xml(f, label);
                fputc('\n', f);
            }
            s_xml(f, id);
            char st[40], en[40];
            ipp_clock_format_iso(b->start, st, sizeof st);
            ipp_clock_format_iso(b->end, en, sizeof en);
            fprintf(f, "\n%s on engine %d\nstarted %s\n", status, b->engine, st);
            fprintf(f, "completed %s (%.3f s)", en, (double)(b->end - b->start) / 1e6);
            fputs("</title></rect>\n", f);
        }
        fputs("</g>\n", f);
    }

    // The time axis: offsets from the first start.
    int64_t step = s_tick_step(span);
    fprintf(f, "<g class=\"axis\" stroke=\"#888888\">\n");
    fprintf(f, " <line x1=\"%d\" y1=\"%d\" x2=\"%.0f\" y2=\"%d\"/>\n", G_LEFT, axis_y,
            G_LEFT + plot, axis_y);
    for (int64_t t = 0; t <= span; t += step) {
        double x = G_LEFT + (double)t / (double)span * plot;
        char text[40];
        s_offset_text(t, step, text, sizeof text);
        fprintf(f,
                " <line class=\"tick\" x1=\"%.2f\" y1=\"%d\" x2=\"%.2f\" y2=\"%d\"/>\n"
                " <text x=\"%.2f\" y=\"%d\" text-anchor=\"middle\" stroke=\"none\" "
                "fill=\"#333333\">%s</text>\n",
                x, axis_y, x, axis_y + 5, x, axis_y + 18, text);
    }
    fprintf(f,
            " <text x=\"%d\" y=\"%d\" text-anchor=\"end\" stroke=\"none\" fill=\"#555555\">"
            "from %s</text>\n",
            G_WIDTH - G_RIGHT, axis_y + 34, from);
    fputs("</g>\n", f);

    // The legend: a swatch per status.
    fprintf(f, "<g class=\"legend\">\n");
    for (size_t i = 0; i < sizeof legend / sizeof *legend; i++) {
        int x = G_LEFT + (int)i * 110;
        fprintf(f,
                " <rect class=\"swatch %s\" x=\"%d\" y=\"%d\" width=\"14\" height=\"14\" "
                "fill=\"%s\" stroke=\"#444444\" stroke-width=\"0.5\"/>\n"
                " <text x=\"%d\" y=\"%d\">%s</text>\n",
                legend[i], x, legend_y, dash_graph_fill(legend[i]), x + 20, legend_y + 11,
                legend[i]);
    }
    fputs("</g>\n</svg>\n", f);
}

// s_gantt_rows: the records of the tasks gantt draws: started and
// completed (since a->since_us when given), the label matching. The
// controller records a task's start with its result, so a task still
// running has none yet.
static ipp_err_t s_gantt_rows(q_source_t *src, const q_args_t *a, json_t **rows, ipp_error_t *err)
{
    static const char *const keys[] = {"msg_id",    "engine_id", "started",
                                       "completed", "status",    "label"};
    *rows = NULL;
    json_t *q = json_pack("{s:{s:n},s:o}", "started", "$ne", "completed",
                          a->since_us ? json_pack("{s:I}", "$gte", (json_int_t)a->since_us)
                                      : json_pack("{s:n}", "$ne"));
    if (!q)
        return ipp_error_set(err, IPP_ERR_NOMEM, "out of memory");
    ipp_err_t rc = IPP_OK;
    if (a->label) {
        // No glob characters: a label prefix (a workflow, a family of tasks).
        char *pat = strpbrk(a->label, "*?[") ? strdup(a->label) : dash_graph_prefix_glob(a->label);
        if (!pat || json_object_set_new(q, "label", json_pack("{s:s}", "$glob", pat)) != 0)
            rc = ipp_error_set(err, IPP_ERR_NOMEM, "out of memory");
        free(pat);
    }
    if (rc == IPP_OK)
        rc = s_find(src, q, keys, sizeof keys / sizeof *keys, 0, rows, err);
    json_decref(q);
    return rc;
}

int q_cmd_gantt(q_source_t *src, const q_args_t *a, FILE *out, FILE *errf)
{
    static const char *const cmd = "gantt";
    json_t *rows = NULL;
    s_bar_t *bars = NULL;
    int *engines = NULL;
    char *text = NULL, *what = NULL;
    size_t len = 0, n = 0, ne = 0;
    ipp_error_t err;
    int ex = Q_EXIT_OK;
    if (s_gantt_rows(src, a, &rows, &err) != IPP_OK)
        return s_fail(errf, cmd, &err);
    size_t nr = json_array_size(rows);
    bars = calloc(nr + 1, sizeof *bars);
    engines = calloc(nr + 1, sizeof *engines);
    if (!bars || !engines) {
        ex = s_nomem(errf, cmd);
        goto out;
    }
    for (size_t i = 0; i < nr; i++) {
        const json_t *r = json_array_get(rows, i);
        const json_t *eng = json_object_get(r, "engine_id");
        s_bar_t b = {.rec = r};
        if (!json_is_integer(eng) || !fmt_iso_to_us(json_object_get(r, "started"), &b.start) ||
            !fmt_iso_to_us(json_object_get(r, "completed"), &b.end))
            continue;  // not run on an engine: not in the stream
        b.engine = (int)json_integer_value(eng);
        if (b.end < b.start)
            b.end = b.start;
        bars[n++] = b;
        engines[ne++] = b.engine;
    }
    if (n == 0) {
        fprintf(errf, "ipp-query %s: no task that ran", cmd);
        if (a->label)
            fprintf(errf, " has a label matching '%s'", a->label);
        if (a->since_us) {
            char since[40];
            fprintf(errf, "%s completed since %s", a->label ? " and" : "",
                    ipp_clock_format_iso(a->since_us, since, sizeof since));
        }
        fprintf(errf, "%s; nothing written\n", a->label || a->since_us ? "" : " is recorded");
        ex = Q_EXIT_FAILED;
        goto out;
    }
    qsort(engines, ne, sizeof *engines, s_cmp_int);
    size_t k = 0;
    for (size_t i = 0; i < ne; i++)
        if (k == 0 || engines[k - 1] != engines[i])
            engines[k++] = engines[i];
    ne = k;
    if (a->label && asprintf(&what, "label %s", a->label) < 0)
        what = NULL;
    FILE *f = open_memstream(&text, &len);
    if (!f) {
        ex = s_nomem(errf, cmd);
        goto out;
    }
    s_gantt_svg(f, bars, n, engines, ne, what);
    if (fclose(f) != 0 || !text) {
        ex = s_nomem(errf, cmd);
        goto out;
    }
    ex = s_write_file(a->svg, text, len, errf, cmd);
    if (ex == Q_EXIT_OK)
        fprintf(out, "%s: %zu task%s on %zu engine%s\n", a->svg, n, n == 1 ? "" : "s", ne,
                ne == 1 ? "" : "s");
out:
    json_decref(rows);
    free(bars);
    free(engines);
    free(text);
    free(what);
    return ex;
}

// ------------------------------------------------------------ dag

// s_add_edges: an edge from each of rec's dependencies of kind (the key
// "after" or "follow": {"ids": […]}) that is in nodes (an object by
// msg_id) to rec, into edges.
static bool s_add_edges(json_t *edges, const json_t *rec, const char *kind, const json_t *nodes)
{
    const char *to = json_string_value(json_object_get(rec, "msg_id"));
    const json_t *ids = json_object_get(json_object_get(rec, kind), "ids");
    size_t i;
    const json_t *v;
    json_array_foreach(ids, i, v)
    {
        const char *from = json_string_value(v);
        if (!to || !from || !json_object_get(nodes, from))
            continue;
        if (json_array_append_new(
                edges, json_pack("{s:s,s:s,s:s}", "from", from, "to", to, "kind", kind)) != 0)
            return false;
    }
    return true;
}

int q_cmd_dag(q_source_t *src, const q_args_t *a, FILE *out, FILE *errf)
{
    static const char *const cmd = "dag";
    static const char *const keys[] = {"msg_id", "label", "status", "after", "follow"};
    json_t *rows = NULL, *q = NULL, *nodes = NULL, *edges = NULL, *by = NULL, *w = NULL;
    char *pat = dash_graph_prefix_glob(a->label), *dot = NULL, *svg = NULL;
    ipp_error_t err;
    int ex = Q_EXIT_OK;
    if (!pat || !(q = json_pack("{s:{s:s}}", "label", "$glob", pat))) {
        ex = s_nomem(errf, cmd);
        goto out;
    }
    if (s_find(src, q, keys, sizeof keys / sizeof *keys, Q_DAG_MAX + 1, &rows, &err) != IPP_OK) {
        ex = s_fail(errf, cmd, &err);
        goto out;
    }
    size_t n = json_array_size(rows);
    if (n == 0) {
        fprintf(errf, "ipp-query %s: no task has a label starting with '%s'; nothing written\n",
                cmd, a->label);
        ex = Q_EXIT_FAILED;
        goto out;
    }
    if (n > Q_DAG_MAX) {
        fprintf(errf,
                "ipp-query %s: more than %d tasks have a label starting with '%s': give a "
                "longer prefix\n",
                cmd, Q_DAG_MAX, a->label);
        ex = Q_EXIT_USAGE;
        goto out;
    }
    nodes = json_array();
    edges = json_array();
    by = json_object();
    if (!nodes || !edges || !by) {
        ex = s_nomem(errf, cmd);
        goto out;
    }
    size_t i;
    json_t *r;
    json_array_foreach(rows, i, r)
    {
        const char *id = json_string_value(json_object_get(r, "msg_id"));
        json_t *node =
            json_pack("{s:s?,s:O?,s:O?}", "msg_id", id, "label", json_object_get(r, "label"),
                      "status", json_object_get(r, "status"));
        if (!id || !node || json_array_append_new(nodes, node) != 0 ||
            json_object_set(by, id, r) != 0) {
            ex = s_nomem(errf, cmd);
            goto out;
        }
    }
    json_array_foreach(rows, i, r)
    {
        if (!s_add_edges(edges, r, "after", by) || !s_add_edges(edges, r, "follow", by)) {
            ex = s_nomem(errf, cmd);
            goto out;
        }
    }
    // A file has no dashboard to link the nodes to.
    w = json_pack("{s:s,s:O,s:O,s:b}", "prefix", a->label, "nodes", nodes, "edges", edges, "links",
                  0);
    if (!w) {
        ex = s_nomem(errf, cmd);
        goto out;
    }
    if (a->dot) {
        if (!(dot = dash_graph_dot(w))) {
            ex = s_nomem(errf, cmd);
            goto out;
        }
    }
    if (a->svg && !(svg = dash_graph_svg(w, &err))) {
        ex = s_fail(errf, cmd, &err);
        goto out;
    }
    // Both are drawn before either is written.
    if (dot && (ex = s_write_file(a->dot, dot, strlen(dot), errf, cmd)) != Q_EXIT_OK)
        goto out;
    if (svg && (ex = s_write_file(a->svg, svg, strlen(svg), errf, cmd)) != Q_EXIT_OK)
        goto out;
    fprintf(out, "%s%s%s: %zu task%s, %zu edge%s\n", a->svg ? a->svg : "",
            a->svg && a->dot ? ", " : "", a->dot ? a->dot : "", n, n == 1 ? "" : "s",
            json_array_size(edges), json_array_size(edges) == 1 ? "" : "s");
out:
    json_decref(rows);
    json_decref(q);
    json_decref(nodes);
    json_decref(edges);
    json_decref(by);
    json_decref(w);
    free(pat);
    free(dot);
    free(svg);
    return ex;
}
