/* workflow.c — parse and check DAG workflow files (see workflow.h).
 *
 * Two passes over the JSON: first the node names, then each node's
 * fields, resolving dependency names to indices. Every problem is
 * collected (up to a limit) so a user fixes a file in one go; a file with
 * any problem yields no workflow at all, so nothing of it can be
 * submitted. Cycles are found with Kahn's algorithm: the nodes it cannot
 * order each have an unordered parent, so walking parents from any of
 * them must revisit a node, and that loop is the cycle printed.
 */
#include "tools/ipp/workflow.h"

#include "ipp/limits.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Most problems reported for one file.
#define S_MAX_ERRORS 50
// Longest node name.
#define S_NAME_MAX 128

// The problems found so far, as text.
typedef struct s_errs_t {
    const char *file;  // named at the start of every line
    char *buf;         // the lines (owned)
    size_t len;        // bytes used
    size_t cap;        // bytes allocated
    size_t count;      // problems found (also past the limit)
    bool nomem;        // an allocation failed
} s_errs_t;

// s_err: add one problem. Names and keys quoted in it are the file's
// text: control characters in them become '?', so a problem stays on one
// line and nothing in a file can drive the user's terminal.
static void s_err(s_errs_t *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void s_err(s_errs_t *e, const char *fmt, ...)
{
    e->count++;
    if (e->count > S_MAX_ERRORS)
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    for (char *p = line; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    size_t need = strlen(e->file) + strlen(line) + 4;
    if (e->len + need + 1 > e->cap) {
        size_t cap = (e->cap + need) * 2 + 256;
        char *b = realloc(e->buf, cap);
        if (!b) {
            e->nomem = true;
            return;
        }
        e->buf = b;
        e->cap = cap;
    }
    e->len += (size_t)snprintf(e->buf + e->len, e->cap - e->len, "%s: %s\n", e->file, line);
}

// s_type: what a JSON value is, for messages.
static const char *s_type(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "a list";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "something else";
}

// s_name_ok: a node name fit for a label.
static bool s_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > S_NAME_MAX)
        return false;
    for (const char *p = name; *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.'))
            return false;
    }
    return true;
}

bool wf_valid_prefix(const char *prefix)
{
    size_t n = strlen(prefix);
    if (n == 0 || n > 200 || prefix[0] == '/' || prefix[n - 1] == '/')
        return false;
    for (const char *p = prefix; *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.' || c == '/'))
            return false;
    }
    return true;
}

char *wf_prefix_of(const char *path, char *buf, size_t size)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    snprintf(buf, size, "%s", base);
    char *dot = strrchr(buf, '.');
    if (dot && dot != buf)
        *dot = '\0';
    return buf;
}

// --------------------------------------------------------------- lookup

// Names sorted for lookup: name → node index.
typedef struct s_entry_t {
    const char *name;  // borrowed from the JSON
    size_t index;      // node index
} s_entry_t;

static int s_entry_cmp(const void *a, const void *b)
{
    return strcmp(((const s_entry_t *)a)->name, ((const s_entry_t *)b)->name);
}

// s_lookup: the index of name in the sorted table, or -1.
static long s_lookup(const s_entry_t *tab, size_t n, const char *name)
{
    s_entry_t key = {name, 0};
    const s_entry_t *hit = bsearch(&key, tab, n, sizeof *tab, s_entry_cmp);
    return hit ? (long)hit->index : -1;
}

// --------------------------------------------------------------- fields

// s_strings: a list of strings into *out (owned, NULL-terminated), *n
// items. Problems are reported against node/field.
static bool s_strings(s_errs_t *e, const char *node, const char *field, const json_t *v,
                      bool nonempty_list, char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!json_is_array(v)) {
        s_err(e, "node '%s', field '%s': must be a list of strings, not %s", node, field,
              s_type(v));
        return false;
    }
    size_t len = json_array_size(v);
    if (nonempty_list && len == 0) {
        s_err(e, "node '%s', field '%s': must not be empty", node, field);
        return false;
    }
    bool ok = true;
    for (size_t i = 0; i < len; i++) {
        const json_t *item = json_array_get(v, i);
        if (!json_is_string(item)) {
            s_err(e, "node '%s', field '%s': item %zu must be a string, not %s", node, field, i + 1,
                  s_type(item));
            ok = false;
        }
    }
    if (!ok)
        return false;
    char **sv = calloc(len + 1, sizeof *sv);
    if (!sv) {
        e->nomem = true;
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        sv[i] = strdup(json_string_value(json_array_get(v, i)));
        if (!sv[i])
            e->nomem = true;
    }
    *out = sv;
    *n = len;
    return !e->nomem;
}

