/* wire.c — framing, signing, verifying and decoding messages.
 *
 * Owns the session key (wiped on destroy), the replay guard and a scratch
 * message reused by every send, so sending allocates nothing beyond what
 * ZeroMQ does for frames. Never executes or records anything (beyond the
 * replay guard's own state file, when given one): it only says whether a
 * message is well formed, authentic and fresh.
 */
#include "proto/wire.h"

#include "proto/clock.h"
#include "proto/codec.h"
#include "proto/replay.h"
#include "proto/grow.h"

#include <errno.h>
#include <inttypes.h>
#include <pwd.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct wire_session_t {
    uint8_t key[WIRE_KEY_MAX];             // MAC key
    size_t key_len;                        // its length
    char id[IPP_MSGID_LEN + 1];            // this session's uuid
    char username[64];                     // put in headers
    ipp_msgid_gen_t gen;                   // msg_id generator
    wire_replay_t *replay;                 // MACs seen
    size_t max_bytes;                      // receive limit, all frames
    size_t max_frames;                     // receive limit, frame count
    const ipp_logger_t *log;               // refusals go here
    int64_t (*clock)(void *);              // wall clock (µs)
    void *clock_ctx;                       // its argument
    wire_msg_t scratch;                    // frames of the message being sent
    bool warned_write;                     // the guard's failed write was logged
    uint64_t refused[WIRE_REFUSAL_KINDS];  // refusals by kind (s_refusal_kind)
    uint64_t quiet[WIRE_REFUSAL_KINDS];    // of them, not logged since the last line
    int64_t logged[WIRE_REFUSAL_KINDS];    // monotonic µs of that line (0: never)
};

static int64_t s_default_clock(void *ctx)
{
    (void)ctx;
    return ipp_clock_now_us();
}

// s_restore: load the guard's state from path and set its not-before date;
// wait (at most half a second) for the clock to pass it after a quick
// restart. Returns IPP_OK or the guard's error.
static ipp_err_t s_restore(wire_session_t *self, const char *path, ipp_error_t *err)
{
    int64_t now = self->clock(self->clock_ctx);
    int64_t ceiling = INT64_MIN;
    ipp_err_t rc = wire_replay_persist(self->replay, path, now, &ceiling, err);
    if (rc != IPP_OK)
        return rc;
    const int64_t most = 500000;
    int64_t until = ipp_clock_mono_us() + most;
    while (now <= ceiling && ceiling - now <= most && ipp_clock_mono_us() < until) {
        int64_t step = ceiling - now + 1;
        usleep((useconds_t)(step < 10000 ? step : 10000));
        now = self->clock(self->clock_ctx);
    }
    if (now <= ceiling)
        IPP_LOGW(self->log,
                 "replay guard: messages dated up to %.3f s from now are refused: the "
                 "previous run may have accepted them (did the clock go back?)",
                 (double)(ceiling - now) / 1e6);
    return IPP_OK;
}

