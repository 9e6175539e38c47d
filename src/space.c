/*
 * space.c: the small-object space: chunks, blocks, size classes, runs.
 *
 * Invariants:
 *  - A block is UNUSED (all zero, not part of the footprint), FREE
 *    (committed, empty), IN_USE (objects of one class) or OWNED (in use and
 *    the current block of one thread's buffer for its class).
 *  - Mark bits are set only for blocks in use; they are cleared for those
 *    blocks at the start of a collection, so FREE and UNUSED blocks have
 *    none.
 *  - Between collections the mark bits of a block say which slots held
 *    survivors of the last collection; every other slot below the block's
 *    `scan` has been handed out in a run since then, every slot at or above
 *    it is free. Allocation therefore needs no free lists: it finds the
 *    next run of unmarked slots at `scan` and bumps through it.
 *  - Outside a parallel drain every chunk's mark bytes are zero: the drain
 *    folds them into the bitmap and clears them before it returns, so
 *    everything else reads marks from the bitmap alone.
 *  - A block that joins a class is zeroed whole (or was never written), so
 *    the header word of every slot is either 0 or a type that was
 *    allocated in this heap; address validation relies on it.
 */
#include <stdlib.h>

#include "internal.h"

const uint32_t tt__class_size[TT__NCLASSES] = {
    0,     8,     16,    24,    32,    40,    48,    56,    64,    72,    80,    88,
    96,    104,   112,   120,   128,   136,   144,   152,   160,   168,   176,   184,
    192,   200,   208,   216,   224,   232,   240,   248,   256,   320,   384,   448,
    512,   640,   768,   896,   1024,  1280,  1536,  1792,  2048,  2560,  3072,  3584,
    4096,  5120,  6144,  7168,  8192,  10240, 12288, 14336, 16384};

uint32_t tt__class_of(size_t bytes)
{
    if (bytes <= TT__INLINE_MAX) return (uint32_t)((bytes + 7) >> 3);
    unsigned p = 63u - (unsigned)__builtin_clzll((unsigned long long)(bytes - 1));
    uint32_t idx = (uint32_t)(((bytes - 1) - ((size_t)1 << p)) >> (p - 2));
    return TT__INLINE_CLASSES + (p - 8) * 4 + idx;
}

/* ---- chunks ---- */

static int chunk_new(tt_heap *h)
{
    uintptr_t base = (uintptr_t)tt__pages_reserve(h, TT__CHUNK_SIZE, TT__CHUNK_SIZE);
    if (!base) return TT_ENOMEM;
    if (tt__ptrset_add(&h->chunk_set, base) != 0) {
        tt__pages_release(h, (void *)base, TT__CHUNK_SIZE);
        return TT_ENOMEM;
    }
    struct tt__chunk *c = tt__chunk_of(base);
    c->heap = h;
    /* Push in reverse so blocks are handed out in address order. */
    for (uint32_t i = TT__BLOCKS_PER_CHUNK; i-- > TT__META_BLOCKS;) {
        struct tt__block *b = &c->blocks[i];
        b->start = base + (uintptr_t)i * TT__BLOCK_SIZE;
        b->state = TT__BLOCK_UNUSED;
        b->zeroed = 1;
        b->next = h->unused;
        h->unused = b;
    }
    c->next = h->chunks;
    h->chunks = c;
    c->sig = TT__CHUNK_SIG;
    return TT_OK;
}

int tt__space_init(tt_heap *h) { return chunk_new(h); }

void tt__space_finish(tt_heap *h)
{
    struct tt__chunk *c = h->chunks;
    while (c) {
        struct tt__chunk *next = c->next;
        c->sig = 0;
        if (c->pmarks) {
            tt__pages_release(h, c->pmarks, TT__PMARK_BYTES);
            h->pmark_bytes -= TT__PMARK_BYTES;
        }
        tt__pages_release(h, (void *)tt__chunk_base((uintptr_t)c), TT__CHUNK_SIZE);
        c = next;
    }
    h->chunks = NULL;
    tt__ptrset_free(&h->chunk_set);
}

#define FOR_EACH_BLOCK(h, b)                                                   \
    for (struct tt__chunk *c_ = (h)->chunks; c_; c_ = c_->next)                \
        for (struct tt__block *b = &c_->blocks[TT__META_BLOCKS];               \
             b < &c_->blocks[TT__BLOCKS_PER_CHUNK]; b++)

static bool in_use(const struct tt__block *b)
{
    return b->state == TT__BLOCK_IN_USE || b->state == TT__BLOCK_OWNED;
}

/* ---- mark bitmap helpers ---- */

