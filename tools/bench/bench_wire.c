/* bench_wire.c — cost of the wire session per message.
 *
 * Packs (encode + sign) and unpacks (verify + replay check + decode) a
 * TASK_REQUEST of about 200 bytes on the wire (header, a call content and
 * one argument buffer), and, for scale, the bare MAC cost of keyed BLAKE2b
 * against HMAC-SHA256 on 200 bytes. Prints name=value lines.
 *
 * Usage: bench_wire [--count N]
 */
#include "proto/clock.h"
#include "proto/wire.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    long n = 200000;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--count") == 0 && i + 1 < argc) {
            n = strtol(argv[++i], NULL, 10);
        } else {
            fprintf(stderr, "usage: bench_wire [--count N]\n");
            return 2;
        }
    }
    if (n <= 0 || sodium_init() < 0)
        return 2;
    uint8_t key[32];
    randombytes_buf(key, sizeof key);
    wire_opts_t o = {0};
    o.key = key;
    o.key_len = sizeof key;
    o.replay_capacity = (size_t)n + 16;
    ipp_error_t err;
    wire_session_t *tx = wire_session_new(&o, &err);
    wire_session_t *rx = wire_session_new(&o, &err);
    if (!tx || !rx) {
        fprintf(stderr, "bench_wire: %s\n", err.msg);
        return 1;
    }
    Ipp__TaskRequest req = IPP__TASK_REQUEST__INIT;
    Ipp__Call call = IPP__CALL__INIT;
    call.function = "noop";
    req.kind_case = IPP__TASK_REQUEST__KIND_CALL;
    req.call = &call;
    req.has_queue = 1;
    req.queue = IPP__QUEUE__QUEUE_TASK;
    char payload[48];
    memset(payload, 'p', sizeof payload);

    wire_msg_t m, r;
    wire_msg_init(&m);
    wire_msg_init(&r);
    size_t wire_bytes = 0;
    int64_t pack_us = 0, unpack_us = 0;
    for (long i = 0; i < n; i++) {
        zmq_msg_t buf;
        zmq_msg_init_size(&buf, sizeof payload);
        memcpy(zmq_msg_data(&buf), payload, sizeof payload);
        int64_t t0 = ipp_clock_mono_us();
        if (wire_pack(tx, &m, NULL, 0, IPP__MSG_TYPE__TASK_REQUEST, NULL, &req.base, &buf, 1, NULL,
                      NULL) != IPP_OK)
            return 1;
        int64_t t1 = ipp_clock_mono_us();
        // Hand the frames over as a receiver gets them (moved, no copy).
        r.n_frames = 0;
        for (size_t k = 0; k < m.n_frames; k++) {
            if (r.cap < m.n_frames) {
                r.frames = realloc(r.frames, m.n_frames * sizeof *r.frames);
                r.cap = m.n_frames;
            }
            zmq_msg_init(&r.frames[k]);
            zmq_msg_move(&r.frames[k], &m.frames[k]);
            if (i == 0)
                wire_bytes += zmq_msg_size(&r.frames[k]);
        }
        r.n_frames = m.n_frames;
        int64_t t2 = ipp_clock_mono_us();
        if (wire_unpack(rx, &r, &err) != IPP_OK) {
            fprintf(stderr, "bench_wire: %s\n", err.msg);
            return 1;
        }
        int64_t t3 = ipp_clock_mono_us();
        pack_us += t1 - t0;
        unpack_us += t3 - t2;
        wire_msg_fini(&m);
        wire_msg_reset(&r);  // keeps its frame array
    }
    wire_msg_fini(&r);

    uint8_t data[200], mac[32];
    randombytes_buf(data, sizeof data);
    long macs = n * 5;
    int64_t t0 = ipp_clock_mono_us();
    for (long i = 0; i < macs; i++) {
        crypto_generichash(mac, 32, data, sizeof data, key, sizeof key);
        data[0] ^= mac[0];
    }
    int64_t t1 = ipp_clock_mono_us();
    for (long i = 0; i < macs; i++) {
        crypto_auth_hmacsha256(mac, data, sizeof data, key);
        data[0] ^= mac[0];
    }
    int64_t t2 = ipp_clock_mono_us();

    double pk = (double)pack_us * 1000.0 / (double)n;
    double up = (double)unpack_us * 1000.0 / (double)n;
    printf("wire_message_bytes=%zu\n", wire_bytes);
    printf("wire_pack_ns=%.0f\n", pk);
    printf("wire_unpack_ns=%.0f\n", up);
    printf("wire_pack_unpack_ns=%.0f\n", pk + up);
    printf("wire_pack_unpack_per_s=%.0f\n", 1e9 / (pk + up));
    printf("mac_blake2b_200B_per_s=%.0f\n", (double)macs * 1e6 / (double)(t1 - t0));
    printf("mac_hmac_sha256_200B_per_s=%.0f\n", (double)macs * 1e6 / (double)(t2 - t1));
    wire_session_destroy(&tx);
    wire_session_destroy(&rx);
    return 0;
}
