/* pyipp.h — what the files of the _ipp extension module share.
 *
 * _ipp is the C half of the `ipp` Python package: thin objects over
 * libipp's public API (include/ipp/client.h, view.h, result.h) — Client,
 * View, AsyncResult (named CAsyncResult here; the Python layer's
 * AsyncResult is a concurrent.futures.Future holding one), Tracker and the
 * read-only ResultBuffer that hands a result frame to Python without a
 * copy. Everything Python-facing (pickling, flags, errors' classes) lives
 * in the package's .py files; this module never imports them, it is given
 * the error classes once at import (_ipp.set_error_classes).
 *
 * Threads: a libipp client belongs to one thread at a time, so every
 * object made from a Client takes the Client's lock (reentrant for the
 * thread holding it, since done callbacks run inside a spin and may call
 * back in) around each libipp call. Calls that may wait (spins, waits,
 * hub requests) release the GIL; done callbacks take it back.
 *
 * Buffers sent without a copy are Py_buffers held until ZeroMQ is done
 * with them. ZeroMQ frees them from its I/O thread, where the GIL may not
 * be taken: the free function only moves the hold onto the client's
 * release queue (a mutex-guarded list) and counts its tracker down; the
 * queue is emptied — PyBuffer_Release — by the next call into the client
 * that holds the GIL, and at close, after the ZeroMQ context is gone.
 */
#ifndef IPP_PYIPP_H
#define IPP_PYIPP_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#include "ipp/ipp.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

// ---------------------------------------------------------------- module

// Module state: the exception classes the Python layer gave us and the
// types (heap types, so the module can be reloaded in sub-interpreters).
typedef struct pyi_state_t {
    PyObject *error_default;  // class for codes not in error_map (an Exception subclass)
    PyObject *error_map;      // dict int code → class
    PyObject *client_type;    // _ipp.Client
    PyObject *view_type;      // _ipp.View
    PyObject *ar_type;        // _ipp.CAsyncResult
    PyObject *tracker_type;   // _ipp.Tracker
    PyObject *rbuf_type;      // _ipp.ResultBuffer
} pyi_state_t;

// pyi_state_of: the module state reached from an object of one of our
// types; NULL (with an exception) if it cannot be found.
pyi_state_t *pyi_state_of(PyObject *self);

// pyi_raise: set a Python exception for err (class from the error map by
// err->code, args (message,), attribute `code`); returns NULL.
PyObject *pyi_raise(pyi_state_t *st, const ipp_error_t *err);

// pyi_raise_code: pyi_raise with a code and a message.
PyObject *pyi_raise_code(pyi_state_t *st, ipp_err_t code, const char *msg);

// ---------------------------------------------------------------- lock

// A lock the holding thread may take again (done callbacks call back in).
typedef struct pyi_lock_t {
    PyThread_type_lock lk;  // the lock (owned)
    unsigned long owner;    // thread holding it (valid while depth > 0)
    int depth;              // how many times the owner took it
} pyi_lock_t;

// pyi_lock / pyi_unlock: take / give back l; called with the GIL held;
// pyi_lock releases the GIL while it waits for another thread.
void pyi_lock(pyi_lock_t *l);
void pyi_unlock(pyi_lock_t *l);

// ---------------------------------------------------------------- buffers

typedef struct pyi_relq_t pyi_relq_t;

// A tracker's shared count: how many held buffers ZeroMQ still has.
typedef struct pyi_track_t {
    atomic_long pending;  // buffers not yet released by ZeroMQ
    atomic_long refs;     // the Tracker object + each hold
} pyi_track_t;

// One held buffer, the hint of its ipp_buf_t.
typedef struct pyi_hold_t {
    Py_buffer view;           // what Python lent us (released with the GIL)
    PyObject *mv;             // a memoryview kept alive while in flight, or NULL
    pyi_track_t *track;       // counted down when ZeroMQ is done (may be NULL)
    pyi_relq_t *q;            // where to go when freed
    struct pyi_hold_t *next;  // queue link
} pyi_hold_t;

// pyi_relq_new: an empty release queue; NULL when out of memory.
pyi_relq_t *pyi_relq_new(void);

// pyi_relq_drain: release (with the GIL held) every hold on q.
void pyi_relq_drain(pyi_relq_t *q);

