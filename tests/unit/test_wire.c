/* test_wire.c — the wire session: round trips, signing, every refusal,
 * replay guard, message ids.
 *
 * Messages are filled by walking their protobuf descriptors, so every
 * message family in the schema (and every one added later) is packed,
 * signed, unpacked and compared byte for byte.
 */
#include "proto/clock.h"
#include "proto/codec.h"
#include "proto/msgid.h"
#include "proto/replay.h"
#include "proto/wire.h"
#include "proto/zpoll.h"

#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdalign.h>
#include <stddef.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const uint8_t s_key[32] = "0123456789abcdef0123456789abcdef";
static ipp_logger_t s_quiet = {IPP_LOG_ERROR, NULL, "test"};

// ---------------------------------------------------------- arena + fill

typedef struct {
    void *p[4096];
    size_t n;
} arena_t;

static void *a_alloc(arena_t *a, size_t size)
{
    ck_assert_uint_lt(a->n, 4096);
    void *p = calloc(1, size ? size : 1);
    ck_assert_ptr_nonnull(p);
    a->p[a->n++] = p;
    return p;
}

static void a_free(arena_t *a)
{
    for (size_t i = 0; i < a->n; i++)
        free(a->p[i]);
    a->n = 0;
}

static ProtobufCMessage *s_fill(arena_t *a, const ProtobufCMessageDescriptor *d, int depth);

// s_fill_value: write one value of field f at dst (seed varies values).
static void s_fill_value(arena_t *a, const ProtobufCFieldDescriptor *f, void *dst, int seed,
                         int depth)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        *(int32_t *)dst = -7 * seed - 1;
        break;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        *(uint32_t *)dst = 7u * (unsigned)seed + 1;
        break;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        *(int64_t *)dst = 1700000000000000LL + seed;
        break;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        *(uint64_t *)dst = 1ULL << 40 | (uint64_t)seed;
        break;
    case PROTOBUF_C_TYPE_FLOAT:
        *(float *)dst = 1.5f;
        break;
    case PROTOBUF_C_TYPE_DOUBLE:
        *(double *)dst = 2.25;
        break;
    case PROTOBUF_C_TYPE_BOOL:
        *(protobuf_c_boolean *)dst = 1;
        break;
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumDescriptor *e = f->descriptor;
        *(int *)dst = e->values[e->n_values - 1].value;
        break;
    }
    case PROTOBUF_C_TYPE_STRING: {
        char *s = a_alloc(a, 48);
        snprintf(s, 48, "%s-%d", f->name, seed);
        *(char **)dst = s;
        break;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        ProtobufCBinaryData *b = dst;
        b->len = 5;
        b->data = a_alloc(a, 5);
        memcpy(b->data, "\0b\xffy\n", 5);
        break;
    }
    case PROTOBUF_C_TYPE_MESSAGE:
        *(ProtobufCMessage **)dst = s_fill(a, f->descriptor, depth + 1);
        break;
    }
}

static size_t s_value_size(const ProtobufCFieldDescriptor *f)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return 8;
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(void *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    default:
        return 4;
    }
}

// s_fill: a message of type d with every field set (two elements for
// repeated fields; the first member of each oneof).
static ProtobufCMessage *s_fill(arena_t *a, const ProtobufCMessageDescriptor *d, int depth)
{
    ProtobufCMessage *m = a_alloc(a, d->sizeof_message);
    protobuf_c_message_init(d, m);
    if (depth > 3)
        return m;
    char *base = (char *)m;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
            uint32_t *which = (uint32_t *)(base + f->quantifier_offset);
            if (*which != 0)
                continue;  // another member of this oneof is set
            *which = f->id;
            s_fill_value(a, f, base + f->offset, (int)i, depth);
        } else if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = 2, sz = s_value_size(f);
            char *arr = a_alloc(a, n * sz);
            for (size_t k = 0; k < n; k++)
                s_fill_value(a, f, arr + k * sz, (int)(i + 10 * k), depth);
            *(size_t *)(base + f->quantifier_offset) = n;
            *(void **)(base + f->offset) = arr;
        } else {
            s_fill_value(a, f, base + f->offset, (int)i, depth);
            if (f->quantifier_offset && f->type != PROTOBUF_C_TYPE_STRING &&
                f->type != PROTOBUF_C_TYPE_MESSAGE)
                *(protobuf_c_boolean *)(base + f->quantifier_offset) = 1;
        }
    }
    return m;
}

// --------------------------------------------------------------- helpers

static wire_session_t *s_session(void)
{
    wire_opts_t o = {0};
    o.key = s_key;
    o.key_len = sizeof s_key;
    o.log = &s_quiet;
    o.username = "test-user";
    ipp_error_t err;
    wire_session_t *s = wire_session_new(&o, &err);
    ck_assert_msg(s != NULL, "%s", err.msg);
    return s;
}

static void s_buffer(zmq_msg_t *m, const char *text)
{
    zmq_msg_init_size(m, strlen(text));
    memcpy(zmq_msg_data(m), text, strlen(text));
}

// s_copy_frames: a fresh message holding copies of src's frames, as a
// receiver would get them.
static void s_copy_frames(wire_msg_t *dst, const wire_msg_t *src)
{
    wire_msg_init(dst);
    for (size_t i = 0; i < src->n_frames; i++)
        ck_assert_int_eq(wire_msg_add_frame(dst, zmq_msg_data((zmq_msg_t *)&src->frames[i]),
                                            zmq_msg_size((zmq_msg_t *)&src->frames[i])),
                         IPP_OK);
}

// s_pack_task: a signed TASK_REQUEST with two buffers, frames in *out.
static void s_pack_task(wire_session_t *s, wire_msg_t *out)
{
    Ipp__TaskRequest req = IPP__TASK_REQUEST__INIT;
    Ipp__Call call = IPP__CALL__INIT;
    call.function = "echo";
    req.kind_case = IPP__TASK_REQUEST__KIND_CALL;
    req.call = &call;
    zmq_msg_t bufs[2];
    s_buffer(&bufs[0], "first buffer");
    s_buffer(&bufs[1], "second buffer");
    wire_frame_t id = {"engine-7", 8};
    wire_msg_init(out);
    ck_assert_int_eq(wire_pack(s, out, &id, 1, IPP__MSG_TYPE__TASK_REQUEST, NULL, &req.base, bufs,
                               2, NULL, NULL),
                     IPP_OK);
}

// --------------------------------------------------------------- tests