wire_session_t *wire_session_new(const wire_opts_t *opts, ipp_error_t *err)
{
    if (!opts || !opts->key || opts->key_len < WIRE_KEY_MIN || opts->key_len > WIRE_KEY_MAX) {
        ipp_error_set(err, IPP_ERR_INVALID, "wire key must be %d to %d bytes", WIRE_KEY_MIN,
                      WIRE_KEY_MAX);
        return NULL;
    }
    if (sodium_init() < 0) {
        ipp_error_set(err, IPP_ERR_IO, "libsodium failed to initialise");
        return NULL;
    }
    wire_session_t *self = calloc(1, sizeof *self);
    if (!self) {
        ipp_error_set(err, IPP_ERR_NOMEM, "no memory for a wire session");
        return NULL;
    }
    memcpy(self->key, opts->key, opts->key_len);
    self->key_len = opts->key_len;
    ipp_msgid_uuid4(self->id);
    ipp_msgid_gen_init(&self->gen);
    const char *user = opts->username ? opts->username : getenv("USER");
    struct passwd pw, *found = NULL;
    char pwbuf[1024];  // holds the name user may point to: same scope
    if (!user || !user[0]) {
        // No $USER (daemons, cron, containers): the account's name.
        if (getpwuid_r(geteuid(), &pw, pwbuf, sizeof pwbuf, &found) == 0 && found)
            user = found->pw_name;
    }
    snprintf(self->username, sizeof self->username, "%s", (user && user[0]) ? user : "unknown");
    self->max_bytes = opts->max_msg_bytes ? opts->max_msg_bytes : WIRE_DEFAULT_MAX_BYTES;
    self->max_frames = opts->max_frames ? opts->max_frames : WIRE_DEFAULT_MAX_FRAMES;
    self->log = opts->log;
    self->clock = opts->clock ? opts->clock : s_default_clock;
    self->clock_ctx = opts->clock_ctx;
    int64_t window = opts->window_us > 0 ? opts->window_us : WIRE_DEFAULT_WINDOW_US;
    int64_t future = opts->future_us > 0 ? opts->future_us : WIRE_DEFAULT_FUTURE_US;
    if (future > window)
        future = window;
    self->replay = wire_replay_new(
        opts->replay_capacity ? opts->replay_capacity : WIRE_DEFAULT_REPLAY_CAP, window, future);
    wire_msg_init(&self->scratch);
    if (!self->replay) {
        ipp_error_set(err, IPP_ERR_NOMEM,
                      "no replay guard (window %.0f s: more than a day, or no memory)",
                      (double)window / 1e6);
        wire_session_destroy(&self);
        return NULL;
    }
    if (opts->state_path && s_restore(self, opts->state_path, err) != IPP_OK) {
        wire_session_destroy(&self);
        return NULL;
    }
    return self;
}

void wire_session_destroy(wire_session_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    wire_session_t *self = *self_p;
    sodium_memzero(self->key, sizeof self->key);
    wire_replay_destroy(&self->replay);
    wire_msg_fini(&self->scratch);
    free(self);
    *self_p = NULL;
}

const char *wire_session_id(const wire_session_t *self)
{
    return self->id;
}

void wire_session_new_id(wire_session_t *self, char out[IPP_MSGID_LEN + 1])
{
    ipp_msgid_next(&self->gen, out);
}

int64_t wire_session_now(const wire_session_t *self)
{
    return self->clock(self->clock_ctx);
}

