/* wire.h — the signed wire session.
 *
 * A message on the wire is one ZeroMQ multipart:
 *
 *     [routing ids…] "<IPP|>" MAC header content buffer…
 *
 * header and content are protobuf encodings (Ipp__Header and the message
 * that wire_descriptor(header.msg_type) names); buffers are payload bytes,
 * sent and received as zmq_msg_t without copying. MAC is a 32-byte keyed
 * BLAKE2b over header, content and every buffer, each prefixed with its
 * 8-byte length so frames cannot be re-split. Routing ids are not covered:
 * ZeroMQ rewrites them on the way.
 *
 * A session owns the key, the sender's session uuid, a msg_id generator and
 * the replay guard. It is not thread safe: one per thread.
 *
 * Refusals on receipt, each with its own code and one log line, and nothing
 * decoded is handed out for the first five: too many frames, too big, no
 * delimiter, bad or missing MAC, header that does not decode; then dated
 * outside the window or refused by the replay guard for its date (STALE,
 * the text names the offset measured), MAC seen before (REPLAY), protocol
 * version not understood, unknown msg_type, content that does not decode.
 * For the last five the MAC is valid, and the header and routing ids are
 * kept so the caller can answer with an ErrorReply.
 */
#ifndef IPP_PROTO_WIRE_H
#define IPP_PROTO_WIRE_H

#include "ipp/error.h"
#include "proto/ipp.pb-c.h"
#include "proto/log.h"
#include "proto/msgid.h"

#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

#define WIRE_DELIM "<IPP|>"
#define WIRE_DELIM_LEN 6
#define WIRE_MAC_LEN 32
#define WIRE_KEY_MIN 16
#define WIRE_KEY_MAX 64
#define WIRE_SCHEME "blake2b-256"
#define WIRE_DEFAULT_WINDOW_US (300LL * 1000000)
#define WIRE_DEFAULT_FUTURE_US (60LL * 1000000)
#define WIRE_DEFAULT_REPLAY_CAP ((size_t)1 << 18)
#define WIRE_DEFAULT_MAX_BYTES ((size_t)256 << 20)
#define WIRE_DEFAULT_MAX_FRAMES 4096

// What a session is created with. Zero/NULL fields take the defaults.
typedef struct wire_opts_t {
    const uint8_t *key;      // MAC key, WIRE_KEY_MIN..WIRE_KEY_MAX bytes; required
    size_t key_len;          // its length
    int64_t window_us;       // how old a message may be (default 5 min)
    int64_t future_us;       // how far ahead it may be dated (default 1 min, ≤ window)
    size_t replay_capacity;  // MACs remembered (default 2^18)
    // state_path: a file where the replay guard keeps what a restart must
    // not forget (see replay.h); NULL keeps it in memory only. A session
    // created with one refuses every message dated at or before the newest
    // date the previous session on that file may have accepted.
    const char *state_path;
    size_t max_msg_bytes;     // largest message accepted, all frames (default 256 MiB)
    size_t max_frames;        // most frames accepted (default 4096)
    const char *username;     // put in every header (default $USER, else the account name)
    const ipp_logger_t *log;  // where refusals are logged (NULL: stderr)
    // clock: wall time in µs used for header dates and the window; NULL
    // means ipp_clock_now_us. A seam for tests of skew and staleness.
    int64_t (*clock)(void *clock_ctx);
    void *clock_ctx;  // passed to clock
} wire_opts_t;

typedef struct wire_session_t wire_session_t;

// A routing frame to put before the delimiter (ROUTER sockets).
typedef struct wire_frame_t {
    const void *data;  // bytes, not owned
    size_t size;       // length
} wire_frame_t;

// Bytes a message keeps for its decoded header: a header of the usual
// size (three ids, a user name) decodes without a malloc.
#define WIRE_ARENA_BYTES 512

// A bump allocator inside a message (wire_arena_alloc): what does not fit
// comes from malloc, and wire_arena_free frees only that.
typedef struct wire_arena_t {
    size_t used;                                                // bytes of buf handed out
    _Alignas(max_align_t) unsigned char buf[WIRE_ARENA_BYTES];  // the bytes
} wire_arena_t;

