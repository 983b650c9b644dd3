/* request.c — TaskRequest → executor inputs (see request.h).
 *
 * Owns nothing beyond the arrays it hands out; must never keep a pointer
 * into a request past the call, nor limit what a request may carry
 * without saying so.
 */
#include "engine/request.h"

#include <stdlib.h>
#include <string.h>

ipp_err_t eng_spans_init(eng_spans_t *s, zmq_msg_t *msgs, size_t n)
{
    s->n = 0;
    s->v = s->small;
    if (n > sizeof s->small / sizeof s->small[0]) {
        s->v = calloc(n, sizeof *s->v);
        if (!s->v) {
            s->v = s->small;
            return IPP_ERR_NOMEM;
        }
    }
    for (size_t i = 0; i < n; i++) {
        s->v[i].data = zmq_msg_data(&msgs[i]);
        s->v[i].len = zmq_msg_size(&msgs[i]);
    }
    s->n = n;
    return IPP_OK;
}

void eng_spans_fini(eng_spans_t *s)
{
    if (s->v != s->small)
        free(s->v);
    s->v = s->small;
    s->n = 0;
}

ipp_err_t eng_request_command(const Ipp__Command *c, size_t output_limit, eng_request_cmd_t *out)
{
    memset(out, 0, sizeof *out);
    // As many as the request carries: the message size limit bounds them.
    size_t nenv = c->n_env;
    if (nenv) {
        out->env = calloc(nenv, sizeof *out->env);
        if (!out->env)
            return IPP_ERR_NOMEM;
    }
    for (size_t i = 0; i < nenv; i++) {
        out->env[i].name = c->env[i]->name;
        out->env[i].value = c->env[i]->value;
    }
    eng_command_t *cmd = &out->cmd;
    cmd->argv = (const char *const *)c->argv;
    cmd->argc = c->n_argv;
    cmd->shell = (c->shell && c->shell[0]) ? c->shell : NULL;
    cmd->env = out->env;
    cmd->nenv = nenv;
    cmd->cwd = (c->cwd && c->cwd[0]) ? c->cwd : NULL;
    cmd->stdin_data = c->has_stdin_data ? c->stdin_data.data : NULL;
    cmd->stdin_len = c->has_stdin_data ? c->stdin_data.len : 0;
    cmd->wall_limit_us = c->has_wall_limit_us ? c->wall_limit_us : 0;
    cmd->stdout_limit = cmd->stderr_limit = output_limit;
    return IPP_OK;
}

void eng_request_command_fini(eng_request_cmd_t *out)
{
    free(out->env);
    out->env = NULL;
    out->cmd.env = NULL;
    out->cmd.nenv = 0;
}
