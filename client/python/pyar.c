/* pyar.c — _ipp.CAsyncResult: one libipp AsyncResult.
 *
 * Owns its ipp_ar_t (destroyed when the object goes, which the result
 * buffers it handed out delay: each holds a reference). Waits release the
 * GIL; the one done callback it can arm (arm()) takes it back, inside
 * whichever call of the client spins.
 */
#include "pyipp.h"

#include <string.h>

PyObject *pyi_ar_wrap(pyi_state_t *st, pyi_client_t *client, ipp_ar_t *ar)
{
    PyTypeObject *tp = (PyTypeObject *)st->ar_type;
    pyi_ar_t *self = (pyi_ar_t *)tp->tp_alloc(tp, 0);
    if (!self) {
        pyi_lock(&client->lock);
        ipp_ar_destroy(&ar);
        pyi_unlock(&client->lock);
        return NULL;
    }
    Py_INCREF(client);
    self->client = client;
    self->ar = ar;
    return (PyObject *)self;
}

static void s_dealloc(PyObject *obj)
{
    pyi_ar_t *self = (pyi_ar_t *)obj;
    PyTypeObject *tp = Py_TYPE(obj);
    if (self->weakrefs)
        PyObject_ClearWeakRefs(obj);
    if (self->ar) {
        pyi_lock(&self->client->lock);
        ipp_ar_destroy(&self->ar);
        pyi_unlock(&self->client->lock);
    }
    Py_CLEAR(self->on_done);
    Py_CLEAR(self->client);
    tp->tp_free(obj);
    Py_DECREF(tp);
}

#define S_AR(obj, self, st)                                                                        \
    pyi_ar_t *self = (pyi_ar_t *)(obj);                                                            \
    pyi_state_t *st = pyi_state_of(obj);                                                           \
    if (!st)                                                                                       \
        return NULL;

static Py_ssize_t s_len(PyObject *obj)
{
    return (Py_ssize_t)ipp_ar_len(((pyi_ar_t *)obj)->ar);
}

// s_index: i from a Python int, range-checked; -1 with an exception.
static Py_ssize_t s_index(pyi_ar_t *self, PyObject *arg)
{
    Py_ssize_t i = PyNumber_AsSsize_t(arg, PyExc_IndexError);
    if (i == -1 && PyErr_Occurred())
        return -1;
    if (i < 0 || (size_t)i >= ipp_ar_len(self->ar)) {
        PyErr_Format(PyExc_IndexError, "task index %zd out of range (%zu tasks)", i,
                     ipp_ar_len(self->ar));
        return -1;
    }
    return i;
}

static PyObject *s_msg_ids(PyObject *obj, PyObject *unused)
{
    (void)unused;
    pyi_ar_t *self = (pyi_ar_t *)obj;
    size_t n = ipp_ar_len(self->ar);
    PyObject *l = PyList_New((Py_ssize_t)n);
    for (size_t i = 0; l && i < n; i++) {
        PyObject *s = PyUnicode_FromString(ipp_ar_msg_id(self->ar, i));
        if (!s) {
            Py_CLEAR(l);
            break;
        }
        PyList_SET_ITEM(l, (Py_ssize_t)i, s);
    }
    return l;
}

static PyObject *s_is_hub(PyObject *obj, void *closure)
{
    (void)closure;
    return PyBool_FromLong(ipp_ar_is_hub(((pyi_ar_t *)obj)->ar));
}

// ready(): every task finished (no spin).
static PyObject *s_ready(PyObject *obj, PyObject *unused)
{
    (void)unused;
    return PyBool_FromLong(ipp_ar_ready(((pyi_ar_t *)obj)->ar));
}

static PyObject *s_successful(PyObject *obj, PyObject *unused)
{
    (void)unused;
    return PyBool_FromLong(ipp_ar_successful(((pyi_ar_t *)obj)->ar));
}

static PyObject *s_progress(PyObject *obj, void *closure)
{
    (void)closure;
    return PyLong_FromSize_t(ipp_ar_progress(((pyi_ar_t *)obj)->ar));
}

