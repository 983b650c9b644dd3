/* test_query_util.c — run ipp-query as a child process and parse its
 * output (see test_query_util.h). Owns the temporary capture files of a
 * run only while it runs; the captured text belongs to the qt_run_t.
 */
#include "test_query_util.h"

#include "proto/clock.h"

#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

// s_slurp: the whole content of fd from its start (caller frees).
static char *s_slurp(int fd)
{
    struct stat sb;
    ck_assert_int_eq(fstat(fd, &sb), 0);
    size_t n = (size_t)sb.st_size;
    char *s = malloc(n + 1);
    ck_assert_ptr_nonnull(s);
    size_t got = 0;
    while (got < n) {
        ssize_t k = pread(fd, s + got, n - got, (off_t)got);
        ck_assert_int_gt(k, 0);
        got += (size_t)k;
    }
    s[n] = '\0';
    return s;
}

static int s_tmpfile(void)
{
    char path[] = "/tmp/ipp-qt-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    unlink(path);
    return fd;
}

void qt_run(qt_run_t *r, double timeout_s, const char *const *args)
{
    memset(r, 0, sizeof *r);
    const char *argv[64];
    int n = 0;
    argv[n++] = IPP_QUERY_BIN;
    for (int i = 0; args && args[i]; i++) {
        ck_assert_int_lt(n, 63);
        argv[n++] = args[i];
    }
    argv[n] = NULL;
    int fo = s_tmpfile(), fe = s_tmpfile();
    int64_t t0 = ipp_clock_mono_us();
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0)
            dup2(devnull, 0);
        dup2(fo, 1);
        dup2(fe, 2);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    int st = 0;
    pid_t w;
    int64_t until = t0 + (int64_t)(timeout_s * 1e6);
    while ((w = waitpid(pid, &st, WNOHANG)) == 0 && ipp_clock_mono_us() < until)
        usleep(5000);
    if (w == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
    }
    r->secs = (double)(ipp_clock_mono_us() - t0) / 1e6;
    r->out = s_slurp(fo);
    r->err = s_slurp(fe);
    close(fo);
    close(fe);
    char what[512] = "";
    for (int i = 1; i < n && strlen(what) < 400; i++) {
        strcat(what, " ");
        strncat(what, argv[i], 60);
    }
    ck_assert_msg(w != 0, "ipp-query%s: still running after %.1f s", what, timeout_s);
    ck_assert_msg(WIFEXITED(st), "ipp-query%s: killed by signal %d; stderr:\n%s", what,
                  WIFSIGNALED(st) ? WTERMSIG(st) : -1, r->err);
    ck_assert_msg(!strstr(r->err, "Sanitizer") && !strstr(r->err, "runtime error:"),
                  "ipp-query%s: sanitizer report:\n%s", what, r->err);
    r->status = WEXITSTATUS(st);
    if (r->secs > 3.0)  // worth knowing when a suite gets slow
        fprintf(stderr, "note: ipp-query%s took %.1f s\n", what, r->secs);
    ck_assert_msg(r->status != 127, "ipp-query%s: could not be executed", what);
}

void qt_runv(qt_run_t *r, double timeout_s, const char *const *mode, const char *const *args)
{
    const char *all[64];
    int n = 0;
    for (int i = 0; mode && mode[i]; i++)
        all[n++] = mode[i];
    for (int i = 0; args && args[i]; i++) {
        ck_assert_int_lt(n, 62);
        all[n++] = args[i];
    }
    all[n] = NULL;
    qt_run(r, timeout_s, all);
}

void qt_run_fini(qt_run_t *r)
{
    free(r->out);
    free(r->err);
    memset(r, 0, sizeof *r);
}

json_t *qt_json_lines(const char *text)
{
    json_t *a = json_array();
    const char *p = text;
    int line = 0;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        line++;
        json_error_t e;
        json_t *o = json_loadb(p, len, 0, &e);
        ck_assert_msg(o != NULL, "JSON line %d does not parse (%s): %.*s", line, e.text, (int)len,
                      p);
        ck_assert_msg(json_is_object(o), "JSON line %d is not an object", line);
        json_array_append_new(a, o);
        p = nl ? nl + 1 : p + len;
    }
    return a;
}

json_t *qt_csv(const char *text)
{
    json_t *rows = json_array();
    json_t *row = NULL;
    size_t cap = 256, len = 0;
    char *field = malloc(cap);
    ck_assert_ptr_nonnull(field);
    const char *p = text;
    while (*p) {
        if (!row)
            row = json_array();
        len = 0;
        if (*p == '"') {
            p++;
            for (;;) {
                ck_assert_msg(*p, "CSV: unterminated quoted field");
                if (*p == '"' && p[1] == '"') {
                    p += 2;
                    field[len++] = '"';
                } else if (*p == '"') {
                    p++;
                    break;
                } else {
                    field[len++] = *p++;
                }
                if (len + 2 >= cap)
                    ck_assert_ptr_nonnull(field = realloc(field, cap *= 2));
            }
            ck_assert_msg(*p == ',' || *p == '\r' || *p == '\n' || !*p,
                          "CSV: text after a closing quote");
        } else {
            while (*p && *p != ',' && *p != '\r' && *p != '\n') {
                ck_assert_msg(*p != '"', "CSV: a quote inside an unquoted field");
                field[len++] = *p++;
                if (len + 2 >= cap)
                    ck_assert_ptr_nonnull(field = realloc(field, cap *= 2));
            }
        }
        json_array_append_new(row, json_stringn(field, len));
        if (*p == ',') {
            p++;
            continue;
        }
        if (*p == '\r')
            p++;
        if (*p == '\n')
            p++;
        json_array_append_new(rows, row);
        row = NULL;
    }
    if (row)
        json_array_append_new(rows, row);
    free(field);
    return rows;
}

size_t qt_lines(const char *text)
{
    size_t n = 0;
    for (const char *p = text; *p; p++)
        if (*p == '\n')
            n++;
    if (*text && text[strlen(text) - 1] != '\n')
        n++;
    return n;
}

int qt_has_line(const char *text, const char *prefix, const char *needle)
{
    size_t pl = strlen(prefix);
    for (const char *p = text; p && *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (len >= pl && strncmp(p, prefix, pl) == 0) {
            if (!needle)
                return 1;
            char *line = strndup(p, len);
            int hit = strstr(line, needle) != NULL;
            free(line);
            if (hit)
                return 1;
        }
        p = nl ? nl + 1 : NULL;
    }
    return 0;
}

const char *qt_str(const json_t *row, const char *key)
{
    return json_string_value(json_object_get(row, key));
}