ipp_err_t wire_socket_setup(const wire_session_t *self, void *socket)
{
    int64_t max = (int64_t)self->max_bytes;
    int linger = 1000;
    int hwm = 200000;
    if (zmq_setsockopt(socket, ZMQ_MAXMSGSIZE, &max, sizeof max) != 0 ||
        zmq_setsockopt(socket, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
        zmq_setsockopt(socket, ZMQ_SNDHWM, &hwm, sizeof hwm) != 0 ||
        zmq_setsockopt(socket, ZMQ_RCVHWM, &hwm, sizeof hwm) != 0)
        return IPP_ERR_ZMQ;
    return IPP_OK;
}

void wire_msg_init(wire_msg_t *msg)
{
    memset(msg, 0, sizeof *msg);
}

// --------------------------------------------------------------- arena

#define ARENA_ALIGN alignof(max_align_t)

static void *s_arena_alloc(void *data, size_t size)
{
    wire_arena_t *a = data;
    size_t at = (a->used + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
    if (size && at < sizeof a->buf && size <= sizeof a->buf - at) {
        a->used = at + size;
        return a->buf + at;
    }
    return malloc(size ? size : 1);
}

static void s_arena_free(void *data, void *ptr)
{
    wire_arena_t *a = data;
    const unsigned char *p = ptr;
    // Compare as integers: relational comparison of pointers into
    // different objects is undefined.
    uintptr_t u = (uintptr_t)p, lo = (uintptr_t)a->buf;
    if (u >= lo && u < lo + sizeof a->buf)
        return;
    free(ptr);
}

ProtobufCAllocator wire_arena_allocator(wire_arena_t *arena)
{
    arena->used = 0;
    return (ProtobufCAllocator){
        .alloc = s_arena_alloc, .free = s_arena_free, .allocator_data = arena};
}

// s_header_free: free msg's header if any: decoded into its arena when
// it has one, else with malloc.
static void s_header_free(wire_msg_t *msg)
{
    if (!msg->header)
        return;
    if (msg->arena) {
        ProtobufCAllocator a = {
            .alloc = s_arena_alloc, .free = s_arena_free, .allocator_data = msg->arena};
        ipp__header__free_unpacked(msg->header, &a);
        msg->arena->used = 0;
    } else {
        ipp__header__free_unpacked(msg->header, NULL);
    }
    msg->header = NULL;
}

// ------------------------------------------------------------- messages

// s_msg_reset: close frames and free decoded parts, keep the frame array.
static void s_msg_reset(wire_msg_t *msg)
{
    for (size_t i = 0; i < msg->n_frames; i++)
        zmq_msg_close(&msg->frames[i]);
    msg->n_frames = 0;
    msg->n_idents = 0;
    msg->first_buffer = 0;
    s_header_free(msg);
    if (msg->content)
        protobuf_c_message_free_unpacked(msg->content, NULL);
    msg->content = NULL;
}

void wire_msg_reset(wire_msg_t *msg)
{
    s_msg_reset(msg);
}

void wire_msg_fini(wire_msg_t *msg)
{
    if (!msg)
        return;
    s_msg_reset(msg);
    free(msg->frames);
    free(msg->arena);
    wire_msg_init(msg);
}

// s_msg_slot: a fresh, uninitialised frame slot at the end; NULL if no memory.
static zmq_msg_t *s_msg_slot(wire_msg_t *msg)
{
    if (IPP_GROW(msg->frames, msg->cap, msg->n_frames + 1, 8) != 0)
        return NULL;
    return &msg->frames[msg->n_frames];
}

ipp_err_t wire_msg_add_frame(wire_msg_t *msg, const void *data, size_t size)
{
    zmq_msg_t *f = s_msg_slot(msg);
    if (!f || zmq_msg_init_size(f, size) != 0)
        return IPP_ERR_NOMEM;
    if (size && data)
        memcpy(zmq_msg_data(f), data, size);
    else if (size)
        memset(zmq_msg_data(f), 0, size);
    msg->n_frames++;
    return IPP_OK;
}

// s_varint: read a base-128 varint at *p (< end); false if cut short or
// longer than 10 bytes.
static bool s_varint(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 70 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return true;
        }
    }
    return false;
}

const void *wire_msg_field(const wire_msg_t *msg, uint32_t field, size_t *len)
{
    if (!msg->first_buffer || msg->first_buffer > msg->n_frames)
        return NULL;
    zmq_msg_t *f = &msg->frames[msg->first_buffer - 1];
    const uint8_t *p = zmq_msg_data(f);
    const uint8_t *end = p + zmq_msg_size(f);
    const uint8_t *found = NULL;
    size_t found_len = 0;
    while (p < end) {
        uint64_t key, v;
        if (!s_varint(&p, end, &key))
            return NULL;
        switch (key & 7) {
        case 0:  // varint
            if (!s_varint(&p, end, &v))
                return NULL;
            break;
        case 1:  // 64-bit
            if (end - p < 8)
                return NULL;
            p += 8;
            break;
        case 2:  // length-delimited
            if (!s_varint(&p, end, &v) || v > (uint64_t)(end - p))
                return NULL;
            if ((key >> 3) == field) {
                found = p;
                found_len = (size_t)v;
            }
            p += v;
            break;
        case 5:  // 32-bit
            if (end - p < 4)
                return NULL;
            p += 4;
            break;
        default:  // groups are not used by this protocol
            return NULL;
        }
    }
    if (found && len)
        *len = found_len;
    return found;
}

size_t wire_msg_n_buffers(const wire_msg_t *msg)
{
    return msg->first_buffer ? msg->n_frames - msg->first_buffer : 0;
}

const void *wire_msg_buffer(const wire_msg_t *msg, size_t i, size_t *size)
{
    zmq_msg_t *f = &msg->frames[msg->first_buffer + i];
    if (size)
        *size = zmq_msg_size(f);
    return zmq_msg_data(f);
}

zmq_msg_t *wire_msg_buffer_msg(wire_msg_t *msg, size_t i)
{
    return &msg->frames[msg->first_buffer + i];
}

