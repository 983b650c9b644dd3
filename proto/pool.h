/* pool.h — a free list of fixed-size objects carved from large blocks.
 *
 * Task records are allocated and freed at the rate tasks flow; the pool
 * turns that into a pointer pop/push, with one malloc per block of objects.
 * Blocks are returned to the system only at fini. Objects come back zeroed.
 * Used by the scheduler (its task and slot records) and the controller
 * (hub_task_t). libc only, not thread safe: one pool per owner's thread.
 */
#ifndef IPP_PROTO_POOL_H
#define IPP_PROTO_POOL_H

#include <stddef.h>

typedef struct ipp_pool_t {
    size_t size;       // object size, rounded up to pointer alignment
    size_t per_block;  // objects per block
    void *free_list;   // singly linked through the first word of each free object
    void *blocks;      // singly linked list of blocks (first word of each)
    size_t live;       // objects handed out and not yet returned
} ipp_pool_t;

// ipp_pool_init: a pool of objects of size bytes, per_block per malloc.
void ipp_pool_init(ipp_pool_t *p, size_t size, size_t per_block);

// ipp_pool_fini: free every block; objects still handed out become invalid.
void ipp_pool_fini(ipp_pool_t *p);

// ipp_pool_alloc: a zeroed object, or NULL when out of memory. The pool
// keeps ownership; give it back with ipp_pool_free.
void *ipp_pool_alloc(ipp_pool_t *p);

// ipp_pool_free: return obj (NULL-safe) to the pool.
void ipp_pool_free(ipp_pool_t *p, void *obj);

#endif
