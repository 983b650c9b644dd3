/* host.c — ipp-python-host: the process in which an engine's Python runs.
 *
 * Spawned by the engine's Python plugin (plugin.c) with one end of a
 * socketpair as the fd named in argv[1]. It embeds CPython (one
 * interpreter, its __main__ dict the engine namespace), loads host.py
 * (compiled in), says READY, then serves task frames one at a time until
 * the socket closes: each runs through host.py's run(), whose output
 * streams back as PY_OUT_* frames and whose answer is one PY_DONE_* frame.
 *
 * A stop request is a signal queued by the plugin: SIGUSR1 (abort) or
 * SIGUSR2 (wall time) carrying the task's sequence number; when it names
 * the running task, the handler trips Python's SIGINT handling, whose
 * handler in host.py raises TaskAborted or WallTimeExceeded in the running
 * code — also inside time.sleep and other interruptible calls. The plugin
 * repeats the request every 100 ms until the task answers, so one that
 * came while the task was still being read, or just before the code
 * entered a blocking call, is not lost. A request naming a task not
 * running yet (one sent ahead and cancelled before its turn) is kept, and
 * that task is answered stopped without running. Code that does not
 * return is killed by the plugin after a grace period.
 *
 * Built without sanitizers: it runs the system's libpython, which an ASan
 * runtime would not load into. The only globals are what the signal
 * handler and the module's write() need; they belong to this program.
 * Never writes to the socket but whole frames, and never exits with the
 * engine's tasks half answered unless the socket failed.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "engine/python/frame.h"
#include "engine/python/host_py.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int s_fd = -1;                         // the socket to the plugin
static py_reader_t s_in;                      // what it sent, buffered
static volatile sig_atomic_t s_in_task;       // a task runs now
static volatile sig_atomic_t s_task_seq;      // its sequence number (low bits)
static volatile sig_atomic_t s_reason;        // 1 abort, 2 wall time, 0 none
static volatile sig_atomic_t s_tripped;       // this task's interrupt is tripped
static volatile sig_atomic_t s_early_seq;     // a stop for a task not started yet
static volatile sig_atomic_t s_early_reason;  // its reason (as s_reason)
static uint64_t s_seq;                        // the full sequence number

// s_on_stop: a stop request; only one for the running task counts.
static void s_on_stop(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    if (si->si_code != SI_QUEUE)
        return;
    if (!s_in_task || si->si_value.sival_int != s_task_seq) {
        // For a task sent ahead that has not started: it is skipped.
        s_early_reason = 0;
        s_early_seq = si->si_value.sival_int;
        s_early_reason = sig == SIGUSR2 ? 2 : 1;
        return;
    }
    // The plugin repeats its request until the task answers: only the
    // first trips Python's handler (the stop is raised once, not again in
    // the code's cleanup); the others still wake a blocking call, whose
    // retry then sees the tripped handler.
    if (s_tripped)
        return;
    s_tripped = 1;
    s_reason = sig == SIGUSR2 ? 2 : 1;
    PyErr_SetInterruptEx(SIGINT);
}

// ------------------------------------------------------ module _ipp_host

// write(stream, data): send data as the task's stdout (1) or stderr (2).
static PyObject *s_write(PyObject *mod, PyObject *args)
{
    (void)mod;
    int stream;
    Py_buffer b;
    if (!PyArg_ParseTuple(args, "iy*", &stream, &b))
        return NULL;
    struct iovec part = {.iov_base = b.buf, .iov_len = (size_t)b.len};
    int rc;
    Py_BEGIN_ALLOW_THREADS rc =
        py_frame_send(s_fd, stream == 2 ? PY_OUT_STDERR : PY_OUT_STDOUT, s_seq, &part, 1);
    Py_END_ALLOW_THREADS PyBuffer_Release(&b);
    if (rc != 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    Py_RETURN_NONE;
}

// reason(): why the running task is asked to stop (0 = it is not).
static PyObject *s_reason_fn(PyObject *mod, PyObject *unused)
{
    (void)mod;
    (void)unused;
    return PyLong_FromLong((long)s_reason);
}

static PyMethodDef s_methods[] = {
    {"write", s_write, METH_VARARGS, "write(stream, data): task output to the engine"},
    {"reason", s_reason_fn, METH_NOARGS, "reason(): 1 aborted, 2 wall time, 0 running"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef s_module = {
    PyModuleDef_HEAD_INIT,
    "_ipp_host",
    "ipp-python-host's link to the engine",
    -1,
    s_methods,
    NULL,
    NULL,
    NULL,
    NULL,
};

static PyObject *s_module_init(void)
{
    return PyModule_Create(&s_module);
}

// ------------------------------------------------------------- helpers

// s_send_text: one frame of kind whose parts are C strings.
static int s_send_text_at(uint32_t kind, uint64_t seq, int64_t at, const char *const *texts,
                          size_t n)
{
    struct iovec parts[3];
    for (size_t i = 0; i < n && i < 3; i++)
        parts[i] = (struct iovec){.iov_base = (void *)texts[i], .iov_len = strlen(texts[i])};
    return py_frame_send_at(s_fd, kind, seq, at, parts, n < 3 ? n : 3);
}

static int s_send_text(uint32_t kind, uint64_t seq, const char *const *texts, size_t n)
{
    return s_send_text_at(kind, seq, 0, texts, n);
}

// s_now_us: the wall clock, µs since the epoch.
static int64_t s_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

// s_exc_text: "Name: message" of the pending exception, cleared; caller
// frees. Never NULL.
static char *s_exc_text(char *ename, size_t size)
{
    PyObject *type = NULL, *exc = NULL, *tb = NULL;
    PyErr_Fetch(&type, &exc, &tb);
    PyErr_NormalizeException(&type, &exc, &tb);
    char *text = NULL;
    snprintf(ename, size, "Error");
    if (exc) {
        snprintf(ename, size, "%s", Py_TYPE(exc)->tp_name);
        PyObject *s = PyObject_Str(exc);
        const char *u = s ? PyUnicode_AsUTF8(s) : NULL;
        text = strdup(u ? u : "");
        Py_XDECREF(s);
    }
    Py_XDECREF(type);
    Py_XDECREF(exc);
    Py_XDECREF(tb);
    PyErr_Clear();
    return text ? text : strdup("");
}

// s_answer: send run()'s answer ret (a tuple (ok, [parts…])) for seq,
// which started at `at`. Returns 0, or -1 when the socket failed.
static int s_answer(PyObject *ret, uint64_t seq, int64_t at)
{
    int ok = -1;
    PyObject *parts = NULL;
    if (ret && PyTuple_Check(ret) && PyTuple_GET_SIZE(ret) == 2 &&
        PyList_Check(PyTuple_GET_ITEM(ret, 1))) {
        ok = PyObject_IsTrue(PyTuple_GET_ITEM(ret, 0));
        parts = PyTuple_GET_ITEM(ret, 1);
    }
    if (ok < 0 || !parts) {
        char ename[128];
        char *evalue = ret ? strdup("run() answered something else than (ok, parts)")
                           : s_exc_text(ename, sizeof ename);
        if (ret)
            snprintf(ename, sizeof ename, "SystemError");
        const char *t[3] = {ename, evalue ? evalue : "", ""};
        int rc = s_send_text_at(PY_DONE_ERROR, seq, at, t, 3);
        free(evalue);
        return rc;
    }
    Py_ssize_t n = PyList_GET_SIZE(parts);
    Py_buffer *views = calloc((size_t)n + 1, sizeof *views);
    struct iovec *iov = calloc((size_t)n + 1, sizeof *iov);
    Py_ssize_t got = 0;
    int rc = -1;
    if (!views || !iov)
        goto out;
    for (; got < n; got++) {
        if (PyObject_GetBuffer(PyList_GET_ITEM(parts, got), &views[got], PyBUF_SIMPLE) != 0)
            break;
        iov[got] = (struct iovec){.iov_base = views[got].buf, .iov_len = (size_t)views[got].len};
    }
    if (got < n) {
        char ename[128];
        char *evalue = s_exc_text(ename, sizeof ename);
        const char *t[3] = {ename, evalue, "a result part is not a contiguous buffer"};
        rc = s_send_text_at(PY_DONE_ERROR, seq, at, t, 3);
        free(evalue);
        goto out;
    }
    Py_BEGIN_ALLOW_THREADS rc =
        py_frame_send_at(s_fd, ok ? PY_DONE_OK : PY_DONE_ERROR, seq, at, iov, (size_t)n);
    Py_END_ALLOW_THREADS out : for (Py_ssize_t i = 0; i < got; i++) PyBuffer_Release(&views[i]);
    free(views);
    free(iov);
    return rc;
}

// s_read_parts: the parts of a request whose lengths are lens, as a list
// of bytes objects (read-only buffers), or NULL (socket failed, no memory).
static PyObject *s_read_parts(const uint64_t *lens, uint32_t n)
{
    PyObject *list = PyList_New((Py_ssize_t)n);
    if (!list)
        return NULL;
    for (uint32_t i = 0; i < n; i++) {
        PyObject *b = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)lens[i]);
        if (!b) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, i, b);
        int rc;
        Py_BEGIN_ALLOW_THREADS rc = py_read_full(&s_in, PyBytes_AS_STRING(b), (size_t)lens[i]);
        Py_END_ALLOW_THREADS if (rc != 0)
        {
            Py_DECREF(list);
            return NULL;
        }
    }
    return list;
}

// s_start: the interpreter and host.py; NULL with *why set (caller frees).
static PyObject *s_start(char **why)
{
    PyConfig config;
    PyConfig_InitPythonConfig(&config);
    config.parse_argv = 0;
    config.install_signal_handlers = 1;
    PyStatus st = PyConfig_SetBytesString(&config, &config.program_name, IPP_PYTHON_EXECUTABLE);
    if (!PyStatus_Exception(st)) {
        char *argv[] = {(char *)""};
        st = PyConfig_SetBytesArgv(&config, 1, argv);
    }
    if (!PyStatus_Exception(st))
        st = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    if (PyStatus_Exception(st)) {
        if (asprintf(why, "Python failed to start: %s", st.err_msg ? st.err_msg : "?") < 0)
            *why = NULL;
        return NULL;
    }
    PyObject *code = Py_CompileString(s_host_py, "<ipp-host>", Py_file_input);
    PyObject *mod = code ? PyImport_ExecCodeModule("_ipp_boot", code) : NULL;
    PyObject *run = mod ? PyObject_GetAttrString(mod, "run") : NULL;
    Py_XDECREF(code);
    Py_XDECREF(mod);
    if (!run) {
        char ename[128];
        char *text = s_exc_text(ename, sizeof ename);
        if (asprintf(why, "%s: %s", ename, text) < 0)
            *why = NULL;
        free(text);
    }
    return run;
}

int main(int argc, char **argv)
{
    if (argc != 2 || !argv[1][0]) {
        fprintf(stderr, "usage: ipp-python-host FD\n"
                        "Runs an ipp engine's Python tasks; started by the engine's\n"
                        "Python plugin, which talks to it over socket FD.\n");
        return 2;
    }
    char *end = NULL;
    long fd = strtol(argv[1], &end, 10);
    if (*end || fd < 0 || fd > 65535) {
        fprintf(stderr, "ipp-python-host: bad fd '%s'\n", argv[1]);
        return 2;
    }
    s_fd = (int)fd;
    py_reader_init(&s_in, s_fd);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = s_on_stop;
    sa.sa_flags = SA_SIGINFO;  // no SA_RESTART: a sleeping call must wake
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGUSR2, &sa, NULL);

    if (PyImport_AppendInittab("_ipp_host", s_module_init) != 0)
        return 1;
    char *why = NULL;
    PyObject *run = s_start(&why);
    if (!run) {
        const char *t[1] = {why ? why : "Python failed to start"};
        s_send_text(PY_FATAL, 0, t, 1);
        fprintf(stderr, "ipp-python-host: %s\n", t[0]);
        free(why);
        return 1;
    }
    const char *ready[1] = {Py_GetVersion()};
    int rc = s_send_text(PY_READY, 0, ready, 1) == 0 ? 0 : 1;

    while (rc == 0) {
        py_head_t h;
        uint64_t *lens = NULL;
        int got;
        Py_BEGIN_ALLOW_THREADS got = py_frame_read_head(&s_in, &h, &lens);
        Py_END_ALLOW_THREADS if (got != 0)
        {
            if (got < 0)
                fprintf(stderr, "ipp-python-host: reading a task: %s\n", strerror(errno));
            break;  // end of file: the engine is done with us
        }
        PyObject *parts = s_read_parts(lens, h.nparts);
        free(lens);
        if (!parts) {
            fprintf(stderr, "ipp-python-host: reading a task's buffers failed\n");
            rc = 1;
            break;
        }
        s_seq = h.seq;
        s_task_seq = (sig_atomic_t)(int)h.seq;
        s_reason = 0;
        s_tripped = 0;
        s_in_task = 1;
        int64_t at = s_now_us();
        if (s_early_reason && s_early_seq == s_task_seq) {
            // stopped while it waited its turn: it does not run
            int early = s_early_reason;
            s_in_task = 0;
            s_early_reason = 0;
            Py_DECREF(parts);
            const char *t[3] = {early == 2 ? "WallTimeExceeded" : "TaskAborted",
                                early == 2
                                    ? "the task ran past its wall-time limit before it started"
                                    : "the task was aborted before it started",
                                ""};
            if (s_send_text_at(PY_DONE_ERROR, h.seq, at, t, 3) != 0)
                rc = 1;
            continue;
        }
        PyObject *ret = PyObject_CallFunction(run, "IO", (unsigned)h.kind, parts);
        s_in_task = 0;
        Py_DECREF(parts);
        if (s_answer(ret, h.seq, at) != 0)
            rc = 1;
        Py_XDECREF(ret);
        PyErr_Clear();
        // A stop request that came as the task ended must not reach the next.
        s_reason = 0;
        if (PyErr_CheckSignals() < 0)
            PyErr_Clear();
    }
    Py_DECREF(run);
    if (Py_FinalizeEx() < 0)
        rc = 1;
    return rc;
}