// pyi_relq_destroy: drain and free *q_p; NULL-safe. Only after nothing can
// push any more (the client's ZeroMQ context terminated).
void pyi_relq_destroy(pyi_relq_t **q_p);

// Buffers below this size are copied by libipp: cheaper than a hold.
#define PYI_COPY_BELOW 4096

// A list of outgoing buffers turned into ipp_buf_t.
typedef struct pyi_bufs_t {
    ipp_buf_t *v;       // n entries (owned)
    size_t n;           // how many
    Py_buffer *copied;  // views of the copied (small) ones, released in pyi_bufs_fini
    size_t n_copied;    // how many
} pyi_bufs_t;

// pyi_bufs_from: fill out from a sequence of bytes-like objects: small
// ones copied by libipp later (their Py_buffer kept in out until
// pyi_bufs_fini), large ones held (free_fn set: ownership goes to libipp
// at the submitting call). track (may be NULL) is counted up per hold.
// Returns 0, or -1 with an exception (nothing held then).
int pyi_bufs_from(PyObject *seq, pyi_relq_t *q, pyi_track_t *track, pyi_bufs_t *out);

// pyi_bufs_fini: after the submitting call: release the copied views and
// free the array (the holds belong to libipp by now). NULL-safe contents.
void pyi_bufs_fini(pyi_bufs_t *b);

// pyi_bufs_abandon: on a failure before any submitting call: give every
// hold back as libipp would have (free_fn), then pyi_bufs_fini.
void pyi_bufs_abandon(pyi_bufs_t *b);

// pyi_track_unref: drop one reference; frees at zero.
void pyi_track_unref(pyi_track_t *t);

// The Tracker object (track=True): whether ZeroMQ is done with the buffers.
typedef struct pyi_tracker_obj_t {
    PyObject_HEAD pyi_track_t *t;  // shared count (one ref)
} pyi_tracker_obj_t;

// pyi_rbuf_new: a ResultBuffer over data[0..size) owned by owner (which
// it keeps alive), as a read-only memoryview. New reference or NULL.
PyObject *pyi_rbuf_new(pyi_state_t *st, PyObject *owner, const void *data, size_t size);

// ---------------------------------------------------------------- objects

typedef struct pyi_client_t {
    PyObject_HEAD ipp_client_t *c;  // NULL once closed
    pyi_lock_t lock;                // around every libipp call on c and what it made
    pyi_relq_t *relq;               // held buffers ZeroMQ is done with
    PyObject *weakrefs;             // weak references list
} pyi_client_t;

typedef struct pyi_view_t {
    PyObject_HEAD pyi_client_t *client;  // strong reference
    ipp_view_t *v;                       // owned
} pyi_view_t;

typedef struct pyi_ar_t {
    PyObject_HEAD pyi_client_t *client;  // strong reference
    ipp_ar_t *ar;                        // owned
    PyObject *on_done;                   // callable armed with arm(), or NULL
    PyObject *weakrefs;                  // weak references list
} pyi_ar_t;

// pyi_ar_wrap: a CAsyncResult owning ar (destroyed here on failure).
// New reference or NULL.
PyObject *pyi_ar_wrap(pyi_state_t *st, pyi_client_t *client, ipp_ar_t *ar);

// pyi_client_usable: c open; else raises (IPP_ERR_CLOSED) and returns false.
bool pyi_client_usable(pyi_state_t *st, pyi_client_t *c);

// pyi_strs: a C array of n strings borrowed from a sequence of str (its
// items kept alive by *keep, a new list the caller releases); -1 with an
// exception. *out is PyMem_Malloc'ed (PyMem_Free).
int pyi_strs(PyObject *seq, const char ***out, size_t *n, PyObject **keep);

// pyi_ints: a C array of ints from a sequence (or None: n 0, *out NULL).
int pyi_ints(PyObject *seq, int **out, size_t *n);

// Type specs, one per file.
extern PyType_Spec pyi_client_spec;
extern PyType_Spec pyi_view_spec;
extern PyType_Spec pyi_ar_spec;
extern PyType_Spec pyi_tracker_spec;
extern PyType_Spec pyi_rbuf_spec;

#endif
