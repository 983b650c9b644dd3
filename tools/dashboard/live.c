/* live.c — the dashboard's present: engine snapshot and the event ring.
 *
 * Owns the snapshot and the ring's event texts (each event is kept as its
 * finished "event: …\ndata: …\n\n" text, so a stream copies bytes and never
 * formats under the lock). Must never call the controller or the database.
 */
#include "tools/dashboard/live.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

// One event in the ring.
typedef struct s_event_t {
    uint64_t seq;  // its number (0: empty slot)
    char *text;    // its server-sent event text (owned)
} s_event_t;

struct dash_live_t {
    pthread_mutex_t mu;              // guards everything below
    pthread_cond_t cv;               // signalled on every push and on stop
    json_t *engines;                 // the engine snapshot (owned)
    int unassigned;                  // tasks no engine has yet
    bool online;                     // a controller answered last time
    char *engines_text;              // engines dumped, to see changes (owned)
    s_event_t ring[DASH_LIVE_RING];  // recent events, by seq % DASH_LIVE_RING
    uint64_t seq;                    // the last event's number
    bool stopping;                   // dash_live_stop was called
};

dash_live_t *dash_live_new(void)
{
    dash_live_t *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    pthread_mutex_init(&l->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&l->cv, &ca);
    pthread_condattr_destroy(&ca);
    l->engines = json_array();
    return l;
}

void dash_live_destroy(dash_live_t **l_p)
{
    if (!l_p || !*l_p)
        return;
    dash_live_t *l = *l_p;
    for (size_t i = 0; i < DASH_LIVE_RING; i++)
        free(l->ring[i].text);
    json_decref(l->engines);
    free(l->engines_text);
    pthread_cond_destroy(&l->cv);
    pthread_mutex_destroy(&l->mu);
    free(l);
    *l_p = NULL;
}

// s_push_locked: format and append one event; takes data's reference.
static void s_push_locked(dash_live_t *l, const char *name, json_t *data)
{
    char *js = json_dumps(data, JSON_COMPACT);
    json_decref(data);
    if (!js)
        return;
    size_t n = strlen(name) + strlen(js) + 32;
    char *text = malloc(n);
    if (text) {
        snprintf(text, n, "event: %s\ndata: %s\n\n", name, js);
        s_event_t *e = &l->ring[(l->seq + 1) % DASH_LIVE_RING];
        free(e->text);
        e->text = text;
        e->seq = ++l->seq;
        pthread_cond_broadcast(&l->cv);
    }
    free(js);
}

void dash_live_set(dash_live_t *l, json_t *engines, int unassigned, bool online)
{
    if (!engines)
        return;
    char *text = json_dumps(engines, JSON_COMPACT | JSON_SORT_KEYS);
    pthread_mutex_lock(&l->mu);
    bool changed = l->unassigned != unassigned || l->online != online || !text ||
                   !l->engines_text || strcmp(text, l->engines_text) != 0;
    json_decref(l->engines);
    l->engines = engines;
    l->unassigned = unassigned;
    l->online = online;
    free(l->engines_text);
    l->engines_text = text;
    if (changed) {
        json_t *ev = json_pack("{s:O,s:i,s:b}", "engines", engines, "unassigned", unassigned,
                               "online", online);
        if (ev)
            s_push_locked(l, "engines", ev);
    }
    pthread_mutex_unlock(&l->mu);
}

json_t *dash_live_snapshot(dash_live_t *l, int *unassigned, bool *online)
{
    pthread_mutex_lock(&l->mu);
    json_t *copy = json_deep_copy(l->engines);
    if (unassigned)
        *unassigned = l->unassigned;
    if (online)
        *online = l->online;
    pthread_mutex_unlock(&l->mu);
    return copy;
}

void dash_live_push(dash_live_t *l, const char *name, json_t *data)
{
    if (!data)
        return;
    pthread_mutex_lock(&l->mu);
    s_push_locked(l, name, data);
    pthread_mutex_unlock(&l->mu);
}

uint64_t dash_live_seq(dash_live_t *l)
{
    pthread_mutex_lock(&l->mu);
    uint64_t s = l->seq;
    pthread_mutex_unlock(&l->mu);
    return s;
}

bool dash_live_wait(dash_live_t *l, uint64_t *seq, int timeout_ms, char **text)
{
    *text = NULL;
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&l->mu);
    while (!l->stopping && l->seq <= *seq) {
        if (pthread_cond_timedwait(&l->cv, &l->mu, &until) == ETIMEDOUT)
            break;
    }
    bool go_on = !l->stopping;
    if (go_on && l->seq > *seq) {
        uint64_t first = *seq + 1;
        uint64_t lost = 0;
        if (l->seq - *seq > DASH_LIVE_RING) {
            lost = l->seq - DASH_LIVE_RING - *seq;
            first = l->seq - DASH_LIVE_RING + 1;
        }
        size_t total = 64;
        for (uint64_t s = first; s <= l->seq; s++)
            total += strlen(l->ring[s % DASH_LIVE_RING].text);
        char *out = malloc(total);
        if (out) {
            size_t at = 0;
            if (lost)
                at += (size_t)snprintf(out, total, "event: lost\ndata: {\"lost\":%llu}\n\n",
                                       (unsigned long long)lost);
            for (uint64_t s = first; s <= l->seq; s++) {
                const char *t = l->ring[s % DASH_LIVE_RING].text;
                size_t n = strlen(t);
                memcpy(out + at, t, n);
                at += n;
            }
            out[at] = '\0';
            *text = out;
            *seq = l->seq;
        }
    }
    pthread_mutex_unlock(&l->mu);
    return go_on;
}

void dash_live_stop(dash_live_t *l)
{
    pthread_mutex_lock(&l->mu);
    l->stopping = true;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
}
