/* msgid.h — UUIDv7 message ids.
 *
 * Ids are 36-character RFC 9562 version 7 UUIDs: a 48-bit millisecond
 * timestamp, then a 12-bit counter that keeps ids from one generator in
 * strictly increasing order within a millisecond, then 62 random bits from
 * libsodium. Text order equals time order, so SQLite's msg_id index
 * appends instead of splitting pages.
 */
#ifndef IPP_PROTO_MSGID_H
#define IPP_PROTO_MSGID_H

#include <stdint.h>

#define IPP_MSGID_LEN 36  // characters, without the NUL

#define IPP_MSGID_POOL 512  // random bytes fetched per refill

// A generator. Not thread safe: one per thread or per session.
typedef struct ipp_msgid_gen_t {
    int64_t last_ms;               // timestamp of the last id issued
    uint32_t seq;                  // 12-bit counter within last_ms
    uint32_t pool_pos;             // next unused byte of pool
    uint8_t pool[IPP_MSGID_POOL];  // random bytes: refilled every ~56 ids
} ipp_msgid_gen_t;

// ipp_msgid_gen_init: start a generator.
void ipp_msgid_gen_init(ipp_msgid_gen_t *gen);

// ipp_msgid_next: write a new id and its NUL into out (37 bytes). Each id is
// greater (as text) than the previous one from the same generator, even if
// the wall clock steps back.
void ipp_msgid_next(ipp_msgid_gen_t *gen, char out[IPP_MSGID_LEN + 1]);

// ipp_msgid_uuid4: a random (version 4) uuid, for session and engine ids.
void ipp_msgid_uuid4(char out[IPP_MSGID_LEN + 1]);

// ipp_msgid_valid: 1 if text is a 36-char lowercase-or-uppercase hex uuid.
int ipp_msgid_valid(const char *text);

// ipp_msgid_time_ms: the millisecond timestamp of a v7 id, or -1.
int64_t ipp_msgid_time_ms(const char *id);

#endif