// s_waitlike: run a libipp wait under the lock without the GIL; True when
// it returned IPP_OK, False on IPP_ERR_TIMEOUT, raises otherwise (or when
// a done callback left an exception).
#define S_WAIT_CALL(self, st, stmt)                                                                \
    do {                                                                                           \
        ipp_error_t err_;                                                                          \
        ipp_err_t rc_;                                                                             \
        ipp_error_t *err = &err_;                                                                  \
        pyi_lock(&(self)->client->lock);                                                           \
        Py_BEGIN_ALLOW_THREADS rc_ = (stmt);                                                       \
        Py_END_ALLOW_THREADS pyi_unlock(&(self)->client->lock);                                    \
        pyi_relq_drain((self)->client->relq);                                                      \
        if (PyErr_Occurred())                                                                      \
            return NULL;                                                                           \
        if (rc_ == IPP_ERR_TIMEOUT)                                                                \
            Py_RETURN_FALSE;                                                                       \
        if (rc_ != IPP_OK)                                                                         \
            return pyi_raise((st), err);                                                           \
        Py_RETURN_TRUE;                                                                            \
    } while (0)

// wait(timeout=-1) → True when ready, False on timeout.
static PyObject *s_wait(PyObject *obj, PyObject *args)
{
    double timeout = -1;
    if (!PyArg_ParseTuple(args, "|d:wait", &timeout))
        return NULL;
    S_AR(obj, self, st);
    if (ipp_ar_ready(self->ar))
        Py_RETURN_TRUE;
    S_WAIT_CALL(self, st, ipp_ar_wait(self->ar, timeout, err));
}

// wait_task(i, timeout=-1) → True when task i finished, False on timeout.
static PyObject *s_wait_task(PyObject *obj, PyObject *args)
{
    PyObject *io;
    double timeout = -1;
    if (!PyArg_ParseTuple(args, "O|d:wait_task", &io, &timeout))
        return NULL;
    S_AR(obj, self, st);
    Py_ssize_t i = s_index(self, io);
    if (i < 0)
        return NULL;
    S_WAIT_CALL(self, st, ipp_ar_wait_task(self->ar, (size_t)i, timeout, err));
}

// next(timeout=-1) → index of the next task to finish, None at the end;
// raises the TIMEOUT error class when nothing finished in time.
static PyObject *s_next(PyObject *obj, PyObject *args)
{
    double timeout = -1;
    if (!PyArg_ParseTuple(args, "|d:next", &timeout))
        return NULL;
    S_AR(obj, self, st);
    ipp_error_t err;
    ipp_err_t rc;
    size_t idx = 0;
    pyi_lock(&self->client->lock);
    Py_BEGIN_ALLOW_THREADS rc = ipp_ar_next(self->ar, timeout, &idx, &err);
    Py_END_ALLOW_THREADS pyi_unlock(&self->client->lock);
    if (PyErr_Occurred())
        return NULL;
    if (rc == IPP_ERR_NOT_FOUND)
        Py_RETURN_NONE;
    if (rc != IPP_OK)
        return pyi_raise(st, &err);
    return PyLong_FromSize_t(idx);
}

static PyObject *s_status(PyObject *obj, PyObject *arg)
{
    pyi_ar_t *self = (pyi_ar_t *)obj;
    Py_ssize_t i = s_index(self, arg);
    if (i < 0)
        return NULL;
    return PyLong_FromLong(ipp_ar_status(self->ar, (size_t)i));
}

// result(i) → [memoryview, …]: task i's result frames, read-only, no copy.
static PyObject *s_result(PyObject *obj, PyObject *arg)
{
    S_AR(obj, self, st);
    Py_ssize_t i = s_index(self, arg);
    if (i < 0)
        return NULL;
    size_t n = 0;
    const ipp_buf_t *b = ipp_ar_result(self->ar, (size_t)i, &n);
    PyObject *l = PyList_New((Py_ssize_t)n);
    for (size_t k = 0; l && k < n; k++) {
        PyObject *mv = pyi_rbuf_new(st, obj, b[k].data, b[k].size);
        if (!mv) {
            Py_CLEAR(l);
            break;
        }
        PyList_SET_ITEM(l, (Py_ssize_t)k, mv);
    }
    return l;
}

