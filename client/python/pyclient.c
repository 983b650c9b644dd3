/* pyclient.c — _ipp.Client: one libipp client and the hub queries.
 *
 * Owns the ipp_client_t, its lock and its release queue. Every method
 * takes the lock around libipp; those that may wait release the GIL.
 * Results come back as plain Python values (lists, tuples, dicts); the
 * package's client.py makes them IPython Parallel's shapes.
 */
#include "pyipp.h"

#include <string.h>

// s_call_begin / s_call_end: around a libipp call that may wait.
#define S_WAITING(self, stmt)                                                                      \
    do {                                                                                           \
        pyi_lock(&(self)->lock);                                                                   \
        Py_BEGIN_ALLOW_THREADS stmt;                                                               \
        Py_END_ALLOW_THREADS pyi_unlock(&(self)->lock);                                            \
        pyi_relq_drain((self)->relq);                                                              \
    } while (0)

static PyObject *s_strv_list(const ipp_strv_t *sv)
{
    PyObject *l = PyList_New((Py_ssize_t)sv->n);
    for (size_t i = 0; l && i < sv->n; i++) {
        PyObject *s = PyUnicode_FromString(sv->v[i]);
        if (!s) {
            Py_CLEAR(l);
            break;
        }
        PyList_SET_ITEM(l, (Py_ssize_t)i, s);
    }
    return l;
}

static PyObject *s_intv_list(const ipp_intv_t *iv)
{
    PyObject *l = PyList_New((Py_ssize_t)iv->n);
    for (size_t i = 0; l && i < iv->n; i++) {
        PyObject *x = PyLong_FromLong(iv->v[i]);
        if (!x) {
            Py_CLEAR(l);
            break;
        }
        PyList_SET_ITEM(l, (Py_ssize_t)i, x);
    }
    return l;
}

static int s_init(PyObject *obj, PyObject *args, PyObject *kw)
{
    pyi_client_t *self = (pyi_client_t *)obj;
    static char *kws[] = {"connection_file", "profile", "ipp_dir", "timeout", "username", NULL};
    const char *file = NULL, *profile = NULL, *dir = NULL, *user = NULL;
    double timeout = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|zzzdz:Client", kws, &file, &profile, &dir,
                                     &timeout, &user))
        return -1;
    pyi_state_t *st = pyi_state_of(obj);
    if (!st)
        return -1;
    if (self->c) {
        PyErr_SetString(PyExc_RuntimeError, "Client already initialized");
        return -1;
    }
    if (timeout < 0) {
        PyErr_SetString(PyExc_ValueError, "timeout must be >= 0");
        return -1;
    }
    if (!self->lock.lk) {
        self->lock.lk = PyThread_allocate_lock();
        if (!self->lock.lk) {
            PyErr_NoMemory();
            return -1;
        }
    }
    if (!self->relq && !(self->relq = pyi_relq_new())) {
        PyErr_NoMemory();
        return -1;
    }
    ipp_client_opts_t o = {0};
    o.connection_file = file;
    o.profile = profile;
    o.ipp_dir = dir;
    o.timeout = timeout;
    o.username = user;
    ipp_error_t err;
    ipp_error_clear(&err);
    ipp_client_t *c = NULL;
    Py_BEGIN_ALLOW_THREADS c = ipp_client_new(&o, &err);
    Py_END_ALLOW_THREADS if (!c)
    {
        pyi_raise(st, &err);
        return -1;
    }
    self->c = c;
    return 0;
}

// s_close_now: destroy the libipp client (waits up to a second for unsent
// messages), then release every buffer ZeroMQ held: the context is gone.
static void s_close_now(pyi_client_t *self)
{
    if (!self->c)
        return;
    pyi_lock(&self->lock);
    ipp_client_t *c = self->c;
    self->c = NULL;
    Py_BEGIN_ALLOW_THREADS ipp_client_destroy(&c);
    Py_END_ALLOW_THREADS pyi_unlock(&self->lock);
    pyi_relq_drain(self->relq);
}