/* The bitmap words covering block b; granule i of the block is bit i. */
static uint64_t *block_bits(const struct tt__block *b)
{
    uint64_t bit;
    return tt__mark_word(b->start, &bit);
}
#define BLOCK_BIT_WORDS (TT__BLOCK_SIZE / TT__GRANULE / 64)

static bool slot_marked(const uint64_t *bits, uint32_t granule)
{
    return (bits[granule >> 6] >> (granule & 63)) & 1;
}

/* First marked granule in [from, end) of the block's bitmap, or end. */
static uint32_t next_marked(const uint64_t *bits, uint32_t from, uint32_t end)
{
    if (from >= end) return end;
    uint32_t w = from >> 6;
    uint64_t word = bits[w] & (~(uint64_t)0 << (from & 63));
    for (;;) {
        if (word) {
            uint32_t g = (w << 6) + (uint32_t)__builtin_ctzll(word);
            return g < end ? g : end;
        }
        if (++w >= BLOCK_BIT_WORDS || (w << 6) >= end) return end;
        word = bits[w];
    }
}

/* ---- blocks ---- */

static void block_join_class(struct tt__block *b, uint32_t cls)
{
    b->cls = cls;
    b->slot_size = tt__class_size[cls];
    b->nslots = (uint32_t)(TT__BLOCK_SIZE / b->slot_size);
    b->scan = 0;
    b->live_slots = 0;
    if (!b->zeroed) {
        memset((void *)b->start, 0, TT__BLOCK_SIZE);
        b->zeroed = 1;
    }
}

static bool fits_limit(const tt_heap *h, size_t more)
{
    return h->cfg.max_size == 0 ||
           tt__footprint(h) + h->ext_live + more <= h->cfg.max_size;
}

/* A block for class cls: a partly free one of the class, an empty one, or
 * a new one within the heap limit. NULL if none can be had without a
 * collection. */
static struct tt__block *take_block(tt_heap *h, uint32_t cls)
{
    struct tt__block *b = h->avail[cls];
    if (b) {
        h->avail[cls] = b->next;
        b->next = NULL;
        b->state = TT__BLOCK_OWNED;
        return b;
    }
    if ((b = h->free) != NULL) {
        h->free = b->next;
        h->nfree--;
    } else {
        if (!fits_limit(h, TT__BLOCK_SIZE)) return NULL;
        if (!h->unused && chunk_new(h) != TT_OK) return NULL;
        b = h->unused;
        h->unused = b->next;
        h->committed += TT__BLOCK_SIZE;
        tt__stats_footprint(h);
    }
    b->next = NULL;
    block_join_class(b, cls);
    b->state = TT__BLOCK_OWNED;
    return b;
}

/* The next run of free slots in b at or after b->scan, zeroed. */
static bool find_run(struct tt__block *b, uintptr_t *start, uintptr_t *end)
{
    const uint64_t *bits = block_bits(b);
    uint32_t s = b->slot_size, n = b->nslots, i = b->scan;
    uint32_t gs = s >> 3; /* granules per slot */
    while (i < n && slot_marked(bits, i * gs)) i++;
    if (i >= n) {
        b->scan = n;
        return false;
    }
    uint32_t gend = n * gs;
    uint32_t g = next_marked(bits, (i + 1) * gs, gend);
    uint32_t j = g / gs; /* marks sit at slot starts */
    b->scan = j;
    *start = b->start + (uintptr_t)i * s;
    *end = b->start + (uintptr_t)j * s;
    if (!b->zeroed) memset((void *)*start, 0, *end - *start);
    return true;
}

static void release_block(tt_heap *h, struct tt__block *b)
{
    b->state = TT__BLOCK_IN_USE;
    if (b->scan < b->nslots) {
        b->next = h->avail[b->cls];
        h->avail[b->cls] = b;
    }
}

static void retire_run(tt_thread *t, uint32_t cls)
{
    tt_heap *h = t->heap;
    struct tt__alloc_buf *buf = &t->f.buf[cls];
    size_t unused = buf->limit - buf->cursor;
    h->st.bytes_allocated -= unused;
    h->alloc_since_gc -= unused;
    buf->cursor = buf->limit = 0;
}

