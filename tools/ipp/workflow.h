/* workflow.h — DAG workflow files: parse, validate, order.
 *
 * A workflow file is JSON:
 *
 *     {"tasks": {"NAME": {"cmd": [...] | "shell": "..." | "call": "FN",
 *                         "args": [...], "after": DEP, "follow": DEP,
 *                         "timeout": S, "retries": N, "requires": [...],
 *                         "env": {...}, "cwd": "...", "wall_limit": S,
 *                         "targets": [ids]}},
 *      "description": "..."}
 *
 * where DEP is a list of node names or {"ids": [names], "all": bool,
 * "success": bool, "failure": bool}. A file is checked completely before
 * anything may be submitted: every error found is reported (node and
 * field named), cycles are printed as `a -> b -> a` (an arrow points from
 * a node to one that waits for it). A valid workflow comes with a
 * topological order (parents before children, otherwise file order) —
 * the controller resolves dependencies by msg_id, so a parent must be
 * submitted before its children.
 *
 * Pure: no I/O but reading the file, no client. Owns every string it
 * returns inside the wf_t.
 */
#ifndef IPP_TOOLS_WORKFLOW_H
#define IPP_TOOLS_WORKFLOW_H

#include "ipp/view.h"

#include <stdbool.h>
#include <stddef.h>

// A dependency between nodes, by index.
typedef struct wf_dep_t {
    size_t *nodes;  // parent node indices (owned), n of them; NULL when none
    size_t n;       // how many
    bool all;       // every parent must be met (else any one)
    bool success;   // a parent's success meets it
    bool failure;   // a parent's failure meets it
} wf_dep_t;

// One node of the workflow. Every pointer is owned by the wf_t.
typedef struct wf_node_t {
    char *name;            // its name (label suffix)
    ipp_task_kind_t kind;  // ARGV, SHELL or CALL
    char **argv;           // ARGV: program and arguments (argc of them, NULL-terminated)
    size_t argc;           // how many
    char *shell;           // SHELL: the command line
    char *call;            // CALL: function name
    char **args;           // CALL: argument strings, n_args of them
    size_t n_args;         // how many
    wf_dep_t after;        // time dependency
    wf_dep_t follow;       // location dependency
    double timeout;        // dependency timeout, s; 0 none
    int retries;           // further attempts after a failure
    char **requires;       // "fn:NAME", "cmd:PROGRAM", "tag:T"
    size_t n_requires;     // how many
    char **env;            // "NAME=VALUE" for commands
    size_t n_env;          // how many
    char *cwd;             // working directory for commands, NULL: the engine's
    double wall_limit;     // running-time limit for commands, s; 0 none
    int *targets;          // engines the scheduler may use, n_targets of them
    size_t n_targets;      // how many (0: any)
} wf_node_t;

// A validated workflow.
typedef struct wf_t {
    wf_node_t *nodes;  // in file order
    size_t n;          // how many
    size_t *order;     // a topological order: n node indices
} wf_t;

// wf_load: read and check the workflow file at path. On success returns
// the workflow (caller owns it: wf_destroy). On failure returns NULL and
// *errors (caller frees with free()) holds every problem found, one per
// line, each starting with path.
wf_t *wf_load(const char *path, char **errors);

// wf_parse: the same from text; name stands for the file in messages.
wf_t *wf_parse(const char *text, size_t len, const char *name, char **errors);

// wf_destroy: free *wf_p (NULL-safe) and set it to NULL.
void wf_destroy(wf_t **wf_p);

// wf_find: the index of the node called name, or -1.
long wf_find(const wf_t *wf, const char *name);

// wf_prefix_of: the default label prefix of a workflow file: its base
// name without the extension, into buf. Returns buf.
char *wf_prefix_of(const char *path, char *buf, size_t size);

// wf_valid_prefix: true if prefix is fit for labels (letters, digits and
// . _ - /, no glob characters, not empty, not starting or ending with /).
bool wf_valid_prefix(const char *prefix);

#endif