static void s_dealloc(PyObject *obj)
{
    pyi_client_t *self = (pyi_client_t *)obj;
    PyTypeObject *tp = Py_TYPE(obj);
    if (self->weakrefs)
        PyObject_ClearWeakRefs(obj);
    if (self->lock.lk) {
        s_close_now(self);
        PyThread_free_lock(self->lock.lk);
        self->lock.lk = NULL;
    }
    pyi_relq_destroy(&self->relq);
    tp->tp_free(obj);
    Py_DECREF(tp);
}

#define S_SELF_OPEN(obj, self, st)                                                                 \
    pyi_client_t *self = (pyi_client_t *)(obj);                                                    \
    pyi_state_t *st = pyi_state_of(obj);                                                           \
    if (!st || !pyi_client_usable(st, self))                                                       \
        return NULL;

// close(): disconnect; idempotent.
static PyObject *s_close(PyObject *obj, PyObject *unused)
{
    (void)unused;
    s_close_now((pyi_client_t *)obj);
    Py_RETURN_NONE;
}

static PyObject *s_closed(PyObject *obj, void *closure)
{
    (void)closure;
    return PyBool_FromLong(((pyi_client_t *)obj)->c == NULL);
}

static PyObject *s_session(PyObject *obj, void *closure)
{
    (void)closure;
    S_SELF_OPEN(obj, self, st);
    return PyUnicode_FromString(ipp_client_session(self->c));
}

static PyObject *s_connection_file(PyObject *obj, void *closure)
{
    (void)closure;
    S_SELF_OPEN(obj, self, st);
    return PyUnicode_FromString(ipp_client_connection_file(self->c));
}

// ids() → list of registered engine ids, ascending.
static PyObject *s_ids(PyObject *obj, PyObject *unused)
{
    (void)unused;
    S_SELF_OPEN(obj, self, st);
    pyi_lock(&self->lock);
    size_t n = ipp_client_ids(self->c, NULL, 0);
    int *v = PyMem_Malloc((n ? n : 1) * sizeof *v);
    if (v)
        n = ipp_client_ids(self->c, v, n);
    pyi_unlock(&self->lock);
    if (!v)
        return PyErr_NoMemory();
    ipp_intv_t iv = {v, n};
    PyObject *l = s_intv_list(&iv);
    PyMem_Free(v);
    return l;
}

// engines() → list of (id, uuid, hostname, pid, registered_us, alive).
static PyObject *s_engines(PyObject *obj, PyObject *unused)
{
    (void)unused;
    S_SELF_OPEN(obj, self, st);
    pyi_lock(&self->lock);
    size_t n = ipp_client_engines(self->c, NULL, 0);
    ipp_engine_info_t *v = PyMem_Malloc((n ? n : 1) * sizeof *v);
    PyObject *l = NULL;
    if (v) {
        n = ipp_client_engines(self->c, v, n);
        l = PyList_New((Py_ssize_t)n);
        for (size_t i = 0; l && i < n; i++) {
            PyObject *t =
                Py_BuildValue("(issiLO)", v[i].id, v[i].uuid, v[i].hostname, v[i].pid,
                              (long long)v[i].registered, v[i].alive ? Py_True : Py_False);
            if (!t) {
                Py_CLEAR(l);
                break;
            }
            PyList_SET_ITEM(l, (Py_ssize_t)i, t);
        }
    } else {
        PyErr_NoMemory();
    }
    pyi_unlock(&self->lock);
    PyMem_Free(v);
    return l;
}

static PyObject *s_refresh_engines(PyObject *obj, PyObject *unused)
{
    (void)unused;
    S_SELF_OPEN(obj, self, st);
    ipp_error_t err;
    ipp_err_t rc;
    S_WAITING(self, rc = ipp_client_refresh_engines(self->c, &err));
    if (rc != IPP_OK)
        return pyi_raise(st, &err);
    Py_RETURN_NONE;
}