// s_free_strv: free a list from s_strings.
static void s_free_strv(char **v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

// s_number: a non-negative number.
static bool s_number(s_errs_t *e, const char *node, const char *field, const json_t *v, double *out)
{
    if (!json_is_number(v)) {
        s_err(e, "node '%s', field '%s': must be a number of seconds, not %s", node, field,
              s_type(v));
        return false;
    }
    double d = json_number_value(v);
    if (!isfinite(d) || d < 0 || d > 1e9) {
        s_err(e, "node '%s', field '%s': must be between 0 and 1e9 seconds", node, field);
        return false;
    }
    *out = d;
    return true;
}

// s_dep: after/follow: a list of names or an object with ids and flags.
static void s_dep(s_errs_t *e, const char *node, const char *field, const json_t *v,
                  const s_entry_t *tab, size_t n_nodes, wf_dep_t *dep)
{
    dep->all = true;
    dep->success = true;
    dep->failure = false;
    const json_t *ids = v;
    if (json_is_object(v)) {
        ids = json_object_get(v, "ids");
        const char *key;
        json_t *val;
        json_object_foreach((json_t *)v, key, val)
        {
            if (strcmp(key, "ids") == 0)
                continue;
            bool *flag = strcmp(key, "all") == 0       ? &dep->all
                         : strcmp(key, "success") == 0 ? &dep->success
                         : strcmp(key, "failure") == 0 ? &dep->failure
                                                       : NULL;
            if (!flag) {
                s_err(e,
                      "node '%s', field '%s': unknown key '%s' (known: ids, all, success, "
                      "failure)",
                      node, field, key);
            } else if (!json_is_boolean(val)) {
                s_err(e, "node '%s', field '%s.%s': must be true or false, not %s", node, field,
                      key, s_type(val));
            } else {
                *flag = json_is_true(val);
            }
        }
        if (!ids) {
            s_err(e, "node '%s', field '%s': the object needs 'ids', a list of node names", node,
                  field);
            return;
        }
        if (!dep->success && !dep->failure)
            s_err(e,
                  "node '%s', field '%s': with success and failure both false it could "
                  "never run",
                  node, field);
    } else if (!json_is_array(v)) {
        s_err(e,
              "node '%s', field '%s': must be a list of node names or an object {\"ids\": "
              "[...], \"all\": ..., \"success\": ..., \"failure\": ...}, not %s",
              node, field, s_type(v));
        return;
    }
    if (!json_is_array(ids)) {
        s_err(e, "node '%s', field '%s.ids': must be a list of node names, not %s", node, field,
              s_type(ids));
        return;
    }
    size_t len = json_array_size(ids);
    if (len == 0)
        return;
    dep->nodes = calloc(len, sizeof *dep->nodes);
    if (!dep->nodes) {
        e->nomem = true;
        return;
    }
    for (size_t i = 0; i < len; i++) {
        const json_t *item = json_array_get(ids, i);
        if (!json_is_string(item)) {
            s_err(e, "node '%s', field '%s': item %zu must be a node name, not %s", node, field,
                  i + 1, s_type(item));
            continue;
        }
        const char *name = json_string_value(item);
        long idx = s_lookup(tab, n_nodes, name);
        if (idx < 0) {
            s_err(e, "node '%s', field '%s': unknown node '%s'", node, field, name);
            continue;
        }
        bool dup = false;
        for (size_t k = 0; k < dep->n && !dup; k++)
            dup = dep->nodes[k] == (size_t)idx;
        if (dup) {
            s_err(e, "node '%s', field '%s': node '%s' is listed twice", node, field, name);
            continue;
        }
        dep->nodes[dep->n++] = (size_t)idx;
    }
}

// The fields a node may have.
static const char *const s_fields[] = {"cmd",    "shell",      "call",    "args",     "after",
                                       "follow", "timeout",    "retries", "requires", "env",
                                       "cwd",    "wall_limit", "targets", NULL};

static bool s_known_field(const char *key)
{
    for (size_t i = 0; s_fields[i]; i++)
        if (strcmp(s_fields[i], key) == 0)
            return true;
    return false;
}

// s_node: parse the node called name (its JSON value o) into nd.
static void s_node(s_errs_t *e, const char *name, const json_t *o, const s_entry_t *tab,
                   size_t n_nodes, wf_node_t *nd)
{
    if (!json_is_object(o)) {
        s_err(e, "node '%s': must be an object, not %s", name, s_type(o));
        return;
    }
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)o, key, val)
    {
        if (!s_known_field(key))
            s_err(e,
                  "node '%s': unknown field '%s' (known: cmd, shell, call, args, after, "
                  "follow, timeout, retries, requires, env, cwd, wall_limit, targets)",
                  name, key);
    }
    const json_t *cmd = json_object_get(o, "cmd");
    const json_t *shell = json_object_get(o, "shell");
    const json_t *call = json_object_get(o, "call");
    int kinds = (cmd != NULL) + (shell != NULL) + (call != NULL);
    if (kinds == 0) {
        s_err(e,
              "node '%s': needs one of 'cmd' (a list: program and arguments), 'shell' (a "
              "command line) or 'call' (an engine function)",
              name);
    } else if (kinds > 1) {
        s_err(e, "node '%s': has %s%s%s%s%s; give only one of cmd, shell, call", name,
              cmd ? "'cmd'" : "", cmd && (shell || call) ? (kinds == 3 ? ", " : " and ") : "",
              shell ? "'shell'" : "", shell && call ? " and " : "", call ? "'call'" : "");
    } else if (cmd) {
        nd->kind = IPP_TASK_ARGV;
        if (s_strings(e, name, "cmd", cmd, true, &nd->argv, &nd->argc) && !nd->argv[0][0])
            s_err(e, "node '%s', field 'cmd': the program name is empty", name);
    } else if (shell) {
        nd->kind = IPP_TASK_SHELL;
        if (!json_is_string(shell))
            s_err(e, "node '%s', field 'shell': must be a string, not %s", name, s_type(shell));
        else if (!json_string_length(shell))
            s_err(e, "node '%s', field 'shell': must not be empty", name);
        else if (!(nd->shell = strdup(json_string_value(shell))))
            e->nomem = true;
    } else {
        nd->kind = IPP_TASK_CALL;
        if (!json_is_string(call))
            s_err(e, "node '%s', field 'call': must be a function name, not %s", name,
                  s_type(call));
        else if (!json_string_length(call))
            s_err(e, "node '%s', field 'call': must not be empty", name);
        else if (!(nd->call = strdup(json_string_value(call))))
            e->nomem = true;
    }
    bool command = kinds == 1 && (cmd || shell);
    const json_t *v;
    if ((v = json_object_get(o, "args"))) {
        if (kinds == 1 && !call)
            s_err(e,
                  "node '%s', field 'args': only a 'call' takes args (a command's arguments "
                  "go in 'cmd')",
                  name);
        else
            s_strings(e, name, "args", v, false, &nd->args, &nd->n_args);
    }
    if ((v = json_object_get(o, "env"))) {
        if (kinds == 1 && !command) {
            s_err(e, "node '%s', field 'env': only commands (cmd, shell) take env", name);
        } else if (!json_is_object(v)) {
            s_err(e, "node '%s', field 'env': must be an object of NAME: \"value\", not %s", name,
                  s_type(v));
        } else {
            size_t cnt = json_object_size(v);
            nd->env = calloc(cnt + 1, sizeof *nd->env);
            if (!nd->env)
                e->nomem = true;
            json_t *ev;
            json_object_foreach((json_t *)v, key, ev)
            {
                if (!*key || strchr(key, '=')) {
                    s_err(e, "node '%s', field 'env': '%s' is not a variable name", name, key);
                } else if (!json_is_string(ev)) {
                    s_err(e, "node '%s', field 'env.%s': must be a string, not %s", name, key,
                          s_type(ev));
                } else if (nd->env) {
                    size_t len = strlen(key) + json_string_length(ev) + 2;
                    char *kv = malloc(len);
                    if (!kv) {
                        e->nomem = true;
                        continue;
                    }
                    snprintf(kv, len, "%s=%s", key, json_string_value(ev));
                    nd->env[nd->n_env++] = kv;
                }
            }
        }
    }
    if ((v = json_object_get(o, "cwd"))) {
        if (kinds == 1 && !command)
            s_err(e, "node '%s', field 'cwd': only commands (cmd, shell) take cwd", name);
        else if (!json_is_string(v) || !json_string_length(v))
            s_err(e, "node '%s', field 'cwd': must be a folder path, not %s", name,
                  json_is_string(v) ? "empty" : s_type(v));
        else if (!(nd->cwd = strdup(json_string_value(v))))
            e->nomem = true;
    }
    if ((v = json_object_get(o, "wall_limit"))) {
        if (kinds == 1 && !command)
            s_err(e,
                  "node '%s', field 'wall_limit': only commands (cmd, shell) have a "
                  "running-time limit",
                  name);
        else
            s_number(e, name, "wall_limit", v, &nd->wall_limit);
    }
    if ((v = json_object_get(o, "timeout")))
        s_number(e, name, "timeout", v, &nd->timeout);
    if ((v = json_object_get(o, "retries"))) {
        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
            json_integer_value(v) > IPP_RETRIES_MAX)
            s_err(e,
                  "node '%s', field 'retries': must be a whole number from 0 to %d, "
                  "not %s",
                  name, IPP_RETRIES_MAX,
                  json_is_integer(v) ? "a negative or larger one" : s_type(v));
        else
            nd->retries = (int)json_integer_value(v);
    }
    if ((v = json_object_get(o, "requires"))) {
        if (s_strings(e, name, "requires", v, false, &nd->requires, &nd->n_requires)) {
            for (size_t i = 0; i < nd->n_requires; i++)
                if (!nd->requires[i][0])
                    s_err(e, "node '%s', field 'requires': item %zu is empty", name, i + 1);
        }
    }
    if ((v = json_object_get(o, "targets"))) {
        if (!json_is_array(v)) {
            s_err(e, "node '%s', field 'targets': must be a list of engine ids, not %s", name,
                  s_type(v));
        } else if (json_array_size(v)) {
            nd->targets = calloc(json_array_size(v), sizeof *nd->targets);
            if (!nd->targets)
                e->nomem = true;
            for (size_t i = 0; nd->targets && i < json_array_size(v); i++) {
                const json_t *t = json_array_get(v, i);
                if (!json_is_integer(t) || json_integer_value(t) < 0 ||
                    json_integer_value(t) > INT32_MAX)
                    s_err(e,
                          "node '%s', field 'targets': item %zu must be an engine id (a "
                          "whole number >= 0), not %s",
                          name, i + 1, json_is_integer(t) ? "a negative or huge one" : s_type(t));
                else
                    nd->targets[nd->n_targets++] = (int)json_integer_value(t);
            }
        }
    }
    if ((v = json_object_get(o, "after")))
        s_dep(e, name, "after", v, tab, n_nodes, &nd->after);
    if ((v = json_object_get(o, "follow")))
        s_dep(e, name, "follow", v, tab, n_nodes, &nd->follow);
}

