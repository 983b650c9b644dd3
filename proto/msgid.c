/* msgid.c — UUIDv7 and v4 generation.
 *
 * Owns nothing beyond the caller's generator state. Randomness comes from
 * libsodium's randombytes_buf (the caller must have run sodium_init()).
 */
#include "proto/msgid.h"

#include "proto/clock.h"

#include <sodium.h>
#include <string.h>

static const char s_hex[] = "0123456789abcdef";

// s_format: 16 bytes → "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx".
static void s_format(const uint8_t b[16], char out[IPP_MSGID_LEN + 1])
{
    char *p = out;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *p++ = '-';
        *p++ = s_hex[b[i] >> 4];
        *p++ = s_hex[b[i] & 15];
    }
    *p = '\0';
}

void ipp_msgid_gen_init(ipp_msgid_gen_t *gen)
{
    gen->last_ms = 0;
    gen->seq = 0;
    gen->pool_pos = IPP_MSGID_POOL;
}

// s_random: n fresh random bytes from the generator's pool. Each byte is
// used once; the pool is refilled from libsodium when it runs out, so the
// kernel is asked once per pool rather than once per id.
static void s_random(ipp_msgid_gen_t *gen, uint8_t *out, uint32_t n)
{
    if (gen->pool_pos + n > IPP_MSGID_POOL) {
        randombytes_buf(gen->pool, IPP_MSGID_POOL);
        gen->pool_pos = 0;
    }
    memcpy(out, gen->pool + gen->pool_pos, n);
    sodium_memzero(gen->pool + gen->pool_pos, n);
    gen->pool_pos += n;
}

void ipp_msgid_next(ipp_msgid_gen_t *gen, char out[IPP_MSGID_LEN + 1])
{
    int64_t ms = ipp_clock_now_us() / 1000;
    if (ms > gen->last_ms) {
        gen->last_ms = ms;
        // Start the counter low but random so two generators started in
        // the same millisecond rarely collide on it.
        uint8_t r;
        s_random(gen, &r, 1);
        gen->seq = r;
    } else if (++gen->seq > 0xfff) {
        // Counter exhausted (or the clock stepped back): borrow the next
        // millisecond so order is kept.
        gen->last_ms++;
        gen->seq = 0;
    }
    uint8_t b[16];
    uint64_t t = (uint64_t)gen->last_ms;
    for (int i = 0; i < 6; i++)
        b[i] = (uint8_t)(t >> (40 - 8 * i));
    b[6] = (uint8_t)(0x70 | ((gen->seq >> 8) & 0x0f));
    b[7] = (uint8_t)(gen->seq & 0xff);
    s_random(gen, b + 8, 8);
    b[8] = (uint8_t)(0x80 | (b[8] & 0x3f));
    s_format(b, out);
}

void ipp_msgid_uuid4(char out[IPP_MSGID_LEN + 1])
{
    uint8_t b[16];
    randombytes_buf(b, sizeof b);
    b[6] = (uint8_t)(0x40 | (b[6] & 0x0f));
    b[8] = (uint8_t)(0x80 | (b[8] & 0x3f));
    s_format(b, out);
}

static int s_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int ipp_msgid_valid(const char *text)
{
    if (!text || strlen(text) != IPP_MSGID_LEN)
        return 0;
    for (int i = 0; i < IPP_MSGID_LEN; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (text[i] != '-')
                return 0;
        } else if (s_hexval(text[i]) < 0) {
            return 0;
        }
    }
    return 1;
}

int64_t ipp_msgid_time_ms(const char *id)
{
    if (!ipp_msgid_valid(id) || id[14] != '7')
        return -1;
    int64_t ms = 0;
    for (int i = 0; i < 13; i++) {
        if (i == 8)
            continue;
        ms = (ms << 4) | s_hexval(id[i]);
    }
    return ms;
}
