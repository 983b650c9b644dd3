/* test_client_peer.h — a scripted controller for the libipp tests.
 *
 * Linked into each test_client*.c suite. A peer binds a real ROUTER (client
 * port) and XPUB (notification port) on 127.0.0.1 with free ports, writes a
 * client connection file into a fresh temporary folder, and runs a test's
 * script on its own thread: the script receives what the client sends and
 * answers as docs/PROTOCOL.md says, with a wire session that shares the
 * connection file's key. The XPUB shows the script every subscription the
 * client makes, so tests can check what the client subscribed to and when;
 * subscriptions to sync.<session> are confirmed as the controller does.
 *
 * Scripts never call ck_assert (they run on another thread): they record
 * their first failure with PEER_REQUIRE / peer_fail, and the test body
 * checks it after peer_join.
 */
#ifndef IPP_TEST_CLIENT_PEER_H
#define IPP_TEST_CLIENT_PEER_H

#include "ipp/ipp.h"
#include "proto/wire.h"

#include <stdbool.h>
#include <stddef.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <zmq.h>

typedef struct peer_t peer_t;
typedef void (*peer_script_fn)(peer_t *p);

struct peer_t {
    void *ctx;              // ZeroMQ context
    void *router;           // the client ROUTER
    void *xpub;             // the notification PUB (XPUB to see subscriptions)
    wire_session_t *ws;     // the controller's session
    char dir[256];          // temporary folder
    char conn[512];         // connection file path
    char endpoint[128];     // client endpoint
    pthread_t th;           // script thread
    bool running;           // th is started
    peer_script_fn script;  // what the thread runs
    void *arg;              // test data for the script
    char fail[1024];        // first failure, "" if none
    uint8_t ident[256];     // routing id of the last client message
    size_t ident_len;       // its length
    char subs[64][130];     // subscriptions seen, in order ("+topic" / "-topic")
    size_t n_subs;          // how many
    bool manual;            // XPUB_MANUAL: a subscription counts only once read
};

// peer_log: the peers' logger (errors only).
extern ipp_logger_t peer_log;

// peer_fail: record the first failure (printf format).
void peer_fail(peer_t *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define PEER_REQUIRE(p, cond, ...)                                                                 \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            char _m[512];                                                                          \
            snprintf(_m, sizeof _m, __VA_ARGS__);                                                  \
            peer_fail((p), "%s:%d: %s: %s", __FILE__, __LINE__, #cond, _m);                        \
            return;                                                                                \
        }                                                                                          \
    } while (0)

// peer_start_opts: sockets, connection file, session (fails the test on
// error). With manual, the XPUB applies a
// subscription only when the script reads it (peer_read_subs), so a script
// decides when the client's subscriptions become live.
void peer_start_opts(peer_t *p, bool manual);

// peer_start: peer_start_opts without manual: subscriptions are live as
// soon as they arrive.
void peer_start(peer_t *p);

// peer_run: run script on the peer's thread.
void peer_run(peer_t *p, peer_script_fn script, void *arg);

// peer_join: wait for the script; fail the test with its failure.
void peer_join(peer_t *p);

// peer_stop: close everything, remove the folder.
void peer_stop(peer_t *p);

// peer_read_subs: record every subscription message waiting on the XPUB.
void peer_read_subs(peer_t *p, int timeout_ms);

// peer_saw_sub: the client sent this subscription ("+topic" or "-topic"),
// waiting up to timeout_ms for it.
bool peer_saw_sub(peer_t *p, const char *what, int timeout_ms);

// peer_recv: the next message from the client (any type) into m, waiting
// up to timeout_ms. Returns its type, 0 on timeout.
int peer_recv(peer_t *p, wire_msg_t *m, int timeout_ms);

// peer_expect: the next message must be of type (returns false and records
// the failure otherwise).
bool peer_expect(peer_t *p, wire_msg_t *m, int type, int timeout_ms);

// peer_send: send to the last client heard from; takes bufs.
void peer_send(peer_t *p, int type, const char *parent, const ProtobufCMessage *content,
               zmq_msg_t *bufs, size_t n);

// peer_reply: answer request m.
void peer_reply(peer_t *p, const wire_msg_t *m, int type, const ProtobufCMessage *content,
                zmq_msg_t *bufs, size_t n);

// peer_error: answer request m with an ERROR_REPLY.
void peer_error(peer_t *p, const wire_msg_t *m, int code, const char *ename, const char *evalue,
                const char *field);

// peer_publish: a notification under topic.
void peer_publish(peer_t *p, const char *topic, int type, const ProtobufCMessage *content);

// peer_bufs: frames holding the given strings (for replies).
void peer_bufs(zmq_msg_t *out, size_t n, ...);

// peer_buf_is: buffer i of m holds exactly s.
bool peer_buf_is(const wire_msg_t *m, size_t i, const char *s);

// peer_handshake: answer CONNECT_REQUEST with engines ids[0..n).
bool peer_handshake(peer_t *p, const int *ids, size_t n);

// peer_task_id: the msg_id of a TASK_REQUEST (its header's).
const char *peer_task_id(const wire_msg_t *m);

// peer_accept: SUBMIT_REPLY accepted for task request m.
void peer_accept(peer_t *p, const wire_msg_t *m);

// peer_result: a TASK_RESULT for task id (status, engine, one optional
// buffer, stamps).
void peer_result(peer_t *p, const char *id, int status, int engine, const char *buf,
                 int64_t started, int64_t completed);

// peer_client: connect to the peer (which must be running a handshake).
ipp_client_t *peer_client(peer_t *p, double timeout);

#endif
