/* fuzz_workflow.c — libFuzzer target for the workflow-file parser of
 * `ipp dag`.
 *
 * Input: the text of a workflow file. Whatever comes in, wf_parse must
 * return a workflow or a list of problems, without a crash, a leak or
 * undefined behaviour. A workflow it accepts must be one `ipp dag submit`
 * can trust: node names unique, valid and found by wf_find; each node of
 * exactly one kind with its fields filled; every edge naming another node
 * of the workflow, never twice in one dependency; and an order that lists
 * every node once, parents before children. A refusal must say why, on
 * lines that each name the file.
 */
#include "tools/ipp/workflow.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char s_file[] = "fuzz.json";

static void s_fail(const char *what, const char *node)
{
    fprintf(stderr, "fuzz_workflow: %s%s%s\n", what, node ? ": " : "", node ? node : "");
    abort();
}

// s_check_dep: the parents of node i in d are nodes of wf, each once.
static void s_check_dep(const wf_t *wf, size_t i, const wf_dep_t *d)
{
    if (d->n && !d->nodes)
        s_fail("a dependency with parents but no list", wf->nodes[i].name);
    for (size_t k = 0; k < d->n; k++) {
        if (d->nodes[k] >= wf->n)
            s_fail("an edge to a node that does not exist", wf->nodes[i].name);
        for (size_t m = 0; m < k; m++)
            if (d->nodes[m] == d->nodes[k])
                s_fail("an edge listed twice", wf->nodes[i].name);
    }
    if (d->n && !d->success && !d->failure)
        s_fail("a dependency that can never be met", wf->nodes[i].name);
}

static int s_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 128)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '-' || *s == '.'))
            return 0;
    return 1;
}

static void s_check(const wf_t *wf)
{
    if (wf->n == 0 || !wf->nodes || !wf->order)
        s_fail("an empty workflow accepted", NULL);
    size_t *pos = calloc(wf->n, sizeof *pos);  // place in the order + 1
    if (!pos)
        return;
    for (size_t k = 0; k < wf->n; k++) {
        size_t x = wf->order[k];
        if (x >= wf->n || pos[x])
            s_fail("the order is not a permutation of the nodes", NULL);
        pos[x] = k + 1;
    }
    for (size_t i = 0; i < wf->n; i++) {
        const wf_node_t *nd = &wf->nodes[i];
        if (!nd->name || !s_name_ok(nd->name))
            s_fail("a node name that is not valid", nd->name);
        if (wf_find(wf, nd->name) != (long)i)
            s_fail("a node name that is not unique", nd->name);
        switch (nd->kind) {
        case IPP_TASK_ARGV:
            if (!nd->argv || nd->argc == 0 || !nd->argv[0][0] || nd->argv[nd->argc] || nd->shell ||
                nd->call)
                s_fail("a cmd node without its argv", nd->name);
            break;
        case IPP_TASK_SHELL:
            if (!nd->shell || !nd->shell[0] || nd->argv || nd->call)
                s_fail("a shell node without its command", nd->name);
            break;
        case IPP_TASK_CALL:
            if (!nd->call || !nd->call[0] || nd->argv || nd->shell || nd->env || nd->cwd)
                s_fail("a call node without its function", nd->name);
            break;
        default:
            s_fail("a node of no kind", nd->name);
        }
        for (size_t k = 0; k < nd->n_env; k++)
            if (!nd->env[k] || !strchr(nd->env[k], '=') || nd->env[k][0] == '=')
                s_fail("an env entry that is not NAME=VALUE", nd->name);
        if (nd->retries < 0 || nd->timeout < 0 || nd->wall_limit < 0)
            s_fail("a negative limit", nd->name);
        for (size_t k = 0; k < nd->n_targets; k++)
            if (nd->targets[k] < 0)
                s_fail("a negative engine id", nd->name);
        s_check_dep(wf, i, &nd->after);
        s_check_dep(wf, i, &nd->follow);
        const wf_dep_t *deps[2] = {&nd->after, &nd->follow};
        for (int d = 0; d < 2; d++)
            for (size_t k = 0; k < deps[d]->n; k++)
                if (pos[deps[d]->nodes[k]] >= pos[i])
                    s_fail("a parent ordered after its child", nd->name);
    }
    free(pos);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *errors = NULL;
    wf_t *wf = wf_parse((const char *)data, size, s_file, &errors);
    if (wf) {
        if (errors)
            s_fail("a workflow accepted with problems", errors);
        s_check(wf);
        wf_destroy(&wf);
        if (wf)
            s_fail("wf_destroy left the pointer set", NULL);
        return 0;
    }
    if (!errors || !errors[0])
        s_fail("refused without a reason", NULL);
    size_t lines = 0;
    for (const char *p = errors; *p;) {
        if (strncmp(p, s_file, strlen(s_file)) != 0 || p[strlen(s_file)] != ':')
            s_fail("a problem line that does not name the file", p);
        const char *nl = strchr(p, '\n');
        if (!nl)
            s_fail("a problem line without its newline", p);
        p = nl + 1;
        lines++;
    }
    if (lines > 52)
        s_fail("more problem lines than the limit", NULL);
    free(errors);
    return 0;
}
