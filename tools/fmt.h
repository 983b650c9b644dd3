/* fmt.h — rows of values out, for the command-line tools: an aligned
 * table, JSON lines or CSV.
 *
 * A formatter is made with a fixed list of column names; the caller hands
 * it rows as JSON objects keyed by those names (keys that are not columns
 * are ignored, missing ones are null). Values are JSON so one row feeds
 * every format:
 *
 *   table  (FMT_TABLE) columns padded to the widest cell, two spaces
 *          apart, a header line of the column names. Rows are kept until
 *          fmt_end, which writes them all (widths need every row). Strings
 *          show with control characters escaped (\n, \t, \xHH), null as
 *          "-", reals with 3 decimals, arrays and objects as compact JSON.
 *          With opts.max_width, wider cells are cut with "…" (meant for a
 *          terminal: fmt_opts_default sets it when out is a TTY). With
 *          opts.vertical every row is printed as "name  value" lines, a
 *          blank line between rows, multi-line strings kept and indented —
 *          for showing whole records.
 *   JSON   (FMT_JSON) one compact JSON object per row and line, keys in
 *          column order, written at once. Strings are valid UTF-8 (build
 *          them with fmt_text).
 *   CSV    (FMT_CSV) RFC 4180: a header row, then one record per row,
 *          CRLF line ends, fields holding a comma, a double quote, CR or LF
 *          quoted with quotes doubled; null is an empty field, arrays and
 *          objects compact JSON. Written at once.
 *
 * Timestamps: build cells with fmt_time (µs UTC → ISO 8601 UTC string, so
 * every format shows the same "2026-01-02T03:04:05.000006Z"), durations
 * with fmt_seconds (a JSON real, seconds).
 *
 * The formatter borrows the FILE and never closes it. It never exits or
 * aborts: write failures come back from fmt_row/fmt_end as IPP_ERR_IO.
 * Reusable by any tool: it depends only on jansson and proto/clock.
 */
#ifndef IPP_TOOLS_FMT_H
#define IPP_TOOLS_FMT_H

#include "ipp/error.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum fmt_kind_t {
    FMT_TABLE = 0,  // aligned columns (the default)
    FMT_JSON = 1,   // one JSON object per line
    FMT_CSV = 2,    // RFC 4180
} fmt_kind_t;

// How to write. Zero is a plain table with no width limit.
typedef struct fmt_opts_t {
    fmt_kind_t kind;   // the format
    bool vertical;     // table only: "name  value" lines per row
    bool no_header;    // table and CSV: leave out the header line
    size_t max_width;  // table only: cut cells longer than this many characters (0: never)
} fmt_opts_t;

typedef struct fmt_t fmt_t;

// fmt_opts_default: opts for kind writing to out: for a table on a TTY,
// max_width 60; otherwise no limit.
fmt_opts_t fmt_opts_default(FILE *out, fmt_kind_t kind);

// fmt_new: a formatter writing to out (borrowed; must outlive it) with
// columns names[0..n) (copied). opts NULL: a plain table. Caller owns the
// result (fmt_destroy). NULL with err set: IPP_ERR_INVALID (no columns),
// IPP_ERR_NOMEM.
fmt_t *fmt_new(FILE *out, const fmt_opts_t *opts, const char *const *names, size_t n,
               ipp_error_t *err);

// fmt_destroy: free *f_p (without writing what a table holds: call fmt_end
// first) and set it to NULL. NULL-safe.
void fmt_destroy(fmt_t **f_p);

// fmt_row: one row from row (a JSON object; borrowed — the formatter
// takes its own references). JSON and CSV write it now; a table keeps it.
// IPP_ERR_INVALID if row is not an object, IPP_ERR_NOMEM, IPP_ERR_IO.
ipp_err_t fmt_row(fmt_t *f, const json_t *row, ipp_error_t *err);

// fmt_end: write what is kept (a table) and flush. Call once, after the
// last row; a table with no rows still gets its header. IPP_ERR_IO if
// anything could not be written (a closed pipe, a full disk).
ipp_err_t fmt_end(fmt_t *f, ipp_error_t *err);

// fmt_rows: how many rows were given so far.
size_t fmt_rows(const fmt_t *f);

// fmt_kind_name: "table", "json", "csv"; static.
const char *fmt_kind_name(fmt_kind_t kind);

// ---------------------------------------------------------------- cells
// Each returns a new reference (caller owns it; pass it to
// json_object_set_new) and never NULL-checks its way into a crash: on
// out-of-memory they return NULL, which json_object_set_new refuses.

// fmt_time: µs since the epoch (UTC) as an ISO 8601 UTC string; null for 0
// or a negative value (unknown).
json_t *fmt_time(int64_t us);

// fmt_seconds: a duration in seconds (a JSON real); null when negative.
json_t *fmt_seconds(double s);

// fmt_text: bytes as a JSON string, bytes that are not UTF-8 (and NUL)
// replaced by U+FFFD; null for data NULL.
json_t *fmt_text(const void *data, size_t size);

// fmt_str: a C string as fmt_text; null for NULL.
json_t *fmt_str(const char *s);

// fmt_utf8_valid: data[0..size) is UTF-8 without NUL bytes.
bool fmt_utf8_valid(const void *data, size_t size);

// fmt_iso_to_us: parse an ISO 8601 time (as fmt_time writes, or any form
// ipp_clock_parse_iso takes) in a JSON string into *us; false (and *us 0)
// when v is not such a string.
bool fmt_iso_to_us(const json_t *v, int64_t *us);

#endif
