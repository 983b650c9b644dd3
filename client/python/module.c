/* module.c — the _ipp module: its state, its errors, the client lock and
 * the small conversions every object uses.
 *
 * Owns the module state (the error classes, the types). Never imports the
 * Python half of the package.
 */
#include "pyipp.h"

#include <string.h>

static PyModuleDef s_def;

pyi_state_t *pyi_state_of(PyObject *self)
{
    PyObject *mod = PyType_GetModuleByDef(Py_TYPE(self), &s_def);
    if (!mod)
        return NULL;
    return PyModule_GetState(mod);
}

PyObject *pyi_raise(pyi_state_t *st, const ipp_error_t *err)
{
    PyObject *cls = NULL;
    PyObject *key = PyLong_FromLong(err->code);
    if (key && st->error_map)
        cls = PyDict_GetItemWithError(st->error_map, key);  // borrowed
    Py_XDECREF(key);
    if (PyErr_Occurred())
        return NULL;
    if (!cls)
        cls = st->error_default ? st->error_default : PyExc_RuntimeError;
    const char *msg = err->msg[0] ? err->msg : ipp_strerror(err->code);
    PyObject *exc = PyObject_CallFunction(cls, "s", msg);
    if (!exc)
        return NULL;
    PyObject *code = PyLong_FromLong(err->code);
    if (code) {
        if (PyObject_SetAttrString(exc, "code", code) < 0)
            PyErr_Clear();  // a class without a settable attribute: keep the message
        Py_DECREF(code);
    }
    PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
    Py_DECREF(exc);
    return NULL;
}

PyObject *pyi_raise_code(pyi_state_t *st, ipp_err_t code, const char *msg)
{
    ipp_error_t e;
    ipp_error_set(&e, code, "%s", msg);
    return pyi_raise(st, &e);
}

bool pyi_client_usable(pyi_state_t *st, pyi_client_t *c)
{
    if (c && c->c)
        return true;
    pyi_raise_code(st, IPP_ERR_CLOSED, "the client is closed");
    return false;
}

// ---------------------------------------------------------------- lock

void pyi_lock(pyi_lock_t *l)
{
    unsigned long me = PyThread_get_thread_ident();
    if (l->depth > 0 && l->owner == me) {
        l->depth++;
        return;
    }
    if (!PyThread_acquire_lock(l->lk, NOWAIT_LOCK)) {
        Py_BEGIN_ALLOW_THREADS PyThread_acquire_lock(l->lk, WAIT_LOCK);
        Py_END_ALLOW_THREADS
    }
    l->owner = me;
    l->depth = 1;
}

void pyi_unlock(pyi_lock_t *l)
{
    if (--l->depth == 0) {
        l->owner = 0;
        PyThread_release_lock(l->lk);
    }
}

// ---------------------------------------------------------------- conversions

int pyi_strs(PyObject *seq, const char ***out, size_t *n, PyObject **keep)
{
    *out = NULL;
    *n = 0;
    *keep = NULL;
    if (!seq || seq == Py_None)
        return 0;
    if (PyUnicode_Check(seq)) {
        PyErr_SetString(PyExc_TypeError, "expected a list of str, not a str");
        return -1;
    }
    PyObject *list = PySequence_List(seq);
    if (!list)
        return -1;
    Py_ssize_t len = PyList_GET_SIZE(list);
    const char **v = PyMem_Malloc((size_t)(len ? len : 1) * sizeof *v);
    if (!v) {
        Py_DECREF(list);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < len; i++) {
        PyObject *it = PyList_GET_ITEM(list, i);
        if (!PyUnicode_Check(it)) {
            PyErr_Format(PyExc_TypeError, "expected str, got %.80s", Py_TYPE(it)->tp_name);
            goto fail;
        }
        v[i] = PyUnicode_AsUTF8(it);
        if (!v[i])
            goto fail;
    }
    *out = v;
    *n = (size_t)len;
    *keep = list;
    return 0;
fail:
    PyMem_Free(v);
    Py_DECREF(list);
    return -1;
}

