/* commands.h — the subcommands of ipp-query, each a function from parsed
 * arguments and a source (source.h) to rows on an output (tools/fmt.h)
 * and an exit status.
 *
 * main.c parses and checks the arguments (a usage error never gets here)
 * and opens the source; a subcommand asks its questions, prints, and
 * reports errors on errf itself. None exits: each returns its status.
 */
#ifndef IPP_TOOLS_QUERY_COMMANDS_H
#define IPP_TOOLS_QUERY_COMMANDS_H

#include "tools/fmt.h"
#include "tools/query/source.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

// Exit statuses of ipp-query.
enum {
    Q_EXIT_OK = 0,           // done
    Q_EXIT_FAILED = 1,       // a queried task failed or is unknown; verify: chain broken
    Q_EXIT_USAGE = 2,        // bad arguments, a bad query
    Q_EXIT_UNREACHABLE = 3,  // no controller answered; the database file cannot be read
};

// What the command line asked for, checked by main. Strings are borrowed
// from argv; keys is owned by main.
typedef struct q_args_t {
    fmt_kind_t format;  // --json, --csv, --table (default table)
    bool format_given;  // one of them was given
    const char *label;  // --label PATTERN (a glob), or NULL
    json_t *keys;       // --keys as a JSON array of key names, or NULL
    int64_t limit;      // --limit N (0: none)
    int64_t since_us;   // --since as µs UTC (0: none)
    int64_t until_us;   // --until as µs UTC (0: none)
    bool verbose;       // --verbose
    const char *svg;    // --svg FILE (gantt, dag), or NULL
    const char *dot;    // --dot FILE (dag), or NULL
    char *const *pos;   // the arguments after the subcommand
    size_t n_pos;       // how many
} q_args_t;

// q_exit_for: the exit status for an error code: IPP_ERR_QUERY and
// IPP_ERR_INVALID are usage errors (2), IPP_ERR_AUDIT is 1, everything
// else means the answer could not be had (3).
int q_exit_for(ipp_err_t code);

// q_cmd_result_status: result_status ID… [--label P]: per task its state
// (pending, completed, unknown) and outcome. 1 if one failed or is unknown.
int q_cmd_result_status(q_source_t *src, const q_args_t *a, FILE *out, FILE *errf);

// q_cmd_queue_status: queue_status [--verbose]: each engine's queue and
// the unassigned tasks (online only).
int q_cmd_queue_status(q_source_t *src, const q_args_t *a, FILE *out, FILE *errf);

// q_cmd_history: history [--label P]: msg_ids in submission order.
int q_cmd_history(q_source_t *src, const q_args_t *a, FILE *out, FILE *errf);

// q_cmd_get: get ID… [--label P]: whole records with result values. 1 if
// one failed or is unknown.
int q_cmd_get(q_source_t *src, const q_args_t *a, FILE *out, FILE *errf);

// q_cmd_db: db QUERY_JSON [--keys K,…] [--limit N]: matching records.
int q_cmd_db(q_source_t *src, const q_args_t *a, FILE *out, FILE *errf);

// q_cmd_audit: audit [--since T] [--until T] [--label P]: completed tasks,
// who submitted them, where and when they ran, how they ended.
int q_cmd_audit(q_source_t *src, const q_args_t *a, FILE *out, FILE *errf);

// q_cmd_verify: verify: walk the audit chain of the database file at path
// (opened read-only here). 0 intact, 1 broken (the first bad record
// named), 3 unreadable.
int q_cmd_verify(const char *path, const q_args_t *a, FILE *out, FILE *errf);

// q_cmd_gantt: gantt --svg FILE [--label P] [--since T]: the task stream
// of started tasks as SVG (pictures.c): a row per engine (<g
// class="engine-row" data-engine="N">), a bar per task from started to
// completed (<rect class="task STATUS" data-msg-id="…"> with a <title>),
// a time axis, a legend. --label: a glob, or without glob characters a
// label prefix; --since: completed at or after T. FILE is written whole
// or not at all. 1 if no task matched (nothing written), 3 if FILE cannot be
// written.
int q_cmd_gantt(q_source_t *src, const q_args_t *a, FILE *out, FILE *errf);

// q_cmd_dag: dag --label PREFIX (--svg FILE | --dot FILE): the DAG of the
// tasks whose label starts with PREFIX, drawn by tools/dashboard/graph.c
// (a node per task classed by state, after edges solid, follow edges
// dashed), as SVG and/or DOT. Exit statuses as gantt's; 2 when the prefix
// picks too many tasks to draw.
int q_cmd_dag(q_source_t *src, const q_args_t *a, FILE *out, FILE *errf);

#endif
