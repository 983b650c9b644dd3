/* fmt.c — rows of values out: aligned table, JSON lines, CSV (see fmt.h).
 *
 * Owns the column names and, for a table, the rendered cells of every row
 * until fmt_end writes them. Borrows the FILE. Never exits, never aborts:
 * a failed write is remembered and reported as IPP_ERR_IO.
 */
#include "tools/fmt.h"

#include "proto/clock.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct fmt_t {
    FILE *out;         // where rows go (borrowed)
    fmt_opts_t opts;   // how
    char **names;      // n column names (owned)
    size_t n;          // how many columns
    size_t *width;     // table: widest cell per column, in characters
    char **cells;      // table: rows_kept * n rendered cells (owned)
    size_t rows_kept;  // table: rows held in cells
    size_t cap_rows;   // table: rows cells has room for
    size_t rows;       // rows given to fmt_row
    bool header_done;  // CSV: header written
    bool io_failed;    // a write failed
};

fmt_opts_t fmt_opts_default(FILE *out, fmt_kind_t kind)
{
    fmt_opts_t o = {0};
    o.kind = kind;
    if (kind == FMT_TABLE && out && isatty(fileno(out)))
        o.max_width = 60;
    return o;
}

const char *fmt_kind_name(fmt_kind_t kind)
{
    switch (kind) {
    case FMT_JSON:
        return "json";
    case FMT_CSV:
        return "csv";
    default:
        return "table";
    }
}

// ---------------------------------------------------------------- text

// A growing string; `failed` set on out-of-memory.
typedef struct {
    char *data;   // NUL-terminated when not NULL
    size_t len;   // bytes used
    size_t cap;   // bytes allocated
    bool failed;  // an allocation failed
} s_buf_t;

static void s_add(s_buf_t *b, const void *p, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (b->len + n + 1 > cap)
            cap *= 2;
        char *d = realloc(b->data, cap);
        if (!d) {
            b->failed = true;
            return;
        }
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void s_adds(s_buf_t *b, const char *s)
{
    s_add(b, s, strlen(s));
}

// s_take: the string built (caller owns it; "" when empty), NULL if an
// allocation failed.
static char *s_take(s_buf_t *b)
{
    if (b->failed) {
        free(b->data);
        return NULL;
    }
    if (!b->data)
        return strdup("");
    return b->data;
}

// s_utf8_len: the length of the valid UTF-8 sequence at p (n bytes left),
// or 0 if it is not one (or is NUL).
static size_t s_utf8_len(const unsigned char *p, size_t n)
{
    unsigned char c = p[0];
    if (c == 0)
        return 0;
    if (c < 0x80)
        return 1;
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else {
        return 0;
    }
    if (n < len || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (p[i] < 0x80 || p[i] > 0xBF)
            return 0;
    return len;
}

json_t *fmt_text(const void *data, size_t size)
{
    if (!data)
        return json_null();
    const unsigned char *p = data;
    s_buf_t b = {0};
    for (size_t i = 0; i < size;) {
        size_t l = s_utf8_len(p + i, size - i);
        if (l) {
            s_add(&b, p + i, l);
            i += l;
        } else {
            s_add(&b, "\xEF\xBF\xBD", 3);
            i++;
        }
    }
    char *s = s_take(&b);
    if (!s)
        return NULL;
    json_t *j = json_string(s);
    free(s);
    return j;
}

bool fmt_utf8_valid(const void *data, size_t size)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < size;) {
        size_t l = s_utf8_len(p + i, size - i);
        if (!l)
            return false;
        i += l;
    }
    return true;
}

json_t *fmt_str(const char *s)
{
    return s ? fmt_text(s, strlen(s)) : json_null();
}

json_t *fmt_time(int64_t us)
{
    if (us <= 0)
        return json_null();
    char buf[48];
    return json_string(ipp_clock_format_iso(us, buf, sizeof buf));
}

json_t *fmt_seconds(double s)
{
    return s < 0 ? json_null() : json_real(s);
}

bool fmt_iso_to_us(const json_t *v, int64_t *us)
{
    *us = 0;
    if (!json_is_string(v))
        return false;
    if (ipp_clock_parse_iso(json_string_value(v), us) != 0) {
        *us = 0;
        return false;
    }
    return true;
}