size_t wire_msg_idents(const wire_msg_t *msg, wire_frame_t *out, size_t max)
{
    for (size_t i = 0; i < msg->n_idents && i < max; i++) {
        out[i].data = zmq_msg_data(&msg->frames[i]);
        out[i].size = zmq_msg_size(&msg->frames[i]);
    }
    return msg->n_idents;
}

int wire_msg_type(const wire_msg_t *msg)
{
    return (msg->header && msg->header->has_msg_type) ? (int)msg->header->msg_type : 0;
}

// ------------------------------------------------------------------ MAC

// s_mac_update: feed one frame, length first, into the hash.
static void s_mac_update(crypto_generichash_state *st, const void *data, size_t size)
{
    uint8_t len[8];
    uint64_t n = size;
    for (int i = 0; i < 8; i++)
        len[i] = (uint8_t)(n >> (8 * i));
    crypto_generichash_update(st, len, sizeof len);
    if (size)
        crypto_generichash_update(st, data, size);
}

// s_mac: the MAC over frames[first..n) of msg into out.
static void s_mac(const wire_session_t *self, wire_msg_t *msg, size_t first,
                  uint8_t out[WIRE_MAC_LEN])
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, self->key, self->key_len, WIRE_MAC_LEN);
    for (size_t i = first; i < msg->n_frames; i++)
        s_mac_update(&st, zmq_msg_data(&msg->frames[i]), zmq_msg_size(&msg->frames[i]));
    crypto_generichash_final(&st, out, WIRE_MAC_LEN);
}

// -------------------------------------------------------------- sending

// s_close_buffers: close buffers[from..n).
static void s_close_buffers(zmq_msg_t *buffers, size_t from, size_t n)
{
    for (size_t i = from; i < n; i++)
        zmq_msg_close(&buffers[i]);
}

// s_add_packed: append a frame holding the encoding of m.
static ipp_err_t s_add_packed(wire_msg_t *out, const ProtobufCMessage *m)
{
    zmq_msg_t *f = s_msg_slot(out);
    if (!f)
        return IPP_ERR_NOMEM;
    size_t size = m ? protobuf_c_message_get_packed_size(m) : 0;
    if (zmq_msg_init_size(f, size) != 0)
        return IPP_ERR_NOMEM;
    if (size)
        protobuf_c_message_pack(m, zmq_msg_data(f));
    out->n_frames++;
    return IPP_OK;
}

ipp_err_t wire_pack(wire_session_t *self, wire_msg_t *out, const wire_frame_t *idents,
                    size_t n_idents, Ipp__MsgType type, const char *parent_id,
                    const ProtobufCMessage *content, zmq_msg_t *buffers, size_t n_buffers,
                    const char *msg_id, char *msg_id_out)
{
    ipp_err_t rc = IPP_OK;
    size_t taken = 0;  // buffers moved into out so far
    const ProtobufCMessageDescriptor *desc = wire_descriptor(type);
    if (!desc || (content && content->descriptor != desc) || (msg_id && !ipp_msgid_valid(msg_id))) {
        rc = IPP_ERR_INVALID;
        goto out;
    }
    char id[IPP_MSGID_LEN + 1];
    if (msg_id)
        memcpy(id, msg_id, sizeof id);
    else
        ipp_msgid_next(&self->gen, id);
    for (size_t i = 0; i < n_idents; i++)
        if ((rc = wire_msg_add_frame(out, idents[i].data, idents[i].size)) != IPP_OK)
            goto out;
    out->n_idents = n_idents;
    if ((rc = wire_msg_add_frame(out, WIRE_DELIM, WIRE_DELIM_LEN)) != IPP_OK ||
        (rc = wire_msg_add_frame(out, NULL, WIRE_MAC_LEN)) != IPP_OK)
        goto out;
    size_t mac_at = out->n_frames - 1;

    Ipp__Header h = IPP__HEADER__INIT;
    h.msg_id = id;
    h.has_msg_type = 1;
    h.msg_type = type;
    h.session = self->id;
    h.has_date = 1;
    h.date = self->clock(self->clock_ctx);
    h.parent_id = (char *)(parent_id ? parent_id : NULL);
    h.has_version = 1;
    h.version = IPP__VERSION__PROTOCOL_VERSION;
    h.username = self->username;
    if ((rc = s_add_packed(out, &h.base)) != IPP_OK)
        goto out;
    if (content) {
        rc = s_add_packed(out, content);
    } else {
        // An empty content of the right type encodes to zero bytes.
        rc = wire_msg_add_frame(out, NULL, 0);
    }
    if (rc != IPP_OK)
        goto out;
    for (; taken < n_buffers; taken++) {
        zmq_msg_t *f = s_msg_slot(out);
        if (!f) {
            rc = IPP_ERR_NOMEM;
            goto out;
        }
        zmq_msg_init(f);
        zmq_msg_move(f, &buffers[taken]);
        zmq_msg_close(&buffers[taken]);
        out->n_frames++;
    }
    out->first_buffer = mac_at + 3;
    s_mac(self, out, mac_at + 1, zmq_msg_data(&out->frames[mac_at]));
    if (msg_id_out)
        memcpy(msg_id_out, id, sizeof id);
out:
    s_close_buffers(buffers, taken, n_buffers);
    return rc;
}