START_TEST(test_every_family_round_trips)
{
    wire_session_t *tx = s_session();
    wire_session_t *rx = s_session();
    ck_assert_int_ge(wire_type_count(), 38);
    for (int i = 0; i < wire_type_count(); i++) {
        int type = wire_type_at(i);
        const ProtobufCMessageDescriptor *d = wire_descriptor(type);
        ck_assert_ptr_nonnull(d);
        arena_t *a = calloc(1, sizeof *a);
        ProtobufCMessage *m = s_fill(a, d, 0);
        size_t want_len = protobuf_c_message_get_packed_size(m);
        uint8_t *want = malloc(want_len + 1);
        protobuf_c_message_pack(m, want);
        ck_assert_msg(want_len > 0 || d->n_fields == 0, "%s packs to nothing", d->name);

        zmq_msg_t buf;
        s_buffer(&buf, "payload");
        wire_msg_t packed, got;
        wire_msg_init(&packed);
        char sent_id[IPP_MSGID_LEN + 1];
        ck_assert_int_eq(wire_pack(tx, &packed, NULL, 0, (Ipp__MsgType)type,
                                   "0190a000-0000-7000-8000-000000000000", m, &buf, 1, NULL,
                                   sent_id),
                         IPP_OK);
        s_copy_frames(&got, &packed);
        ipp_error_t err;
        ck_assert_msg(wire_unpack(rx, &got, &err) == IPP_OK, "%s: %s", d->name, err.msg);
        ck_assert_int_eq(wire_msg_type(&got), type);
        ck_assert_str_eq(got.header->msg_id, sent_id);
        ck_assert_str_eq(got.header->parent_id, "0190a000-0000-7000-8000-000000000000");
        ck_assert_str_eq(got.header->session, wire_session_id(tx));
        ck_assert_uint_eq(got.header->version, 1);
        ck_assert_ptr_eq(got.content->descriptor, d);
        size_t have_len = protobuf_c_message_get_packed_size(got.content);
        ck_assert_uint_eq(have_len, want_len);
        uint8_t *have = malloc(have_len + 1);
        protobuf_c_message_pack(got.content, have);
        ck_assert_msg(memcmp(have, want, want_len) == 0, "%s differs after round trip", d->name);
        ck_assert_uint_eq(wire_msg_n_buffers(&got), 1);
        size_t blen;
        const void *b = wire_msg_buffer(&got, 0, &blen);
        ck_assert_uint_eq(blen, 7);
        ck_assert(memcmp(b, "payload", 7) == 0);
        free(have);
        free(want);
        wire_msg_fini(&packed);
        wire_msg_fini(&got);
        a_free(a);
        free(a);
    }
    wire_session_destroy(&tx);
    wire_session_destroy(&rx);
    ck_assert_ptr_null(rx);
}
END_TEST

START_TEST(test_routing_ids_and_empty_content)
{
    wire_session_t *s = s_session();
    wire_msg_t packed, got;
    s_pack_task(s, &packed);
    ck_assert_uint_eq(packed.n_idents, 1);
    s_copy_frames(&got, &packed);
    ck_assert_int_eq(wire_unpack(s, &got, NULL), IPP_OK);
    ck_assert_uint_eq(got.n_idents, 1);
    wire_frame_t ids[2];
    ck_assert_uint_eq(wire_msg_idents(&got, ids, 2), 1);
    ck_assert_uint_eq(ids[0].size, 8);
    ck_assert(memcmp(ids[0].data, "engine-7", 8) == 0);
    Ipp__TaskRequest *req = (Ipp__TaskRequest *)got.content;
    ck_assert_int_eq(req->kind_case, IPP__TASK_REQUEST__KIND_CALL);
    ck_assert_str_eq(req->call->function, "echo");
    ck_assert_uint_eq(wire_msg_n_buffers(&got), 2);
    wire_msg_fini(&packed);
    wire_msg_fini(&got);

    // NULL content packs as an empty message of the type.
    wire_msg_init(&packed);
    ck_assert_int_eq(wire_pack(s, &packed, NULL, 0, IPP__MSG_TYPE__HISTORY_REQUEST, NULL, NULL,
                               NULL, 0, NULL, NULL),
                     IPP_OK);
    s_copy_frames(&got, &packed);
    ck_assert_int_eq(wire_unpack(s, &got, NULL), IPP_OK);
    ck_assert_ptr_eq(got.content->descriptor, &ipp__history_request__descriptor);
    wire_msg_fini(&packed);
    wire_msg_fini(&got);
    wire_session_destroy(&s);
}
END_TEST

START_TEST(test_pack_refuses_wrong_content_type)
{
    wire_session_t *s = s_session();
    Ipp__Heartbeat hb = IPP__HEARTBEAT__INIT;
    zmq_msg_t buf;
    s_buffer(&buf, "x");
    wire_msg_t m;
    wire_msg_init(&m);
    // A heartbeat is not a TASK_REQUEST; the buffer is closed either way.
    ck_assert_int_eq(
        wire_pack(s, &m, NULL, 0, IPP__MSG_TYPE__TASK_REQUEST, NULL, &hb.base, &buf, 1, NULL, NULL),
        IPP_ERR_INVALID);
    ck_assert_int_eq(wire_pack(s, &m, NULL, 0, (Ipp__MsgType)999, NULL, NULL, NULL, 0, NULL, NULL),
                     IPP_ERR_INVALID);
    ck_assert_int_eq(wire_pack(s, &m, NULL, 0, IPP__MSG_TYPE__HEARTBEAT, NULL, &hb.base, NULL, 0,
                               "not-a-uuid", NULL),
                     IPP_ERR_INVALID);
    wire_msg_fini(&m);
    wire_session_destroy(&s);
}
END_TEST

// s_expect_refusal: unpack frames and expect code; the header must not be
// handed out for refusals before it decodes.
static void s_expect(wire_session_t *rx, wire_msg_t *m, ipp_err_t code)
{
    ipp_error_t err;
    ipp_error_clear(&err);
    ipp_err_t rc = wire_unpack(rx, m, &err);
    ck_assert_msg(rc == code, "got %s (%s), want %s", ipp_errname(rc), err.msg, ipp_errname(code));
    ck_assert_int_eq(err.code, code);
    ck_assert(strlen(err.msg) > 0);
    if (code == IPP_ERR_BAD_MAC || code == IPP_ERR_NO_DELIMITER || code == IPP_ERR_TOO_BIG ||
        code == IPP_ERR_TOO_MANY_FRAMES || code == IPP_ERR_BAD_HEADER)
        ck_assert_ptr_null(m->header);
    ck_assert_ptr_null(m->content);
}

START_TEST(test_refuse_missing_delimiter)
{
    wire_session_t *s = s_session();
    wire_msg_t m;
    wire_msg_init(&m);
    wire_msg_add_frame(&m, "id", 2);
    wire_msg_add_frame(&m, "<IPP>", 5);
    wire_msg_add_frame(&m, "mac", 3);
    s_expect(s, &m, IPP_ERR_NO_DELIMITER);
    wire_msg_fini(&m);
    wire_msg_init(&m);  // no frames at all
    s_expect(s, &m, IPP_ERR_NO_DELIMITER);
    wire_msg_fini(&m);
    wire_session_destroy(&s);
}
END_TEST

// A flood of garbage is counted in full but logged at a bounded rate: the
// first refusal of each kind, then nothing more within the interval.
START_TEST(test_refusals_counted_and_logged_at_a_bounded_rate)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    ck_assert_ptr_nonnull(out);
    ipp_logger_t lg = {IPP_LOG_WARN, out, "test"};
    wire_opts_t o = {0};
    o.key = s_key;
    o.key_len = sizeof s_key;
    o.log = &lg;
    ipp_error_t err;
    wire_session_t *s = wire_session_new(&o, &err);
    ck_assert_ptr_nonnull(s);
    ck_assert_uint_eq(wire_refusals(s, NULL, 0), 0);
    for (int i = 0; i < 5000; i++) {
        wire_msg_t m;
        wire_msg_init(&m);
        wire_msg_add_frame(&m, "junk", 4);
        s_expect(s, &m, IPP_ERR_NO_DELIMITER);
        wire_msg_fini(&m);
    }
    for (int i = 0; i < 300; i++) {
        wire_msg_t m;
        wire_msg_init(&m);
        wire_msg_add_frame(&m, "<IPP|>", 6);
        wire_msg_add_frame(&m, "mac", 3);
        wire_msg_add_frame(&m, "h", 1);
        wire_msg_add_frame(&m, "c", 1);
        s_expect(s, &m, IPP_ERR_BAD_MAC);
        wire_msg_fini(&m);
    }
    fflush(out);
    size_t lines = 0;
    for (size_t i = 0; i < len; i++)
        lines += text[i] == '\n';
    ck_assert_msg(lines == 2, "%zu log lines for 5,300 refusals:\n%s", lines, text);
    ck_assert_ptr_nonnull(strstr(text, "IPP_ERR_NO_DELIMITER"));
    ck_assert_ptr_nonnull(strstr(text, "IPP_ERR_BAD_MAC"));
    wire_refusal_t r[WIRE_REFUSAL_KINDS];
    ck_assert_uint_eq(wire_refusals(s, r, WIRE_REFUSAL_KINDS), 2);
    ck_assert_int_eq(r[0].code, IPP_ERR_NO_DELIMITER);
    ck_assert_uint_eq(r[0].count, 5000);
    ck_assert_int_eq(r[1].code, IPP_ERR_BAD_MAC);
    ck_assert_uint_eq(r[1].count, 300);
    ck_assert_uint_eq(wire_refusals(s, r, 1), 2);  // says how many, fills what fits
    ck_assert_uint_eq(wire_refusals(NULL, r, 1), 0);
    wire_session_destroy(&s);
    fclose(out);
    free(text);
}
END_TEST

