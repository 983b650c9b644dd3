/* pyview.c — _ipp.View: a libipp DirectView or LoadBalancedView.
 *
 * Owns its ipp_view_t. Sends call tasks only (the package's Python tasks
 * are calls: py.apply, py.execute, …): apply (the same buffers to every
 * target) and map (one task per buffer list, placed as ipp_view_map_tasks
 * places them). Flags come as a dict of the fields to set.
 */
#include "pyipp.h"

#include <string.h>

// Flags converted from a dict, with what they point at.
typedef struct s_flags_t {
    ipp_flags_t f;            // what libipp reads
    ipp_dependency_t after;   // f.after points here when set
    ipp_dependency_t follow;  // f.follow likewise
    const char **after_ids;   // PyMem
    const char **follow_ids;  // PyMem
    const char **requires;    // PyMem
    int *targets;             // PyMem
    PyObject *keep;           // list of objects the strings live in
} s_flags_t;

static void s_flags_fini(s_flags_t *sf)
{
    PyMem_Free(sf->after_ids);
    PyMem_Free(sf->follow_ids);
    PyMem_Free(sf->requires);
    PyMem_Free(sf->targets);
    Py_XDECREF(sf->keep);
    memset(sf, 0, sizeof *sf);
}

static int s_keep(s_flags_t *sf, PyObject *o)
{
    if (!o)
        return 0;
    int rc = PyList_Append(sf->keep, o);
    Py_DECREF(o);
    return rc;
}

// s_dep: a dependency from (ids, all, success, failure) or None (cleared).
static int s_dep(s_flags_t *sf, PyObject *v, ipp_dependency_t *d, const char ***ids,
                 const ipp_dependency_t **slot)
{
    *d = (ipp_dependency_t)IPP_DEPENDENCY_INIT;
    if (v == Py_None) {
        *slot = NULL;
        return 0;
    }
    PyObject *seq;
    int all, success, failure;
    if (!PyArg_ParseTuple(v, "Oppp;a dependency is (ids, all, success, failure)", &seq, &all,
                          &success, &failure))
        return -1;
    size_t n;
    PyObject *keep;
    if (pyi_strs(seq, ids, &n, &keep) < 0)
        return -1;
    if (s_keep(sf, keep) < 0)
        return -1;
    d->ids = *ids;
    d->n_ids = n;
    d->all = all;
    d->success = success;
    d->failure = failure;
    *slot = d;
    return 0;
}

// s_flags_from: fill sf from dict d (None: no flags). 0, or -1 with an
// exception (sf finished by the caller either way).
static int s_flags_from(PyObject *d, s_flags_t *sf)
{
    memset(sf, 0, sizeof *sf);
    sf->keep = PyList_New(0);
    if (!sf->keep)
        return -1;
    if (!d || d == Py_None)
        return 0;
    if (!PyDict_Check(d)) {
        PyErr_SetString(PyExc_TypeError, "flags must be a dict");
        return -1;
    }
    PyObject *k, *v;
    Py_ssize_t pos = 0;
    while (PyDict_Next(d, &pos, &k, &v)) {
        const char *key = PyUnicode_Check(k) ? PyUnicode_AsUTF8(k) : NULL;
        if (!key) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_TypeError, "flag names are str");
            return -1;
        }
        if (!strcmp(key, "after")) {
            sf->f.set |= IPP_FLAG_AFTER;
            if (s_dep(sf, v, &sf->after, &sf->after_ids, &sf->f.after) < 0)
                return -1;
        } else if (!strcmp(key, "follow")) {
            sf->f.set |= IPP_FLAG_FOLLOW;
            if (s_dep(sf, v, &sf->follow, &sf->follow_ids, &sf->f.follow) < 0)
                return -1;
        } else if (!strcmp(key, "timeout")) {
            sf->f.set |= IPP_FLAG_TIMEOUT;
            sf->f.timeout = v == Py_None ? 0 : PyFloat_AsDouble(v);
            if (sf->f.timeout == -1 && PyErr_Occurred())
                return -1;
        } else if (!strcmp(key, "retries")) {
            sf->f.set |= IPP_FLAG_RETRIES;
            long r = PyLong_AsLong(v);
            if (r == -1 && PyErr_Occurred())
                return -1;
            if (r < 0 || r > IPP_RETRIES_MAX) {
                PyErr_Format(PyExc_ValueError, "retries must be 0 to %d, not %ld", IPP_RETRIES_MAX,
                             r);
                return -1;
            }
            sf->f.retries = (int)r;
        } else if (!strcmp(key, "label")) {
            sf->f.set |= IPP_FLAG_LABEL;
            if (v != Py_None) {
                if (!PyUnicode_Check(v)) {
                    PyErr_SetString(PyExc_TypeError, "label must be a str or None");
                    return -1;
                }
                sf->f.label = PyUnicode_AsUTF8(v);
                if (!sf->f.label)
                    return -1;
            }
        } else if (!strcmp(key, "targets")) {
            sf->f.set |= IPP_FLAG_TARGETS;
            if (pyi_ints(v, &sf->targets, &sf->f.n_targets) < 0)
                return -1;
            sf->f.targets = sf->targets;
        } else if (!strcmp(key, "requires")) {
            sf->f.set |= IPP_FLAG_REQUIRES;
            PyObject *keep;
            if (pyi_strs(v, &sf->requires, &sf->f.n_requires, &keep) < 0 || s_keep(sf, keep) < 0)
                return -1;
            sf->f.requires = sf->requires;
        } else {
            PyErr_Format(PyExc_ValueError, "unknown flag '%s'", key);
            return -1;
        }
    }
    return 0;
}