ipp_err_t wire_send(wire_session_t *self, void *socket, const wire_frame_t *idents, size_t n_idents,
                    Ipp__MsgType type, const char *parent_id, const ProtobufCMessage *content,
                    zmq_msg_t *buffers, size_t n_buffers, int flags, const char *msg_id,
                    char *msg_id_out)
{
    wire_msg_t *m = &self->scratch;
    s_msg_reset(m);
    ipp_err_t rc = wire_pack(self, m, idents, n_idents, type, parent_id, content, buffers,
                             n_buffers, msg_id, msg_id_out);
    if (rc != IPP_OK) {
        s_msg_reset(m);
        return rc;
    }
    for (size_t i = 0; i < m->n_frames; i++) {
        int more = (i + 1 < m->n_frames) ? ZMQ_SNDMORE : 0;
        if (zmq_msg_send(&m->frames[i], socket, (flags & ZMQ_DONTWAIT) | more) < 0) {
            // Only the first frame can fail alone: ZeroMQ takes the rest of
            // a multipart once the first part is accepted.
            int e = errno;
            s_msg_reset(m);
            errno = e;
            return IPP_ERR_ZMQ;
        }
    }
    // Sent frames are empty now; closing them is cheap.
    s_msg_reset(m);
    return IPP_OK;
}

// ------------------------------------------------------------ receiving

// s_refusal_kind: the counter of code.
static size_t s_refusal_kind(ipp_err_t code)
{
    if (code >= IPP_ERR_NO_DELIMITER && code <= IPP_ERR_UNKNOWN_TYPE)
        return (size_t)(code - IPP_ERR_NO_DELIMITER);
    return WIRE_REFUSAL_KINDS - 1;
}

// s_refuse: count a refusal, log it at a bounded rate, fill err, return
// code.
static ipp_err_t s_refuse(wire_session_t *self, ipp_error_t *err, ipp_err_t code,
                          const wire_msg_t *msg, const char *detail)
{
    const char *id = (msg->header && msg->header->msg_id) ? msg->header->msg_id : "-";
    ipp_error_set(err, code, "%s: %s (msg_id %s)", ipp_strerror(code), detail, id);
    size_t k = s_refusal_kind(code);
    self->refused[k]++;
    int64_t now = ipp_clock_mono_us();
    if (self->logged[k] != 0 && now - self->logged[k] < WIRE_REFUSAL_LOG_US) {
        self->quiet[k]++;
        return code;
    }
    if (self->quiet[k])
        IPP_LOGW(self->log,
                 "refused message: %s: %s (msg_id %s, %zu frames); %" PRIu64
                 " more refused as %s in the last %.0f s, %" PRIu64 " in all",
                 ipp_errname(code), detail, id, msg->n_frames, self->quiet[k], ipp_errname(code),
                 (double)(now - self->logged[k]) / 1e6, self->refused[k]);
    else
        IPP_LOGW(self->log, "refused message: %s: %s (msg_id %s, %zu frames)", ipp_errname(code),
                 detail, id, msg->n_frames);
    self->logged[k] = now;
    self->quiet[k] = 0;
    return code;
}