// A received message. Owns its frames and the decoded header and content.
// The header is decoded into arena, made at the first unpack and kept for
// the next messages (a wire_msg_t reused for every message decodes
// headers without a malloc); a struct copy moves the whole message,
// arena and all, to the copy (the original is then only re-initialised,
// never finished). The content comes from malloc, so a handler may take it.
typedef struct wire_msg_t {
    zmq_msg_t *frames;          // every frame as received
    size_t n_frames;            // frames in use
    size_t cap;                 // frames allocated
    size_t n_idents;            // frames[0..n_idents) are routing ids
    size_t first_buffer;        // frames[first_buffer..n_frames) are buffers
    Ipp__Header *header;        // decoded header (in arena), or NULL
    ProtobufCMessage *content;  // decoded content (malloc'd), or NULL
    wire_arena_t *arena;        // where the header is decoded, owned (NULL until
                                // the first unpack, or when out of memory)
} wire_msg_t;

// wire_arena_allocator: a ProtobufCAllocator over arena (emptied first):
// its alloc bumps inside arena->buf, aligned for any scalar, and falls
// back to malloc; its free ignores pointers inside arena->buf. Returns it
// by value; it borrows arena, which must outlive what it decodes.
ProtobufCAllocator wire_arena_allocator(wire_arena_t *arena);

// wire_session_new: a session with a fresh session uuid. Returns NULL and
// fills err when the key is missing or of bad length, the window is out of
// range, the state file cannot be read or written, or memory runs out. The
// key is copied. With a state_path, when the previous session on that file
// ended less than half a second ago, waits (up to that) until the clock has
// passed the newest date it may have accepted, so that a quick restart
// refuses no correctly dated message. Caller owns the result.
wire_session_t *wire_session_new(const wire_opts_t *opts, ipp_error_t *err);

// wire_session_destroy: wipe the key, free *self_p (NULL-safe), set NULL.
void wire_session_destroy(wire_session_t **self_p);

// wire_session_id: the session uuid put in every header. Owned by self.
const char *wire_session_id(const wire_session_t *self);

// Refusals: every message wire_recv refuses is counted by its error code
// (IPP_ERR_NO_DELIMITER … IPP_ERR_UNKNOWN_TYPE; any other code counts
// under IPP_ERR_INVALID). The log gets the first refusal of each code,
// then at most one line per code every WIRE_REFUSAL_LOG_US, saying how
// many more were refused meanwhile — so garbage from the network cannot
// flood the log.
#define WIRE_REFUSAL_LOG_US 10000000
#define WIRE_REFUSAL_KINDS 11

typedef struct wire_refusal_t {
    ipp_err_t code;  // why (an IPP_ERR_ code)
    uint64_t count;  // how many since the session started
} wire_refusal_t;

// wire_refusals: the non-zero refusal counts into out (at most cap, in
// code order); returns how many there are. NULL-safe (0).
size_t wire_refusals(const wire_session_t *self, wire_refusal_t *out, size_t cap);

// wire_session_new_id: write a fresh msg_id (UUIDv7) into out.
void wire_session_new_id(wire_session_t *self, char out[IPP_MSGID_LEN + 1]);

// wire_session_now: the session's wall clock (µs).
int64_t wire_session_now(const wire_session_t *self);

// wire_socket_setup: apply the session's limits to a socket (ZMQ_MAXMSGSIZE)
// and sane defaults (linger, high-water marks). Returns IPP_OK or IPP_ERR_ZMQ.
ipp_err_t wire_socket_setup(const wire_session_t *self, void *socket);