int tt__space_refill(tt_thread *t, uint32_t cls, const char *file, int line)
{
    tt_heap *h = t->heap;
    bool collected = false;
    retire_run(t, cls);
    for (;;) {
        if (!collected && h->alloc_since_gc + h->ext_since_gc >= h->threshold) {
            tt__collect(h, t);
            collected = true;
        }
        struct tt__block *b = t->cur_block[cls];
        uintptr_t start, end;
        if (b && find_run(b, &start, &end)) {
            size_t bytes = end - start;
            t->f.buf[cls].cursor = start;
            t->f.buf[cls].limit = end;
            h->st.bytes_allocated += bytes;
            h->alloc_since_gc += bytes;
            return TT_OK;
        }
        if (b) {
            release_block(h, b);
            t->cur_block[cls] = NULL;
        }
        b = take_block(h, cls);
        if (!b) {
            if (collected)
                return tt__fail(TT_ENOMEM, file, line,
                                "out of memory: heap at %zu bytes of %zu after a full collection",
                                tt__footprint(h), h->cfg.max_size);
            /* Only a collection of our own may justify a TT_ENOMEM. */
            while (!tt__collect(h, t)) {
            }
            collected = true;
            continue;
        }
        t->cur_block[cls] = b;
    }
}

void tt__space_flush_thread(tt_thread *t)
{
    for (uint32_t cls = 1; cls < TT__NCLASSES; cls++) {
        retire_run(t, cls);
        if (t->cur_block[cls]) {
            release_block(t->heap, t->cur_block[cls]);
            t->cur_block[cls] = NULL;
        }
    }
}

void tt__space_clear_marks(tt_heap *h)
{
    FOR_EACH_BLOCK(h, b)
    {
        if (in_use(b)) memset(block_bits(b), 0, BLOCK_BIT_WORDS * sizeof(uint64_t));
    }
}

/* Zero the header of every unmarked slot of b (checked mode), so that a
 * dangling reference to a dead object is recognised as such. */
static void poison_dead_slots(struct tt__block *b)
{
    const uint64_t *bits = block_bits(b);
    uint32_t gs = b->slot_size >> 3;
    for (uint32_t i = 0; i < b->nslots; i++)
        if (!slot_marked(bits, i * gs)) *(uintptr_t *)(b->start + (uintptr_t)i * b->slot_size) = 0;
}

void tt__space_sweep(tt_heap *h)
{
    for (uint32_t cls = 0; cls < TT__NCLASSES; cls++) h->avail[cls] = NULL;
    uint64_t objects = 0, bytes = 0;
    FOR_EACH_BLOCK(h, b)
    {
        if (!in_use(b)) continue;
        const uint64_t *bits = block_bits(b);
        uint32_t live = 0;
        for (size_t w = 0; w < BLOCK_BIT_WORDS; w++) live += (uint32_t)__builtin_popcountll(bits[w]);
        b->live_slots = live;
        b->scan = 0;
        b->zeroed = 0;
        if (live == 0) {
            b->free_since = h->found_ns;
            b->state = TT__BLOCK_FREE;
            b->next = h->free;
            h->free = b;
            h->nfree++;
            continue;
        }
        b->state = TT__BLOCK_IN_USE;
        objects += live;
        bytes += (uint64_t)live * b->slot_size;
        if (h->checked) poison_dead_slots(b);
        if (live < b->nslots) {
            b->next = h->avail[b->cls];
            h->avail[b->cls] = b;
        }
    }
    h->marked_objects += objects;
    h->marked_bytes += bytes;
}

/* Give the empty block at *link back to the OS and move it from the free
 * list to the unused list; false (nothing moved) if the OS refused. */
static bool decommit(tt_heap *h, struct tt__block **link)
{
    struct tt__block *b = *link;
    if (tt__pages_decommit(h, (void *)b->start, TT__BLOCK_SIZE) != 0) return false;
    *link = b->next;
    h->nfree--;
    b->state = TT__BLOCK_UNUSED;
    b->zeroed = 1;
    b->next = h->unused;
    h->unused = b;
    h->committed -= TT__BLOCK_SIZE;
    return true;
}

/* How long an empty block the next cycle does not need stays committed
 * before it goes back to the OS. A program's heap swells and shrinks with
 * its phases (a big structure built, dropped, built again); a block given
 * back costs a page fault per page when it is used again (about 10 us a
 * page on the virtual machines measured, 160 us a block), so only memory
 * that has stayed surplus for a while is given back. Counted on the clock
 * of collections, not in collections: a heap that collects every
 * millisecond would otherwise give back, after three of them, memory its
 * next phase takes again (the threaded GCBench did so every repeat: a
 * third of its page faults). tt_collect_and_release gives back every
 * empty block at once. */
#define TRIM_AGE_NS UINT64_C(1000000000)

