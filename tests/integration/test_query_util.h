/* test_query_util.h — running the ipp-query binary from tests and reading
 * what it printed: JSON lines, RFC 4180 CSV, table lines.
 *
 * Every run is a real child process (fork + exec of the built binary) with
 * a time limit; its stdout and stderr are captured whole. A run that was
 * killed, timed out, or printed a sanitizer report fails the test, so no
 * check of an exit status can pass by accident.
 */
#ifndef IPP_TESTS_QUERY_UTIL_H
#define IPP_TESTS_QUERY_UTIL_H

#include <jansson.h>
#include <stddef.h>

#ifndef IPP_QUERY_BIN
#error "IPP_QUERY_BIN must be defined by the build"
#endif

// One finished run.
typedef struct qt_run_t {
    int status;   // exit status (0..255)
    char *out;    // everything on stdout (owned, NUL-terminated)
    char *err;    // everything on stderr (owned)
    double secs;  // how long it took
} qt_run_t;

// qt_run: run ipp-query with args (NULL-terminated) within timeout_s
// seconds; fills r (qt_run_fini frees it). Fails the test if the process
// does not exit by itself in time, dies of a signal, or reports a
// sanitizer error.
void qt_run(qt_run_t *r, double timeout_s, const char *const *args);

// qt_runv: qt_run with a base argument list (mode: e.g. {"--db", path},
// NULL-terminated, may be NULL) followed by args (NULL-terminated).
void qt_runv(qt_run_t *r, double timeout_s, const char *const *mode, const char *const *args);

// qt_run_fini: free what r holds.
void qt_run_fini(qt_run_t *r);

// qt_json_lines: every line of text parsed as a JSON object (fails the
// test on a line that is not one). Caller owns the array.
json_t *qt_json_lines(const char *text);

// qt_csv: text parsed as RFC 4180 CSV (CRLF or LF line ends, quoted
// fields with doubled quotes and embedded line breaks): an array of rows,
// each an array of strings. Fails the test on malformed quoting. Caller
// owns the array.
json_t *qt_csv(const char *text);

// qt_lines: how many lines text has (a last line without '\n' counts).
size_t qt_lines(const char *text);

// qt_has_line: some line of text starts with prefix and contains needle
// (needle may be NULL).
int qt_has_line(const char *text, const char *prefix, const char *needle);

// qt_str: row[key] as a string, or NULL if it is not one.
const char *qt_str(const json_t *row, const char *key);

#endif