// --------------------------------------------------------------- order

// s_order: a topological order of wf into wf->order; on a cycle, report
// it and return false.
static bool s_order(s_errs_t *e, wf_t *wf)
{
    size_t n = wf->n;
    size_t *indeg = calloc(n ? n : 1, sizeof *indeg);
    size_t *nchild = calloc(n + 1, sizeof *nchild);  // then: offsets
    size_t *queue = calloc(n ? n : 1, sizeof *queue);
    size_t *children = NULL;
    size_t edges = 0;
    bool ok = false;
    wf->order = calloc(n ? n : 1, sizeof *wf->order);
    if (!indeg || !nchild || !queue || !wf->order)
        goto nomem;
    for (size_t i = 0; i < n; i++) {
        const wf_dep_t *deps[2] = {&wf->nodes[i].after, &wf->nodes[i].follow};
        for (int d = 0; d < 2; d++) {
            for (size_t k = 0; k < deps[d]->n; k++) {
                indeg[i]++;
                nchild[deps[d]->nodes[k]]++;
                edges++;
            }
        }
    }
    // nchild → start offsets of each node's children in `children`.
    size_t sum = 0;
    for (size_t i = 0; i <= n; i++) {
        size_t c = nchild[i];
        nchild[i] = sum;
        sum += c;
    }
    children = calloc(edges ? edges : 1, sizeof *children);
    size_t *fill = calloc(n ? n : 1, sizeof *fill);
    if (!children || !fill) {
        free(fill);
        goto nomem;
    }
    for (size_t i = 0; i < n; i++) {
        const wf_dep_t *deps[2] = {&wf->nodes[i].after, &wf->nodes[i].follow};
        for (int d = 0; d < 2; d++) {
            for (size_t k = 0; k < deps[d]->n; k++) {
                size_t p = deps[d]->nodes[k];
                children[nchild[p] + fill[p]++] = i;
            }
        }
    }
    free(fill);
    size_t head = 0, tail = 0, done = 0;
    for (size_t i = 0; i < n; i++)
        if (!indeg[i])
            queue[tail++] = i;
    while (head < tail) {
        size_t x = queue[head++];
        wf->order[done++] = x;
        for (size_t c = nchild[x]; c < nchild[x + 1]; c++)
            if (--indeg[children[c]] == 0)
                queue[tail++] = children[c];
    }
    if (done == n) {
        ok = true;
        goto out;
    }
    // A cycle: every node left has a parent left. Walk parents from one of
    // them until a node comes round again.
    {
        size_t start = 0;
        while (!indeg[start])
            start++;
        size_t *seen_at = calloc(n, sizeof *seen_at);  // step + 1 when visited
        size_t *path = calloc(n + 1, sizeof *path);
        if (!seen_at || !path) {
            free(seen_at);
            free(path);
            goto nomem;
        }
        size_t steps = 0, x = start;
        while (!seen_at[x]) {
            seen_at[x] = ++steps;
            path[steps - 1] = x;
            const wf_dep_t *deps[2] = {&wf->nodes[x].after, &wf->nodes[x].follow};
            size_t next = x;
            bool found = false;
            for (int d = 0; d < 2 && !found; d++)
                for (size_t k = 0; k < deps[d]->n && !found; k++)
                    if (indeg[deps[d]->nodes[k]]) {
                        next = deps[d]->nodes[k];
                        found = true;
                    }
            x = next;
        }
        // path[from .. steps) walks child → parent and closes on path[from].
        // Reverse it (parent → child) and start at the node first in the file.
        size_t from = seen_at[x] - 1, m = steps - from;
        size_t *cyc = path + from;
        for (size_t a = 0, b = m - 1; a < b; a++, b--) {
            size_t t = cyc[a];
            cyc[a] = cyc[b];
            cyc[b] = t;
        }
        size_t k0 = 0;
        for (size_t k = 1; k < m; k++)
            if (cyc[k] < cyc[k0])
                k0 = k;
        char text[900];
        size_t len = 0;
        for (size_t k = 0; k <= m; k++) {
            const char *nm = wf->nodes[cyc[(k0 + k) % m]].name;
            if (len + strlen(nm) + 16 >= sizeof text) {
                len += (size_t)snprintf(text + len, sizeof text - len, "...");
                break;
            }
            len += (size_t)snprintf(text + len, sizeof text - len, "%s%s", k ? " -> " : "", nm);
        }
        s_err(e, "dependency cycle: %s (an arrow points from a node to one that waits for it)",
              text);
        free(seen_at);
        free(path);
    }
    goto out;
nomem:
    e->nomem = true;
out:
    free(indeg);
    free(nchild);
    free(queue);
    free(children);
    return ok;
}