void tt__space_trim(tt_heap *h)
{
    /* The next cycle hands out `threshold` bytes; free slots in partly
     * used blocks serve part of it, empty blocks the rest. Keep that many
     * empty blocks committed (the newest: the list has the blocks emptied
     * by the latest collection first), and give back the others once they
     * have stayed empty for TRIM_AGE_NS. */
    size_t keep = h->threshold / TT__BLOCK_SIZE + 1;
    struct tt__block **link = &h->free;
    size_t seen = 0;
    while (*link) {
        struct tt__block *b = *link;
        if (seen < keep || h->found_ns - b->free_since < TRIM_AGE_NS) {
            seen++;
            link = &b->next;
            continue;
        }
        if (!decommit(h, link)) link = &b->next;
    }
}

/* ---- mark bytes of parallel drains ---- */

bool tt__space_pmarks_prepare(tt_heap *h)
{
    bool ok = true, more = false;
    for (struct tt__chunk *c = h->chunks; c; c = c->next) {
        if (c->pmarks) continue;
        /* Counted in the footprint, so held to max_size like blocks. */
        if (h->cfg.max_size &&
            tt__footprint(h) + h->ext_live + TT__PMARK_BYTES > h->cfg.max_size) {
            ok = false;
            break;
        }
        c->pmarks = tt__pages_reserve(h, TT__PMARK_BYTES, TT__PAGE);
        if (!c->pmarks) {
            ok = false;
            break;
        }
        h->pmark_bytes += TT__PMARK_BYTES;
        more = true;
    }
    if (more) tt__stats_footprint(h);
    return ok;
}

/* Bits 2i and 2i+1 of the result are the marks of granules 2i and 2i+1,
 * from mark byte i of x (0, 1 or 2; byte 0 the lowest in memory). */
static inline uint64_t pmark_bits16(uint64_t x)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    x = __builtin_bswap64(x);
#endif
    x = (x | (x >> 6)) & UINT64_C(0x000F000F000F000F);
    x = (x | (x >> 12)) & UINT64_C(0x000000FF000000FF);
    return (x | (x >> 24)) & UINT64_C(0xFFFF);
}

/* OR the mark bytes of block b into its bitmap words and clear them. */
static void pmarks_fold_block(const struct tt__block *b, uint8_t *pm)
{
    uint64_t *bits = block_bits(b);
    uint8_t *bytes = pm + ((b->start & TT__CHUNK_MASK) >> TT__PMARK_SHIFT);
    /* A bitmap word is 64 granules, 32 mark bytes: four loads of 8. */
    for (size_t w = 0; w < BLOCK_BIT_WORDS; w++) {
        uint64_t x[4];
        memcpy(x, bytes + w * 32, sizeof x);
        if (!(x[0] | x[1] | x[2] | x[3])) continue;
        bits[w] |= pmark_bits16(x[0]) | pmark_bits16(x[1]) << 16 | pmark_bits16(x[2]) << 32 |
                   pmark_bits16(x[3]) << 48;
        memset(bytes + w * 32, 0, sizeof x);
    }
}

void tt__space_pmarks_fold(tt_heap *h)
{
    for (struct tt__chunk *c = h->chunks; c; c = c->next) {
        if (!__atomic_load_n(&c->pdirty, __ATOMIC_RELAXED) ||
            !__atomic_exchange_n(&c->pdirty, 0, __ATOMIC_RELAXED))
            continue;
        /* Marking set bytes only in blocks in use, the only ones that
         * hold objects. */
        for (struct tt__block *b = &c->blocks[TT__META_BLOCKS];
             b < &c->blocks[TT__BLOCKS_PER_CHUNK]; b++)
            if (in_use(b)) pmarks_fold_block(b, c->pmarks);
    }
}

void tt__space_each_marked(tt_heap *h, void (*fn)(tt_heap *, uintptr_t))
{
    FOR_EACH_BLOCK(h, b)
    {
        if (!in_use(b)) continue;
        const uint64_t *bits = block_bits(b);
            uint32_t gs = b->slot_size >> 3;
        for (uint32_t i = 0; i < b->nslots; i++)
            if (slot_marked(bits, i * gs)) fn(h, b->start + (uintptr_t)i * b->slot_size + 8);
    }
}

struct tt__block *tt__space_find_block(const tt_heap *h, uintptr_t addr)
{
    uintptr_t base = tt__chunk_base(addr);
    if (!tt__ptrset_has(&h->chunk_set, base)) return NULL;
    if (((addr & TT__CHUNK_MASK) >> TT__BLOCK_SHIFT) < TT__META_BLOCKS) return NULL;
    struct tt__block *b = tt__block_of(addr);
    return in_use(b) ? b : NULL;
}

bool tt__space_release_free(tt_heap *h)
{
    bool any = false;
    struct tt__block **link = &h->free;
    while (*link) {
        struct tt__block *b = *link;
        if (decommit(h, link))
            any = true;
        else
            link = &b->next;
    }
    if (any) tt__stats_footprint(h);
    return any;
}
