/* grow.h — growing an array by doubling, written once.
 *
 * Most of ipp's arrays grow the same way: when one more element is needed
 * and the array is full, reallocate it to twice its size (a first size
 * when empty). IPP_GROW does that for any element type. libc only, like
 * pool.h (both are in the ipp_base library).
 */
#ifndef IPP_PROTO_GROW_H
#define IPP_PROTO_GROW_H

#include <stddef.h>

// ipp_grow: make *v — an array of elements of size bytes with room for
// *cap — hold at least need elements. When need > *cap it is reallocated
// to the largest of need, twice *cap, and first (for an empty array). 0,
// or -1 when out of memory or the size would overflow; then *v and *cap
// are as they were (the array is still the caller's).
int ipp_grow(void **v, size_t *cap, size_t need, size_t size, size_t first);

// IPP_GROW: ipp_grow for an array v of any element type and a size_t cap,
// both lvalues: e.g. `if (IPP_GROW(list, cap_list, n + 1, 16) != 0) …`.
#define IPP_GROW(v, cap, need, first)                                                              \
    __extension__({                                                                                \
        void *ipp_grow_v_ = (v);                                                                   \
        int ipp_grow_rc_ = ipp_grow(&ipp_grow_v_, &(cap), (need), sizeof *(v), (first));           \
        (v) = ipp_grow_v_;                                                                         \
        ipp_grow_rc_;                                                                              \
    })

#endif
