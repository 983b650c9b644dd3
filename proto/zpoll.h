/* zpoll.h — zmq_poll in one pass.
 *
 * Same items, same meaning of revents and timeout as zmq_poll, but it
 * asks each ZeroMQ socket for ZMQ_EVENTS once before sleeping and once
 * more only for a socket whose descriptor then fired, where zmq_poll
 * makes a non-blocking pass over every item and then a blocking one,
 * asking every socket each time. Each question costs up to two system
 * calls (libzmq checks its mailbox with poll and the process id), and on
 * a virtual machine a system call is dear: at one message per wake-up
 * this halves the calls spent waiting.
 *
 * It may return 0 before the timeout when a socket's descriptor fired for
 * commands that brought no message (zmq_poll would sleep again): callers
 * loop and work out their timeouts afresh, as ours do anyway.
 */
#ifndef IPP_PROTO_ZPOLL_H
#define IPP_PROTO_ZPOLL_H

#include <stdint.h>
#include <zmq.h>

// ipp_zpoll: wait up to timeout_ms (-1: no limit) for items; returns how
// many have revents set, or -1 with errno (EINTR included).
int ipp_zpoll(zmq_pollitem_t *items, int n, long timeout_ms);

// ipp_zpoll_us: the same with the timeout in µs (-1: no limit), for
// deadlines shorter than a millisecond.
int ipp_zpoll_us(zmq_pollitem_t *items, int n, int64_t timeout_us);

#endif