// wait_for_engines(n, timeout)
static PyObject *s_wait_for_engines(PyObject *obj, PyObject *args)
{
    Py_ssize_t n;
    double timeout;
    if (!PyArg_ParseTuple(args, "nd:wait_for_engines", &n, &timeout))
        return NULL;
    S_SELF_OPEN(obj, self, st);
    if (n < 0) {
        PyErr_SetString(PyExc_ValueError, "n must be >= 0");
        return NULL;
    }
    ipp_error_t err;
    ipp_err_t rc;
    S_WAITING(self, rc = ipp_client_wait_for_engines(self->c, (size_t)n, timeout, &err));
    if (rc != IPP_OK)
        return pyi_raise(st, &err);
    Py_RETURN_NONE;
}

// spin(timeout=0): handle what arrived (waiting up to timeout for something).
static PyObject *s_spin(PyObject *obj, PyObject *args)
{
    double timeout = 0;
    if (!PyArg_ParseTuple(args, "|d:spin", &timeout))
        return NULL;
    S_SELF_OPEN(obj, self, st);
    ipp_error_t err;
    ipp_err_t rc;
    S_WAITING(self, rc = ipp_client_spin(self->c, timeout, &err));
    if (PyErr_Occurred())
        return NULL;
    if (rc != IPP_OK)
        return pyi_raise(st, &err);
    Py_RETURN_NONE;
}

// wait(timeout=-1): spin until nothing is outstanding.
static PyObject *s_wait(PyObject *obj, PyObject *args)
{
    double timeout = -1;
    if (!PyArg_ParseTuple(args, "|d:wait", &timeout))
        return NULL;
    S_SELF_OPEN(obj, self, st);
    ipp_error_t err;
    ipp_err_t rc;
    S_WAITING(self, rc = ipp_client_wait(self->c, timeout, &err));
    if (rc != IPP_OK)
        return pyi_raise(st, &err);
    Py_RETURN_NONE;
}

static PyObject *s_outstanding(PyObject *obj, void *closure)
{
    (void)closure;
    S_SELF_OPEN(obj, self, st);
    pyi_lock(&self->lock);
    size_t n = ipp_client_outstanding(self->c);
    pyi_unlock(&self->lock);
    return PyLong_FromSize_t(n);
}

static PyObject *s_fd(PyObject *obj, void *closure)
{
    (void)closure;
    S_SELF_OPEN(obj, self, st);
    return PyLong_FromLong(ipp_client_fd(self->c));
}

static PyObject *s_shutdown_seen(PyObject *obj, void *closure)
{
    (void)closure;
    S_SELF_OPEN(obj, self, st);
    return PyBool_FromLong(ipp_client_shutdown_seen(self->c));
}

static PyObject *s_set_timeout(PyObject *obj, PyObject *arg)
{
    double t = PyFloat_AsDouble(arg);
    if (t == -1 && PyErr_Occurred())
        return NULL;
    S_SELF_OPEN(obj, self, st);
    if (!(t > 0)) {
        PyErr_SetString(PyExc_ValueError, "timeout must be > 0");
        return NULL;
    }
    ipp_client_set_timeout(self->c, t);
    Py_RETURN_NONE;
}

// get_result(ids) → CAsyncResult (an AsyncHubResult).
static PyObject *s_get_result(PyObject *obj, PyObject *arg)
{
    S_SELF_OPEN(obj, self, st);
    const char **ids;
    size_t n;
    PyObject *keep;
    if (pyi_strs(arg, &ids, &n, &keep) < 0)
        return NULL;
    ipp_error_t err;
    ipp_ar_t *ar;
    S_WAITING(self, ar = ipp_client_get_result(self->c, ids, n, &err));
    PyMem_Free(ids);
    Py_XDECREF(keep);
    if (!ar)
        return pyi_raise(st, &err);
    return pyi_ar_wrap(st, self, ar);
}

