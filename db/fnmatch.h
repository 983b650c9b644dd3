/* db/fnmatch.h — shell-style pattern matching exactly like Python's
 * fnmatch.fnmatchcase, for the `$glob` query operator.
 *
 * `*` matches any run of characters (newlines included), `?` one
 * character, `[abc]`/`[a-z]` one of a set, `[!abc]` one not in it; a `]`
 * right after `[` or `[!` is literal; a `[` with no closing `]` is a
 * literal `[`; there is no backslash escape (`[*]`, `[?]`, `[[]` are the
 * escapes). Characters are Unicode code points decoded from UTF-8; a byte
 * that is not UTF-8 counts as one character of its own. Case-sensitive.
 * SQLite's GLOB differs (`[^…]` negates, unmatched `[` never matches), so
 * queries use ipp_fnmatch(pattern, text) registered here instead.
 */
#ifndef IPP_DB_FNMATCH_H
#define IPP_DB_FNMATCH_H

#include "ipp/error.h"

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>

// db_fnmatch: true if text[0..tn) matches pattern[0..pn).
bool db_fnmatch(const char *pattern, size_t pn, const char *text, size_t tn);

// db_fnmatch_prefix: the length of pattern's literal prefix — the bytes
// every match must start with (up to the first `*`, `?` or set). Used to
// narrow an indexed range before matching.
size_t db_fnmatch_prefix(const char *pattern, size_t pn);

// db_fnmatch_register: add ipp_fnmatch(pattern, text) to connection db.
// NULL text or pattern gives NULL (no match).
ipp_err_t db_fnmatch_register(sqlite3 *db, ipp_error_t *err);

#endif