START_TEST(test_refuse_bad_or_missing_mac)
{
    wire_session_t *tx = s_session();
    wire_session_t *rx = s_session();
    wire_msg_t packed, m;
    s_pack_task(tx, &packed);
    size_t mac = packed.n_idents + 1;

    // A flipped MAC byte.
    s_copy_frames(&m, &packed);
    ((uint8_t *)zmq_msg_data(&m.frames[mac]))[5] ^= 1;
    s_expect(rx, &m, IPP_ERR_BAD_MAC);
    wire_msg_fini(&m);

    // An empty MAC frame.
    wire_msg_init(&m);
    for (size_t i = 0; i < packed.n_frames; i++)
        wire_msg_add_frame(&m, i == mac ? "" : zmq_msg_data(&packed.frames[i]),
                           i == mac ? 0 : zmq_msg_size(&packed.frames[i]));
    s_expect(rx, &m, IPP_ERR_BAD_MAC);
    wire_msg_fini(&m);

    // Only delimiter and MAC: header and content missing.
    wire_msg_init(&m);
    for (size_t i = 0; i <= mac; i++)
        wire_msg_add_frame(&m, zmq_msg_data(&packed.frames[i]), zmq_msg_size(&packed.frames[i]));
    s_expect(rx, &m, IPP_ERR_BAD_MAC);
    wire_msg_fini(&m);

    // Signed with another key.
    wire_opts_t o = {0};
    uint8_t other[32] = "another key, another key, anothe";
    o.key = other;
    o.key_len = 32;
    o.log = &s_quiet;
    wire_session_t *mallory = wire_session_new(&o, NULL);
    wire_msg_t forged;
    s_pack_task(mallory, &forged);
    s_copy_frames(&m, &forged);
    s_expect(rx, &m, IPP_ERR_BAD_MAC);
    wire_msg_fini(&m);
    wire_msg_fini(&forged);
    wire_session_destroy(&mallory);

    // The intact message still passes: the refusals remembered nothing.
    s_copy_frames(&m, &packed);
    ck_assert_int_eq(wire_unpack(rx, &m, NULL), IPP_OK);
    wire_msg_fini(&m);
    wire_msg_fini(&packed);
    wire_session_destroy(&tx);
    wire_session_destroy(&rx);
}
END_TEST

START_TEST(test_mac_covers_buffers_header_content)
{
    wire_session_t *tx = s_session();
    wire_session_t *rx = s_session();
    wire_msg_t packed, m;
    s_pack_task(tx, &packed);
    size_t first = packed.n_idents + 2;  // header
    for (size_t i = first; i < packed.n_frames; i++) {
        s_copy_frames(&m, &packed);
        uint8_t *b = zmq_msg_data(&m.frames[i]);
        b[zmq_msg_size(&m.frames[i]) - 1] ^= 0x40;
        s_expect(rx, &m, IPP_ERR_BAD_MAC);
        wire_msg_fini(&m);
    }
    // Dropping the last buffer, or moving bytes between frames, breaks it.
    wire_msg_init(&m);
    for (size_t i = 0; i + 1 < packed.n_frames; i++)
        wire_msg_add_frame(&m, zmq_msg_data(&packed.frames[i]), zmq_msg_size(&packed.frames[i]));
    s_expect(rx, &m, IPP_ERR_BAD_MAC);
    wire_msg_fini(&m);
    wire_msg_init(&m);
    size_t last = packed.n_frames - 1;
    for (size_t i = 0; i < last - 1; i++)
        wire_msg_add_frame(&m, zmq_msg_data(&packed.frames[i]), zmq_msg_size(&packed.frames[i]));
    char joined[64];
    size_t a = zmq_msg_size(&packed.frames[last - 1]), b = zmq_msg_size(&packed.frames[last]);
    memcpy(joined, zmq_msg_data(&packed.frames[last - 1]), a);
    memcpy(joined + a, zmq_msg_data(&packed.frames[last]), b);
    wire_msg_add_frame(&m, joined, a + 1);
    wire_msg_add_frame(&m, joined + a + 1, b - 1);
    s_expect(rx, &m, IPP_ERR_BAD_MAC);
    wire_msg_fini(&m);
    wire_msg_fini(&packed);
    wire_session_destroy(&tx);
    wire_session_destroy(&rx);
}
END_TEST

START_TEST(test_refuse_replay)
{
    wire_session_t *tx = s_session();
    wire_session_t *rx = s_session();
    wire_msg_t packed, m;
    s_pack_task(tx, &packed);
    s_copy_frames(&m, &packed);
    ck_assert_int_eq(wire_unpack(rx, &m, NULL), IPP_OK);
    wire_msg_fini(&m);
    s_copy_frames(&m, &packed);
    s_expect(rx, &m, IPP_ERR_REPLAY);
    ck_assert_ptr_nonnull(m.header);  // decoded, so the caller can log the id
    wire_msg_fini(&m);
    // Another receiver has not seen it: the guard is per receiver.
    wire_session_t *rx2 = s_session();
    s_copy_frames(&m, &packed);
    ck_assert_int_eq(wire_unpack(rx2, &m, NULL), IPP_OK);
    wire_msg_fini(&m);
    wire_msg_fini(&packed);
    wire_session_destroy(&tx);
    wire_session_destroy(&rx);
    wire_session_destroy(&rx2);
}
END_TEST

static int64_t s_fake_now;
static int64_t s_fake_clock(void *ctx)
{
    (void)ctx;
    return s_fake_now;
}