// resubmit(ids) → CAsyncResult of the new tasks.
static PyObject *s_resubmit(PyObject *obj, PyObject *arg)
{
    S_SELF_OPEN(obj, self, st);
    const char **ids;
    size_t n;
    PyObject *keep;
    if (pyi_strs(arg, &ids, &n, &keep) < 0)
        return NULL;
    ipp_error_t err;
    ipp_ar_t *ar;
    S_WAITING(self, ar = ipp_client_resubmit(self->c, ids, n, &err));
    PyMem_Free(ids);
    Py_XDECREF(keep);
    if (!ar)
        return pyi_raise(st, &err);
    return pyi_ar_wrap(st, self, ar);
}

// result_status(ids) → (pending, completed, unknown).
static PyObject *s_result_status(PyObject *obj, PyObject *arg)
{
    S_SELF_OPEN(obj, self, st);
    const char **ids;
    size_t n;
    PyObject *keep;
    if (pyi_strs(arg, &ids, &n, &keep) < 0)
        return NULL;
    ipp_error_t err;
    ipp_err_t rc;
    ipp_result_status_t rs = {0};
    S_WAITING(self, rc = ipp_client_result_status(self->c, ids, n, &rs, &err));
    PyMem_Free(ids);
    Py_XDECREF(keep);
    if (rc != IPP_OK)
        return pyi_raise(st, &err);
    PyObject *p = s_strv_list(&rs.pending), *c = s_strv_list(&rs.completed),
             *u = s_strv_list(&rs.unknown);
    ipp_result_status_fini(&rs);
    PyObject *out = (p && c && u) ? PyTuple_Pack(3, p, c, u) : NULL;
    Py_XDECREF(p);
    Py_XDECREF(c);
    Py_XDECREF(u);
    return out;
}

// queue_status(targets=None, verbose=False) →
// ([(eid, queued, running, completed, queued_ids|None, running_ids|None)…],
//  unassigned, unassigned_ids|None)
static PyObject *s_queue_status(PyObject *obj, PyObject *args)
{
    PyObject *targets = Py_None;
    int verbose = 0;
    if (!PyArg_ParseTuple(args, "|Op:queue_status", &targets, &verbose))
        return NULL;
    S_SELF_OPEN(obj, self, st);
    int *t;
    size_t nt;
    if (pyi_ints(targets, &t, &nt) < 0)
        return NULL;
    ipp_error_t err;
    ipp_err_t rc;
    ipp_queue_status_t qs = {0};
    S_WAITING(self, rc = ipp_client_queue_status(self->c, t, nt, verbose, &qs, &err));
    PyMem_Free(t);
    if (rc != IPP_OK)
        return pyi_raise(st, &err);
    PyObject *l = PyList_New((Py_ssize_t)qs.n_engines), *out = NULL;
    for (size_t i = 0; l && i < qs.n_engines; i++) {
        const ipp_engine_queue_t *e = &qs.engines[i];
        PyObject *q = verbose ? s_strv_list(&e->queued_ids) : Py_NewRef(Py_None);
        PyObject *r = verbose ? s_strv_list(&e->running_ids) : Py_NewRef(Py_None);
        PyObject *tup = (q && r) ? Py_BuildValue("(iiiLOO)", e->engine_id, e->queued, e->running,
                                                 (long long)e->completed, q, r)
                                 : NULL;
        Py_XDECREF(q);
        Py_XDECREF(r);
        if (!tup) {
            Py_CLEAR(l);
            break;
        }
        PyList_SET_ITEM(l, (Py_ssize_t)i, tup);
    }
    if (l) {
        PyObject *u = verbose ? s_strv_list(&qs.unassigned_ids) : Py_NewRef(Py_None);
        if (u)
            out = Py_BuildValue("(OiO)", l, qs.unassigned, u);
        Py_XDECREF(u);
    }
    Py_XDECREF(l);
    ipp_queue_status_fini(&qs);
    return out;
}

