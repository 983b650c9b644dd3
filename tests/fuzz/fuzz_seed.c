/* fuzz_seed.c — writes a seed corpus for fuzz_unpack: one signed message
 * of every type, in the fuzzer's input layout, into the folder given.
 */
#include "proto/codec.h"
#include "proto/wire.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

static const uint8_t s_key[32] = "fuzz-key-fuzz-key-fuzz-key-fuzz!";

int main(int argc, char **argv)
{
    if (argc != 2 || sodium_init() < 0) {
        fprintf(stderr, "usage: fuzz_seed DIR\n");
        return 2;
    }
    wire_opts_t o = {0};
    o.key = s_key;
    o.key_len = sizeof s_key;
    wire_session_t *s = wire_session_new(&o, NULL);
    if (!s)
        return 1;
    for (int i = 0; i < wire_type_count(); i++) {
        int type = wire_type_at(i);
        wire_msg_t m;
        wire_msg_init(&m);
        zmq_msg_t buf;
        zmq_msg_init_size(&buf, 3);
        memcpy(zmq_msg_data(&buf), "abc", 3);
        wire_frame_t id = {"peer", 4};
        if (wire_pack(s, &m, &id, 1, (Ipp__MsgType)type, NULL, NULL, &buf, 1, NULL, NULL) != IPP_OK)
            return 1;
        char path[4096];
        snprintf(path, sizeof path, "%s/seed-%02d", argv[1], type);
        FILE *f = fopen(path, "wb");
        if (!f)
            return 1;
        fputc(i & 1, f);  // half of them ask the harness to re-sign
        for (size_t k = 0; k < m.n_frames; k++) {
            size_t n = zmq_msg_size(&m.frames[k]);
            fputc((int)(n & 0xff), f);
            fputc((int)(n >> 8), f);
            fwrite(zmq_msg_data(&m.frames[k]), 1, n, f);
        }
        fclose(f);
        wire_msg_fini(&m);
    }
    wire_session_destroy(&s);
    return 0;
}