size_t wire_refusals(const wire_session_t *self, wire_refusal_t *out, size_t cap)
{
    if (!self)
        return 0;
    size_t n = 0;
    for (size_t k = 0; k < WIRE_REFUSAL_KINDS; k++) {
        if (!self->refused[k])
            continue;
        if (out && n < cap) {
            out[n].code = k == WIRE_REFUSAL_KINDS - 1 ? IPP_ERR_INVALID
                                                      : (ipp_err_t)(IPP_ERR_NO_DELIMITER + (int)k);
            out[n].count = self->refused[k];
        }
        n++;
    }
    return n;
}

// s_stale_detail: what to tell the sender of a message refused for its
// date (why) — the offset measured, and what would fix it — into out.
static void s_stale_detail(const wire_session_t *self, wire_replay_why_t why, int64_t date,
                           int64_t now, char *out, size_t size)
{
    double off = (double)(date - now) / 1e6;
    double ago = -off;
    switch (why) {
    case WIRE_REPLAY_FUTURE:
        snprintf(out, size,
                 "message dated %.1f s in the future; clocks differ by more than the %.0f s "
                 "allowed",
                 off, (double)wire_replay_future(self->replay) / 1e6);
        break;
    case WIRE_REPLAY_PAST:
        snprintf(out, size,
                 "message dated %.1f s in the past, older than the %.0f s window: clocks "
                 "differ, or it was delayed or replayed",
                 ago, (double)wire_replay_window(self->replay) / 1e6);
        break;
    case WIRE_REPLAY_NOT_BEFORE:
        snprintf(out, size,
                 "message dated %.3f s before the receiver's restart point (%.1f s ago): "
                 "signed before the receiver restarted, or replayed; sign it again",
                 (double)(wire_replay_not_before(self->replay) - date) / 1e6, ago);
        break;
    case WIRE_REPLAY_AHEAD_FULL:
        snprintf(out, size,
                 "message dated %.1f s in the future, and the %zu messages dated ahead the "
                 "replay guard can hold are taken; clocks differ: set them right",
                 off, wire_replay_ahead_capacity(self->replay));
        break;
    case WIRE_REPLAY_FORGOTTEN:
    case WIRE_REPLAY_FULL:
    default:
        snprintf(out, size,
                 "message dated %+.3f s from now; the replay guard is full (%zu messages "
                 "inside the window) and this date is among the oldest it can no longer "
                 "vouch for",
                 off, wire_replay_count(self->replay));
        break;
    }
}