// s_chars: how many characters (UTF-8 code points) s holds.
static size_t s_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            n++;
    return n;
}

// s_escape: s with control characters escaped for one table line
// (keep_newlines: \n stays, for the vertical layout).
static void s_escape(s_buf_t *b, const char *s, bool keep_newlines)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '\n' && keep_newlines)
            s_add(b, s, 1);
        else if (c == '\n')
            s_adds(b, "\\n");
        else if (c == '\t')
            s_adds(b, "\\t");
        else if (c == '\r')
            s_adds(b, "\\r");
        else if (c < 0x20 || c == 0x7F) {
            char x[8];
            snprintf(x, sizeof x, "\\x%02X", c);
            s_adds(b, x);
        } else {
            s_add(b, s, 1);
        }
    }
}

// s_render: v as the text of one cell (caller owns it; NULL on
// out-of-memory). For a table, strings are escaped (keeping newlines when
// vertical) and null is "-"; for CSV null is empty.
static char *s_render(const fmt_t *f, const json_t *v)
{
    bool table = f->opts.kind == FMT_TABLE;
    s_buf_t b = {0};
    char num[64];
    if (!v || json_is_null(v)) {
        s_adds(&b, table ? "-" : "");
    } else if (json_is_string(v)) {
        if (table)
            s_escape(&b, json_string_value(v), f->opts.vertical);
        else
            s_adds(&b, json_string_value(v));
    } else if (json_is_integer(v)) {
        snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        s_adds(&b, num);
    } else if (json_is_real(v)) {
        snprintf(num, sizeof num, table ? "%.3f" : "%.6f", json_real_value(v));
        s_adds(&b, num);
    } else if (json_is_boolean(v)) {
        s_adds(&b, json_is_true(v) ? "true" : "false");
    } else {
        char *d = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (!d)
            return NULL;
        if (table)
            s_escape(&b, d, false);
        else
            s_adds(&b, d);
        free(d);
    }
    char *s = s_take(&b);
    if (s && table && !f->opts.vertical && f->opts.max_width > 1 &&
        s_chars(s) > f->opts.max_width) {
        // Cut after max_width - 1 characters and mark the cut.
        size_t keep = f->opts.max_width - 1, i = 0, chars = 0;
        for (; s[i]; i++) {
            if (((unsigned char)s[i] & 0xC0) != 0x80) {
                if (chars == keep)
                    break;
                chars++;
            }
        }
        char *t = malloc(i + 4);
        if (t) {
            memcpy(t, s, i);
            memcpy(t + i, "\xE2\x80\xA6", 4);  // "…" and the NUL
        }
        free(s);
        s = t;
    }
    return s;
}

// ---------------------------------------------------------------- writing

static void s_write(fmt_t *f, const char *s, size_t n)
{
    if (n && fwrite(s, 1, n, f->out) != n)
        f->io_failed = true;
}

static void s_puts(fmt_t *f, const char *s)
{
    s_write(f, s, strlen(s));
}

static void s_pad(fmt_t *f, size_t n)
{
    static const char spaces[] = "                                ";
    while (n) {
        size_t k = n < sizeof spaces - 1 ? n : sizeof spaces - 1;
        s_write(f, spaces, k);
        n -= k;
    }
}

// s_csv_field: one RFC 4180 field.
static void s_csv_field(fmt_t *f, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        s_puts(f, s);
        return;
    }
    s_puts(f, "\"");
    for (const char *p = s; *p; p++) {
        if (*p == '"')
            s_puts(f, "\"\"");
        else
            s_write(f, p, 1);
    }
    s_puts(f, "\"");
}

static void s_csv_line(fmt_t *f, char *const *fields)
{
    for (size_t i = 0; i < f->n; i++) {
        if (i)
            s_puts(f, ",");
        s_csv_field(f, fields[i]);
    }
    s_puts(f, "\r\n");
}

