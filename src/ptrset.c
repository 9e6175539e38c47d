/*
 * ptrset.c: a set of nonzero, 8-aligned pointer-sized keys, with open
 * addressing and linear probing. Used where a look-up is off the hot path:
 * chunk bases and large objects (address validation), types seen (checked
 * mode), visited objects (the verifier). Keys 0 and 1 mark empty and
 * deleted slots, which no aligned address can be.
 */
#include <stdlib.h>

#include "internal.h"

#define EMPTY ((uintptr_t)0)
#define DELETED ((uintptr_t)1)

static size_t hash(uintptr_t k)
{
    k ^= k >> 33;
    k *= UINT64_C(0xff51afd7ed558ccd);
    k ^= k >> 33;
    return (size_t)k;
}

static int rehash(tt__ptrset *s, size_t cap)
{
    uintptr_t *slots = calloc(cap, sizeof *slots);
    if (!slots) return -1;
    for (size_t i = 0; i < s->cap; i++) {
        uintptr_t k = s->slots[i];
        if (k == EMPTY || k == DELETED) continue;
        size_t j = hash(k) & (cap - 1);
        while (slots[j] != EMPTY) j = (j + 1) & (cap - 1);
        slots[j] = k;
    }
    free(s->slots);
    s->slots = slots;
    s->cap = cap;
    s->used = s->count;
    return 0;
}

int tt__ptrset_add(tt__ptrset *s, uintptr_t key)
{
    if ((s->used + 1) * 4 >= s->cap * 3) {
        size_t cap = s->cap ? s->cap : 16;
        while ((s->count + 1) * 2 >= cap) cap *= 2;
        if (rehash(s, cap) != 0) return -1;
    }
    size_t j = hash(key) & (s->cap - 1);
    size_t tomb = SIZE_MAX;
    while (s->slots[j] != EMPTY) {
        if (s->slots[j] == key) return 0;
        if (s->slots[j] == DELETED && tomb == SIZE_MAX) tomb = j;
        j = (j + 1) & (s->cap - 1);
    }
    if (tomb != SIZE_MAX) {
        j = tomb;
    } else {
        s->used++;
    }
    s->slots[j] = key;
    s->count++;
    return 0;
}

bool tt__ptrset_has(const tt__ptrset *s, uintptr_t key)
{
    if (s->count == 0) return false;
    size_t j = hash(key) & (s->cap - 1);
    while (s->slots[j] != EMPTY) {
        if (s->slots[j] == key) return true;
        j = (j + 1) & (s->cap - 1);
    }
    return false;
}

void tt__ptrset_remove(tt__ptrset *s, uintptr_t key)
{
    if (s->count == 0) return;
    size_t j = hash(key) & (s->cap - 1);
    while (s->slots[j] != EMPTY) {
        if (s->slots[j] == key) {
            s->slots[j] = DELETED;
            s->count--;
            return;
        }
        j = (j + 1) & (s->cap - 1);
    }
}

void tt__ptrset_free(tt__ptrset *s)
{
    free(s->slots);
    memset(s, 0, sizeof *s);
}
