/* index.c — the client's msg_id → unfinished-task table.
 *
 * Every reply and notification the client handles names a task by msg_id;
 * this table finds it in O(1) with one probe sequence and no allocation
 * per task (the slot array only grows). It points at tasks owned by their
 * AsyncResults and never frees one.
 */
#include "client/internal.h"

#include <stdlib.h>
#include <string.h>

// s_hash: mix the 36 characters of a msg_id (a uuid: time, counter and
// random parts) into 64 bits.
static uint64_t s_hash(const char *id)
{
    uint64_t h = 0x9e3779b97f4a7c15ULL;
    size_t len = strnlen(id, IPP_MSGID_LEN);
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, id + i, 8);
        h ^= w;
        h *= 0xff51afd7ed558ccdULL;
        h ^= h >> 29;
    }
    for (; i < len; i++) {
        h ^= (uint8_t)id[i];
        h *= 0x100000001b3ULL;
    }
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

void cl_index_init(cl_index_t *ix)
{
    memset(ix, 0, sizeof *ix);
}

void cl_index_fini(cl_index_t *ix)
{
    free(ix->slots);
    cl_index_init(ix);
}

// s_slot: the slot holding id's chain, or the empty slot where it would go.
static size_t s_slot(const cl_index_t *ix, const char *id)
{
    size_t mask = ix->cap - 1;
    size_t i = (size_t)s_hash(id) & mask;
    while (ix->slots[i] && strcmp(ix->slots[i]->msg_id, id) != 0)
        i = (i + 1) & mask;
    return i;
}

cl_task_t *cl_index_find(const cl_index_t *ix, const char *id)
{
    if (!ix->cap || !id)
        return NULL;
    return ix->slots[s_slot(ix, id)];
}

// s_grow: double the table (or make the first one) and re-insert.
static ipp_err_t s_grow(cl_index_t *ix)
{
    size_t cap = ix->cap ? ix->cap * 2 : 1024;
    cl_task_t **slots = calloc(cap, sizeof *slots);
    if (!slots)
        return IPP_ERR_NOMEM;
    cl_index_t bigger = {slots, cap, ix->count};
    for (size_t i = 0; i < ix->cap; i++)
        if (ix->slots[i])
            slots[s_slot(&bigger, ix->slots[i]->msg_id)] = ix->slots[i];
    free(ix->slots);
    *ix = bigger;
    return IPP_OK;
}

ipp_err_t cl_index_add(cl_index_t *ix, cl_task_t *t)
{
    // Keep the load at or below one half: probes stay short.
    if ((ix->count + 1) * 2 > ix->cap && s_grow(ix) != IPP_OK)
        return IPP_ERR_NOMEM;
    size_t i = s_slot(ix, t->msg_id);
    if (ix->slots[i]) {
        // Same id already there: append, so the first submitted stays first.
        cl_task_t *p = ix->slots[i];
        while (p->next_same)
            p = p->next_same;
        p->next_same = t;
    } else {
        ix->slots[i] = t;
        ix->count++;
    }
    t->next_same = NULL;
    t->indexed = 1;
    return IPP_OK;
}

// s_delete_slot: empty slot i and shift later entries of the probe run
// back, so lookups never need tombstones.
static void s_delete_slot(cl_index_t *ix, size_t i)
{
    size_t mask = ix->cap - 1;
    size_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (!ix->slots[j])
            break;
        size_t home = (size_t)s_hash(ix->slots[j]->msg_id) & mask;
        // Move slots[j] into the hole at i unless its home lies in (i, j].
        bool stays = (i <= j) ? (i < home && home <= j) : (i < home || home <= j);
        if (!stays) {
            ix->slots[i] = ix->slots[j];
            i = j;
        }
    }
    ix->slots[i] = NULL;
    ix->count--;
}

void cl_index_remove(cl_index_t *ix, cl_task_t *t)
{
    if (!t->indexed || !ix->cap)
        return;
    t->indexed = 0;
    size_t i = s_slot(ix, t->msg_id);
    cl_task_t *head = ix->slots[i];
    if (!head)
        return;
    if (head == t) {
        if (t->next_same)
            ix->slots[i] = t->next_same;
        else
            s_delete_slot(ix, i);
    } else {
        cl_task_t *p = head;
        while (p->next_same && p->next_same != t)
            p = p->next_same;
        if (p->next_same == t)
            p->next_same = t->next_same;
    }
    t->next_same = NULL;
}
