/* fuzz_query.c — libFuzzer target for the db_query compiler.
 *
 * Input layout: the query as JSON text (what a client sends on the wire),
 * then optionally a NUL byte and a keys projection as JSON text (bad JSON
 * there means no projection). Whatever comes in, compiling must return a
 * query or an error, without a crash, a leak or undefined behaviour. A
 * compiled query must also be sound SQL: its WHERE clause is made only of
 * the compiler's own words, known column names and `?` parameters (never
 * user text), it prepares against the real schema with as many parameters
 * as it binds, and it runs to the end through the reader's cursor over a
 * few stored records, each of which turns into JSON.
 */
#include "db/query.h"
#include "db/reader.h"
#include "db/record.h"

#include <jansson.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

// A few records of every kind of value, so that conditions are evaluated
// (ipp_fnmatch, json_each, comparisons) rather than skipped.
static const char s_rows_sql[] =
    "INSERT INTO tasks (msg_id, status, engine_id, submitted, started, completed, label, queue,"
    " attempts, retries, timeout, \"after\", follow, targets, requires, error, stdout, header,"
    " buffers) VALUES"
    " ('0190a1b2-0000-7000-8000-000000000001', 'pending', NULL, 1700000000000000, NULL, NULL,"
    "  'wf/a', 'task', 0, 2, NULL, NULL, NULL, '[]', '[\"fn:f\"]', NULL, NULL, x'7b7d',"
    "  x'0300000000000000616263'),"
    " ('0190a1b2-0000-7000-8000-000000000002', 'ok', 0, 1700000000000001, 1700000000000002,"
    "  1700000000000003, 'wf/b*[x]', 'task', 1, 0, 5000000,"
    "  '{\"ids\":[\"0190a1b2-0000-7000-8000-000000000001\"],\"all\":true,\"success\":true,"
    "\"failure\":false}', NULL, '[0,1]', '[]', NULL, 'out', NULL, NULL),"
    " ('0190a1b2-0000-7000-8000-000000000003', 'error', 1, 1700000000000004, 1700000000000005,"
    "  1700000000000006, 'é☃', 'mux', 3, 0, NULL, NULL,"
    "  '{\"ids\":[],\"all\":false,\"success\":true,\"failure\":true}', NULL, NULL,"
    "  '{\"ename\":\"E\",\"evalue\":\"v\",\"traceback\":[\"t\"],\"engine_id\":1}',"
    "  x'ff00fe', NULL, NULL),"
    " ('0190a1b2-0000-7000-8000-000000000004', 'lost', NULL, NULL, NULL, NULL, NULL, NULL, 0,"
    "  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);";

static db_reader_t *s_reader;

// s_setup: the in-memory store every input runs against (kept for the
// process: libFuzzer calls the target millions of times).
static db_reader_t *s_setup(void)
{
    if (s_reader)
        return s_reader;
    ipp_error_t err;
    s_reader = db_reader_new(":memory:", DB_OPEN_READWRITE, NULL, &err);
    if (!s_reader) {
        fprintf(stderr, "fuzz_query: cannot open the store: %s\n", err.msg);
        abort();
    }
    char *msg = NULL;
    if (sqlite3_exec(db_reader_sqlite(s_reader), s_rows_sql, NULL, NULL, &msg) != SQLITE_OK) {
        fprintf(stderr, "fuzz_query: cannot add records: %s\n", msg);
        abort();
    }
    return s_reader;
}

static void s_fail(const char *what, const char *where, const char *detail)
{
    fprintf(stderr, "fuzz_query: %s\n  WHERE %s\n  %s\n", what, where, detail ? detail : "");
    abort();
}

// s_word_ok: the words the compiler may write.
static int s_word_ok(const char *w, size_t n)
{
    static const char *const words[] = {"AND",         "OR",     "IS",    "NOT",  "NULL",
                                        "IN",          "SELECT", "value", "FROM", "json_each",
                                        "ipp_fnmatch", "0",      "1",     NULL};
    for (size_t i = 0; words[i]; i++)
        if (strlen(words[i]) == n && memcmp(words[i], w, n) == 0)
            return 1;
    return 0;
}

