/* live.h — what the dashboard knows of the present: the engines and queues
 * as the controller last told them, and a ring of recent events (task done,
 * engines changed) that server-sent event streams read.
 *
 * Shared between the thread that follows the controller (it writes) and
 * the HTTP server's connection threads (they read and wait); every call
 * takes the object's mutex, so any thread may call any function. It owns
 * copies of everything put in; what it hands out are copies the caller
 * owns. It never blocks for longer than the timeout it is given.
 */
#ifndef IPP_TOOLS_DASHBOARD_LIVE_H
#define IPP_TOOLS_DASHBOARD_LIVE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct dash_live_t dash_live_t;

// How many recent events the ring keeps for streams that fall behind.
#define DASH_LIVE_RING 512

// dash_live_new: an empty state (offline, no engines). Caller owns it;
// NULL when out of memory.
dash_live_t *dash_live_new(void);

// dash_live_destroy: NULL-safe; sets *l_p = NULL. Call dash_live_stop and
// let waiting streams return first.
void dash_live_destroy(dash_live_t **l_p);

// dash_live_set: replace the engine snapshot with engines (a JSON array of
// objects; the reference is taken) and the unassigned count; online says
// whether a controller answered. Pushes an "engines" event when anything
// changed.
void dash_live_set(dash_live_t *l, json_t *engines, int unassigned, bool online);

// dash_live_snapshot: a copy of the engines (caller owns it, json_decref),
// and the unassigned count and online flag (either pointer may be NULL).
json_t *dash_live_snapshot(dash_live_t *l, int *unassigned, bool *online);

// dash_live_push: append an event named name (static) with data (a JSON
// object; the reference is taken) to the ring and wake the streams.
void dash_live_push(dash_live_t *l, const char *name, json_t *data);

// dash_live_seq: the number of the last event pushed (0: none yet).
uint64_t dash_live_seq(dash_live_t *l);

// dash_live_wait: wait up to timeout_ms for events after *seq, then write
// them as server-sent event text into *text (caller frees; NULL when none
// came) and advance *seq. Events that fell out of the ring are skipped and
// counted in a "lost" event. Returns false once the state is stopping.
bool dash_live_wait(dash_live_t *l, uint64_t *seq, int timeout_ms, char **text);

// dash_live_stop: wake every waiter for good (the server shuts down).
void dash_live_stop(dash_live_t *l);

#endif
