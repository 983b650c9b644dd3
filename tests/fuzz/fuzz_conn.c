/* fuzz_conn.c — libFuzzer target for the connection-file parser.
 *
 * Input layout: byte 0 picks the kind (bit 0: engine file, else client
 * file), the rest is the file's text. Whatever comes in, conn_parse must
 * return a code without a crash, a leak or undefined behaviour. When it
 * accepts the text, the values must be in range, and writing them back
 * with conn_format and parsing that again must give the same values.
 * When it refuses, no key bytes may be left in the result.
 */
#include "proto/conn.h"

#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

// s_same: true if a and b hold the same connection values.
static int s_same(const conn_info_t *a, const conn_info_t *b)
{
    return a->kind == b->kind && strcmp(a->transport, b->transport) == 0 &&
           strcmp(a->ip, b->ip) == 0 && a->client_port == b->client_port &&
           a->notify_port == b->notify_port && a->engine_port == b->engine_port &&
           a->key_len == b->key_len && memcmp(a->key, b->key, a->key_len) == 0 &&
           strcmp(a->scheme, b->scheme) == 0 &&
           strcmp(a->curve_server_key, b->curve_server_key) == 0 &&
           a->controller_pid == b->controller_pid;
}

// s_check_ranges: what an accepted file must look like.
static void s_check_ranges(const conn_info_t *in)
{
    int ok = in->key_len >= WIRE_KEY_MIN && in->key_len <= WIRE_KEY_MAX &&
             strcmp(in->transport, "tcp") == 0 && strcmp(in->scheme, WIRE_SCHEME) == 0 &&
             in->ip[0] && (in->curve_server_key[0] == 0 || strlen(in->curve_server_key) == 40);
    if (in->kind == CONN_CLIENT)
        ok = ok && in->client_port >= 1 && in->client_port <= 65535 && in->notify_port >= 1 &&
             in->notify_port <= 65535 && in->engine_port == 0;
    else
        ok = ok && in->engine_port >= 1 && in->engine_port <= 65535 && in->client_port == 0 &&
             in->notify_port == 0;
    if (!ok) {
        fprintf(stderr, "fuzz_conn: accepted values out of range\n");
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    conn_kind_t kind = (data[0] & 1) ? CONN_ENGINE : CONN_CLIENT;
    conn_info_t a, b;
    ipp_error_t err;
    if (conn_parse((const char *)data + 1, size - 1, "fuzz.json", kind, &a, &err) != IPP_OK) {
        static const uint8_t zero[WIRE_KEY_MAX];
        if (memcmp(a.key, zero, sizeof zero) != 0) {
            fprintf(stderr, "fuzz_conn: a refused file left key bytes behind\n");
            abort();
        }
        return 0;
    }
    s_check_ranges(&a);
    char *text = conn_format(&a);
    if (!text) {
        fprintf(stderr, "fuzz_conn: cannot write back what was read\n");
        abort();
    }
    ipp_err_t rc = conn_parse(text, strlen(text), "fuzz-again.json", kind, &b, &err);
    if (rc != IPP_OK || !s_same(&a, &b)) {
        fprintf(stderr, "fuzz_conn: written back and read again, the file %s\n%s\n",
                rc != IPP_OK ? "is refused:" : "differs:", rc != IPP_OK ? err.msg : text);
        abort();
    }
    sodium_memzero(text, strlen(text));
    free(text);
    return 0;
}