ipp_err_t wire_unpack(wire_session_t *self, wire_msg_t *msg, ipp_error_t *err)
{
    char detail[256];
    if (msg->n_frames > self->max_frames) {
        snprintf(detail, sizeof detail, "%zu frames, limit %zu", msg->n_frames, self->max_frames);
        return s_refuse(self, err, IPP_ERR_TOO_MANY_FRAMES, msg, detail);
    }
    size_t total = 0;
    size_t delim = SIZE_MAX;
    for (size_t i = 0; i < msg->n_frames; i++) {
        size_t sz = zmq_msg_size(&msg->frames[i]);
        total += sz;
        if (delim == SIZE_MAX && sz == WIRE_DELIM_LEN &&
            memcmp(zmq_msg_data(&msg->frames[i]), WIRE_DELIM, WIRE_DELIM_LEN) == 0)
            delim = i;
    }
    if (total > self->max_bytes) {
        snprintf(detail, sizeof detail, "%zu bytes, limit %zu", total, self->max_bytes);
        return s_refuse(self, err, IPP_ERR_TOO_BIG, msg, detail);
    }
    if (delim == SIZE_MAX)
        return s_refuse(self, err, IPP_ERR_NO_DELIMITER, msg, "no delimiter frame");
    msg->n_idents = delim;
    if (msg->n_frames < delim + 4 || zmq_msg_size(&msg->frames[delim + 1]) != WIRE_MAC_LEN)
        return s_refuse(self, err, IPP_ERR_BAD_MAC, msg, "MAC, header or content missing");
    uint8_t mac[WIRE_MAC_LEN];
    s_mac(self, msg, delim + 2, mac);
    const uint8_t *got = zmq_msg_data(&msg->frames[delim + 1]);
    if (sodium_memcmp(mac, got, WIRE_MAC_LEN) != 0)
        return s_refuse(self, err, IPP_ERR_BAD_MAC, msg, "signature does not match");
    msg->first_buffer = delim + 4;

    zmq_msg_t *hf = &msg->frames[delim + 2];
    s_header_free(msg);
    if (!msg->arena)
        msg->arena = malloc(sizeof *msg->arena);  // NULL: malloc then, as before
    ProtobufCAllocator arena = {0};
    if (msg->arena)
        arena = wire_arena_allocator(msg->arena);
    msg->header =
        ipp__header__unpack(msg->arena ? &arena : NULL, zmq_msg_size(hf), zmq_msg_data(hf));
    if (!msg->header)
        return s_refuse(self, err, IPP_ERR_BAD_HEADER, msg, "header does not decode");
    Ipp__Header *h = msg->header;
    if (!ipp_msgid_valid(h->msg_id) || !h->has_msg_type || !h->has_date || !h->session ||
        !h->has_version) {
        s_header_free(msg);
        return s_refuse(self, err, IPP_ERR_BAD_HEADER, msg,
                        "header lacks msg_id, msg_type, session, date or version");
    }
    int64_t now = self->clock(self->clock_ctx);
    wire_replay_why_t why;
    ipp_err_t rc = wire_replay_check(self->replay, got, WIRE_MAC_LEN, h->date, now, &why);
    if (rc == IPP_ERR_STALE) {
        s_stale_detail(self, why, h->date, now, detail, sizeof detail);
        return s_refuse(self, err, rc, msg, detail);
    }
    if (rc == IPP_ERR_REPLAY)
        return s_refuse(self, err, rc, msg, "MAC seen before");
    if (!self->warned_write && wire_replay_write_failed(self->replay)) {
        self->warned_write = true;
        IPP_LOGW(self->log, "replay guard: cannot write its state file; after a restart "
                            "it may not refuse what it accepted before");
    }
    if (h->version == 0 || h->version > IPP__VERSION__PROTOCOL_VERSION) {
        snprintf(detail, sizeof detail, "version %u, this side speaks %d", h->version,
                 IPP__VERSION__PROTOCOL_VERSION);
        return s_refuse(self, err, IPP_ERR_VERSION, msg, detail);
    }
    const ProtobufCMessageDescriptor *desc = wire_descriptor(h->msg_type);
    if (!desc) {
        snprintf(detail, sizeof detail, "msg_type %d", (int)h->msg_type);
        return s_refuse(self, err, IPP_ERR_UNKNOWN_TYPE, msg, detail);
    }
    zmq_msg_t *cf = &msg->frames[delim + 3];
    msg->content = protobuf_c_message_unpack(desc, NULL, zmq_msg_size(cf), zmq_msg_data(cf));
    if (!msg->content) {
        snprintf(detail, sizeof detail, "%s content does not decode", wire_type_name(h->msg_type));
        return s_refuse(self, err, IPP_ERR_BAD_CONTENT, msg, detail);
    }
    return IPP_OK;
}

ipp_err_t wire_recv(wire_session_t *self, void *socket, int flags, wire_msg_t *msg,
                    ipp_error_t *err)
{
    s_msg_reset(msg);
    int more = 1;
    while (more) {
        zmq_msg_t *f = s_msg_slot(msg);
        if (!f) {
            // Out of memory: drain and drop the rest of this message.
            zmq_msg_t junk;
            zmq_msg_init(&junk);
            while (more && zmq_msg_recv(&junk, socket, 0) >= 0)
                more = zmq_msg_more(&junk);
            zmq_msg_close(&junk);
            return ipp_error_set(err, IPP_ERR_NOMEM, "no memory for a message");
        }
        zmq_msg_init(f);
        // Only the first frame may wait; the rest of a multipart is there.
        if (zmq_msg_recv(f, socket, msg->n_frames == 0 ? flags : 0) < 0) {
            int e = errno;
            zmq_msg_close(f);
            errno = e;
            if (e == EAGAIN)
                return IPP_ERR_ZMQ;
            return ipp_error_set(err, IPP_ERR_ZMQ, "receive failed: %s", zmq_strerror(e));
        }
        msg->n_frames++;
        more = zmq_msg_more(f);
    }
    return wire_unpack(self, msg, err);
}
