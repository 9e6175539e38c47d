/*
 * u64map.c: a map from nonzero 64-bit keys to 64-bit values, with open
 * addressing, linear probing and backward-shift deletion (no tombstones,
 * so a map that churns, like the cleanup heads of short-lived objects,
 * never degrades). Key 0 marks an empty slot. Load stays at most 3/4.
 * A key and its value share a slot, so a hit costs one cache miss.
 */
#include <stdlib.h>

#include "internal.h"

static size_t slot_of(const tt__u64map *m, uint64_t k)
{
    k ^= k >> 32;
    k *= UINT64_C(0x9e3779b97f4a7c15);
    return (size_t)(k >> 20) & (m->cap - 1);
}

static int resize(tt__u64map *m, size_t cap)
{
    struct tt__u64slot *slots = calloc(cap, sizeof *slots);
    if (!slots) return -1;
    tt__u64map old = *m;
    m->slots = slots;
    m->cap = cap;
    for (size_t i = 0; i < old.cap; i++) {
        if (!old.slots[i].key) continue;
        size_t j = slot_of(m, old.slots[i].key);
        while (slots[j].key) j = (j + 1) & (cap - 1);
        slots[j] = old.slots[i];
    }
    free(old.slots);
    return 0;
}

int tt__u64map_reserve(tt__u64map *m, size_t more)
{
    size_t need = m->count + more;
    if (need * 4 <= m->cap * 3) return 0;
    size_t cap = m->cap ? m->cap : 64;
    while (need * 4 > cap * 3) cap *= 2;
    return resize(m, cap);
}

int tt__u64map_put(tt__u64map *m, uint64_t key, uint64_t val)
{
    if (tt__u64map_reserve(m, 1) != 0) return -1;
    size_t j = slot_of(m, key);
    while (m->slots[j].key && m->slots[j].key != key) j = (j + 1) & (m->cap - 1);
    if (!m->slots[j].key) {
        m->slots[j].key = key;
        m->count++;
    }
    m->slots[j].val = val;
    return 0;
}

bool tt__u64map_get(const tt__u64map *m, uint64_t key, uint64_t *val)
{
    if (m->count == 0) return false;
    size_t j = slot_of(m, key);
    while (m->slots[j].key) {
        if (m->slots[j].key == key) {
            *val = m->slots[j].val;
            return true;
        }
        j = (j + 1) & (m->cap - 1);
    }
    return false;
}

/* Empty slot j, shifting later members of its probe run back over the
 * hole so every key stays reachable from its home slot without a
 * tombstone. */
static void remove_at(tt__u64map *m, size_t j)
{
    size_t mask = m->cap - 1;
    for (size_t i = j, k = (j + 1) & mask;; k = (k + 1) & mask) {
        if (!m->slots[k].key) {
            m->slots[i].key = 0;
            break;
        }
        size_t home = slot_of(m, m->slots[k].key);
        /* k's key may fill the hole at i only if its home is not in (i, k]. */
        if (((k - home) & mask) >= ((k - i) & mask)) {
            m->slots[i] = m->slots[k];
            i = k;
        }
    }
    m->count--;
}

bool tt__u64map_remove(tt__u64map *m, uint64_t key)
{
    if (m->count == 0) return false;
    size_t j = slot_of(m, key);
    while (m->slots[j].key != key) {
        if (!m->slots[j].key) return false;
        j = (j + 1) & (m->cap - 1);
    }
    remove_at(m, j);
    return true;
}

/* A removal only moves keys backwards into the hole at i, so re-examining
 * slot i visits every key at least once (a wrapped key may be seen twice,
 * which a filter does not mind). */
void tt__u64map_filter(tt__u64map *m, bool (*keep)(uint64_t, uint64_t, void *), void *ctx)
{
    for (size_t i = 0; i < m->cap && m->count;) {
        if (m->slots[i].key && !keep(m->slots[i].key, m->slots[i].val, ctx))
            remove_at(m, i);
        else
            i++;
    }
}

void tt__u64map_clear(tt__u64map *m)
{
    if (m->slots) memset(m->slots, 0, m->cap * sizeof *m->slots);
    m->count = 0;
}

void tt__u64map_free(tt__u64map *m)
{
    free(m->slots);
    memset(m, 0, sizeof *m);
}

size_t tt__u64map_bytes(const tt__u64map *m) { return m->cap * sizeof(struct tt__u64slot); }
