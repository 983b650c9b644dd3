/* pool.c — block allocator behind the scheduler's and the controller's
 * task records.
 *
 * Owns its blocks. A block starts with one pointer-sized header linking it
 * to the previous block; objects follow, aligned for any scalar type.
 */
#include "proto/pool.h"

#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#define POOL_ALIGN alignof(max_align_t)

static size_t s_round(size_t n)
{
    return (n + POOL_ALIGN - 1) / POOL_ALIGN * POOL_ALIGN;
}

void ipp_pool_init(ipp_pool_t *p, size_t size, size_t per_block)
{
    p->size = s_round(size < sizeof(void *) ? sizeof(void *) : size);
    p->per_block = per_block ? per_block : 1;
    p->free_list = NULL;
    p->blocks = NULL;
    p->live = 0;
}

void ipp_pool_fini(ipp_pool_t *p)
{
    void *b = p->blocks;
    while (b) {
        void *next;
        memcpy(&next, b, sizeof next);
        free(b);
        b = next;
    }
    p->blocks = NULL;
    p->free_list = NULL;
    p->live = 0;
}

void *ipp_pool_alloc(ipp_pool_t *p)
{
    if (!p->free_list) {
        size_t head = s_round(sizeof(void *));
        char *block = malloc(head + p->size * p->per_block);
        if (!block)
            return NULL;
        memcpy(block, &p->blocks, sizeof p->blocks);
        p->blocks = block;
        // Thread the new objects onto the free list, first object on top.
        for (size_t i = p->per_block; i-- > 0;) {
            char *obj = block + head + i * p->size;
            memcpy(obj, &p->free_list, sizeof p->free_list);
            p->free_list = obj;
        }
    }
    void *obj = p->free_list;
    memcpy(&p->free_list, obj, sizeof p->free_list);
    memset(obj, 0, p->size);
    p->live++;
    return obj;
}

void ipp_pool_free(ipp_pool_t *p, void *obj)
{
    if (!obj)
        return;
    memcpy(obj, &p->free_list, sizeof p->free_list);
    p->free_list = obj;
    p->live--;
}