START_TEST(test_refuse_stale_and_future)
{
    wire_opts_t o = {0};
    o.key = s_key;
    o.key_len = sizeof s_key;
    o.log = &s_quiet;
    o.clock = s_fake_clock;
    o.window_us = 10 * 1000000;
    s_fake_now = ipp_clock_now_us();
    wire_session_t *tx = wire_session_new(&o, NULL);
    wire_session_t *rx = s_session();  // real clock, 5 min window
    wire_msg_t packed, m;

    s_fake_now = ipp_clock_now_us() - 301LL * 1000000;  // 5 min 1 s ago
    s_pack_task(tx, &packed);
    s_copy_frames(&m, &packed);
    s_expect(rx, &m, IPP_ERR_STALE);
    wire_msg_fini(&m);
    wire_msg_fini(&packed);

    s_fake_now = ipp_clock_now_us() + 301LL * 1000000;  // from the future
    s_pack_task(tx, &packed);
    s_copy_frames(&m, &packed);
    s_expect(rx, &m, IPP_ERR_STALE);
    wire_msg_fini(&m);
    wire_msg_fini(&packed);

    // Inside the old ±300 s, but more ahead than the 60 s allowed: refused
    // with the offset measured, so the sender knows its clock is wrong.
    s_fake_now = ipp_clock_now_us() + 290LL * 1000000 + 400000;
    s_pack_task(tx, &packed);
    s_copy_frames(&m, &packed);
    ipp_error_t err;
    ck_assert_int_eq(wire_unpack(rx, &m, &err), IPP_ERR_STALE);
    ck_assert_ptr_nonnull(m.header);  // authentic: the receiver may answer
    ck_assert_msg(strstr(err.msg, "message dated 290.") != NULL, "%s", err.msg);
    ck_assert_msg(strstr(err.msg, "s in the future; clocks differ by more than the 60 s "
                                  "allowed") != NULL,
                  "%s", err.msg);
    wire_msg_fini(&m);
    wire_msg_fini(&packed);

    // 30 s ahead is within what is allowed.
    s_fake_now = ipp_clock_now_us() + 30LL * 1000000;
    s_pack_task(tx, &packed);
    s_copy_frames(&m, &packed);
    ck_assert_int_eq(wire_unpack(rx, &m, NULL), IPP_OK);
    wire_msg_fini(&m);
    wire_msg_fini(&packed);

    // Too old: the text says how old, and the window.
    s_fake_now = ipp_clock_now_us() - 400LL * 1000000;
    s_pack_task(tx, &packed);
    s_copy_frames(&m, &packed);
    ck_assert_int_eq(wire_unpack(rx, &m, &err), IPP_ERR_STALE);
    ck_assert_msg(strstr(err.msg, "in the past, older than the 300 s window") != NULL, "%s",
                  err.msg);
    wire_msg_fini(&m);
    wire_msg_fini(&packed);

    s_fake_now = ipp_clock_now_us() - 290LL * 1000000;  // inside the window
    s_pack_task(tx, &packed);
    s_copy_frames(&m, &packed);
    ck_assert_int_eq(wire_unpack(rx, &m, NULL), IPP_OK);
    wire_msg_fini(&m);
    wire_msg_fini(&packed);

    // The window is configurable: tx (10 s window) refuses a message 20 s old.
    wire_session_t *old = s_session();
    s_fake_now = ipp_clock_now_us() + 20LL * 1000000;
    s_pack_task(old, &packed);
    s_copy_frames(&m, &packed);
    s_expect(tx, &m, IPP_ERR_STALE);
    wire_msg_fini(&m);
    wire_msg_fini(&packed);
    wire_session_destroy(&old);
    wire_session_destroy(&tx);
    wire_session_destroy(&rx);
}
END_TEST

START_TEST(test_refuse_undecodable_header_and_content)
{
    wire_session_t *rx = s_session();
    // Build frames by hand with a valid MAC over garbage.
    const char *hdr_garbage = "\xff\xff\xff\xff";
    wire_msg_t m;
    uint8_t mac[WIRE_MAC_LEN];
    crypto_generichash_state st;
    uint8_t len[8] = {4, 0, 0, 0, 0, 0, 0, 0};
    uint8_t len0[8] = {0};
    crypto_generichash_init(&st, s_key, sizeof s_key, WIRE_MAC_LEN);
    crypto_generichash_update(&st, len, 8);
    crypto_generichash_update(&st, (const uint8_t *)hdr_garbage, 4);
    crypto_generichash_update(&st, len0, 8);
    crypto_generichash_final(&st, mac, WIRE_MAC_LEN);
    wire_msg_init(&m);
    wire_msg_add_frame(&m, WIRE_DELIM, WIRE_DELIM_LEN);
    wire_msg_add_frame(&m, mac, WIRE_MAC_LEN);
    wire_msg_add_frame(&m, hdr_garbage, 4);
    wire_msg_add_frame(&m, "", 0);
    s_expect(rx, &m, IPP_ERR_BAD_HEADER);
    wire_msg_fini(&m);

    // A valid signed header, content that does not decode as its type.
    wire_session_t *tx = s_session();
    wire_msg_t packed;
    s_pack_task(tx, &packed);
    size_t content = packed.n_idents + 3;
    wire_msg_init(&m);
    for (size_t i = 0; i < packed.n_frames; i++) {
        if (i == content)
            wire_msg_add_frame(&m, "\x0a\xff\xff", 3);  // field 1, length overruns
        else
            wire_msg_add_frame(&m, zmq_msg_data(&packed.frames[i]),
                               zmq_msg_size(&packed.frames[i]));
    }
    // Re-sign as the sender would, so only the content is at fault.
    crypto_generichash_init(&st, s_key, sizeof s_key, WIRE_MAC_LEN);
    for (size_t i = packed.n_idents + 2; i < m.n_frames; i++) {
        uint64_t n = zmq_msg_size(&m.frames[i]);
        uint8_t l[8];
        for (int k = 0; k < 8; k++)
            l[k] = (uint8_t)(n >> (8 * k));
        crypto_generichash_update(&st, l, 8);
        crypto_generichash_update(&st, zmq_msg_data(&m.frames[i]), n);
    }
    crypto_generichash_final(&st, zmq_msg_data(&m.frames[packed.n_idents + 1]), WIRE_MAC_LEN);
    s_expect(rx, &m, IPP_ERR_BAD_CONTENT);
    ck_assert_ptr_nonnull(m.header);  // kept so the caller can answer
    ck_assert_int_eq(wire_msg_type(&m), IPP__MSG_TYPE__TASK_REQUEST);
    wire_msg_fini(&m);
    wire_msg_fini(&packed);
    wire_session_destroy(&tx);
    wire_session_destroy(&rx);
}
END_TEST

START_TEST(test_refuse_over_limits)
{
    wire_opts_t o = {0};
    o.key = s_key;
    o.key_len = sizeof s_key;
    o.log = &s_quiet;
    o.max_frames = 6;
    o.max_msg_bytes = 4096;
    wire_session_t *rx = wire_session_new(&o, NULL);
    wire_session_t *tx = s_session();
    wire_msg_t packed, m;
    s_pack_task(tx, &packed);  // 1 ident + 4 + 2 buffers = 7 frames
    s_copy_frames(&m, &packed);
    s_expect(rx, &m, IPP_ERR_TOO_MANY_FRAMES);
    wire_msg_fini(&m);
    wire_msg_fini(&packed);

    wire_msg_init(&packed);
    zmq_msg_t big;
    zmq_msg_init_size(&big, 5000);
    memset(zmq_msg_data(&big), 'x', 5000);
    ck_assert_int_eq(
        wire_pack(tx, &packed, NULL, 0, IPP__MSG_TYPE__HEARTBEAT, NULL, NULL, &big, 1, NULL, NULL),
        IPP_OK);
    s_copy_frames(&m, &packed);
    s_expect(rx, &m, IPP_ERR_TOO_BIG);
    wire_msg_fini(&m);
    wire_msg_fini(&packed);
    wire_session_destroy(&rx);
    wire_session_destroy(&tx);
}
END_TEST

