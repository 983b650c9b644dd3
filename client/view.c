/* view.c — DirectView and LoadBalancedView: the views and their flags.
 *
 * Owns each view's targets and flags (deep copies, made by cl_flags_copy
 * and released by cl_flags_fini). Turning a call on a view into
 * TASK_REQUESTs is submit.c's.
 */
#include "client/internal.h"

#include "proto/clock.h"

#include <stdlib.h>
#include <string.h>

// ---------------------------------------------------------------- flags

void cl_flags_fini(cl_flags_t *f)
{
    cl_strv_free(f->after.ids, f->after.n);
    cl_strv_free(f->follow.ids, f->follow.n);
    free(f->label);
    free(f->targets);
    cl_strv_free(f->requires, f->n_requires);
    memset(f, 0, sizeof *f);
}

// s_dep_copy: d as owned ids; *has false for "none" (d NULL).
static ipp_err_t s_dep_copy(const ipp_dependency_t *d, const char *name, cl_dep_t *out, bool *has,
                            ipp_error_t *err)
{
    memset(out, 0, sizeof *out);
    *has = false;
    if (!d)
        return IPP_OK;
    if ((d->n_ids && !d->ids) || (d->n_ars && !d->ars))
        return ipp_error_set(err, IPP_ERR_INVALID, "%s: counts without lists", name);
    size_t n = d->n_ids;
    for (size_t i = 0; i < d->n_ars; i++) {
        if (!d->ars[i])
            return ipp_error_set(err, IPP_ERR_INVALID, "%s: AsyncResult %zu is NULL", name, i);
        n += d->ars[i]->n;
    }
    for (size_t i = 0; i < d->n_ids; i++)
        if (!ipp_msgid_valid(d->ids[i]))
            return ipp_error_set(err, IPP_ERR_INVALID, "%s: \"%s\" is not a msg_id", name,
                                 d->ids[i] ? d->ids[i] : "(null)");
    out->all = d->all;
    out->success = d->success;
    out->failure = d->failure;
    *has = true;
    if (!n)
        return IPP_OK;
    out->ids = calloc(n, sizeof *out->ids);
    if (!out->ids)
        return ipp_error_set(err, IPP_ERR_NOMEM, "%s: out of memory", name);
    size_t k = 0;
    for (size_t i = 0; i < d->n_ids; i++)
        out->ids[k++] = strdup(d->ids[i]);
    for (size_t i = 0; i < d->n_ars; i++)
        for (size_t j = 0; j < d->ars[i]->n; j++)
            out->ids[k++] = strdup(d->ars[i]->tasks[j].msg_id);
    out->n = n;
    for (size_t i = 0; i < n; i++)
        if (!out->ids[i])
            return ipp_error_set(err, IPP_ERR_NOMEM, "%s: out of memory", name);
    return IPP_OK;
}