// --------------------------------------------------------------- public

static void s_dep_fini(wf_dep_t *d)
{
    free(d->nodes);
    memset(d, 0, sizeof *d);
}

void wf_destroy(wf_t **wf_p)
{
    if (!wf_p || !*wf_p)
        return;
    wf_t *wf = *wf_p;
    for (size_t i = 0; wf->nodes && i < wf->n; i++) {
        wf_node_t *nd = &wf->nodes[i];
        free(nd->name);
        s_free_strv(nd->argv, nd->argc);
        free(nd->shell);
        free(nd->call);
        s_free_strv(nd->args, nd->n_args);
        s_dep_fini(&nd->after);
        s_dep_fini(&nd->follow);
        s_free_strv(nd->requires, nd->n_requires);
        s_free_strv(nd->env, nd->n_env);
        free(nd->cwd);
        free(nd->targets);
    }
    free(wf->nodes);
    free(wf->order);
    free(wf);
    *wf_p = NULL;
}

long wf_find(const wf_t *wf, const char *name)
{
    for (size_t i = 0; i < wf->n; i++)
        if (strcmp(wf->nodes[i].name, name) == 0)
            return (long)i;
    return -1;
}

// s_finish: hand the collected problems to the caller.
static void s_finish(s_errs_t *e, char **errors)
{
    if (e->nomem)
        s_err(e, "out of memory");
    if (e->count > S_MAX_ERRORS) {
        size_t more = e->count - S_MAX_ERRORS;
        e->count = 0;  // let one more line through
        s_err(e, "... and %zu more problems", more);
    }
    *errors = e->buf ? e->buf : strdup("workflow: out of memory\n");
}

