/*
 * capped_alloc.h: a lua_Alloc that refuses to pass a byte cap, for the
 * bridge's test and pressure scenario (not part of the bridge). It keeps
 * the bytes in use and their peak in a struct capped given as ud.
 */
#ifndef TETHER_LUA_CAPPED_ALLOC_H
#define TETHER_LUA_CAPPED_ALLOC_H

#include <stdlib.h>

struct capped {
    size_t used, peak, cap;
};

static inline void *capped_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    struct capped *c = ud;
    size_t old = ptr ? osize : 0;
    if (nsize == 0) {
        free(ptr);
        c->used -= old;
        return NULL;
    }
    if (nsize > old && c->used + (nsize - old) > c->cap) return NULL;
    void *p = realloc(ptr, nsize);
    if (!p) return NULL;
    c->used = c->used - old + nsize;
    if (c->used > c->peak) c->peak = c->used;
    return p;
}

#endif
