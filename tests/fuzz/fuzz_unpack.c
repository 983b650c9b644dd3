/* fuzz_unpack.c — libFuzzer target for the wire unpacker.
 *
 * Input layout: byte 0 holds flags (bit 0: sign the frames after the MAC
 * with the test key, so the fuzzer reaches header and content decoding
 * instead of stopping at the MAC), then frames as [u16 little-endian length]
 * [bytes], at most 64 of them. Whatever comes in, unpacking must return a
 * code and free everything — no crash, no leak, no undefined behaviour.
 */
#include "proto/clock.h"
#include "proto/wire.h"

#include <sodium.h>
#include <stdint.h>
#include <string.h>

static const uint8_t s_key[32] = "fuzz-key-fuzz-key-fuzz-key-fuzz!";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if (sodium_init() < 0)
        return 0;
    ipp_logger_t quiet = {IPP_LOG_ERROR, NULL, "fuzz"};
    wire_opts_t o = {0};
    o.key = s_key;
    o.key_len = sizeof s_key;
    o.log = &quiet;
    o.replay_capacity = 64;
    o.max_frames = 32;
    o.max_msg_bytes = 1 << 16;
    wire_session_t *s = wire_session_new(&o, NULL);
    if (!s)
        return 0;
    int sign = data[0] & 1;
    size_t pos = 1;
    wire_msg_t m;
    wire_msg_init(&m);
    while (pos + 2 <= size && m.n_frames < 64) {
        size_t len = (size_t)data[pos] | ((size_t)data[pos + 1] << 8);
        pos += 2;
        if (len > size - pos)
            len = size - pos;
        wire_msg_add_frame(&m, data + pos, len);
        pos += len;
    }
    if (sign) {
        // Find the delimiter and, if a MAC frame follows, fill it in.
        for (size_t i = 0; i + 1 < m.n_frames; i++) {
            if (zmq_msg_size(&m.frames[i]) == WIRE_DELIM_LEN &&
                memcmp(zmq_msg_data(&m.frames[i]), WIRE_DELIM, WIRE_DELIM_LEN) == 0) {
                if (zmq_msg_size(&m.frames[i + 1]) != WIRE_MAC_LEN)
                    break;
                crypto_generichash_state st;
                crypto_generichash_init(&st, s_key, sizeof s_key, WIRE_MAC_LEN);
                for (size_t k = i + 2; k < m.n_frames; k++) {
                    uint64_t n = zmq_msg_size(&m.frames[k]);
                    uint8_t l[8];
                    for (int b = 0; b < 8; b++)
                        l[b] = (uint8_t)(n >> (8 * b));
                    crypto_generichash_update(&st, l, 8);
                    crypto_generichash_update(&st, zmq_msg_data(&m.frames[k]), n);
                }
                crypto_generichash_final(&st, zmq_msg_data(&m.frames[i + 1]), WIRE_MAC_LEN);
                break;
            }
        }
    }
    ipp_error_t err;
    wire_unpack(s, &m, &err);
    wire_msg_fini(&m);
    wire_session_destroy(&s);
    return 0;
}