fmt_t *fmt_new(FILE *out, const fmt_opts_t *opts, const char *const *names, size_t n,
               ipp_error_t *err)
{
    if (!out || !names || !n) {
        ipp_error_set(err, IPP_ERR_INVALID, "fmt: no output or no columns");
        return NULL;
    }
    fmt_t *f = calloc(1, sizeof *f);
    if (!f)
        goto nomem;
    f->out = out;
    if (opts)
        f->opts = *opts;
    f->n = n;
    f->names = calloc(n, sizeof *f->names);
    f->width = calloc(n, sizeof *f->width);
    if (!f->names || !f->width)
        goto nomem;
    for (size_t i = 0; i < n; i++) {
        if (!(f->names[i] = strdup(names[i] ? names[i] : "")))
            goto nomem;
        f->width[i] = f->opts.no_header ? 0 : s_chars(f->names[i]);
    }
    return f;
nomem:
    fmt_destroy(&f);
    ipp_error_set(err, IPP_ERR_NOMEM, "fmt: out of memory");
    return NULL;
}

void fmt_destroy(fmt_t **f_p)
{
    if (!f_p || !*f_p)
        return;
    fmt_t *f = *f_p;
    for (size_t i = 0; f->names && i < f->n; i++)
        free(f->names[i]);
    for (size_t i = 0; f->cells && i < f->rows_kept * f->n; i++)
        free(f->cells[i]);
    free(f->names);
    free(f->width);
    free(f->cells);
    free(f);
    *f_p = NULL;
}

size_t fmt_rows(const fmt_t *f)
{
    return f ? f->rows : 0;
}

static ipp_err_t s_io(fmt_t *f, ipp_error_t *err)
{
    if (f->io_failed || ferror(f->out))
        return ipp_error_set(err, IPP_ERR_IO, "cannot write the output");
    return IPP_OK;
}

static ipp_err_t s_row_json(fmt_t *f, const json_t *row, ipp_error_t *err)
{
    json_t *o = json_object();
    if (!o)
        return ipp_error_set(err, IPP_ERR_NOMEM, "fmt: out of memory");
    for (size_t i = 0; i < f->n; i++) {
        json_t *v = json_object_get(row, f->names[i]);
        if (json_object_set_new(o, f->names[i], v ? json_incref(v) : json_null()) != 0) {
            json_decref(o);
            return ipp_error_set(err, IPP_ERR_NOMEM, "fmt: out of memory");
        }
    }
    // 12 significant digits: durations read 0.021272, not 0.021271999999999999.
    char *line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12));
    json_decref(o);
    if (!line)
        return ipp_error_set(err, IPP_ERR_NOMEM, "fmt: out of memory");
    s_puts(f, line);
    s_puts(f, "\n");
    free(line);
    return s_io(f, err);
}

// s_row_cells: the row's cells rendered into cells[0..n) (caller frees).
static ipp_err_t s_row_cells(fmt_t *f, const json_t *row, char **cells, ipp_error_t *err)
{
    for (size_t i = 0; i < f->n; i++) {
        cells[i] = s_render(f, json_object_get(row, f->names[i]));
        if (!cells[i]) {
            for (size_t k = 0; k < i; k++)
                free(cells[k]);
            return ipp_error_set(err, IPP_ERR_NOMEM, "fmt: out of memory");
        }
    }
    return IPP_OK;
}

static ipp_err_t s_row_csv(fmt_t *f, const json_t *row, ipp_error_t *err)
{
    if (!f->header_done && !f->opts.no_header)
        s_csv_line(f, f->names);
    f->header_done = true;
    char **cells = calloc(f->n, sizeof *cells);
    if (!cells)
        return ipp_error_set(err, IPP_ERR_NOMEM, "fmt: out of memory");
    ipp_err_t rc = s_row_cells(f, row, cells, err);
    if (rc == IPP_OK) {
        s_csv_line(f, cells);
        for (size_t i = 0; i < f->n; i++)
            free(cells[i]);
        rc = s_io(f, err);
    }
    free(cells);
    return rc;
}