START_TEST(test_refuse_version_and_unknown_type)
{
    wire_session_t *rx = s_session();
    // Hand-made header with version 2 / unknown type, signed properly.
    for (int variant = 0; variant < 2; variant++) {
        Ipp__Header h = IPP__HEADER__INIT;
        char id[IPP_MSGID_LEN + 1];
        ipp_msgid_gen_t g;
        ipp_msgid_gen_init(&g);
        ipp_msgid_next(&g, id);
        h.msg_id = id;
        h.has_msg_type = 1;
        h.msg_type = variant == 0 ? IPP__MSG_TYPE__HEARTBEAT : (Ipp__MsgType)77;
        h.session = "s";
        h.has_date = 1;
        h.date = ipp_clock_now_us();
        h.has_version = 1;
        h.version = variant == 0 ? 2 : 1;
        uint8_t hb[256];
        size_t hl = ipp__header__pack(&h, hb);
        uint8_t mac[WIRE_MAC_LEN];
        crypto_generichash_state st;
        uint8_t l[8] = {0};
        l[0] = (uint8_t)hl;
        uint8_t l0[8] = {0};
        crypto_generichash_init(&st, s_key, sizeof s_key, WIRE_MAC_LEN);
        crypto_generichash_update(&st, l, 8);
        crypto_generichash_update(&st, hb, hl);
        crypto_generichash_update(&st, l0, 8);
        crypto_generichash_final(&st, mac, WIRE_MAC_LEN);
        wire_msg_t m;
        wire_msg_init(&m);
        wire_msg_add_frame(&m, WIRE_DELIM, WIRE_DELIM_LEN);
        wire_msg_add_frame(&m, mac, WIRE_MAC_LEN);
        wire_msg_add_frame(&m, hb, hl);
        wire_msg_add_frame(&m, "", 0);
        s_expect(rx, &m, variant == 0 ? IPP_ERR_VERSION : IPP_ERR_UNKNOWN_TYPE);
        ck_assert_ptr_nonnull(m.header);
        wire_msg_fini(&m);
    }
    wire_session_destroy(&rx);
}
END_TEST

START_TEST(test_send_recv_over_zmq_zero_copy)
{
    void *ctx = zmq_ctx_new();
    void *a = zmq_socket(ctx, ZMQ_DEALER);
    void *b = zmq_socket(ctx, ZMQ_ROUTER);
    wire_session_t *tx = s_session();
    wire_session_t *rx = s_session();
    ck_assert_int_eq(wire_socket_setup(tx, a), IPP_OK);
    ck_assert_int_eq(wire_socket_setup(rx, b), IPP_OK);
    ck_assert_int_eq(zmq_bind(b, "inproc://wire"), 0);
    ck_assert_int_eq(zmq_connect(a, "inproc://wire"), 0);

    // A 1 MiB buffer goes out and comes back; the sender's zmq_msg_t is
    // moved, not copied.
    zmq_msg_t big;
    zmq_msg_init_size(&big, 1 << 20);
    memset(zmq_msg_data(&big), 0xa5, 1 << 20);
    Ipp__Heartbeat hb = IPP__HEARTBEAT__INIT;
    hb.has_seq = 1;
    hb.seq = 42;
    char id[IPP_MSGID_LEN + 1];
    ck_assert_int_eq(
        wire_send(tx, a, NULL, 0, IPP__MSG_TYPE__HEARTBEAT, NULL, &hb.base, &big, 1, 0, NULL, id),
        IPP_OK);
    wire_msg_t m;
    wire_msg_init(&m);
    ipp_error_t err;
    ck_assert_int_eq(wire_recv(rx, b, 0, &m, &err), IPP_OK);
    ck_assert_uint_eq(m.n_idents, 1);  // the ROUTER added the peer's id
    ck_assert_str_eq(m.header->msg_id, id);
    ck_assert_uint_eq(((Ipp__Heartbeat *)m.content)->seq, 42);
    size_t blen;
    const uint8_t *bd = wire_msg_buffer(&m, 0, &blen);
    ck_assert_uint_eq(blen, 1 << 20);
    ck_assert_uint_eq(bd[12345], 0xa5);

    // Reply through the ROUTER to the peer id: it arrives at the DEALER.
    wire_frame_t ids[1];
    wire_msg_idents(&m, ids, 1);
    ck_assert_int_eq(
        wire_send(rx, b, ids, 1, IPP__MSG_TYPE__HEARTBEAT, id, &hb.base, NULL, 0, 0, NULL, NULL),
        IPP_OK);
    wire_msg_t r;
    wire_msg_init(&r);
    ck_assert_int_eq(wire_recv(tx, a, 0, &r, &err), IPP_OK);
    ck_assert_str_eq(r.header->parent_id, id);

    // Nothing waiting: EAGAIN, not a refusal.
    ck_assert_int_eq(wire_recv(tx, a, ZMQ_DONTWAIT, &r, &err), IPP_ERR_ZMQ);
    ck_assert_int_eq(errno, EAGAIN);

    // Garbage through the socket is refused and the next message still
    // comes through.
    zmq_send(a, "junk", 4, 0);
    ck_assert_int_eq(wire_recv(rx, b, 0, &m, &err), IPP_ERR_NO_DELIMITER);
    ck_assert_int_eq(
        wire_send(tx, a, NULL, 0, IPP__MSG_TYPE__HEARTBEAT, NULL, NULL, NULL, 0, 0, NULL, NULL),
        IPP_OK);
    ck_assert_int_eq(wire_recv(rx, b, 0, &m, &err), IPP_OK);

    wire_msg_fini(&m);
    wire_msg_fini(&r);
    wire_session_destroy(&tx);
    wire_session_destroy(&rx);
    zmq_close(a);
    zmq_close(b);
    zmq_ctx_term(ctx);
}
END_TEST

// s_in_arena: p lies inside m's header arena.
static bool s_in_arena(const wire_msg_t *m, const void *p)
{
    if (!m->arena)
        return false;
    uintptr_t u = (uintptr_t)p, lo = (uintptr_t)m->arena->buf;
    return u >= lo && u < lo + sizeof m->arena->buf;
}

START_TEST(test_arena_allocator_bumps_then_mallocs)
{
    wire_arena_t arena;
    ProtobufCAllocator a = wire_arena_allocator(&arena);
    // Small pieces come from the arena, aligned for any scalar.
    void *p[64];
    size_t n = 0, inside = 0;
    for (; n < 64; n++) {
        p[n] = a.alloc(a.allocator_data, 24);
        ck_assert_ptr_nonnull(p[n]);
        ck_assert_uint_eq((uintptr_t)p[n] % alignof(max_align_t), 0);
        memset(p[n], (int)n, 24);
        uintptr_t u = (uintptr_t)p[n], lo = (uintptr_t)arena.buf;
        if (u >= lo && u < lo + sizeof arena.buf) {
            ck_assert_uint_le(u + 24, lo + sizeof arena.buf);
            inside++;
        }
    }
    // The first ones fit, the rest came from malloc once it was full.
    ck_assert_uint_gt(inside, 0);
    ck_assert_uint_lt(inside, 64);
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < 24; k++)
            ck_assert_int_eq(((unsigned char *)p[i])[k], (int)i);
    // A piece bigger than the whole arena, and one of size 0.
    void *big = a.alloc(a.allocator_data, 4 * WIRE_ARENA_BYTES);
    void *none = a.alloc(a.allocator_data, 0);
    ck_assert_ptr_nonnull(big);
    ck_assert_ptr_nonnull(none);
    // free ignores the arena's pieces and frees the others (ASan checks
    // both: a free of an arena pointer would be reported, a missed one leaks).
    for (size_t i = 0; i < n; i++)
        a.free(a.allocator_data, p[i]);
    a.free(a.allocator_data, big);
    a.free(a.allocator_data, none);
}
END_TEST