int pyi_ints(PyObject *seq, int **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!seq || seq == Py_None)
        return 0;
    PyObject *fast = PySequence_Fast(seq, "expected a sequence of int");
    if (!fast)
        return -1;
    Py_ssize_t len = PySequence_Fast_GET_SIZE(fast);
    int *v = PyMem_Malloc((size_t)(len ? len : 1) * sizeof *v);
    if (!v) {
        Py_DECREF(fast);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < len; i++) {
        long x = PyLong_AsLong(PySequence_Fast_GET_ITEM(fast, i));
        if (x == -1 && PyErr_Occurred())
            goto fail;
        if (x < INT32_MIN || x > INT32_MAX) {
            PyErr_SetString(PyExc_OverflowError, "engine id out of range");
            goto fail;
        }
        v[i] = (int)x;
    }
    Py_DECREF(fast);
    *out = v;
    *n = (size_t)len;
    return 0;
fail:
    PyMem_Free(v);
    Py_DECREF(fast);
    return -1;
}

// ---------------------------------------------------------------- module

// set_error_classes(default, {code: class}): where raised errors go.
static PyObject *s_set_error_classes(PyObject *mod, PyObject *args)
{
    PyObject *dflt, *map;
    if (!PyArg_ParseTuple(args, "OO!", &dflt, &PyDict_Type, &map))
        return NULL;
    pyi_state_t *st = PyModule_GetState(mod);
    Py_INCREF(dflt);
    Py_INCREF(map);
    Py_XSETREF(st->error_default, dflt);
    Py_XSETREF(st->error_map, map);
    Py_RETURN_NONE;
}

// strerror(code): libipp's description of an error code.
static PyObject *s_strerror(PyObject *mod, PyObject *arg)
{
    (void)mod;
    long code = PyLong_AsLong(arg);
    if (code == -1 && PyErr_Occurred())
        return NULL;
    return PyUnicode_FromString(ipp_strerror((int)code));
}

// status_name(status): "pending", "ok", …
static PyObject *s_status_name(PyObject *mod, PyObject *arg)
{
    (void)mod;
    long s = PyLong_AsLong(arg);
    if (s == -1 && PyErr_Occurred())
        return NULL;
    return PyUnicode_FromString(ipp_status_name((int)s));
}

// partition(n, parts, p) → (lo, hi), libipp's split of n items.
static PyObject *s_partition(PyObject *mod, PyObject *args)
{
    (void)mod;
    Py_ssize_t n, parts, p;
    if (!PyArg_ParseTuple(args, "nnn", &n, &parts, &p))
        return NULL;
    if (n < 0 || parts < 0 || p < 0) {
        PyErr_SetString(PyExc_ValueError, "partition: negative argument");
        return NULL;
    }
    size_t lo, hi;
    ipp_partition((size_t)n, (size_t)parts, (size_t)p, &lo, &hi);
    return Py_BuildValue("nn", (Py_ssize_t)lo, (Py_ssize_t)hi);
}

static PyMethodDef s_methods[] = {
    {"set_error_classes", s_set_error_classes, METH_VARARGS,
     "set_error_classes(default, {code: class}): the classes raised errors get."},
    {"strerror", s_strerror, METH_O, "strerror(code) -> str"},
    {"status_name", s_status_name, METH_O, "status_name(status) -> str"},
    {"partition", s_partition, METH_VARARGS,
     "partition(n, parts, p) -> (lo, hi): part p of n items split in parts."},
    {NULL, NULL, 0, NULL},
};

static int s_add_type(PyObject *mod, PyType_Spec *spec, PyObject **slot)
{
    PyObject *t = PyType_FromModuleAndSpec(mod, spec, NULL);
    if (!t)
        return -1;
    *slot = t;
    const char *dot = strrchr(spec->name, '.');
    Py_INCREF(t);
    if (PyModule_AddObject(mod, dot ? dot + 1 : spec->name, t) < 0) {
        Py_DECREF(t);
        return -1;
    }
    return 0;
}

