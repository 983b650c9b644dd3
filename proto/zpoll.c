/* zpoll.c — zmq_poll in one pass (see zpoll.h). */
#include "proto/zpoll.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <time.h>

// The most items a caller passes (the engine's socket, its eventfd and a
// command's pipes are the most we use).
#define S_MAX_ITEMS 16

// s_ask: set it->revents to what its socket can do now (ZMQ_EVENTS, as
// far as it->events asks); -1 with errno set if the socket refused.
static int s_ask(zmq_pollitem_t *it)
{
    uint32_t ev = 0;
    size_t len = sizeof ev;
    if (zmq_getsockopt(it->socket, ZMQ_EVENTS, &ev, &len) != 0)
        return -1;
    it->revents = (short)(ev & (uint32_t)it->events & (ZMQ_POLLIN | ZMQ_POLLOUT));
    return 0;
}

int ipp_zpoll(zmq_pollitem_t *items, int n, long timeout_ms)
{
    return ipp_zpoll_us(items, n, timeout_ms < 0 ? -1 : (int64_t)timeout_ms * 1000);
}

int ipp_zpoll_us(zmq_pollitem_t *items, int n, int64_t timeout_us)
{
    if (n < 0 || n > S_MAX_ITEMS) {
        errno = EINVAL;
        return -1;
    }
    struct pollfd pfd[S_MAX_ITEMS];
    int ready = 0;
    // Ask every socket first: a message may wait already, and asking
    // re-arms its descriptor (it only fires for what arrives after).
    for (int i = 0; i < n; i++) {
        items[i].revents = 0;
        if (items[i].socket) {
            size_t len = sizeof pfd[i].fd;
            if (zmq_getsockopt(items[i].socket, ZMQ_FD, &pfd[i].fd, &len) != 0)
                return -1;
            pfd[i].events = POLLIN;
            if (s_ask(&items[i]) != 0)
                return -1;
            ready += items[i].revents != 0;
        } else {
            pfd[i].fd = items[i].fd;
            pfd[i].events = (short)((items[i].events & ZMQ_POLLIN ? POLLIN : 0) |
                                    (items[i].events & ZMQ_POLLOUT ? POLLOUT : 0) |
                                    (items[i].events & ZMQ_POLLPRI ? POLLPRI : 0));
        }
        pfd[i].revents = 0;
    }
    // Plain descriptors are looked at in the same call; with a socket
    // ready, without waiting.
    struct timespec ts = {0, 0};
    if (!ready && timeout_us > 0) {
        ts.tv_sec = (time_t)(timeout_us / 1000000);
        ts.tv_nsec = (long)(timeout_us % 1000000) * 1000;
    }
    int rc = ppoll(pfd, (nfds_t)n, !ready && timeout_us < 0 ? NULL : &ts, NULL);
    if (rc < 0)
        return ready ? ready : -1;
    for (int i = 0; i < n; i++) {
        if (items[i].socket) {
            if (!items[i].revents && pfd[i].revents) {
                if (s_ask(&items[i]) != 0)
                    return -1;
                ready += items[i].revents != 0;
            }
        } else {
            short r = 0;
            if (pfd[i].revents & POLLIN)
                r |= ZMQ_POLLIN;
            if (pfd[i].revents & POLLOUT)
                r |= ZMQ_POLLOUT;
            if (pfd[i].revents & POLLPRI)
                r |= ZMQ_POLLPRI;
            if (pfd[i].revents & ~(POLLIN | POLLOUT | POLLPRI))
                r |= ZMQ_POLLERR;
            items[i].revents = r;
            ready += r != 0;
        }
    }
    return ready;
}
