/* frame.c — the plugin/host framing (see frame.h).
 *
 * Blocking I/O on a socket: writes go out with sendmsg(MSG_NOSIGNAL) so a
 * peer that died is an EPIPE, never a signal. Owns nothing.
 */
#include "engine/python/frame.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

// Most iovecs handed to one sendmsg.
#define S_IOV_BATCH 64

// s_send_iov: write every byte of iov[0..n) (the array is consumed).
static int s_send_iov(int fd, struct iovec *iov, size_t n)
{
    while (n) {
        while (n && iov->iov_len == 0) {
            iov++;
            n--;
        }
        if (!n)
            break;
        struct msghdr mh = {0};
        mh.msg_iov = iov;
        mh.msg_iovlen = n < S_IOV_BATCH ? n : S_IOV_BATCH;
        ssize_t w = sendmsg(fd, &mh, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        size_t left = (size_t)w;
        while (n && left >= iov->iov_len) {
            left -= iov->iov_len;
            iov++;
            n--;
        }
        if (n && left) {
            iov->iov_base = (char *)iov->iov_base + left;
            iov->iov_len -= left;
        }
    }
    return 0;
}

int py_frame_send(int fd, uint32_t kind, uint64_t seq, const struct iovec *parts, size_t nparts)
{
    return py_frame_send_at(fd, kind, seq, 0, parts, nparts);
}

int py_frame_send_at(int fd, uint32_t kind, uint64_t seq, int64_t at_us, const struct iovec *parts,
                     size_t nparts)
{
    if (nparts > PY_FRAME_MAX_PARTS) {
        errno = EMSGSIZE;
        return -1;
    }
    py_head_t h = {.kind = kind, .nparts = (uint32_t)nparts, .seq = seq, .at_us = at_us};
    size_t niov = 2 + nparts;
    uint64_t *lens = nparts ? malloc(nparts * sizeof *lens) : NULL;
    struct iovec *iov = malloc(niov * sizeof *iov);
    int rc = -1;
    if ((nparts && !lens) || !iov) {
        errno = ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < nparts; i++)
        lens[i] = parts[i].iov_len;
    iov[0] = (struct iovec){.iov_base = &h, .iov_len = sizeof h};
    iov[1] = (struct iovec){.iov_base = lens, .iov_len = nparts * sizeof *lens};
    for (size_t i = 0; i < nparts; i++)
        iov[2 + i] = parts[i];
    rc = s_send_iov(fd, iov, niov);
out:
    free(lens);
    free(iov);
    return rc;
}

void py_reader_init(py_reader_t *r, int fd)
{
    r->fd = fd;
    r->start = r->end = 0;
}

int py_read_full(py_reader_t *r, void *buf, size_t n)
{
    char *p = buf;
    while (n) {
        size_t have = r->end - r->start;
        if (have) {
            size_t k = have < n ? have : n;
            memcpy(p, r->buf + r->start, k);
            r->start += k;
            p += k;
            n -= k;
            continue;
        }
        r->start = r->end = 0;
        // A big read goes straight to its destination; a small one takes
        // in whatever else has arrived too.
        bool direct = n >= sizeof r->buf / 2;
        ssize_t got = read(r->fd, direct ? p : r->buf, direct ? n : sizeof r->buf);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (got == 0)
            return 1;
        if (direct) {
            p += got;
            n -= (size_t)got;
        } else {
            r->end = (size_t)got;
        }
    }
    return 0;
}

int py_frame_read_head(py_reader_t *r, py_head_t *h, uint64_t **lens)
{
    *lens = NULL;
    int rc = py_read_full(r, h, sizeof *h);
    if (rc != 0)
        return rc;
    if (h->nparts > PY_FRAME_MAX_PARTS) {
        errno = EPROTO;
        return -1;
    }
    if (!h->nparts)
        return 0;
    uint64_t *v = malloc(h->nparts * sizeof *v);
    if (!v) {
        errno = ENOMEM;
        return -1;
    }
    rc = py_read_full(r, v, h->nparts * sizeof *v);
    if (rc != 0) {
        free(v);
        return rc;
    }
    for (uint32_t i = 0; i < h->nparts; i++) {
        if (v[i] > PY_FRAME_MAX_PART) {
            free(v);
            errno = EPROTO;
            return -1;
        }
    }
    *lens = v;
    return 0;
}
