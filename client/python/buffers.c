/* buffers.c — bytes between Python and libipp without copies.
 *
 * Outgoing: large bytes-like arguments are lent to libipp as they are
 * (their Py_buffer held); ZeroMQ frees them from its I/O thread, which
 * only queues the hold (no GIL there) and counts its Tracker down; the
 * queue is drained with the GIL by the client. Incoming: ResultBuffer
 * exposes a result frame owned by a CAsyncResult, read-only, keeping the
 * CAsyncResult alive while any view of it exists.
 *
 * Owns the release queue, the holds and the tracker counts. Must never
 * touch a Python object without the GIL (s_hold_free runs without it).
 */
#include "pyipp.h"

#include <stdlib.h>
#include <time.h>

struct pyi_relq_t {
    pthread_mutex_t mu;  // guards head
    pyi_hold_t *head;    // holds ZeroMQ is done with
};

pyi_relq_t *pyi_relq_new(void)
{
    pyi_relq_t *q = calloc(1, sizeof *q);
    if (!q)
        return NULL;
    if (pthread_mutex_init(&q->mu, NULL) != 0) {
        free(q);
        return NULL;
    }
    return q;
}

void pyi_relq_drain(pyi_relq_t *q)
{
    if (!q)
        return;
    pthread_mutex_lock(&q->mu);
    pyi_hold_t *h = q->head;
    q->head = NULL;
    pthread_mutex_unlock(&q->mu);
    while (h) {
        pyi_hold_t *next = h->next;
        PyBuffer_Release(&h->view);
        Py_XDECREF(h->mv);
        free(h);
        h = next;
    }
}

void pyi_relq_destroy(pyi_relq_t **q_p)
{
    if (!q_p || !*q_p)
        return;
    pyi_relq_drain(*q_p);
    pthread_mutex_destroy(&(*q_p)->mu);
    free(*q_p);
    *q_p = NULL;
}

void pyi_track_unref(pyi_track_t *t)
{
    if (t && atomic_fetch_sub(&t->refs, 1) == 1)
        free(t);
}

// s_hold_free: libipp's free_fn: ZeroMQ (any thread) is done with the
// bytes. Queue the hold; count the tracker down. No Python here.
static void s_hold_free(void *data, void *hint)
{
    (void)data;
    pyi_hold_t *h = hint;
    pyi_track_t *t = h->track;
    h->track = NULL;
    pyi_relq_t *q = h->q;
    pthread_mutex_lock(&q->mu);
    h->next = q->head;
    q->head = h;
    pthread_mutex_unlock(&q->mu);
    if (t) {
        atomic_fetch_sub(&t->pending, 1);
        pyi_track_unref(t);
    }
}

int pyi_bufs_from(PyObject *seq, pyi_relq_t *q, pyi_track_t *track, pyi_bufs_t *out)
{
    memset(out, 0, sizeof *out);
    PyObject *fast = PySequence_Fast(seq, "buffers must be a sequence of bytes-like objects");
    if (!fast)
        return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    out->v = PyMem_Calloc((size_t)(n ? n : 1), sizeof *out->v);
    out->copied = PyMem_Calloc((size_t)(n ? n : 1), sizeof *out->copied);
    if (!out->v || !out->copied) {
        PyErr_NoMemory();
        goto fail;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *o = PySequence_Fast_GET_ITEM(fast, i);
        Py_buffer view;
        if (PyObject_GetBuffer(o, &view, PyBUF_ANY_CONTIGUOUS) < 0)
            goto fail;
        if (view.len < PYI_COPY_BELOW) {
            out->v[i] = (ipp_buf_t){view.buf, (size_t)view.len, NULL, NULL};
            out->copied[out->n_copied++] = view;
        } else {
            pyi_hold_t *h = calloc(1, sizeof *h);
            if (!h) {
                PyBuffer_Release(&view);
                PyErr_NoMemory();
                goto fail;
            }
            h->view = view;
            h->q = q;
            if (track) {
                atomic_fetch_add(&track->refs, 1);
                atomic_fetch_add(&track->pending, 1);
                h->track = track;
            }
            out->v[i] = (ipp_buf_t){view.buf, (size_t)view.len, s_hold_free, h};
        }
        out->n = (size_t)i + 1;
    }
    Py_DECREF(fast);
    return 0;
fail:
    Py_DECREF(fast);
    pyi_bufs_abandon(out);
    pyi_relq_drain(q);
    return -1;
}

void pyi_bufs_fini(pyi_bufs_t *b)
{
    for (size_t i = 0; i < b->n_copied; i++)
        PyBuffer_Release(&b->copied[i]);
    PyMem_Free(b->copied);
    PyMem_Free(b->v);
    memset(b, 0, sizeof *b);
}

void pyi_bufs_abandon(pyi_bufs_t *b)
{
    for (size_t i = 0; b->v && i < b->n; i++)
        if (b->v[i].free_fn)
            b->v[i].free_fn((void *)b->v[i].data, b->v[i].hint);
    pyi_bufs_fini(b);
}

// ---------------------------------------------------------------- Tracker