// s_error_tuple: (msg_id, ename, evalue, [traceback], engine_id, status, code).
static PyObject *s_error_tuple(const ipp_remote_error_t *e)
{
    PyObject *tb = PyList_New((Py_ssize_t)e->n_traceback);
    for (size_t k = 0; tb && k < e->n_traceback; k++) {
        PyObject *s =
            PyUnicode_DecodeUTF8(e->traceback[k], (Py_ssize_t)strlen(e->traceback[k]), "replace");
        if (!s) {
            Py_CLEAR(tb);
            break;
        }
        PyList_SET_ITEM(tb, (Py_ssize_t)k, s);
    }
    if (!tb)
        return NULL;
    PyObject *ename = PyUnicode_DecodeUTF8(e->ename ? e->ename : "",
                                           (Py_ssize_t)strlen(e->ename ? e->ename : ""), "replace");
    PyObject *evalue = PyUnicode_DecodeUTF8(
        e->evalue ? e->evalue : "", (Py_ssize_t)strlen(e->evalue ? e->evalue : ""), "replace");
    PyObject *t = (ename && evalue) ? Py_BuildValue("(zOONiii)", e->msg_id, ename, evalue, tb,
                                                    e->engine_id, (int)e->status, (int)e->code)
                                    : NULL;
    if (!t && !(ename && evalue))
        Py_DECREF(tb);
    Py_XDECREF(ename);
    Py_XDECREF(evalue);
    return t;
}

// error(i) → None or the error tuple of task i.
static PyObject *s_error(PyObject *obj, PyObject *arg)
{
    pyi_ar_t *self = (pyi_ar_t *)obj;
    Py_ssize_t i = s_index(self, arg);
    if (i < 0)
        return NULL;
    const ipp_remote_error_t *e = ipp_ar_error(self->ar, (size_t)i);
    if (!e)
        Py_RETURN_NONE;
    return s_error_tuple(e);
}

static PyObject *s_strs_list(const char *const *v, size_t n)
{
    PyObject *l = PyList_New((Py_ssize_t)n);
    for (size_t k = 0; l && k < n; k++) {
        PyObject *s = PyUnicode_FromString(v[k]);
        if (!s) {
            Py_CLEAR(l);
            break;
        }
        PyList_SET_ITEM(l, (Py_ssize_t)k, s);
    }
    return l;
}

static int s_set(PyObject *d, const char *k, PyObject *v)
{
    if (!v)
        return -1;
    int rc = PyDict_SetItemString(d, k, v);
    Py_DECREF(v);
    return rc;
}

static PyObject *s_opt_str(const char *s)
{
    return s ? PyUnicode_FromString(s) : Py_NewRef(Py_None);
}

// metadata(i) → dict of what is known about task i (times in µs UTC, 0
// unknown; stdout/stderr bytes).
static PyObject *s_metadata(PyObject *obj, PyObject *arg)
{
    pyi_ar_t *self = (pyi_ar_t *)obj;
    Py_ssize_t i = s_index(self, arg);
    if (i < 0)
        return NULL;
    ipp_metadata_t md;
    if (ipp_ar_metadata(self->ar, (size_t)i, &md) != IPP_OK) {
        PyErr_SetString(PyExc_IndexError, "task index out of range");
        return NULL;
    }
    PyObject *d = PyDict_New();
    if (!d)
        return NULL;
    if (s_set(d, "msg_id", PyUnicode_FromString(md.msg_id)) < 0 ||
        s_set(d, "status", PyLong_FromLong(md.status)) < 0 ||
        s_set(d, "accepted", PyBool_FromLong(md.accepted)) < 0 ||
        s_set(d, "submitted", PyLong_FromLongLong(md.submitted)) < 0 ||
        s_set(d, "started", PyLong_FromLongLong(md.started)) < 0 ||
        s_set(d, "completed", PyLong_FromLongLong(md.completed)) < 0 ||
        s_set(d, "received", PyLong_FromLongLong(md.received)) < 0 ||
        s_set(d, "engine_id",
              md.engine_id >= 0 ? PyLong_FromLong(md.engine_id) : Py_NewRef(Py_None)) < 0 ||
        s_set(d, "engine_uuid", s_opt_str(md.engine_uuid)) < 0 ||
        s_set(d, "label", s_opt_str(md.label)) < 0 ||
        s_set(d, "stdout",
              PyBytes_FromStringAndSize(md.stdout_data ? md.stdout_data : "",
                                        (Py_ssize_t)md.stdout_len)) < 0 ||
        s_set(d, "stderr",
              PyBytes_FromStringAndSize(md.stderr_data ? md.stderr_data : "",
                                        (Py_ssize_t)md.stderr_len)) < 0 ||
        s_set(d, "stdout_truncated", PyBool_FromLong(md.stdout_truncated)) < 0 ||
        s_set(d, "stderr_truncated", PyBool_FromLong(md.stderr_truncated)) < 0 ||
        s_set(d, "exit_status", PyLong_FromLong(md.exit_status)) < 0 ||
        s_set(d, "term_signal", PyLong_FromLong(md.term_signal)) < 0 ||
        s_set(d, "attempts", PyLong_FromLong(md.attempts)) < 0 ||
        s_set(d, "error", md.error ? s_error_tuple(md.error) : Py_NewRef(Py_None)) < 0 ||
        s_set(d, "after", s_strs_list(md.after, md.n_after)) < 0 ||
        s_set(d, "follow", s_strs_list(md.follow, md.n_follow)) < 0 ||
        s_set(d, "summary", s_opt_str(md.summary)) < 0) {
        Py_DECREF(d);
        return NULL;
    }
    return d;
}