// wire_send: sign and send one message. idents are copied onto the wire.
// content must be of the type wire_descriptor(type) names (NULL = empty).
// Takes ownership of buffers[0..n_buffers) whatever happens: they are sent
// without copying, or closed on failure. msg_id, if not NULL, is used as
// the message id (it must be a valid uuid) else a new one is made;
// msg_id_out, if not NULL, receives the id sent. Returns IPP_OK,
// IPP_ERR_INVALID for a content of the wrong type, IPP_ERR_ZMQ if the
// socket refused (errno kept: EAGAIN with ZMQ_DONTWAIT in flags).
ipp_err_t wire_send(wire_session_t *self, void *socket, const wire_frame_t *idents, size_t n_idents,
                    Ipp__MsgType type, const char *parent_id, const ProtobufCMessage *content,
                    zmq_msg_t *buffers, size_t n_buffers, int flags, const char *msg_id,
                    char *msg_id_out);

// wire_pack: what wire_send puts on the wire, as frames appended to out (an
// initialised wire_msg_t), without a socket. Same ownership of buffers.
// For tests, fuzzing and forwarding.
ipp_err_t wire_pack(wire_session_t *self, wire_msg_t *out, const wire_frame_t *idents,
                    size_t n_idents, Ipp__MsgType type, const char *parent_id,
                    const ProtobufCMessage *content, zmq_msg_t *buffers, size_t n_buffers,
                    const char *msg_id, char *msg_id_out);

// wire_recv: receive one whole multipart from socket into msg (which is
// reset first) and unpack it. Every frame of the message is consumed even
// when it is refused. Returns IPP_OK, IPP_ERR_ZMQ (errno EAGAIN when
// ZMQ_DONTWAIT and nothing is waiting), or a refusal code (see above) with
// err filled and a log line written.
ipp_err_t wire_recv(wire_session_t *self, void *socket, int flags, wire_msg_t *msg,
                    ipp_error_t *err);

// wire_unpack: check and decode msg->frames (as received). Same codes as
// wire_recv. The caller keeps ownership of msg.
ipp_err_t wire_unpack(wire_session_t *self, wire_msg_t *msg, ipp_error_t *err);

// wire_msg_init: an empty message.
void wire_msg_init(wire_msg_t *msg);

// wire_msg_reset: close every frame and free the decoded parts, keeping
// the frame array for the next message.
void wire_msg_reset(wire_msg_t *msg);

// wire_msg_fini: close every frame and free what the message owns; msg can
// be reused after wire_msg_init (wire_recv does that itself).
void wire_msg_fini(wire_msg_t *msg);

// wire_msg_add_frame: append a frame with a copy of data, or size zero
// bytes when data is NULL (for tests and fuzzing). Returns IPP_OK or IPP_ERR_NOMEM.
ipp_err_t wire_msg_add_frame(wire_msg_t *msg, const void *data, size_t size);

// wire_msg_n_buffers: how many buffers follow the content.
size_t wire_msg_n_buffers(const wire_msg_t *msg);

// wire_msg_buffer: buffer i (its bytes stay owned by msg); *size gets its
// length.
const void *wire_msg_buffer(const wire_msg_t *msg, size_t i, size_t *size);

// wire_msg_buffer_msg: buffer i as a zmq_msg_t owned by msg, to forward it
// without copying (zmq_msg_copy shares the data).
zmq_msg_t *wire_msg_buffer_msg(wire_msg_t *msg, size_t i);

// wire_msg_field: the bytes of top-level field number `field` as the
// content frame carries them, for a length-delimited field (a string, say):
// the last occurrence, which is the one protobuf-c decodes. Its length into
// *len; the bytes stay owned by msg. NULL when msg has no content frame,
// the field is absent, or the encoding is malformed before it. Lets a
// receiver see what decoding hides (a NUL inside a string).
const void *wire_msg_field(const wire_msg_t *msg, uint32_t field, size_t *len);

// wire_msg_idents: the routing frames, as wire_frame_t entries written to
// out (up to max); returns how many there are.
size_t wire_msg_idents(const wire_msg_t *msg, wire_frame_t *out, size_t max);

// wire_msg_type: the decoded msg_type, or 0 when no header was decoded.
int wire_msg_type(const wire_msg_t *msg);

#endif