START_TEST(test_header_decoded_into_the_message_arena)
{
    wire_session_t *tx = s_session();
    wire_session_t *rx = s_session();
    wire_msg_t m, r;
    wire_msg_init(&r);
    ipp_error_t err;
    char parent[IPP_MSGID_LEN + 1];
    wire_session_new_id(tx, parent);
    // A usual header (msg_id, session, parent_id, user): all in the arena.
    // The same wire_msg_t is reused for many messages: the arena is reset
    // with it, and nothing leaks.
    for (int i = 0; i < 100; i++) {
        wire_msg_init(&m);
        char id[IPP_MSGID_LEN + 1];
        ck_assert_int_eq(
            wire_pack(tx, &m, NULL, 0, IPP__MSG_TYPE__HEARTBEAT, parent, NULL, NULL, 0, NULL, id),
            IPP_OK);
        for (size_t k = 0; k < m.n_frames; k++)
            wire_msg_add_frame(&r, zmq_msg_data(&m.frames[k]), zmq_msg_size(&m.frames[k]));
        ck_assert_int_eq(wire_unpack(rx, &r, &err), IPP_OK);
        ck_assert_str_eq(r.header->msg_id, id);
        ck_assert_str_eq(r.header->parent_id, parent);
        ck_assert_str_eq(r.header->session, wire_session_id(tx));
        ck_assert(s_in_arena(&r, r.header));
        ck_assert(s_in_arena(&r, r.header->msg_id));
        ck_assert(s_in_arena(&r, r.header->parent_id));
        wire_msg_fini(&m);
        wire_arena_t *kept = r.arena;
        wire_msg_reset(&r);
        ck_assert_ptr_eq(r.arena, kept);  // kept for the next message
    }
    // A struct copy moves the message, arena and all (libipp hands replies
    // over so): the header stays readable through the copy.
    {
        wire_msg_init(&m);
        ck_assert_int_eq(
            wire_pack(tx, &m, NULL, 0, IPP__MSG_TYPE__HEARTBEAT, parent, NULL, NULL, 0, NULL, NULL),
            IPP_OK);
        for (size_t k = 0; k < m.n_frames; k++)
            wire_msg_add_frame(&r, zmq_msg_data(&m.frames[k]), zmq_msg_size(&m.frames[k]));
        wire_msg_fini(&m);
        ck_assert_int_eq(wire_unpack(rx, &r, &err), IPP_OK);
        wire_msg_t moved = r;
        wire_msg_init(&r);
        ck_assert_str_eq(moved.header->parent_id, parent);
        ck_assert(s_in_arena(&moved, moved.header->parent_id));
        wire_msg_fini(&moved);
    }
    // A header with more than the arena holds (a parent_id of 3 KB):
    // it still decodes whole, the overflow from malloc, and frees cleanly.
    char *longp = malloc(3 * WIRE_ARENA_BYTES + 1);
    ck_assert_ptr_nonnull(longp);
    memset(longp, 'p', 3 * WIRE_ARENA_BYTES);
    longp[3 * WIRE_ARENA_BYTES] = '\0';
    wire_msg_init(&m);
    ck_assert_int_eq(
        wire_pack(tx, &m, NULL, 0, IPP__MSG_TYPE__HEARTBEAT, longp, NULL, NULL, 0, NULL, NULL),
        IPP_OK);
    for (size_t k = 0; k < m.n_frames; k++)
        wire_msg_add_frame(&r, zmq_msg_data(&m.frames[k]), zmq_msg_size(&m.frames[k]));
    ck_assert_int_eq(wire_unpack(rx, &r, &err), IPP_OK);
    ck_assert_str_eq(r.header->parent_id, longp);
    ck_assert(!s_in_arena(&r, r.header->parent_id));
    ck_assert(ipp_msgid_valid(r.header->msg_id));
    ck_assert_str_eq(r.header->username, "test-user");
    wire_msg_fini(&m);
    wire_msg_fini(&r);  // frees the malloc'd part, ignores the arena's
    free(longp);
    wire_session_destroy(&tx);
    wire_session_destroy(&rx);
}
END_TEST

START_TEST(test_session_key_checked)
{
    wire_opts_t o = {0};
    ipp_error_t err;
    ck_assert_ptr_null(wire_session_new(&o, &err));
    ck_assert_int_eq(err.code, IPP_ERR_INVALID);
    o.key = s_key;
    o.key_len = 8;
    ck_assert_ptr_null(wire_session_new(&o, &err));
    ck_assert_int_eq(err.code, IPP_ERR_INVALID);
    wire_session_destroy(NULL);
}
END_TEST

// ---------------------------------------------------------- replay guard

static void s_mac_of(uint64_t n, uint8_t mac[WIRE_MAC_LEN])
{
    memset(mac, 0, WIRE_MAC_LEN);
    // Spread the bits like a real MAC would.
    crypto_generichash(mac, WIRE_MAC_LEN, (const uint8_t *)&n, sizeof n, NULL, 0);
}

// s_check: wire_replay_check of message n dated d at now; why into *why.
static ipp_err_t s_check(wire_replay_t *g, uint64_t n, int64_t d, int64_t now,
                         wire_replay_why_t *why)
{
    uint8_t mac[WIRE_MAC_LEN];
    s_mac_of(n, mac);
    return wire_replay_check(g, mac, WIRE_MAC_LEN, d, now, why);
}

START_TEST(test_session_refuses_replays_across_a_restart)
{
    char dir[] = "/tmp/ipp-replay-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof path, "%s/guard", dir);
    wire_opts_t o = {0};
    o.key = s_key;
    o.key_len = sizeof s_key;
    o.log = &s_quiet;
    o.state_path = path;
    wire_session_t *tx = s_session();
    wire_session_t *rx = wire_session_new(&o, NULL);
    ck_assert_ptr_nonnull(rx);
    wire_msg_t packed, m;
    s_pack_task(tx, &packed);
    s_copy_frames(&m, &packed);
    ck_assert_int_eq(wire_unpack(rx, &m, NULL), IPP_OK);
    wire_msg_fini(&m);
    // The receiver restarts at once, with the same state file.
    wire_session_destroy(&rx);
    rx = wire_session_new(&o, NULL);
    ck_assert_ptr_nonnull(rx);
    s_copy_frames(&m, &packed);
    ipp_error_t err;
    ck_assert_int_eq(wire_unpack(rx, &m, &err), IPP_ERR_STALE);
    ck_assert_msg(strstr(err.msg, "signed before the receiver restarted, or replayed") != NULL,
                  "%s", err.msg);
    wire_msg_fini(&m);
    wire_msg_fini(&packed);
    // What the sender signs now is accepted: the restart waited for the
    // clock to pass every date the previous run accepted.
    s_pack_task(tx, &packed);
    s_copy_frames(&m, &packed);
    ck_assert_int_eq(wire_unpack(rx, &m, NULL), IPP_OK);
    wire_msg_fini(&m);
    wire_msg_fini(&packed);
    wire_session_destroy(&rx);
    wire_session_destroy(&tx);
    unlink(path);
    rmdir(dir);
}
END_TEST

START_TEST(test_replay_guard_bounded)
{
    // 20,000 messages 10 ms apart into room for 1,000: memory never grows,
    // every message is accepted once, and none of them is accepted again,
    // remembered or not.
    const int64_t t0 = 1700000000000000LL;
    wire_replay_t *g = wire_replay_new(1000, 60LL * 1000000, 10LL * 1000000);
    ck_assert_ptr_nonnull(g);
    size_t mem = wire_replay_memory(g);
    wire_replay_why_t why;
    int64_t now = t0;
    for (uint64_t i = 0; i < 20000; i++) {
        now = t0 + (int64_t)i * 10000;
        ck_assert_int_eq(s_check(g, i, now - 5000, now, &why), IPP_OK);
        ck_assert_int_eq(why, WIRE_REPLAY_FRESH);
        ck_assert_uint_le(wire_replay_count(g), 1000);
        ck_assert_uint_eq(wire_replay_memory(g), mem);
    }
    size_t seen = 0, stale = 0;
    for (uint64_t i = 0; i < 20000; i++) {
        ipp_err_t rc = s_check(g, i, t0 + (int64_t)i * 10000 - 5000, now, &why);
        ck_assert_int_ne(rc, IPP_OK);
        if (rc == IPP_ERR_REPLAY)
            seen++;
        else
            stale++;
    }
    ck_assert_uint_ge(seen, 900);  // the newest are remembered by MAC
    ck_assert_uint_gt(stale, 0);   // the oldest are refused by date
    // A fresh message dated now passes.
    ck_assert_int_eq(s_check(g, 99999, now, now, &why), IPP_OK);
    // Time passing beyond the window forgets everything older.
    int64_t later = now + 61LL * 1000000;
    ck_assert_int_eq(s_check(g, 123456, later, later, &why), IPP_OK);
    ck_assert_uint_eq(wire_replay_count(g), 1);
    wire_replay_destroy(&g);
    ck_assert_ptr_null(g);
}
END_TEST

