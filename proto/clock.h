/* clock.h — time in ipp: int64 microseconds.
 *
 * Wall time (µs since the Unix epoch, UTC) for everything recorded or sent;
 * monotonic time for timers and timeouts, which must not jump.
 */
#ifndef IPP_PROTO_CLOCK_H
#define IPP_PROTO_CLOCK_H

#include <stddef.h>
#include <stdint.h>

// ipp_clock_now_us: wall clock, µs since 1970-01-01T00:00:00Z.
int64_t ipp_clock_now_us(void);

// ipp_clock_mono_us: monotonic clock, µs from an arbitrary origin.
int64_t ipp_clock_mono_us(void);

// ipp_clock_format_iso: write "YYYY-MM-DDTHH:MM:SS.ffffffZ" for us into buf
// (at least 28 bytes); returns buf.
char *ipp_clock_format_iso(int64_t us, char *buf, size_t size);

// ipp_clock_parse_iso: parse an ISO 8601 UTC time ("2026-11-22T10:00:00Z",
// optional fraction, optional "+HH:MM" offset, or a bare date) into *us.
// Returns 0, or -1 if text is not such a time.
int ipp_clock_parse_iso(const char *text, int64_t *us);

#endif