static ipp_err_t s_row_table(fmt_t *f, const json_t *row, ipp_error_t *err)
{
    if (f->rows_kept == f->cap_rows) {
        size_t cap = f->cap_rows ? f->cap_rows * 2 : 32;
        char **grown = realloc(f->cells, cap * f->n * sizeof *grown);
        if (!grown)
            return ipp_error_set(err, IPP_ERR_NOMEM, "fmt: out of memory");
        f->cells = grown;
        f->cap_rows = cap;
    }
    char **cells = f->cells + f->rows_kept * f->n;
    ipp_err_t rc = s_row_cells(f, row, cells, err);
    if (rc != IPP_OK)
        return rc;
    f->rows_kept++;
    for (size_t i = 0; i < f->n; i++) {
        size_t w = s_chars(cells[i]);
        if (w > f->width[i])
            f->width[i] = w;
    }
    return IPP_OK;
}

ipp_err_t fmt_row(fmt_t *f, const json_t *row, ipp_error_t *err)
{
    if (!f || !json_is_object(row))
        return ipp_error_set(err, IPP_ERR_INVALID, "fmt: a row must be a JSON object");
    ipp_err_t rc;
    switch (f->opts.kind) {
    case FMT_JSON:
        rc = s_row_json(f, row, err);
        break;
    case FMT_CSV:
        rc = s_row_csv(f, row, err);
        break;
    default:
        rc = s_row_table(f, row, err);
        break;
    }
    if (rc == IPP_OK)
        f->rows++;
    return rc;
}

// s_table_line: one line of cells, padded to the column widths, with no
// spaces at its end (empty last cells leave none behind).
static void s_table_line(fmt_t *f, char *const *cells)
{
    s_buf_t b = {0};
    for (size_t i = 0; i < f->n; i++) {
        if (i)
            s_adds(&b, "  ");
        s_adds(&b, cells[i]);
        for (size_t k = s_chars(cells[i]); i + 1 < f->n && k < f->width[i]; k++)
            s_add(&b, " ", 1);
    }
    if (b.failed) {
        free(b.data);
        f->io_failed = true;  // reported by fmt_end as a failed write
        return;
    }
    size_t len = b.len;
    while (len && b.data[len - 1] == ' ')
        len--;
    s_write(f, b.data ? b.data : "", len);
    s_puts(f, "\n");
    free(b.data);
}

static void s_table_vertical(fmt_t *f)
{
    size_t nw = 0;
    for (size_t i = 0; i < f->n; i++) {
        size_t w = s_chars(f->names[i]);
        if (w > nw)
            nw = w;
    }
    for (size_t r = 0; r < f->rows_kept; r++) {
        if (r)
            s_puts(f, "\n");
        for (size_t i = 0; i < f->n; i++) {
            s_puts(f, f->names[i]);
            // Continuation lines of a multi-line value line up under its first.
            const char *v = f->cells[r * f->n + i];
            if (!*v) {
                s_puts(f, "\n");
                continue;
            }
            s_pad(f, nw - s_chars(f->names[i]) + 2);
            for (;;) {
                const char *nl = strchr(v, '\n');
                if (!nl) {
                    s_puts(f, v);
                    s_puts(f, "\n");
                    break;
                }
                s_write(f, v, (size_t)(nl - v) + 1);
                v = nl + 1;
                if (!*v)
                    break;
                s_pad(f, nw + 2);
            }
        }
    }
}

ipp_err_t fmt_end(fmt_t *f, ipp_error_t *err)
{
    if (!f)
        return ipp_error_set(err, IPP_ERR_INVALID, "fmt: no formatter");
    if (f->opts.kind == FMT_CSV && !f->header_done && !f->opts.no_header) {
        s_csv_line(f, f->names);
        f->header_done = true;
    }
    if (f->opts.kind == FMT_TABLE) {
        if (f->opts.vertical) {
            s_table_vertical(f);
        } else {
            if (!f->opts.no_header)
                s_table_line(f, f->names);
            for (size_t r = 0; r < f->rows_kept; r++)
                s_table_line(f, f->cells + r * f->n);
        }
        for (size_t i = 0; i < f->rows_kept * f->n; i++) {
            free(f->cells[i]);
            f->cells[i] = NULL;
        }
        f->rows_kept = 0;
    }
    if (fflush(f->out) != 0)
        f->io_failed = true;
    return s_io(f, err);
}