static int s_is_word_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

// s_check_where: the clause holds only the compiler's words, quoted key
// names, 'ok', operators and parameters.
static void s_check_where(const char *where)
{
    const char *p = where;
    while (*p) {
        if (*p == '"') {
            const char *end = strchr(p + 1, '"');
            if (!end)
                s_fail("unterminated identifier", where, p);
            char name[64];
            size_t n = (size_t)(end - p - 1);
            if (n >= sizeof name)
                s_fail("identifier too long", where, p);
            memcpy(name, p + 1, n);
            name[n] = '\0';
            if (db_key_lookup(name) < 0)
                s_fail("identifier that is not a key", where, name);
            p = end + 1;
        } else if (*p == '\'') {
            if (strncmp(p, "'ok'", 4) != 0)
                s_fail("a string literal other than 'ok'", where, p);
            p += 4;
        } else if (s_is_word_char(*p)) {
            const char *s = p;
            while (s_is_word_char(*p))
                p++;
            if (!s_word_ok(s, (size_t)(p - s)))
                s_fail("a word the compiler does not write", where, s);
        } else if (strchr(" ()?<>=,", *p)) {
            p++;
        } else {
            s_fail("a character the compiler does not write", where, p);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    db_reader_t *r = s_setup();
    // The query text stops at the first NUL, as it does on the wire.
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    size_t qlen = strlen(text);
    json_t *keys = NULL;
    if (qlen < size)
        keys = json_loadb(text + qlen + 1, size - qlen - 1, JSON_DECODE_ANY, NULL);

    ipp_error_t err;
    db_query_t *q = db_query_compile_text(text, keys, &err);
    if (!q) {
        if (err.code != IPP_ERR_QUERY || !err.msg[0])
            s_fail("refused without a query error", text, err.msg);
        goto out;
    }
    const char *where = db_query_where(q);
    s_check_where(where);
    uint64_t mask = db_query_keys(q);
    if (!(mask & DB_KEYBIT(DB_KEY_MSG_ID)) || (mask & ~DB_KEYS_ALL))
        s_fail("a projection without msg_id or with unknown keys", where, text);

    sqlite3 *db = db_reader_sqlite(r);
    size_t sql_len = strlen(where) + 64;
    char *sql = malloc(sql_len);
    if (!sql)
        goto out;
    snprintf(sql, sql_len, "SELECT count(*) FROM tasks WHERE %s", where);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        s_fail("does not prepare", where, sqlite3_errmsg(db));
    free(sql);
    if (sqlite3_bind_parameter_count(st) != db_query_nparams(q))
        s_fail("parameters and bound values differ in number", where, text);
    if (db_query_bind(q, st, 1) != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW)
        s_fail("does not run", where, sqlite3_errmsg(db));
    int64_t count = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);

    // The same query through the reader, as the controller runs it.
    db_cursor_t *c = db_reader_find_text(r, text, keys, 16, &err);
    if (!c)
        s_fail("compiles but the reader refuses it", where, err.msg);
    int64_t seen = 0;
    for (;;) {
        db_record_t *rec = NULL;
        if (db_cursor_next(c, &rec, &err) != IPP_OK)
            s_fail("the cursor fails", where, err.msg);
        if (!rec)
            break;
        seen++;
        if ((rec->keys | DB_KEYBIT(DB_KEY_MSG_ID)) != mask)
            s_fail("a record with other keys than asked", where, text);
        json_t *j = db_record_to_json(rec, DB_JSON_ISO_TIME);
        if (!j)
            s_fail("a record that does not turn into JSON", where, rec->msg_id);
        json_decref(j);
        db_record_destroy(&rec);
    }
    db_cursor_destroy(&c);
    if (seen != count)
        s_fail("the reader and count(*) disagree", where, text);
out:
    db_query_destroy(&q);
    json_decref(keys);
    free(text);
    return 0;
}