// cl_flags_copy: the fields of in named by in->set, owned, into out (which
// the caller finishes with cl_flags_fini whatever this returns).
ipp_err_t cl_flags_copy(const ipp_flags_t *in, cl_flags_t *out, ipp_error_t *err)
{
    memset(out, 0, sizeof *out);
    if (!in)
        return IPP_OK;
    ipp_err_t rc;
    out->set = in->set;
    if (in->set & IPP_FLAG_AFTER &&
        (rc = s_dep_copy(in->after, "after", &out->after, &out->has_after, err)) != IPP_OK)
        return rc;
    if (in->set & IPP_FLAG_FOLLOW &&
        (rc = s_dep_copy(in->follow, "follow", &out->follow, &out->has_follow, err)) != IPP_OK)
        return rc;
    if (in->set & IPP_FLAG_TIMEOUT) {
        if (!(in->timeout >= 0))
            return ipp_error_set(err, IPP_ERR_INVALID, "timeout: %g s is negative", in->timeout);
        out->timeout_us = cl_timeout_us(in->timeout);
    }
    if (in->set & IPP_FLAG_RETRIES) {
        if (in->retries < 0)
            return ipp_error_set(err, IPP_ERR_INVALID, "retries: %d is negative", in->retries);
        if (in->retries > IPP_RETRIES_MAX)
            return ipp_error_set(err, IPP_ERR_INVALID, "retries: at most %d, not %d",
                                 IPP_RETRIES_MAX, in->retries);
        out->retries = in->retries;
    }
    if (in->set & IPP_FLAG_LABEL && in->label && in->label[0] && !(out->label = strdup(in->label)))
        return ipp_error_set(err, IPP_ERR_NOMEM, "label: out of memory");
    if (in->set & IPP_FLAG_TARGETS && in->n_targets) {
        if (!in->targets)
            return ipp_error_set(err, IPP_ERR_INVALID, "targets: a count without a list");
        out->targets = malloc(in->n_targets * sizeof *out->targets);
        if (!out->targets)
            return ipp_error_set(err, IPP_ERR_NOMEM, "targets: out of memory");
        memcpy(out->targets, in->targets, in->n_targets * sizeof *out->targets);
        out->n_targets = in->n_targets;
    }
    if (in->set & IPP_FLAG_REQUIRES && in->n_requires) {
        if (!in->requires)
            return ipp_error_set(err, IPP_ERR_INVALID, "requires: a count without a list");
        for (size_t i = 0; i < in->n_requires; i++)
            if (!in->requires[i] || !in->requires[i][0])
                return ipp_error_set(err, IPP_ERR_INVALID, "requires: entry %zu is empty", i);
        out->requires = cl_strv_dup((char *const *)in->requires, in->n_requires);
        if (!out->requires)
            return ipp_error_set(err, IPP_ERR_NOMEM, "requires: out of memory");
        out->n_requires = in->n_requires;
    }
    return IPP_OK;
}

// cl_direct_flags_ok: a DirectView takes only label.
ipp_err_t cl_direct_flags_ok(const ipp_view_t *v, unsigned set, ipp_error_t *err)
{
    if (v->direct && (set & ~(unsigned)IPP_FLAG_LABEL))
        return ipp_error_set(err, IPP_ERR_INVALID,
                             "a DirectView takes only the label flag; after, follow, timeout, "
                             "retries, targets and requires are for a LoadBalancedView");
    return IPP_OK;
}

// ---------------------------------------------------------------- views

static ipp_view_t *s_view_new(ipp_client_t *c, bool direct, ipp_error_t *err)
{
    ipp_view_t *v = calloc(1, sizeof *v);
    if (!v) {
        ipp_error_set(err, IPP_ERR_NOMEM, "view: out of memory");
        return NULL;
    }
    v->client = c;
    v->direct = direct;
    v->next = c->views;
    if (c->views)
        c->views->prev = v;
    c->views = v;
    return v;
}

ipp_view_t *ipp_client_direct_view(ipp_client_t *c, const int *targets, size_t n_targets,
                                   ipp_error_t *err)
{
    if (!c) {
        ipp_error_set(err, IPP_ERR_INVALID, "direct_view: no client");
        return NULL;
    }
    if (targets) {
        if (!n_targets) {
            ipp_error_set(err, IPP_ERR_INVALID, "direct_view: an empty target list");
            return NULL;
        }
        for (size_t i = 0; i < n_targets; i++) {
            const cl_engine_t *e = cl_engine_find(c, targets[i]);
            if (!e || !e->alive) {
                ipp_error_set(err, IPP_ERR_INVALID, "direct_view: no engine %d", targets[i]);
                return NULL;
            }
            for (size_t k = 0; k < i; k++) {
                if (targets[k] == targets[i]) {
                    ipp_error_set(err, IPP_ERR_INVALID, "direct_view: engine %d given twice",
                                  targets[i]);
                    return NULL;
                }
            }
        }
    }
    ipp_view_t *v = s_view_new(c, true, err);
    if (!v)
        return NULL;
    if (!targets) {
        v->all = true;
        return v;
    }
    v->targets = malloc(n_targets * sizeof *v->targets);
    if (!v->targets) {
        ipp_view_destroy(&v);
        ipp_error_set(err, IPP_ERR_NOMEM, "direct_view: out of memory");
        return NULL;
    }
    memcpy(v->targets, targets, n_targets * sizeof *v->targets);
    v->n_targets = n_targets;
    return v;
}

