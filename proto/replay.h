/* replay.h — the replay guard: refuse a signed message seen before.
 *
 * A message is accepted only if its date lies within ±window of the
 * receiver's clock and its MAC was not seen before. MACs are remembered in
 * arrival order up to a fixed capacity; when the oldest is forgotten, its
 * date becomes a watermark and anything dated at or before the watermark is
 * refused too. So a captured message can never be replayed: either its MAC
 * is still remembered or it is older than everything remembered. Memory is
 * bounded (capacity × 24 bytes) however fast messages arrive.
 *
 * Only 64 bits of each MAC are kept: MACs are keyed hashes, so an attacker
 * cannot aim for a collision, and the chance that a fresh message collides
 * with one of a million remembered ones is about 5·10⁻¹⁴.
 */
#ifndef IPP_PROTO_REPLAY_H
#define IPP_PROTO_REPLAY_H

#include "ipp/error.h"

#include <stddef.h>
#include <stdint.h>

typedef struct wire_replay_t wire_replay_t;

// wire_replay_new: a guard remembering up to capacity MACs, accepting dates
// within ±window_us. NULL on allocation failure. Caller owns the result.
wire_replay_t *wire_replay_new(size_t capacity, int64_t window_us);

// wire_replay_destroy: free *self_p (NULL-safe) and set it to NULL.
void wire_replay_destroy(wire_replay_t **self_p);

// wire_replay_check: IPP_OK if the message (its MAC and date) is fresh, and
// remember it; IPP_ERR_STALE if dated outside the window or at/before the
// watermark; IPP_ERR_REPLAY if its MAC was seen.
ipp_err_t wire_replay_check(wire_replay_t *self, const uint8_t *mac, size_t mac_len,
                            int64_t date_us, int64_t now_us);

// wire_replay_count: how many MACs are remembered now.
size_t wire_replay_count(const wire_replay_t *self);

// wire_replay_watermark: dates at or before this are refused (µs; INT64_MIN
// until something was forgotten).
int64_t wire_replay_watermark(const wire_replay_t *self);

#endif