// engine_ids() → each task's engine (None where none ran it).
static PyObject *s_engine_ids(PyObject *obj, PyObject *unused)
{
    (void)unused;
    pyi_ar_t *self = (pyi_ar_t *)obj;
    size_t n = ipp_ar_len(self->ar);
    PyObject *l = PyList_New((Py_ssize_t)n);
    for (size_t k = 0; l && k < n; k++) {
        ipp_metadata_t md;
        PyObject *x = ipp_ar_metadata(self->ar, k, &md) == IPP_OK && md.engine_id >= 0
                          ? PyLong_FromLong(md.engine_id)
                          : Py_NewRef(Py_None);
        if (!x) {
            Py_CLEAR(l);
            break;
        }
        PyList_SET_ITEM(l, (Py_ssize_t)k, x);
    }
    return l;
}

static PyObject *s_elapsed(PyObject *obj, void *closure)
{
    (void)closure;
    return PyFloat_FromDouble(ipp_ar_elapsed(((pyi_ar_t *)obj)->ar));
}

static PyObject *s_serial_time(PyObject *obj, void *closure)
{
    (void)closure;
    return PyFloat_FromDouble(ipp_ar_serial_time(((pyi_ar_t *)obj)->ar));
}

static PyObject *s_wall_time(PyObject *obj, void *closure)
{
    (void)closure;
    return PyFloat_FromDouble(ipp_ar_wall_time(((pyi_ar_t *)obj)->ar));
}

// timedelta(from, to) → seconds from the earliest `from` to the latest `to`.
static PyObject *s_timedelta(PyObject *obj, PyObject *args)
{
    int from, to;
    if (!PyArg_ParseTuple(args, "ii:timedelta", &from, &to))
        return NULL;
    if (from < IPP_STAMP_SUBMITTED || from > IPP_STAMP_RECEIVED || to < IPP_STAMP_SUBMITTED ||
        to > IPP_STAMP_RECEIVED) {
        PyErr_SetString(PyExc_ValueError, "unknown timestamp");
        return NULL;
    }
    return PyFloat_FromDouble(
        ipp_ar_timedelta(((pyi_ar_t *)obj)->ar, (ipp_stamp_t)from, (ipp_stamp_t)to));
}

// abort() → how many tasks the controller aborted.
static PyObject *s_abort(PyObject *obj, PyObject *unused)
{
    (void)unused;
    S_AR(obj, self, st);
    if (!pyi_client_usable(st, self->client))
        return NULL;
    ipp_error_t err;
    ipp_err_t rc;
    size_t n = 0;
    pyi_lock(&self->client->lock);
    Py_BEGIN_ALLOW_THREADS rc = ipp_ar_abort(self->ar, &n, &err);
    Py_END_ALLOW_THREADS pyi_unlock(&self->client->lock);
    if (PyErr_Occurred())
        return NULL;
    if (rc != IPP_OK)
        return pyi_raise(st, &err);
    return PyLong_FromSize_t(n);
}