static int s_exec(PyObject *mod)
{
    pyi_state_t *st = PyModule_GetState(mod);
    if (s_add_type(mod, &pyi_client_spec, &st->client_type) < 0 ||
        s_add_type(mod, &pyi_view_spec, &st->view_type) < 0 ||
        s_add_type(mod, &pyi_ar_spec, &st->ar_type) < 0 ||
        s_add_type(mod, &pyi_tracker_spec, &st->tracker_type) < 0 ||
        s_add_type(mod, &pyi_rbuf_spec, &st->rbuf_type) < 0)
        return -1;
    static const struct {
        const char *name;
        long v;
    } consts[] = {
        {"STATUS_PENDING", IPP_STATUS_PENDING},
        {"STATUS_OK", IPP_STATUS_OK},
        {"STATUS_ERROR", IPP_STATUS_ERROR},
        {"STATUS_ABORTED", IPP_STATUS_ABORTED},
        {"STATUS_UNREACHABLE", IPP_STATUS_UNREACHABLE},
        {"STATUS_LOST", IPP_STATUS_LOST},
        {"STATUS_UNKNOWN", IPP_STATUS_UNKNOWN},
        {"STATUS_REFUSED", IPP_STATUS_REFUSED},
        {"ERR_INVALID", IPP_ERR_INVALID},
        {"ERR_TIMEOUT", IPP_ERR_TIMEOUT},
        {"ERR_NOT_FOUND", IPP_ERR_NOT_FOUND},
        {"ERR_CLOSED", IPP_ERR_CLOSED},
        {"ERR_REMOTE", IPP_ERR_REMOTE},
        {"ERR_ABORTED", IPP_ERR_ABORTED},
        {"ERR_UNREACHABLE", IPP_ERR_UNREACHABLE},
        {"ERR_ENGINE", IPP_ERR_ENGINE},
        {"ERR_NO_ENGINES", IPP_ERR_NO_ENGINES},
        {"ERR_QUERY", IPP_ERR_QUERY},
        {"ERR_PENDING", IPP_ERR_PENDING},
        {"ERR_CONN_FILE", IPP_ERR_CONN_FILE},
        {"ERR_PERMISSION", IPP_ERR_PERMISSION},
        {"ERR_CYCLE", IPP_ERR_CYCLE},
        {"COPY_BELOW", PYI_COPY_BELOW},
        {"STAMP_SUBMITTED", IPP_STAMP_SUBMITTED},
        {"STAMP_STARTED", IPP_STAMP_STARTED},
        {"STAMP_COMPLETED", IPP_STAMP_COMPLETED},
        {"STAMP_RECEIVED", IPP_STAMP_RECEIVED},
    };
    for (size_t i = 0; i < sizeof consts / sizeof consts[0]; i++)
        if (PyModule_AddIntConstant(mod, consts[i].name, consts[i].v) < 0)
            return -1;
    if (PyModule_AddStringConstant(mod, "libipp_version", ipp_version()) < 0)
        return -1;
    return 0;
}

static int s_traverse(PyObject *mod, visitproc visit, void *arg)
{
    pyi_state_t *st = PyModule_GetState(mod);
    Py_VISIT(st->error_default);
    Py_VISIT(st->error_map);
    Py_VISIT(st->client_type);
    Py_VISIT(st->view_type);
    Py_VISIT(st->ar_type);
    Py_VISIT(st->tracker_type);
    Py_VISIT(st->rbuf_type);
    return 0;
}

static int s_clear(PyObject *mod)
{
    pyi_state_t *st = PyModule_GetState(mod);
    Py_CLEAR(st->error_default);
    Py_CLEAR(st->error_map);
    Py_CLEAR(st->client_type);
    Py_CLEAR(st->view_type);
    Py_CLEAR(st->ar_type);
    Py_CLEAR(st->tracker_type);
    Py_CLEAR(st->rbuf_type);
    return 0;
}

static void s_free(void *mod)
{
    s_clear(mod);
}

static PyModuleDef_Slot s_slots[] = {
    {Py_mod_exec, s_exec},
    {0, NULL},
};

static PyModuleDef s_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "ipp._ipp",
    .m_doc = "C core of the ipp package: libipp's client, views and AsyncResults.",
    .m_size = sizeof(pyi_state_t),
    .m_methods = s_methods,
    .m_slots = s_slots,
    .m_traverse = s_traverse,
    .m_clear = s_clear,
    .m_free = s_free,
};

PyMODINIT_FUNC PyInit__ipp(void);

PyMODINIT_FUNC PyInit__ipp(void)
{
    return PyModuleDef_Init(&s_def);
}
