/* frame.h — the framing between the Python plugin and its host process.
 *
 * Plugin (in ipp-engine) and host (ipp-python-host) talk over one
 * SOCK_STREAM socketpair. A frame is a fixed header {kind, nparts, seq},
 * then nparts 64-bit lengths, then the parts' bytes back to back, all in
 * the machine's byte order (both ends are the same machine and build).
 * Requests carry a task's argument buffers as parts; the host answers with
 * output frames while the task runs and one final frame. Requests may be
 * several ahead of the answers (the host runs them in order, one at a
 * time); every answer names its request by seq. This file is
 * compiled into both programs, so it uses nothing but libc; it never
 * allocates on behalf of the caller except where a function says so.
 */
#ifndef IPP_ENGINE_PYTHON_FRAME_H
#define IPP_ENGINE_PYTHON_FRAME_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

// Frame kinds. Plugin → host: the task operations (parts = argument
// buffers). Host → plugin: everything else.
enum {
    PY_OP_APPLY = 1,     // [0] cloudpickle of (f, args, kwargs), [1…] its buffers
    PY_OP_EXECUTE = 2,   // [0] source, [1] optional file name
    PY_OP_PUSH = 3,      // [0] pickle of a dict, [1…] its buffers
    PY_OP_PULL = 4,      // [0] pickle of a name or a list/tuple of names
    PY_OP_CLEAR = 5,     // no parts
    PY_OUT_STDOUT = 16,  // [0] bytes written to sys.stdout
    PY_OUT_STDERR = 17,  // [0] bytes written to sys.stderr
    PY_DONE_OK = 18,     // [0] summary (UTF-8, empty = none), [1…] result buffers
    PY_DONE_ERROR = 19,  // [0] ename, [1] evalue, [2] traceback text
    PY_READY = 20,       // host started: [0] Python's version string
    PY_FATAL = 21,       // host cannot run Python tasks: [0] why; it exits next
};

// Bounds a reader enforces: a frame past them means a broken peer.
#define PY_FRAME_MAX_PARTS ((uint32_t)1 << 20)
#define PY_FRAME_MAX_PART ((uint64_t)1 << 40)

// The fixed header as it travels.
typedef struct py_head_t {
    uint32_t kind;    // PY_*
    uint32_t nparts;  // parts that follow
    uint64_t seq;     // the request this belongs to (requests number themselves)
    int64_t at_us;    // PY_DONE_*: when the host started the task (µs since the
                      // epoch); 0 elsewhere
} py_head_t;

// py_frame_send: write one whole frame (blocking; EINTR retried; never
// raises SIGPIPE). parts are borrowed. Returns 0, or -1 with errno set.
int py_frame_send(int fd, uint32_t kind, uint64_t seq, const struct iovec *parts, size_t nparts);

// py_frame_send_at: py_frame_send with the header's at_us set.
int py_frame_send_at(int fd, uint32_t kind, uint64_t seq, int64_t at_us, const struct iovec *parts,
                     size_t nparts);

// A buffered reader of one socket: the frames that arrived together are
// taken in with one read(2), not three or more each. Embedded, no
// allocation; the buffer holds only bytes already received.
#define PY_READER_BUF 65536
typedef struct py_reader_t {
    int fd;                   // the socket, borrowed
    size_t start, end;        // unread bytes: buf[start..end)
    char buf[PY_READER_BUF];  // what came in
} py_reader_t;

// py_reader_init: an empty reader of fd (also: forget what is buffered).
void py_reader_init(py_reader_t *r, int fd);

// py_reader_pending: bytes received and not read yet.
static inline size_t py_reader_pending(const py_reader_t *r)
{
    return r->end - r->start;
}

// py_read_full: read exactly n bytes into buf (blocking, EINTR retried;
// large reads go straight into buf). Returns 0, 1 at end of file before n
// bytes, or -1 with errno set.
int py_read_full(py_reader_t *r, void *buf, size_t n);

// py_frame_read_head: read a header and its lengths. On 0, *lens is a
// malloc'ed array of h->nparts lengths (caller frees; NULL when nparts is
// 0). Returns 0, 1 at end of file, -1 with errno set (EPROTO: the header
// is out of bounds; ENOMEM).
int py_frame_read_head(py_reader_t *r, py_head_t *h, uint64_t **lens);

#endif