// s_fire: the libipp done callback; runs inside a spin, maybe without the GIL.
static void s_fire(ipp_ar_t *ar, void *arg)
{
    (void)ar;
    PyGILState_STATE g = PyGILState_Ensure();
    pyi_ar_t *self = arg;
    PyObject *fn = self->on_done;
    self->on_done = NULL;
    if (fn) {
        Py_INCREF(self);  // the callable may drop the last other reference
        PyObject *r = PyObject_CallNoArgs(fn);
        if (!r)
            PyErr_WriteUnraisable(fn);
        Py_XDECREF(r);
        Py_DECREF(fn);
        Py_DECREF(self);
    }
    PyGILState_Release(g);
}

// arm(callable): call callable() once, when every task finished (at once
// if they have). Only one callable per CAsyncResult; later calls replace
// it if it has not fired yet.
static PyObject *s_arm(PyObject *obj, PyObject *fn)
{
    S_AR(obj, self, st);
    if (!PyCallable_Check(fn)) {
        PyErr_SetString(PyExc_TypeError, "arm() needs a callable");
        return NULL;
    }
    bool first = self->on_done == NULL;
    Py_INCREF(fn);
    Py_XSETREF(self->on_done, fn);
    if (!first)
        Py_RETURN_NONE;
    ipp_error_t err;
    pyi_lock(&self->client->lock);
    ipp_err_t rc = ipp_ar_add_done_callback(self->ar, s_fire, self, &err);
    pyi_unlock(&self->client->lock);
    if (PyErr_Occurred())
        return NULL;
    if (rc != IPP_OK) {
        Py_CLEAR(self->on_done);
        return pyi_raise(st, &err);
    }
    Py_RETURN_NONE;
}

static PyObject *s_client(PyObject *obj, void *closure)
{
    (void)closure;
    return Py_NewRef((PyObject *)((pyi_ar_t *)obj)->client);
}

static PyMethodDef s_methods[] = {
    {"msg_ids", s_msg_ids, METH_NOARGS, "msg_ids() -> [str]"},
    {"ready", s_ready, METH_NOARGS, "ready() -> every task finished (no spin)"},
    {"successful", s_successful, METH_NOARGS, "successful() -> ready and all succeeded"},
    {"wait", s_wait, METH_VARARGS, "wait(timeout=-1) -> bool ready"},
    {"wait_task", s_wait_task, METH_VARARGS, "wait_task(i, timeout=-1) -> bool"},
    {"next", s_next, METH_VARARGS, "next(timeout=-1) -> index finished next, None at the end"},
    {"status", s_status, METH_O, "status(i) -> STATUS_*"},
    {"result", s_result, METH_O, "result(i) -> [memoryview]"},
    {"error", s_error, METH_O,
     "error(i) -> None or (msg_id, ename, evalue, tb, engine, status, code)"},
    {"metadata", s_metadata, METH_O, "metadata(i) -> dict"},
    {"engine_ids", s_engine_ids, METH_NOARGS, "engine_ids() -> [int|None]"},
    {"timedelta", s_timedelta, METH_VARARGS, "timedelta(from, to) -> seconds"},
    {"abort", s_abort, METH_NOARGS, "abort() -> how many were aborted"},
    {"arm", s_arm, METH_O, "arm(callable): call it once every task finished"},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef s_getset[] = {
    {"is_hub", s_is_hub, NULL, "an AsyncHubResult", NULL},
    {"progress", s_progress, NULL, "tasks finished", NULL},
    {"elapsed", s_elapsed, NULL, "seconds since submission (the wall time once ready)", NULL},
    {"serial_time", s_serial_time, NULL, "sum of the tasks' run times", NULL},
    {"wall_time", s_wall_time, NULL, "first submitted to last received", NULL},
    {"client", s_client, NULL, "the _ipp.Client", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMemberDef s_members[] = {
    {"__weaklistoffset__", T_PYSSIZET, offsetof(pyi_ar_t, weakrefs), READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot s_slots[] = {
    {Py_tp_dealloc, s_dealloc},
    {Py_tp_methods, s_methods},
    {Py_tp_getset, s_getset},
    {Py_tp_members, s_members},
    {Py_sq_length, s_len},
    {Py_tp_doc, "A libipp AsyncResult: the tasks one call submitted."},
    {0, NULL},
};

PyType_Spec pyi_ar_spec = {
    .name = "ipp._ipp.CAsyncResult",
    .basicsize = sizeof(pyi_ar_t),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = s_slots,
};
