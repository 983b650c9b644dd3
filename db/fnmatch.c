/* db/fnmatch.c — Python fnmatch semantics over UTF-8, and the SQL function
 * ipp_fnmatch() that queries call for `$glob`.
 *
 * Stateless; allocates nothing. The matcher walks pattern and text once,
 * backtracking only to the last `*`, so it is linear in practice and
 * O(pattern × text) at worst — never exponential.
 */
#include "db/fnmatch.h"

#include "db/utf8.h"

#include <stdint.h>

// A byte that does not start well-formed UTF-8 decodes to this plus the
// byte, outside the Unicode range, so it only ever equals itself.
#define S_RAW_BYTE 0x110000u

// s_decode: the character at s[*i] (n bytes in all); advances *i.
static uint32_t s_decode(const unsigned char *s, size_t n, size_t *i)
{
    uint32_t cp;
    size_t len = db_utf8_decode(s + *i, n - *i, &cp);
    if (len) {
        *i += len;
        return cp;
    }
    return S_RAW_BYTE + s[(*i)++];
}

typedef enum { S_TOK_LIT, S_TOK_ANY, S_TOK_STAR, S_TOK_SET } s_tok_kind_t;

// One pattern element.
typedef struct {
    s_tok_kind_t kind;  // what it is
    uint32_t ch;        // S_TOK_LIT: the character
    size_t set_begin;   // S_TOK_SET: first byte of the set's items (after `[` and `!`)
    size_t set_end;     // S_TOK_SET: the closing `]`
    bool negate;        // S_TOK_SET: `[!…]`
    size_t next;        // byte offset just after this element
} s_tok_t;

// s_token: parse the element at pattern offset i, as Python's
// fnmatch.translate splits a pattern.
static s_tok_t s_token(const unsigned char *p, size_t n, size_t i)
{
    s_tok_t t = {0};
    if (p[i] == '*') {
        t.kind = S_TOK_STAR;
        t.next = i + 1;
        return t;
    }
    if (p[i] == '?') {
        t.kind = S_TOK_ANY;
        t.next = i + 1;
        return t;
    }
    if (p[i] == '[') {
        size_t j = i + 1;
        if (j < n && p[j] == '!')
            j++;
        if (j < n && p[j] == ']')
            j++;
        while (j < n && p[j] != ']')
            j++;
        if (j < n) {
            t.kind = S_TOK_SET;
            t.set_begin = i + 1;
            if (p[t.set_begin] == '!') {
                t.negate = true;
                t.set_begin++;
            }
            t.set_end = j;
            t.next = j + 1;
            return t;
        }
        // No closing bracket: a literal '['.
    }
    t.kind = S_TOK_LIT;
    size_t k = i;
    t.ch = s_decode(p, n, &k);
    t.next = k;
    return t;
}

// s_set_has: true if c is among the set's items p[b..e) (before negation).
static bool s_set_has(const unsigned char *p, size_t b, size_t e, uint32_t c)
{
    size_t i = b;
    while (i < e) {
        uint32_t lo = s_decode(p, e, &i);
        if (i < e && p[i] == '-' && i + 1 < e) {
            size_t k = i + 1;
            uint32_t hi = s_decode(p, e, &k);
            i = k;
            if (lo <= c && c <= hi)
                return true;  // lo > hi is an empty range, as in Python
        } else if (lo == c) {
            return true;
        }
    }
    return false;
}

bool db_fnmatch(const char *pattern, size_t pn, const char *text, size_t tn)
{
    const unsigned char *p = (const unsigned char *)pattern;
    const unsigned char *t = (const unsigned char *)text;
    size_t pi = 0, ti = 0;
    bool have_star = false;
    size_t star_pi = 0, star_ti = 0;  // pattern after the last '*', and where it resumes in text
    while (ti < tn) {
        if (pi < pn) {
            s_tok_t tok = s_token(p, pn, pi);
            if (tok.kind == S_TOK_STAR) {
                have_star = true;
                star_pi = tok.next;
                star_ti = ti;
                pi = tok.next;
                continue;
            }
            size_t nti = ti;
            uint32_t c = s_decode(t, tn, &nti);
            bool ok = tok.kind == S_TOK_ANY || (tok.kind == S_TOK_LIT && tok.ch == c) ||
                      (tok.kind == S_TOK_SET &&
                       s_set_has(p, tok.set_begin, tok.set_end, c) != tok.negate);
            if (ok) {
                pi = tok.next;
                ti = nti;
                continue;
            }
        }
        if (!have_star)
            return false;
        // Let the last '*' swallow one more character and retry.
        s_decode(t, tn, &star_ti);
        ti = star_ti;
        pi = star_pi;
    }
    while (pi < pn && p[pi] == '*')
        pi++;
    return pi == pn;
}

size_t db_fnmatch_prefix(const char *pattern, size_t pn)
{
    const unsigned char *p = (const unsigned char *)pattern;
    size_t i = 0;
    while (i < pn) {
        s_tok_t tok = s_token(p, pn, i);
        if (tok.kind != S_TOK_LIT)
            break;
        i = tok.next;
    }
    return i;
}

static void s_sql_fnmatch(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    if (sqlite3_value_type(argv[0]) == SQLITE_NULL || sqlite3_value_type(argv[1]) == SQLITE_NULL) {
        sqlite3_result_null(ctx);
        return;
    }
    const char *pat = (const char *)sqlite3_value_text(argv[0]);
    size_t pn = (size_t)sqlite3_value_bytes(argv[0]);
    const char *txt = (const char *)sqlite3_value_text(argv[1]);
    size_t tn = (size_t)sqlite3_value_bytes(argv[1]);
    if (!pat || !txt) {
        sqlite3_result_error_nomem(ctx);
        return;
    }
    sqlite3_result_int(ctx, db_fnmatch(pat, pn, txt, tn));
}

ipp_err_t db_fnmatch_register(sqlite3 *db, ipp_error_t *err)
{
    int rc = sqlite3_create_function_v2(db, "ipp_fnmatch", 2,
                                        SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS, NULL,
                                        s_sql_fnmatch, NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return ipp_error_set(err, IPP_ERR_DB, "registering ipp_fnmatch: %s", sqlite3_errstr(rc));
    return IPP_OK;
}