START_TEST(test_replay_guard_deletion_keeps_probe_chains)
{
    // Tiny table, heavy churn: every remembered MAC stays findable after
    // many backward-shift deletions.
    const int64_t t0 = 5000000000LL;
    wire_replay_t *g = wire_replay_new(64, 3600LL * 1000000, 0);
    wire_replay_why_t why;
    for (uint64_t i = 0; i < 20000; i++) {
        int64_t now = t0 + (int64_t)i * WIRE_REPLAY_BUCKET_US;
        ck_assert_int_eq(s_check(g, i, now, now, &why), IPP_OK);
        if (i >= 64 && i % 97 == 0) {
            for (uint64_t k = i - 63; k <= i; k++)
                ck_assert_int_eq(s_check(g, k, t0 + (int64_t)k * WIRE_REPLAY_BUCKET_US, now, &why),
                                 IPP_ERR_REPLAY);
        }
    }
    wire_replay_destroy(&g);
}
END_TEST

START_TEST(test_replay_guard_future_flood_locks_nobody_out)
{
    // A peer (or a key holder) floods the guard with messages dated ahead:
    // 290 s (refused at once: over the forward skew allowed), then 55 s
    // (inside it). Correctly dated messages must still be accepted, then
    // and as time brings the flood's dates.
    const int64_t now = 1700000000000000LL;
    wire_replay_t *g = wire_replay_new(1024, 300LL * 1000000, 0);
    ck_assert_int_eq(wire_replay_future(g), 60LL * 1000000);
    size_t mem = wire_replay_memory(g);
    wire_replay_why_t why;
    for (uint64_t i = 0; i < 4096; i++) {
        ck_assert_int_eq(s_check(g, i, now + 290LL * 1000000 + (int64_t)i, now, &why),
                         IPP_ERR_STALE);
        ck_assert_int_eq(why, WIRE_REPLAY_FUTURE);
    }
    size_t taken = 0;
    for (uint64_t i = 0; i < 4096; i++) {
        ipp_err_t rc = s_check(g, 10000 + i, now + 55LL * 1000000 + (int64_t)i * 10, now, &why);
        if (rc == IPP_OK) {
            taken++;
            continue;
        }
        ck_assert_int_eq(rc, IPP_ERR_STALE);
        ck_assert_int_eq(why, WIRE_REPLAY_AHEAD_FULL);
    }
    // The offender got its share, no more.
    ck_assert_uint_eq(taken, wire_replay_ahead_capacity(g));
    ck_assert_uint_eq(wire_replay_ahead_count(g), taken);
    ck_assert_uint_lt(taken, 1024);
    // Correctly dated traffic, 1 ms apart for 120 s of fake time (more
    // than the room holds, so the guard forgets its oldest), is accepted
    // every time, also when the clock reaches the flood's dates.
    for (uint64_t i = 0; i < 120000; i++) {
        int64_t t = now + (int64_t)i * 1000;
        ipp_err_t rc = s_check(g, 1000000 + i, t - 2000, t, &why);
        ck_assert_msg(rc == IPP_OK, "message %llu refused (why %d)", (unsigned long long)i,
                      (int)why);
        ck_assert_uint_le(wire_replay_count(g), 1024);
    }
    ck_assert_uint_eq(wire_replay_memory(g), mem);
    wire_replay_destroy(&g);
}
END_TEST

START_TEST(test_replay_guard_survives_a_restart)
{
    char dir[] = "/tmp/ipp-replay-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof path, "%s/guard", dir);
    const int64_t now = 1700000000000000LL;
    wire_replay_why_t why;
    int64_t ceiling = 0;
    wire_replay_t *g = wire_replay_new(1024, 300LL * 1000000, 0);
    ck_assert_int_eq(wire_replay_persist(g, path, now, &ceiling, NULL), IPP_OK);
    ck_assert_int_eq(ceiling, now);  // no file: refuse what was signed before this run
    ck_assert_int_eq(s_check(g, 1, now - 1, now, &why), IPP_ERR_STALE);
    ck_assert_int_eq(why, WIRE_REPLAY_NOT_BEFORE);
    for (uint64_t i = 0; i < 100; i++)
        ck_assert_int_eq(s_check(g, 10 + i, now + 1000 + (int64_t)i, now + 2000, &why), IPP_OK);
    // Dated 30 s ahead: remembered by MAC in the file.
    ck_assert_int_eq(s_check(g, 7, now + 30LL * 1000000, now + 2000, &why), IPP_OK);
    wire_replay_destroy(&g);

    // The next run, 10 ms later: the ceiling covers everything accepted
    // not ahead, the message dated ahead is remembered again, and a
    // message dated after the ceiling is fresh.
    int64_t now2 = now + 10000;
    g = wire_replay_new(1024, 300LL * 1000000, 0);
    ck_assert_int_eq(wire_replay_persist(g, path, now2, &ceiling, NULL), IPP_OK);
    ck_assert_int_ge(ceiling, now + 1099);
    ck_assert_int_le(ceiling, now + 2000 + WIRE_REPLAY_LEASE_US);
    for (uint64_t i = 0; i < 100; i++) {
        ck_assert_int_eq(s_check(g, 10 + i, now + 1000 + (int64_t)i, now2, &why), IPP_ERR_STALE);
        ck_assert_int_eq(why, WIRE_REPLAY_NOT_BEFORE);
    }
    ck_assert_int_eq(s_check(g, 7, now + 30LL * 1000000, now2, &why), IPP_ERR_REPLAY);
    ck_assert_int_eq(s_check(g, 500, ceiling + 1, ceiling + 1, &why), IPP_OK);
    wire_replay_destroy(&g);

    // And the one after that still remembers the message dated ahead.
    g = wire_replay_new(1024, 300LL * 1000000, 0);
    ck_assert_int_eq(wire_replay_persist(g, path, now2 + 5LL * 1000000, &ceiling, NULL), IPP_OK);
    ck_assert_int_eq(s_check(g, 7, now + 30LL * 1000000, now2 + 5LL * 1000000, &why),
                     IPP_ERR_REPLAY);
    wire_replay_destroy(&g);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0600);
    unlink(path);
    rmdir(dir);
}
END_TEST

// ----------------------------------------------------------- message ids