static void s_tracker_dealloc(PyObject *self)
{
    pyi_tracker_obj_t *t = (pyi_tracker_obj_t *)self;
    PyTypeObject *tp = Py_TYPE(self);
    pyi_track_unref(t->t);
    t->t = NULL;
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyObject *s_tracker_new(PyTypeObject *tp, PyObject *args, PyObject *kw)
{
    if (!PyArg_ParseTuple(args, ":Tracker") || (kw && PyDict_Size(kw))) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "Tracker() takes no arguments");
        return NULL;
    }
    pyi_tracker_obj_t *self = (pyi_tracker_obj_t *)tp->tp_alloc(tp, 0);
    if (!self)
        return NULL;
    self->t = calloc(1, sizeof *self->t);
    if (!self->t) {
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    atomic_init(&self->t->refs, 1);
    atomic_init(&self->t->pending, 0);
    return (PyObject *)self;
}

// done: ZeroMQ has let go of every buffer counted here.
static PyObject *s_tracker_done(PyObject *self, void *closure)
{
    (void)closure;
    pyi_tracker_obj_t *t = (pyi_tracker_obj_t *)self;
    return PyBool_FromLong(atomic_load(&t->t->pending) == 0);
}

// pending: how many buffers ZeroMQ still holds.
static PyObject *s_tracker_pending(PyObject *self, void *closure)
{
    (void)closure;
    pyi_tracker_obj_t *t = (pyi_tracker_obj_t *)self;
    return PyLong_FromLong(atomic_load(&t->t->pending));
}

// wait(timeout=-1) → bool: sleep (without the GIL) until done or timeout
// (negative: forever); True when done.
static PyObject *s_tracker_wait(PyObject *self, PyObject *args)
{
    pyi_tracker_obj_t *t = (pyi_tracker_obj_t *)self;
    double timeout = -1;
    if (!PyArg_ParseTuple(args, "|d:wait", &timeout))
        return NULL;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    bool done = false;
    Py_BEGIN_ALLOW_THREADS for (;;)
    {
        if (atomic_load(&t->t->pending) == 0) {
            done = true;
            break;
        }
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        double el = (double)(now.tv_sec - t0.tv_sec) + (double)(now.tv_nsec - t0.tv_nsec) * 1e-9;
        if (timeout >= 0 && el >= timeout)
            break;
        struct timespec nap = {0, 200000};  // 0.2 ms: ZeroMQ frees soon after the send
        nanosleep(&nap, NULL);
    }
    Py_END_ALLOW_THREADS return PyBool_FromLong(done);
}

static PyGetSetDef s_tracker_getset[] = {
    {"done", s_tracker_done, NULL, "ZeroMQ is done with every tracked buffer", NULL},
    {"pending", s_tracker_pending, NULL, "tracked buffers still held by ZeroMQ", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMethodDef s_tracker_methods[] = {
    {"wait", s_tracker_wait, METH_VARARGS,
     "wait(timeout=-1) -> bool: until ZeroMQ let go of the buffers"},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot s_tracker_slots[] = {
    {Py_tp_new, s_tracker_new},
    {Py_tp_dealloc, s_tracker_dealloc},
    {Py_tp_getset, s_tracker_getset},
    {Py_tp_methods, s_tracker_methods},
    {Py_tp_doc, "Tracker(): counts buffers lent to ZeroMQ by one submission (track=True)."},
    {0, NULL},
};

PyType_Spec pyi_tracker_spec = {
    .name = "ipp._ipp.Tracker",
    .basicsize = sizeof(pyi_tracker_obj_t),
    .flags = Py_TPFLAGS_DEFAULT,
    .slots = s_tracker_slots,
};

// ---------------------------------------------------------------- ResultBuffer

typedef struct s_rbuf_t {
    PyObject_HEAD PyObject *owner;  // the CAsyncResult owning the bytes (strong)
    const void *data;               // the bytes
    Py_ssize_t size;                // how many
} s_rbuf_t;

PyObject *pyi_rbuf_new(pyi_state_t *st, PyObject *owner, const void *data, size_t size)
{
    PyTypeObject *tp = (PyTypeObject *)st->rbuf_type;
    s_rbuf_t *b = (s_rbuf_t *)tp->tp_alloc(tp, 0);
    if (!b)
        return NULL;
    Py_INCREF(owner);
    b->owner = owner;
    b->data = data ? data : "";
    b->size = (Py_ssize_t)size;
    PyObject *mv = PyMemoryView_FromObject((PyObject *)b);
    Py_DECREF(b);
    return mv;
}

static int s_rbuf_getbuffer(PyObject *self, Py_buffer *view, int flags)
{
    s_rbuf_t *b = (s_rbuf_t *)self;
    return PyBuffer_FillInfo(view, self, (void *)b->data, b->size, 1, flags);
}

static void s_rbuf_dealloc(PyObject *self)
{
    s_rbuf_t *b = (s_rbuf_t *)self;
    PyTypeObject *tp = Py_TYPE(self);
    Py_CLEAR(b->owner);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyType_Slot s_rbuf_slots[] = {
    {Py_bf_getbuffer, s_rbuf_getbuffer},
    {Py_tp_dealloc, s_rbuf_dealloc},
    {Py_tp_doc, "A result frame, read-only, owned by its AsyncResult."},
    {0, NULL},
};

PyType_Spec pyi_rbuf_spec = {
    .name = "ipp._ipp.ResultBuffer",
    .basicsize = sizeof(s_rbuf_t),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = s_rbuf_slots,
};