// purge_results(ids=None, all=False, engines=None) → how many went.
static PyObject *s_purge_results(PyObject *obj, PyObject *args)
{
    PyObject *ids_o = Py_None, *eng_o = Py_None;
    int all = 0;
    if (!PyArg_ParseTuple(args, "|OpO:purge_results", &ids_o, &all, &eng_o))
        return NULL;
    S_SELF_OPEN(obj, self, st);
    const char **ids;
    size_t n;
    PyObject *keep;
    if (pyi_strs(ids_o, &ids, &n, &keep) < 0)
        return NULL;
    int *e;
    size_t ne;
    if (pyi_ints(eng_o, &e, &ne) < 0) {
        PyMem_Free(ids);
        Py_XDECREF(keep);
        return NULL;
    }
    ipp_error_t err;
    ipp_err_t rc;
    int64_t purged = 0;
    S_WAITING(self, rc = ipp_client_purge_results(self->c, ids, n, all, e, ne, &purged, &err));
    PyMem_Free(ids);
    PyMem_Free(e);
    Py_XDECREF(keep);
    if (rc != IPP_OK)
        return pyi_raise(st, &err);
    return PyLong_FromLongLong(purged);
}

// db_query(query_json, keys=None, limit=0) → JSON lines (str).
static PyObject *s_db_query(PyObject *obj, PyObject *args)
{
    const char *q;
    PyObject *keys_o = Py_None;
    long long limit = 0;
    if (!PyArg_ParseTuple(args, "s|OL:db_query", &q, &keys_o, &limit))
        return NULL;
    S_SELF_OPEN(obj, self, st);
    const char **keys;
    size_t nk;
    PyObject *keep;
    if (pyi_strs(keys_o, &keys, &nk, &keep) < 0)
        return NULL;
    ipp_error_t err;
    ipp_err_t rc;
    char *text = NULL;
    S_WAITING(self, rc = ipp_client_db_query(self->c, q, keys, nk, limit, &text, &err));
    PyMem_Free(keys);
    Py_XDECREF(keep);
    if (rc != IPP_OK)
        return pyi_raise(st, &err);
    PyObject *s = PyUnicode_FromString(text ? text : "");
    free(text);
    return s;
}

// history() → every msg_id, in submission order.
static PyObject *s_history(PyObject *obj, PyObject *unused)
{
    (void)unused;
    S_SELF_OPEN(obj, self, st);
    ipp_error_t err;
    ipp_err_t rc;
    ipp_strv_t sv = {0};
    S_WAITING(self, rc = ipp_client_history(self->c, &sv, &err));
    if (rc != IPP_OK)
        return pyi_raise(st, &err);
    PyObject *l = s_strv_list(&sv);
    ipp_strv_fini(&sv);
    return l;
}

// abort(ids=None, targets=None) → (aborted, not_pending).
static PyObject *s_abort(PyObject *obj, PyObject *args)
{
    PyObject *ids_o = Py_None, *t_o = Py_None;
    if (!PyArg_ParseTuple(args, "|OO:abort", &ids_o, &t_o))
        return NULL;
    S_SELF_OPEN(obj, self, st);
    const char **ids;
    size_t n;
    PyObject *keep;
    if (pyi_strs(ids_o, &ids, &n, &keep) < 0)
        return NULL;
    int *t;
    size_t nt;
    if (pyi_ints(t_o, &t, &nt) < 0) {
        PyMem_Free(ids);
        Py_XDECREF(keep);
        return NULL;
    }
    ipp_error_t err;
    ipp_err_t rc;
    ipp_strv_t ab = {0}, np = {0};
    S_WAITING(self, rc = ipp_client_abort(self->c, ids, n, t, nt, &ab, &np, &err));
    PyMem_Free(ids);
    PyMem_Free(t);
    Py_XDECREF(keep);
    if (rc != IPP_OK)
        return pyi_raise(st, &err);
    PyObject *a = s_strv_list(&ab), *p = s_strv_list(&np);
    ipp_strv_fini(&ab);
    ipp_strv_fini(&np);
    PyObject *out = (a && p) ? PyTuple_Pack(2, a, p) : NULL;
    Py_XDECREF(a);
    Py_XDECREF(p);
    return out;
}

