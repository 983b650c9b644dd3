/* fuzz_seed_conn.c — writes a seed corpus for fuzz_conn: client and
 * engine connection files as conn_format writes them (with and without a
 * Curve key, IPv4 and IPv6), in the fuzzer's input layout, into the folder
 * given.
 */
#include "proto/conn.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc != 2 || sodium_init() < 0) {
        fprintf(stderr, "usage: fuzz_seed_conn DIR\n");
        return 2;
    }
    for (int i = 0; i < 4; i++) {
        conn_info_t info;
        conn_kind_t kind = (i & 1) ? CONN_ENGINE : CONN_CLIENT;
        conn_info_init(&info, kind);
        conn_info_new_key(&info);
        if (i >= 2) {
            info.key_len = i == 2 ? WIRE_KEY_MIN : WIRE_KEY_MAX;
            snprintf(info.ip, sizeof info.ip, "::1");
            // A Z85 public key, as a Curve-enabled controller writes it.
            snprintf(info.curve_server_key, sizeof info.curve_server_key, "%s",
                     "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7");
        }
        info.client_port = kind == CONN_CLIENT ? 50001 + i : 0;
        info.notify_port = kind == CONN_CLIENT ? 50101 + i : 0;
        info.engine_port = kind == CONN_ENGINE ? 50201 + i : 0;
        info.controller_pid = 4242 + i;
        char *text = conn_format(&info);
        if (!text)
            return 1;
        char path[4096];
        snprintf(path, sizeof path, "%s/conn-%d", argv[1], i);
        FILE *f = fopen(path, "wb");
        if (!f)
            return 1;
        fputc(kind == CONN_ENGINE ? 1 : 0, f);
        fputs(text, f);
        fputc('\n', f);
        fclose(f);
        free(text);
    }
    return 0;
}
