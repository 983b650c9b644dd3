/* slurm.c — Slurm batch scripts for `ipp cluster --engines slurm`: a
 * template (the site's, or the default) with IPython Parallel's variable
 * names filled, and the #SBATCH lines of the options it lacks inserted.
 * Checked before anything is submitted (a bad variable or brace names the
 * file and line). Part of the launchers (launch.h).
 */
#include "tools/ipp/launch.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// ------------------------------------------------------------ slurm templates

static const char s_default_template[] = "#!/bin/sh\n"
                                         "#SBATCH --job-name=ipp-engines-{cluster_id}\n"
                                         "#SBATCH --ntasks={n}\n"
                                         "#SBATCH --output={output_file}\n"
                                         "srun {program_and_args}\n";

// s_fill: text with its {variables} replaced (vars NULL: only checked),
// as a malloc'd string (caller frees); NULL after a message naming what.
static char *s_fill(const char *text, const char *what, const lx_vars_t *vars)
{
    const char *names[] = {"n",          "queue",       "profile_dir",
                           "cluster_id", "output_file", "program_and_args"};
    const char *vals[6] = {0};
    if (vars) {
        const char *v[6] = {vars->n,          vars->queue,       vars->profile_dir,
                            vars->cluster_id, vars->output_file, vars->program_and_args};
        memcpy(vals, v, sizeof vals);
    }
    size_t cap = strlen(text) + 1, len = 0;
    for (size_t i = 0; i < 6; i++)
        cap += vals[i] ? strlen(vals[i]) * 4 : 0;
    char *out = malloc(cap);
    if (!out) {
        cli_error("out of memory");
        return NULL;
    }
    bool used_program = false;
    int line = 1;
    for (const char *p = text; *p; p++) {
        if (*p == '\n')
            line++;
        if ((p[0] == '{' && p[1] == '{') || (p[0] == '}' && p[1] == '}')) {
            out[len++] = *p++;
            continue;
        }
        if (*p == '}') {
            cli_error("%s, line %d: a lone '}' (write }} for a literal one)", what, line);
            free(out);
            return NULL;
        }
        if (*p != '{') {
            out[len++] = *p;
            continue;
        }
        const char *end = strchr(p + 1, '}');
        const char *nl = strchr(p + 1, '\n');
        if (!end || (nl && nl < end)) {
            cli_error("%s, line %d: '{' is not closed (write {{ for a literal one)", what, line);
            free(out);
            return NULL;
        }
        size_t nlen = (size_t)(end - p - 1);
        size_t k = 6;
        for (size_t i = 0; i < 6; i++)
            if (strlen(names[i]) == nlen && strncmp(names[i], p + 1, nlen) == 0)
                k = i;
        if (k == 6) {
            cli_error("%s, line %d: unknown variable {%.*s} (known: {n}, {queue}, "
                      "{profile_dir}, {cluster_id}, {output_file}, {program_and_args}; "
                      "{{ and }} for literal braces)",
                      what, line, (int)nlen, p + 1);
            free(out);
            return NULL;
        }
        used_program |= k == 5;
        const char *v = vals[k] ? vals[k] : "";
        size_t vl = strlen(v);
        memcpy(out + len, v, vl);
        len += vl;
        p = end;
    }
    out[len] = '\0';
    if (!used_program) {
        cli_error("%s never uses {program_and_args}: its job would start no engine", what);
        free(out);
        return NULL;
    }
    return out;
}

// s_read_file: all of path, malloc'd; NULL after a message.
static char *s_read_file(const char *path, const char *what)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        cli_error("%s %s: %s", what, path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (len + n + 1 > cap || !buf) {
            cap = (len + n + 1) * 2;
            char *nb = realloc(buf, cap);
            if (!nb || cap > (1 << 20)) {
                free(nb ? nb : buf);
                fclose(f);
                cli_error("%s %s: too big", what, path);
                return NULL;
            }
            buf = nb;
        }
        memcpy(buf + len, chunk, n);
        len += n;
    }
    fclose(f);
    if (!buf)
        buf = calloc(1, 1);
    else
        buf[len] = '\0';
    return buf;
}

// s_has_sbatch: the template sets option long_name (or -short) already.
static bool s_has_sbatch(const char *tpl, const char *long_name, const char *short_name)
{
    for (const char *p = tpl; p && *p;) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        if (len > 8 && strncmp(p, "#SBATCH", 7) == 0) {
            const char *q = p + 7;
            while (q < p + len && isspace((unsigned char)*q))
                q++;
            size_t ll = strlen(long_name);
            if (strncmp(q, long_name, ll) == 0 && (q[ll] == '=' || isspace((unsigned char)q[ll])))
                return true;
            if (short_name && strncmp(q, short_name, strlen(short_name)) == 0 &&
                (q[2] == ' ' || q[2] == '\t' || isalnum((unsigned char)q[2])))
                return true;
        }
        p = eol ? eol + 1 : NULL;
    }
    return false;
}

// lx_slurm_script (launch.h): the batch script for vars: the template (or the default)
// filled, with the #SBATCH lines of the options it lacks inserted after
// its first line when that is "#!...", else at the top. malloc'd; NULL
// after a message.
char *lx_slurm_script(const lx_opts_t *o, const lx_vars_t *vars)
{
    char *tpl = o->batch_template ? s_read_file(o->batch_template, "--batch-template")
                                  : strdup(s_default_template);
    if (!tpl)
        return NULL;
    char what[4200];
    snprintf(what, sizeof what, "batch template %s",
             o->batch_template ? o->batch_template : "(built in)");
    char *filled = s_fill(tpl, what, vars);
    if (!filled) {
        free(tpl);
        return NULL;
    }
    // The lines to add.
    char add[8192];
    size_t al = 0;
    add[0] = '\0';
    const char *opt[][3] = {{"--partition", "-p", o->partition},
                            {"--account", "-A", o->account},
                            {"--time", "-t", o->time_limit},
                            {"--qos", "-q", o->qos}};
    for (size_t i = 0; i < 4; i++)
        if (opt[i][2] && !s_has_sbatch(tpl, opt[i][0], opt[i][1]))
            al += (size_t)snprintf(add + al, sizeof add - al, "#SBATCH %s=%s\n", opt[i][0],
                                   opt[i][2]);
    for (size_t i = 0; i < o->sbatch_args.n && al < sizeof add; i++) {
        char name[256];
        snprintf(name, sizeof name, "%s", o->sbatch_args.v[i]);
        name[strcspn(name, "= \t")] = '\0';
        if (!s_has_sbatch(tpl, name, NULL))
            al += (size_t)snprintf(add + al, sizeof add - al, "#SBATCH %s\n", o->sbatch_args.v[i]);
    }
    free(tpl);
    if (al >= sizeof add) {
        free(filled);
        cli_error("too many #SBATCH options");
        return NULL;
    }
    size_t at = 0, fl = strlen(filled);
    if (strncmp(filled, "#!", 2) == 0) {
        const char *eol = strchr(filled, '\n');
        at = eol ? (size_t)(eol - filled) + 1 : fl;
    }
    char *out = malloc(fl + al + 2);
    if (!out) {
        free(filled);
        cli_error("out of memory");
        return NULL;
    }
    size_t k = 0;
    memcpy(out, filled, at);
    k = at;
    if (at && filled[at - 1] != '\n')
        out[k++] = '\n';
    memcpy(out + k, add, al);
    k += al;
    memcpy(out + k, filled + at, fl - at);
    k += fl - at;
    out[k] = '\0';
    free(filled);
    return out;
}