// clear(targets=None) → engines cleared.
static PyObject *s_clear(PyObject *obj, PyObject *args)
{
    PyObject *t_o = Py_None;
    if (!PyArg_ParseTuple(args, "|O:clear", &t_o))
        return NULL;
    S_SELF_OPEN(obj, self, st);
    int *t;
    size_t nt;
    if (pyi_ints(t_o, &t, &nt) < 0)
        return NULL;
    ipp_error_t err;
    ipp_err_t rc;
    ipp_intv_t cl = {0};
    S_WAITING(self, rc = ipp_client_clear(self->c, t, nt, &cl, &err));
    PyMem_Free(t);
    if (rc != IPP_OK)
        return pyi_raise(st, &err);
    PyObject *l = s_intv_list(&cl);
    ipp_intv_fini(&cl);
    return l;
}

// shutdown(targets=None, hub=False) → (stopping, hub_stopping).
static PyObject *s_shutdown(PyObject *obj, PyObject *args)
{
    PyObject *t_o = Py_None;
    int hub = 0;
    if (!PyArg_ParseTuple(args, "|Op:shutdown", &t_o, &hub))
        return NULL;
    S_SELF_OPEN(obj, self, st);
    int *t;
    size_t nt;
    if (pyi_ints(t_o, &t, &nt) < 0)
        return NULL;
    ipp_error_t err;
    ipp_err_t rc;
    ipp_intv_t stopping = {0};
    bool hub_stopping = false;
    S_WAITING(self, rc = ipp_client_shutdown(self->c, t, nt, hub, &stopping, &hub_stopping, &err));
    PyMem_Free(t);
    if (rc != IPP_OK)
        return pyi_raise(st, &err);
    PyObject *l = s_intv_list(&stopping);
    ipp_intv_fini(&stopping);
    if (!l)
        return NULL;
    return Py_BuildValue("(NO)", l, hub_stopping ? Py_True : Py_False);
}

// direct_view(targets=None) → View; None: every registered engine, per call.
static PyObject *s_direct_view(PyObject *obj, PyObject *args)
{
    PyObject *t_o = Py_None;
    if (!PyArg_ParseTuple(args, "|O:direct_view", &t_o))
        return NULL;
    S_SELF_OPEN(obj, self, st);
    int *t;
    size_t nt;
    if (pyi_ints(t_o, &t, &nt) < 0)
        return NULL;
    ipp_error_t err;
    pyi_lock(&self->lock);
    ipp_view_t *v = ipp_client_direct_view(self->c, t_o == Py_None ? NULL : t, nt, &err);
    pyi_unlock(&self->lock);
    PyMem_Free(t);
    if (!v)
        return pyi_raise(st, &err);
    PyTypeObject *tp = (PyTypeObject *)st->view_type;
    pyi_view_t *vo = (pyi_view_t *)tp->tp_alloc(tp, 0);
    if (!vo) {
        pyi_lock(&self->lock);
        ipp_view_destroy(&v);
        pyi_unlock(&self->lock);
        return NULL;
    }
    Py_INCREF(self);
    vo->client = self;
    vo->v = v;
    return (PyObject *)vo;
}

// lb_view() → a LoadBalancedView View.
static PyObject *s_lb_view(PyObject *obj, PyObject *unused)
{
    (void)unused;
    S_SELF_OPEN(obj, self, st);
    ipp_error_t err;
    pyi_lock(&self->lock);
    ipp_view_t *v = ipp_client_lb_view(self->c, &err);
    pyi_unlock(&self->lock);
    if (!v)
        return pyi_raise(st, &err);
    PyTypeObject *tp = (PyTypeObject *)st->view_type;
    pyi_view_t *vo = (pyi_view_t *)tp->tp_alloc(tp, 0);
    if (!vo) {
        pyi_lock(&self->lock);
        ipp_view_destroy(&v);
        pyi_unlock(&self->lock);
        return NULL;
    }
    Py_INCREF(self);
    vo->client = self;
    vo->v = v;
    return (PyObject *)vo;
}