static void s_dealloc(PyObject *obj)
{
    pyi_view_t *self = (pyi_view_t *)obj;
    PyTypeObject *tp = Py_TYPE(obj);
    if (self->v) {
        pyi_lock(&self->client->lock);
        ipp_view_destroy(&self->v);
        pyi_unlock(&self->client->lock);
    }
    Py_CLEAR(self->client);
    tp->tp_free(obj);
    Py_DECREF(tp);
}

#define S_VIEW_OPEN(obj, self, st)                                                                 \
    pyi_view_t *self = (pyi_view_t *)(obj);                                                        \
    pyi_state_t *st = pyi_state_of(obj);                                                           \
    if (!st || !pyi_client_usable(st, self->client))                                               \
        return NULL;

static PyObject *s_is_direct(PyObject *obj, void *closure)
{
    (void)closure;
    return PyBool_FromLong(ipp_view_is_direct(((pyi_view_t *)obj)->v));
}

// targets() → the engines a DirectView sends to now, or an LB view's flag.
static PyObject *s_targets(PyObject *obj, PyObject *unused)
{
    (void)unused;
    S_VIEW_OPEN(obj, self, st);
    pyi_lock(&self->client->lock);
    size_t n = ipp_view_targets(self->v, NULL, 0);
    int *t = PyMem_Malloc((n ? n : 1) * sizeof *t);
    if (t)
        n = ipp_view_targets(self->v, t, n);
    pyi_unlock(&self->client->lock);
    if (!t)
        return PyErr_NoMemory();
    PyObject *l = PyList_New((Py_ssize_t)n);
    for (size_t i = 0; l && i < n; i++) {
        PyObject *x = PyLong_FromLong(t[i]);
        if (!x) {
            Py_CLEAR(l);
            break;
        }
        PyList_SET_ITEM(l, (Py_ssize_t)i, x);
    }
    PyMem_Free(t);
    return l;
}

// set_flags(dict)
static PyObject *s_set_flags(PyObject *obj, PyObject *arg)
{
    S_VIEW_OPEN(obj, self, st);
    s_flags_t sf;
    PyObject *out = NULL;
    if (s_flags_from(arg, &sf) == 0) {
        ipp_error_t err;
        pyi_lock(&self->client->lock);
        ipp_err_t rc = ipp_view_set_flags(self->v, &sf.f, &err);
        pyi_unlock(&self->client->lock);
        out = rc == IPP_OK ? Py_NewRef(Py_None) : pyi_raise(st, &err);
    }
    s_flags_fini(&sf);
    return out;
}

static pyi_track_t *s_track_of(pyi_state_t *st, PyObject *tracker)
{
    if (!tracker || tracker == Py_None)
        return NULL;
    if (!PyObject_TypeCheck(tracker, (PyTypeObject *)st->tracker_type)) {
        PyErr_SetString(PyExc_TypeError, "tracker must be an _ipp.Tracker or None");
        return (pyi_track_t *)-1;
    }
    return ((pyi_tracker_obj_t *)tracker)->t;
}

