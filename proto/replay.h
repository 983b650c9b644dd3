/* replay.h — the replay guard: refuse a signed message seen before.
 *
 * A message is accepted only if its date lies between now − window and
 * now + future (the forward skew allowed, much shorter than the window)
 * and its MAC was not accepted before. Every MAC accepted is remembered for
 * as long as its own date is inside the window, in time buckets ordered by
 * date, so a message dated ahead expires on its own date while the others
 * expire normally. Memory is fixed at creation (capacity entries, about 24
 * bytes each, plus one bucket per 100 ms of window).
 *
 * When memory runs out the guard fails safe for the offender, not for
 * everybody: messages dated ahead (more than a quarter second) may hold at
 * most an eighth of the capacity and are refused past that; when the whole
 * guard is full it forgets its oldest-dated bucket and refuses anything
 * dated at or before it, or refuses the newcomer if that is the oldest.
 * Correctly dated messages fail only when more than capacity of them
 * arrive within the time the guard can remember.
 *
 * Across restarts (wire_replay_persist): a small file keeps a ceiling over
 * every date accepted that was not ahead, raised in steps of 50 ms, and the
 * fingerprint of every message accepted dated ahead. The next run refuses
 * anything dated at or before the ceiling and reloads those fingerprints,
 * so no message accepted before a restart is accepted again after it.
 *
 * Only 64 bits of each MAC are kept: MACs are keyed hashes, so an attacker
 * cannot aim for a collision, and the chance that a fresh message collides
 * with one of a million remembered ones is about 5·10⁻¹⁴.
 */
#ifndef IPP_PROTO_REPLAY_H
#define IPP_PROTO_REPLAY_H

#include "ipp/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WIRE_REPLAY_BUCKET_US 100000LL  // bucket width: dates grouped per 100 ms
#define WIRE_REPLAY_AHEAD_US 250000LL   // dated further ahead than this counts as ahead
#define WIRE_REPLAY_LEASE_US 50000LL    // the persisted ceiling rises in these steps

typedef struct wire_replay_t wire_replay_t;

// Why wire_replay_check refused (or WIRE_REPLAY_FRESH when it accepted).
typedef enum wire_replay_why_t {
    WIRE_REPLAY_FRESH = 0,   // accepted and remembered
    WIRE_REPLAY_SEEN,        // MAC accepted before (IPP_ERR_REPLAY)
    WIRE_REPLAY_PAST,        // older than the window (IPP_ERR_STALE)
    WIRE_REPLAY_FUTURE,      // further ahead than the forward skew allowed
    WIRE_REPLAY_NOT_BEFORE,  // at or before the not-before date (a restart)
    WIRE_REPLAY_FORGOTTEN,   // dated where the guard, full, had to forget
    WIRE_REPLAY_FULL,        // the guard is full and this is the oldest-dated
    WIRE_REPLAY_AHEAD_FULL,  // dated ahead, and the share for those is full
} wire_replay_why_t;

// wire_replay_new: a guard remembering up to capacity MACs, accepting dates
// from now − window_us to now + future_us (future_us ≤ window_us; 0 takes
// the smaller of 60 s and window_us). NULL on bad arguments (capacity 0 or
// over 2^30, window over a day) or allocation failure. Caller owns the
// result.
wire_replay_t *wire_replay_new(size_t capacity, int64_t window_us, int64_t future_us);

// wire_replay_destroy: free *self_p and close its file (NULL-safe); set it
// to NULL. The file stays on disk for the next run.
void wire_replay_destroy(wire_replay_t **self_p);

// wire_replay_check: IPP_OK if the message (its MAC and date) is fresh, and
// remember it; IPP_ERR_REPLAY if its MAC was accepted before; IPP_ERR_STALE
// for every refusal by date or for lack of room. why (may be NULL) says
// which.
ipp_err_t wire_replay_check(wire_replay_t *self, const uint8_t *mac, size_t mac_len,
                            int64_t date_us, int64_t now_us, wire_replay_why_t *why);

// wire_replay_persist: keep the guard's state in the file at path (created
// 0600 if missing) so the next run refuses what this one accepted. Reads
// what a previous run left there first: the fingerprints of messages it
// accepted dated ahead are remembered again, and *ceiling_us receives the
// date at or before which it may have accepted anything else (INT64_MIN
// when there is no such file, or the machine rebooted since it was
// written: then nothing tells which dates the previous run accepted). The
// caller sets the not-before date from it (wire_replay_set_not_before).
// Writes go to the page cache without fsync: they survive a kill of the
// process, not a crash of the machine (see docs/PROTOCOL.md). Returns
// IPP_OK or IPP_ERR_IO with err filled.
ipp_err_t wire_replay_persist(wire_replay_t *self, const char *path, int64_t now_us,
                              int64_t *ceiling_us, ipp_error_t *err);

// wire_replay_set_not_before: refuse every date at or before t (µs) from now on.
void wire_replay_set_not_before(wire_replay_t *self, int64_t t);

// wire_replay_not_before: the not-before date (INT64_MIN when unset).
int64_t wire_replay_not_before(const wire_replay_t *self);

// wire_replay_future: the forward skew allowed (µs).
int64_t wire_replay_future(const wire_replay_t *self);

// wire_replay_window: how old a message may be (µs).
int64_t wire_replay_window(const wire_replay_t *self);

// wire_replay_count: how many MACs are remembered now.
size_t wire_replay_count(const wire_replay_t *self);

// wire_replay_ahead_count: how many of them were dated ahead when accepted.
size_t wire_replay_ahead_count(const wire_replay_t *self);

// wire_replay_ahead_capacity: how many dated-ahead MACs it may hold.
size_t wire_replay_ahead_capacity(const wire_replay_t *self);

// wire_replay_memory: bytes the guard holds (fixed at creation).
size_t wire_replay_memory(const wire_replay_t *self);

// wire_replay_write_failed: true once a write to its file failed (logged by
// the caller; the guard goes on in memory).
bool wire_replay_write_failed(const wire_replay_t *self);

#endif