START_TEST(test_msgids_unique_and_time_ordered)
{
    ipp_msgid_gen_t g;
    ipp_msgid_gen_init(&g);
    enum { N = 200000 };
    char(*ids)[IPP_MSGID_LEN + 1] = malloc(N * sizeof *ids);
    int64_t t0 = ipp_clock_now_us() / 1000;
    for (int i = 0; i < N; i++) {
        ipp_msgid_next(&g, ids[i]);
        ck_assert(ipp_msgid_valid(ids[i]));
        ck_assert_int_eq(ids[i][14], '7');              // version 7
        ck_assert(strchr("89ab", ids[i][19]) != NULL);  // RFC 9562 variant
        if (i > 0)
            ck_assert_msg(strcmp(ids[i - 1], ids[i]) < 0, "%s !< %s", ids[i - 1], ids[i]);
    }
    int64_t t1 = ipp_clock_now_us() / 1000;
    // The embedded time is the generation time (allowing for counter
    // borrowing of at most a few ms).
    ck_assert_int_ge(ipp_msgid_time_ms(ids[0]), t0);
    ck_assert_int_le(ipp_msgid_time_ms(ids[N - 1]), t1 + 50);
    free(ids);

    // Two generators: still unique.
    ipp_msgid_gen_t g2;
    ipp_msgid_gen_init(&g2);
    char a[IPP_MSGID_LEN + 1], b[IPP_MSGID_LEN + 1];
    for (int i = 0; i < 10000; i++) {
        ipp_msgid_next(&g, a);
        ipp_msgid_next(&g2, b);
        ck_assert_str_ne(a, b);
    }
    ipp_msgid_uuid4(a);
    ck_assert(ipp_msgid_valid(a));
    ck_assert_int_eq(a[14], '4');
    ck_assert(!ipp_msgid_valid("0190a000-0000-7000-8000-00000000000"));
    ck_assert(!ipp_msgid_valid("0190a000-0000-7000-8000-00000000000g"));
    ck_assert(!ipp_msgid_valid(NULL));
    ck_assert_int_eq(ipp_msgid_time_ms(a), -1);  // not v7
}
END_TEST

// s_zpoll_sender: after a moment, send one byte on the socket arg.
static void *s_zpoll_sender(void *arg)
{
    usleep(50 * 1000);
    zmq_send(arg, "z", 1, 0);
    return NULL;
}

// ipp_zpoll: zmq_poll's meaning in one pass — sockets and plain
// descriptors, messages already queued, messages arriving while it sleeps.
START_TEST(test_zpoll)
{
    void *ctx = zmq_ctx_new();
    void *a = zmq_socket(ctx, ZMQ_PAIR), *b = zmq_socket(ctx, ZMQ_PAIR);
    ck_assert_int_eq(zmq_bind(a, "inproc://zpoll"), 0);
    ck_assert_int_eq(zmq_connect(b, "inproc://zpoll"), 0);
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    zmq_pollitem_t it[2] = {{a, 0, ZMQ_POLLIN, 0}, {NULL, p[0], ZMQ_POLLIN, 0}};
    // Nothing: the timeout passes, nothing is set.
    int64_t t0 = ipp_clock_mono_us();
    ck_assert_int_eq(ipp_zpoll(it, 2, 50), 0);
    ck_assert_int_ge(ipp_clock_mono_us() - t0, 40000);
    ck_assert_int_eq(it[0].revents, 0);
    ck_assert_int_eq(it[1].revents, 0);
    // A queued message is seen at once; the pipe is looked at as well.
    ck_assert_int_eq(zmq_send(b, "x", 1, 0), 1);
    ck_assert_int_eq(write(p[1], "y", 1), 1);
    ck_assert_int_eq(ipp_zpoll(it, 2, -1), 2);
    ck_assert_int_eq(it[0].revents, ZMQ_POLLIN);
    ck_assert_int_eq(it[1].revents, ZMQ_POLLIN);
    char c;
    ck_assert_int_eq(zmq_recv(a, &c, 1, 0), 1);
    ck_assert_int_eq(read(p[0], &c, 1), 1);
    // A message that arrives while it sleeps wakes it (a thread sends it).
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, s_zpoll_sender, b), 0);
    int n = 0;
    t0 = ipp_clock_mono_us();
    while (n == 0 && ipp_clock_mono_us() - t0 < 5000000)
        n = ipp_zpoll(it, 2, 5000);  // 0 may come back for commands alone
    pthread_join(th, NULL);
    ck_assert_int_eq(n, 1);
    ck_assert_int_eq(it[0].revents, ZMQ_POLLIN);
    ck_assert_int_eq(zmq_recv(a, &c, 1, 0), 1);
    // Writability, in ZeroMQ's flags: ZMQ_POLLOUT, not poll(2)'s POLLOUT.
    zmq_pollitem_t w[2] = {{b, 0, ZMQ_POLLOUT, 0}, {NULL, p[1], ZMQ_POLLOUT, 0}};
    ck_assert_int_eq(ipp_zpoll(w, 2, 0), 2);
    ck_assert_int_eq(w[0].revents, ZMQ_POLLOUT);
    ck_assert_int_eq(w[1].revents, ZMQ_POLLOUT);
    // More items than it takes: refused.
    zmq_pollitem_t many[17];
    for (int i = 0; i < 17; i++)
        many[i] = (zmq_pollitem_t){NULL, p[0], ZMQ_POLLIN, 0};
    errno = 0;
    ck_assert_int_eq(ipp_zpoll(many, 17, 0), -1);
    ck_assert_int_eq(errno, EINVAL);
    close(p[0]);
    close(p[1]);
    zmq_close(a);
    zmq_close(b);
    zmq_ctx_term(ctx);
}
END_TEST

START_TEST(test_clock_iso_round_trip)
{
    char buf[40];
    int64_t us = 1763800000123456LL;
    ipp_clock_format_iso(us, buf, sizeof buf);
    ck_assert_str_eq(buf, "2025-11-22T08:26:40.123456Z");
    int64_t back = 0;
    ck_assert_int_eq(ipp_clock_parse_iso(buf, &back), 0);
    ck_assert_int_eq(back, us);
    ck_assert_int_eq(ipp_clock_parse_iso("2025-11-22T09:26:40.123456+01:00", &back), 0);
    ck_assert_int_eq(back, us);
    ck_assert_int_eq(ipp_clock_parse_iso("2025-11-22", &back), 0);
    ck_assert_int_eq(back, 1763769600000000LL);
    ck_assert_int_eq(ipp_clock_parse_iso("2025-13-01", &back), -1);
    ck_assert_int_eq(ipp_clock_parse_iso("yesterday", &back), -1);
    ck_assert_int_eq(ipp_clock_parse_iso("2025-11-22T10:00Zjunk", &back), -1);
    ck_assert(ipp_clock_mono_us() > 0);
}
END_TEST

static Suite *s_suite(void)
{
    Suite *s = suite_create("wire");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_every_family_round_trips);
    tcase_add_test(tc, test_routing_ids_and_empty_content);
    tcase_add_test(tc, test_pack_refuses_wrong_content_type);
    tcase_add_test(tc, test_refuse_missing_delimiter);
    tcase_add_test(tc, test_refusals_counted_and_logged_at_a_bounded_rate);
    tcase_add_test(tc, test_refuse_bad_or_missing_mac);
    tcase_add_test(tc, test_mac_covers_buffers_header_content);
    tcase_add_test(tc, test_refuse_replay);
    tcase_add_test(tc, test_refuse_stale_and_future);
    tcase_add_test(tc, test_refuse_undecodable_header_and_content);
    tcase_add_test(tc, test_refuse_over_limits);
    tcase_add_test(tc, test_refuse_version_and_unknown_type);
    tcase_add_test(tc, test_send_recv_over_zmq_zero_copy);
    tcase_add_test(tc, test_session_key_checked);
    tcase_add_test(tc, test_arena_allocator_bumps_then_mallocs);
    tcase_add_test(tc, test_header_decoded_into_the_message_arena);
    tcase_add_test(tc, test_session_refuses_replays_across_a_restart);
    tcase_add_test(tc, test_replay_guard_bounded);
    tcase_add_test(tc, test_replay_guard_deletion_keeps_probe_chains);
    tcase_add_test(tc, test_replay_guard_future_flood_locks_nobody_out);
    tcase_add_test(tc, test_replay_guard_survives_a_restart);
    tcase_add_test(tc, test_msgids_unique_and_time_ordered);
    tcase_add_test(tc, test_clock_iso_round_trip);
    tcase_add_test(tc, test_zpoll);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    SRunner *sr = srunner_create(s_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