// apply(function, buffers, flags=None, tracker=None) → CAsyncResult
static PyObject *s_apply(PyObject *obj, PyObject *args, PyObject *kw)
{
    static char *kws[] = {"function", "buffers", "flags", "tracker", NULL};
    const char *fn;
    PyObject *bufs_o, *flags_o = Py_None, *tracker = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "sO|OO:apply", kws, &fn, &bufs_o, &flags_o,
                                     &tracker))
        return NULL;
    S_VIEW_OPEN(obj, self, st);
    pyi_track_t *track = s_track_of(st, tracker);
    if (track == (pyi_track_t *)-1)
        return NULL;
    s_flags_t sf;
    if (s_flags_from(flags_o, &sf) < 0) {
        s_flags_fini(&sf);
        return NULL;
    }
    pyi_client_t *cl = self->client;
    pyi_bufs_t b;
    if (pyi_bufs_from(bufs_o, cl->relq, track, &b) < 0) {
        s_flags_fini(&sf);
        return NULL;
    }
    ipp_error_t err;
    pyi_lock(&cl->lock);
    ipp_ar_t *ar = ipp_view_apply(self->v, fn, b.v, b.n, sf.f.set ? &sf.f : NULL, &err);
    pyi_unlock(&cl->lock);
    pyi_bufs_fini(&b);
    s_flags_fini(&sf);
    pyi_relq_drain(cl->relq);
    if (!ar)
        return pyi_raise(st, &err);
    return pyi_ar_wrap(st, cl, ar);
}

// map(function, [buffers, …], flags=None, tracker=None) → CAsyncResult:
// one call task per buffer list, in order.
static PyObject *s_map(PyObject *obj, PyObject *args, PyObject *kw)
{
    static char *kws[] = {"function", "items", "flags", "tracker", NULL};
    const char *fn;
    PyObject *items_o, *flags_o = Py_None, *tracker = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "sO|OO:map", kws, &fn, &items_o, &flags_o, &tracker))
        return NULL;
    S_VIEW_OPEN(obj, self, st);
    pyi_track_t *track = s_track_of(st, tracker);
    if (track == (pyi_track_t *)-1)
        return NULL;
    PyObject *items = PySequence_Fast(items_o, "items must be a sequence of buffer lists");
    if (!items)
        return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(items);
    pyi_client_t *cl = self->client;
    PyObject *out = NULL;
    s_flags_t sf;
    pyi_bufs_t *bufs = PyMem_Calloc((size_t)(n ? n : 1), sizeof *bufs);
    ipp_task_t *tasks = PyMem_Calloc((size_t)(n ? n : 1), sizeof *tasks);
    Py_ssize_t made = 0;
    if (s_flags_from(flags_o, &sf) < 0)
        goto out;
    if (!bufs || !tasks) {
        PyErr_NoMemory();
        goto out;
    }
    for (; made < n; made++) {
        if (pyi_bufs_from(PySequence_Fast_GET_ITEM(items, made), cl->relq, track, &bufs[made]) < 0)
            goto out;
        tasks[made] = (ipp_task_t){
            .kind = IPP_TASK_CALL, .function = fn, .args = bufs[made].v, .n_args = bufs[made].n};
    }
    ipp_error_t err;
    pyi_lock(&cl->lock);
    ipp_ar_t *ar = ipp_view_map_tasks(self->v, tasks, (size_t)n, sf.f.set ? &sf.f : NULL, &err);
    pyi_unlock(&cl->lock);
    for (Py_ssize_t i = 0; i < made; i++)
        pyi_bufs_fini(&bufs[i]);
    made = 0;
    pyi_relq_drain(cl->relq);
    out = ar ? pyi_ar_wrap(st, cl, ar) : pyi_raise(st, &err);
out:
    // Buffers converted but never given to libipp go back here.
    for (Py_ssize_t i = 0; bufs && i < made; i++)
        pyi_bufs_abandon(&bufs[i]);
    pyi_relq_drain(cl->relq);
    PyMem_Free(bufs);
    PyMem_Free(tasks);
    s_flags_fini(&sf);
    Py_DECREF(items);
    return out;
}

static PyMethodDef s_methods[] = {
    {"targets", s_targets, METH_NOARGS, "targets() -> engine ids"},
    {"set_flags", s_set_flags, METH_O, "set_flags({name: value}): the view's flags"},
    {"apply", (PyCFunction)(void (*)(void))s_apply, METH_VARARGS | METH_KEYWORDS,
     "apply(function, buffers, flags=None, tracker=None) -> CAsyncResult"},
    {"map", (PyCFunction)(void (*)(void))s_map, METH_VARARGS | METH_KEYWORDS,
     "map(function, [buffers…], flags=None, tracker=None) -> CAsyncResult"},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef s_getset[] = {
    {"is_direct", s_is_direct, NULL, "a DirectView", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot s_slots[] = {
    {Py_tp_dealloc, s_dealloc},
    {Py_tp_methods, s_methods},
    {Py_tp_getset, s_getset},
    {Py_tp_doc, "A libipp view; made by Client.direct_view / Client.lb_view."},
    {0, NULL},
};

PyType_Spec pyi_view_spec = {
    .name = "ipp._ipp.View",
    .basicsize = sizeof(pyi_view_t),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = s_slots,
};