wf_t *wf_parse(const char *text, size_t len, const char *name, char **errors)
{
    *errors = NULL;
    s_errs_t e = {.file = name};
    wf_t *wf = NULL;
    s_entry_t *tab = NULL;
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (!root) {
        s_err(&e, "line %d, column %d: not valid JSON: %s", jerr.line, jerr.column, jerr.text);
        goto fail;
    }
    if (!json_is_object(root)) {
        s_err(&e, "must be a JSON object {\"tasks\": {...}}, not %s", s_type(root));
        goto fail;
    }
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val)
    {
        if (strcmp(key, "tasks") == 0)
            continue;
        if (strcmp(key, "description") == 0) {
            if (!json_is_string(val))
                s_err(&e, "field 'description': must be a string, not %s", s_type(val));
            continue;
        }
        s_err(&e, "unknown top-level field '%s' (known: tasks, description)", key);
    }
    const json_t *tasks = json_object_get(root, "tasks");
    if (!tasks) {
        s_err(&e, "no 'tasks': expected {\"tasks\": {\"NAME\": {...}, ...}}");
        goto fail;
    }
    if (!json_is_object(tasks)) {
        s_err(&e, "field 'tasks': must be an object of NAME: {...}, not %s", s_type(tasks));
        goto fail;
    }
    size_t n = json_object_size(tasks);
    if (n == 0) {
        s_err(&e, "field 'tasks': no tasks");
        goto fail;
    }
    wf = calloc(1, sizeof *wf);
    tab = calloc(n, sizeof *tab);
    if (!wf || !tab || !(wf->nodes = calloc(n, sizeof *wf->nodes))) {
        e.nomem = true;
        goto fail;
    }
    wf->n = n;
    size_t i = 0;
    json_object_foreach((json_t *)tasks, key, val)
    {
        if (!s_name_ok(key))
            s_err(&e, "node '%s': a name is 1 to %d letters, digits, '_', '-' or '.'", key,
                  S_NAME_MAX);
        if (!(wf->nodes[i].name = strdup(key)))
            e.nomem = true;
        tab[i].name = key;
        tab[i].index = i;
        i++;
    }
    qsort(tab, n, sizeof *tab, s_entry_cmp);
    i = 0;
    json_object_foreach((json_t *)tasks, key, val)
    {
        s_node(&e, key, val, tab, n, &wf->nodes[i]);
        i++;
    }
    if (e.nomem)
        goto fail;
    if (!s_order(&e, wf) || e.count || e.nomem)
        goto fail;
    free(tab);
    json_decref(root);
    return wf;
fail:
    free(tab);
    json_decref(root);
    wf_destroy(&wf);
    s_finish(&e, errors);
    return NULL;
}

wf_t *wf_load(const char *path, char **errors)
{
    *errors = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        char line[1200];
        snprintf(line, sizeof line, "%s: cannot open: %s\n", path, strerror(errno));
        *errors = strdup(line);
        return NULL;
    }
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap);
    bool err = false;
    while (buf) {
        if (len == cap) {
            if (cap >= (size_t)64 << 20) {
                err = true;  // a workflow file is not that big
                break;
            }
            char *b = realloc(buf, cap * 2);
            if (!b) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = b;
            cap *= 2;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) {
            err = ferror(f) != 0;
            break;
        }
    }
    fclose(f);
    if (!buf || err) {
        char line[1200];
        snprintf(line, sizeof line, "%s: cannot read: %s\n", path,
                 !buf ? "out of memory" : "read error or larger than 64 MiB");
        free(buf);
        *errors = strdup(line);
        return NULL;
    }
    wf_t *wf = wf_parse(buf, len, path, errors);
    free(buf);
    return wf;
}