ipp_view_t *ipp_client_lb_view(ipp_client_t *c, ipp_error_t *err)
{
    if (!c) {
        ipp_error_set(err, IPP_ERR_INVALID, "lb_view: no client");
        return NULL;
    }
    return s_view_new(c, false, err);
}

void ipp_view_destroy(ipp_view_t **view_p)
{
    if (!view_p || !*view_p)
        return;
    ipp_view_t *v = *view_p;
    if (v->client) {
        if (v->prev)
            v->prev->next = v->next;
        else
            v->client->views = v->next;
        if (v->next)
            v->next->prev = v->prev;
    }
    free(v->targets);
    cl_flags_fini(&v->flags);
    free(v);
    *view_p = NULL;
}

bool ipp_view_is_direct(const ipp_view_t *v)
{
    return v && v->direct;
}

size_t ipp_view_targets(const ipp_view_t *v, int *out, size_t max)
{
    if (!v)
        return 0;
    const int *src;
    size_t n;
    if (v->direct && v->all)
        return v->client ? ipp_client_ids(v->client, out, max) : 0;
    if (v->direct) {
        src = v->targets;
        n = v->n_targets;
    } else {
        src = v->flags.targets;
        n = v->flags.n_targets;
    }
    for (size_t i = 0; out && i < n && i < max; i++)
        out[i] = src[i];
    return n;
}

ipp_err_t ipp_view_set_flags(ipp_view_t *v, const ipp_flags_t *flags, ipp_error_t *err)
{
    if (!v || !flags)
        return ipp_error_set(err, IPP_ERR_INVALID, "set_flags: no view or flags");
    ipp_err_t rc = cl_direct_flags_ok(v, flags->set, err);
    if (rc != IPP_OK)
        return rc;
    cl_flags_t f;
    if ((rc = cl_flags_copy(flags, &f, err)) != IPP_OK) {
        cl_flags_fini(&f);
        return rc;
    }
    // Move each given field over the view's.
    cl_flags_t *d = &v->flags;
    if (f.set & IPP_FLAG_AFTER) {
        cl_strv_free(d->after.ids, d->after.n);
        d->after = f.after;
        d->has_after = f.has_after;
        f.after = (cl_dep_t){0};
    }
    if (f.set & IPP_FLAG_FOLLOW) {
        cl_strv_free(d->follow.ids, d->follow.n);
        d->follow = f.follow;
        d->has_follow = f.has_follow;
        f.follow = (cl_dep_t){0};
    }
    if (f.set & IPP_FLAG_TIMEOUT)
        d->timeout_us = f.timeout_us;
    if (f.set & IPP_FLAG_RETRIES)
        d->retries = f.retries;
    if (f.set & IPP_FLAG_LABEL) {
        free(d->label);
        d->label = f.label;
        f.label = NULL;
    }
    if (f.set & IPP_FLAG_TARGETS) {
        free(d->targets);
        d->targets = f.targets;
        d->n_targets = f.n_targets;
        f.targets = NULL;
        f.n_targets = 0;
    }
    if (f.set & IPP_FLAG_REQUIRES) {
        cl_strv_free(d->requires, d->n_requires);
        d->requires = f.requires;
        d->n_requires = f.n_requires;
        f.requires = NULL;
        f.n_requires = 0;
    }
    d->set |= f.set;
    cl_flags_fini(&f);
    return IPP_OK;
}