// release(): give back buffers ZeroMQ is done with (the client does this
// at each waiting call; here for loops that only submit).
static PyObject *s_release(PyObject *obj, PyObject *unused)
{
    (void)unused;
    pyi_relq_drain(((pyi_client_t *)obj)->relq);
    Py_RETURN_NONE;
}

static PyMethodDef s_methods[] = {
    {"close", s_close, METH_NOARGS, "close(): disconnect (idempotent)"},
    {"ids", s_ids, METH_NOARGS, "ids() -> registered engine ids"},
    {"engines", s_engines, METH_NOARGS,
     "engines() -> [(id, uuid, hostname, pid, registered_us, alive)]"},
    {"refresh_engines", s_refresh_engines, METH_NOARGS, "ask the controller for its engines"},
    {"wait_for_engines", s_wait_for_engines, METH_VARARGS, "wait_for_engines(n, timeout)"},
    {"spin", s_spin, METH_VARARGS, "spin(timeout=0): handle what arrived"},
    {"wait", s_wait, METH_VARARGS, "wait(timeout=-1): until nothing is outstanding"},
    {"set_timeout", s_set_timeout, METH_O, "set_timeout(seconds): request timeout"},
    {"get_result", s_get_result, METH_O, "get_result(ids) -> CAsyncResult"},
    {"resubmit", s_resubmit, METH_O, "resubmit(ids) -> CAsyncResult"},
    {"result_status", s_result_status, METH_O,
     "result_status(ids) -> (pending, completed, unknown)"},
    {"queue_status", s_queue_status, METH_VARARGS, "queue_status(targets=None, verbose=False)"},
    {"purge_results", s_purge_results, METH_VARARGS,
     "purge_results(ids=None, all=False, engines=None) -> count"},
    {"db_query", s_db_query, METH_VARARGS, "db_query(json, keys=None, limit=0) -> JSON lines"},
    {"history", s_history, METH_NOARGS, "history() -> msg_ids"},
    {"abort", s_abort, METH_VARARGS, "abort(ids=None, targets=None) -> (aborted, not_pending)"},
    {"clear", s_clear, METH_VARARGS, "clear(targets=None) -> engines cleared"},
    {"shutdown", s_shutdown, METH_VARARGS,
     "shutdown(targets=None, hub=False) -> (stopping, hub_stopping)"},
    {"direct_view", s_direct_view, METH_VARARGS, "direct_view(targets=None) -> View"},
    {"lb_view", s_lb_view, METH_NOARGS, "lb_view() -> View"},
    {"release", s_release, METH_NOARGS, "release(): give back sent buffers"},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef s_getset[] = {
    {"closed", s_closed, NULL, "close() was called", NULL},
    {"session", s_session, NULL, "this client's session uuid", NULL},
    {"connection_file", s_connection_file, NULL, "the file connected from", NULL},
    {"outstanding", s_outstanding, NULL, "unfinished tasks of live AsyncResults", NULL},
    {"fd", s_fd, NULL, "descriptor readable when messages may be waiting (edge)", NULL},
    {"shutdown_seen", s_shutdown_seen, NULL, "the controller announced its shutdown", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMemberDef s_members[] = {
    {"__weaklistoffset__", T_PYSSIZET, offsetof(pyi_client_t, weakrefs), READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot s_slots[] = {
    {Py_tp_init, s_init},
    {Py_tp_new, PyType_GenericNew},
    {Py_tp_dealloc, s_dealloc},
    {Py_tp_methods, s_methods},
    {Py_tp_getset, s_getset},
    {Py_tp_members, s_members},
    {Py_tp_doc, "Client(connection_file=None, profile=None, ipp_dir=None, timeout=0, "
                "username=None): a libipp client."},
    {0, NULL},
};

PyType_Spec pyi_client_spec = {
    .name = "ipp._ipp.Client",
    .basicsize = sizeof(pyi_client_t),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .slots = s_slots,
};
