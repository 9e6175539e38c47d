/*
 * internal.h: the shapes shared by tether's sources. Not for programs.
 *
 * Memory layout. The small-object space is made of chunks of 4 MiB, each
 * aligned to its size. A chunk starts with its mark bitmap (one bit per
 * 8-byte granule of the chunk: 64 KiB), then one block's worth of chunk
 * header and block descriptors, then 62 data blocks of 64 KiB. Every data
 * block holds objects of one size class, laid out at multiples of the slot
 * size from the block start. An object is one header word (its type, with
 * flag bits in the low three bits) followed by its payload; a tt_ref points
 * at the payload. The mark bit of an object is the bit of its header word.
 *
 * Allocation bumps a cursor through a "run" of consecutive free slots in a
 * block; the free runs are the slots left unmarked by the last collection,
 * found lazily as the allocator reaches them (lazy sweeping). Large objects
 * (payload plus header over 16 KiB) get pages of their own, preceded by a
 * tt__large record that holds their mark.
 *
 * Parallel drains (mark.c) mark small objects in a side table of mark
 * bytes per chunk (TT__PMARK_BYTES, outside the chunk), folded into the
 * bitmap when the drain ends.
 */
#ifndef TT_INTERNAL_H
#define TT_INTERNAL_H

#ifndef TT__INSIDE_SRC
#error "src/internal.h is internal to tether: include <tether.h> instead"
#endif

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tether.h"

#define TT_HIDDEN __attribute__((visibility("hidden")))
/* A slow path kept out of its caller, so that the caller's fast path
 * needs no stack frame for the locks and cleanups of the slow one. */
#define TT__SLOW_PATH __attribute__((noinline, cold))

#ifdef TT_NO_CHECKS
#define TT__CHECKS_BUILT 0
#else
#define TT__CHECKS_BUILT 1
#endif

/* ------------------------------------------------------------------ */
/* Geometry                                                             */

#define TT__GRANULE 8u
#define TT__BLOCK_SHIFT 16
#define TT__BLOCK_SIZE ((size_t)1 << TT__BLOCK_SHIFT)          /* 64 KiB */
/* With a finalizer thread, registrations between collections after which
 * the next allocation slow path may collect early (see tt__cleanup_add). */
#define TT__FIN_BATCH 16384u
#define TT__CHUNK_SHIFT 22
#define TT__CHUNK_SIZE ((size_t)1 << TT__CHUNK_SHIFT)          /* 4 MiB */
#define TT__CHUNK_MASK (TT__CHUNK_SIZE - 1)
#define TT__HUGE_PAGE ((size_t)2 << 20) /* x86-64 and arm64 (4 KiB pages) */
#define TT__BLOCKS_PER_CHUNK (TT__CHUNK_SIZE / TT__BLOCK_SIZE) /* 64 */
#define TT__META_BLOCKS 2u                                     /* bitmap + header */
#define TT__LARGE_MIN 16385u /* objects (header included) this big are large */
#define TT__PAGE 4096u

/* Header word flags. Types are 8-aligned, leaving three bits. */
#define TT__HDR_LARGE ((uintptr_t)1)    /* object lives in the large space */
#define TT__HDR_CLEANUPS ((uintptr_t)2) /* object has entries in the cleanup log */
#define TT__HDR_GRAY ((uintptr_t)4)     /* finalization ordering: on the DFS path */
#define TT__HDR_FLAGS ((uintptr_t)7)

/* Signatures (MPS-style): set last on init, destroyed first on finish. */
#define TT__HEAP_SIG UINT64_C(0x74744845415030aa)
#define TT__HEAP_DEAD UINT64_C(0x7474444541444845)
#define TT__THREAD_SIG UINT64_C(0x7474544852443031)
#define TT__THREAD_DEAD UINT64_C(0x7474444541445448)
#define TT__CHUNK_SIG UINT64_C(0x747443484e4b3031)
#define TT__LARGE_SIG UINT64_C(0x74744c4152474531)

static inline uintptr_t tt__align_up(uintptr_t x, uintptr_t a) { return (x + a - 1) & ~(a - 1); }

/* ------------------------------------------------------------------ */
/* Errors and misuse (error.c)                                          */

/* Record the last error and return its code: the public tt_set_error_at,
 * under the name the library has always used. */
#define tt__fail tt_set_error_at
/* Put back a last error saved by copying *tt_last_error(). */
TT_HIDDEN void tt__error_restore(const tt_error *saved);
TT_HIDDEN int tt__misuse(tt_heap *h, int code, const char *what, const char *file, int line,
                         const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* ------------------------------------------------------------------ */
/* Pages (os.c)                                                         */

TT_HIDDEN void tt__pages_default(tt_page_hooks *out);
TT_HIDDEN void *tt__pages_reserve(tt_heap *h, size_t bytes, size_t align);
TT_HIDDEN void tt__pages_release(tt_heap *h, void *p, size_t bytes);
TT_HIDDEN int tt__pages_decommit(tt_heap *h, void *p, size_t bytes);
/* Grow an array held in pages from old_bytes to new_bytes, copying. */
TT_HIDDEN void *tt__pages_grow(tt_heap *h, void *old, size_t old_bytes, size_t new_bytes);
TT_HIDDEN uint64_t tt__now_ns(void);

/* ------------------------------------------------------------------ */
/* Pointer sets (ptrset.c): open addressing, for look-ups off hot paths */

typedef struct tt__ptrset {
    uintptr_t *slots; /* 0 = empty, 1 = deleted */
    size_t cap;       /* power of two, or 0 */
    size_t count;
    size_t used;      /* count plus deleted */
} tt__ptrset;

TT_HIDDEN int tt__ptrset_add(tt__ptrset *s, uintptr_t key); /* 0 ok, -1 no memory */
TT_HIDDEN bool tt__ptrset_has(const tt__ptrset *s, uintptr_t key);
TT_HIDDEN void tt__ptrset_remove(tt__ptrset *s, uintptr_t key);
TT_HIDDEN void tt__ptrset_free(tt__ptrset *s);

/* ------------------------------------------------------------------ */
/* Maps from nonzero u64 keys to u64 values (u64map.c)                  */

struct tt__u64slot {
    uint64_t key; /* 0 = empty */
    uint64_t val;
};
typedef struct tt__u64map {
    struct tt__u64slot *slots;
    size_t cap;     /* power of two, or 0 */
    size_t count;
} tt__u64map;

TT_HIDDEN int tt__u64map_reserve(tt__u64map *m, size_t more); /* 0 ok, -1 no memory */
TT_HIDDEN int tt__u64map_put(tt__u64map *m, uint64_t key, uint64_t val);
TT_HIDDEN bool tt__u64map_get(const tt__u64map *m, uint64_t key, uint64_t *val);
TT_HIDDEN bool tt__u64map_remove(tt__u64map *m, uint64_t key);
/* Remove every entry for which keep(key, value, ctx) is false. */
TT_HIDDEN void tt__u64map_filter(tt__u64map *m, bool (*keep)(uint64_t, uint64_t, void *), void *ctx);
TT_HIDDEN void tt__u64map_clear(tt__u64map *m);
TT_HIDDEN void tt__u64map_free(tt__u64map *m);
TT_HIDDEN size_t tt__u64map_bytes(const tt__u64map *m);

/* ------------------------------------------------------------------ */
/* Small-object space (space.c)                                         */

enum { TT__BLOCK_UNUSED = 0, /* zeroed, not counted as footprint */
       TT__BLOCK_FREE,       /* committed, empty, contents undefined */
       TT__BLOCK_IN_USE,     /* holds objects of one class */
       TT__BLOCK_OWNED };    /* in use and being allocated from by a thread */

struct tt__block {
    struct tt__block *next; /* in the heap's free, unused or class list */
    uintptr_t start;        /* first byte of the block's data */
    uint32_t cls;           /* size class */
    uint32_t slot_size;     /* bytes per slot */
    uint32_t nslots;
    uint32_t scan;          /* next slot the allocator will examine */
    uint32_t live_slots;    /* marked by the last collection */
    uint16_t state;
    uint16_t zeroed;        /* every byte from slot `scan` on is zero */
    uint64_t free_since;    /* FREE: the collection that emptied it (found_ns) */
};

struct tt__chunk {
    uint64_t sig;
    struct tt__chunk *next;
    tt_heap *heap;
    /* Parallel drains (mark.c): the chunk's mark bytes, TT__PMARK_BYTES,
     * reserved on the first parallel drain and kept with the chunk (NULL:
     * not yet; a drain is parallel only if every chunk has them), all zero
     * outside parallel drains; `pdirty` is set (atomic) once a byte is
     * written, cleared by the fold. */
    uint8_t *pmarks;
    uint32_t pdirty;
    struct tt__block blocks[TT__BLOCKS_PER_CHUNK]; /* [0, TT__META_BLOCKS) unused */
};

static inline uintptr_t tt__chunk_base(uintptr_t addr) { return addr & ~(uintptr_t)TT__CHUNK_MASK; }
static inline struct tt__chunk *tt__chunk_of(uintptr_t addr)
{
    return (struct tt__chunk *)(tt__chunk_base(addr) + TT__BLOCK_SIZE);
}
static inline struct tt__block *tt__block_of(uintptr_t addr)
{
    return &tt__chunk_of(addr)->blocks[(addr & TT__CHUNK_MASK) >> TT__BLOCK_SHIFT];
}
/* Mark bytes of parallel drains: one byte per 16 bytes of chunk, so each
 * holds the mark of at most one object start in any slot of 16 bytes or
 * more (slot starts 16 or more apart fall in different 16-byte units); its
 * value says which granule of the unit the object starts at (1 the even,
 * 2 the odd one). Objects of 8-byte slots are marked in the bitmap. */
#define TT__PMARK_SHIFT 4
#define TT__PMARK_BYTES (TT__CHUNK_SIZE >> TT__PMARK_SHIFT) /* 256 KiB */

/* The mark bitmap word and bit of the granule at addr. */
static inline uint64_t *tt__mark_word(uintptr_t addr, uint64_t *bit)
{
    uintptr_t g = (addr & TT__CHUNK_MASK) >> 3;
    *bit = (uint64_t)1 << (g & 63);
    return (uint64_t *)tt__chunk_base(addr) + (g >> 6);
}

TT_HIDDEN extern const uint32_t tt__class_size[TT__NCLASSES];
TT_HIDDEN uint32_t tt__class_of(size_t bytes); /* bytes <= TT__LARGE_MIN - 1 */

TT_HIDDEN int tt__space_init(tt_heap *h);
TT_HIDDEN void tt__space_finish(tt_heap *h);
/* Give thread buffer `cls` a new run; 0 or TT_ENOMEM. May collect. */
TT_HIDDEN int tt__space_refill(tt_thread *t, uint32_t cls, const char *file, int line);
/* Give back every thread's runs and blocks (before a collection). */
TT_HIDDEN void tt__space_flush_thread(tt_thread *t);
/* Clear mark bits of blocks in use (start of a collection). */
TT_HIDDEN void tt__space_clear_marks(tt_heap *h);
/* After marking: count survivors, free empty blocks, queue the rest for
 * allocation, and return memory beyond what the next cycle needs. */
TT_HIDDEN void tt__space_sweep(tt_heap *h);
TT_HIDDEN void tt__space_trim(tt_heap *h);
/* Give every empty block back to the OS now; true if any went. */
TT_HIDDEN bool tt__space_release_free(tt_heap *h);
/* Give every chunk its mark bytes for a parallel drain; false if memory
 * or max_size does not allow it (the drain then marks alone). */
TT_HIDDEN bool tt__space_pmarks_prepare(tt_heap *h);
/* After a parallel drain, every marker: OR the mark bytes of the chunks
 * it claims (by clearing their pdirty flag) into their bitmaps and clear
 * them. Markers run it at once, each chunk folded by one. */
TT_HIDDEN void tt__space_pmarks_fold(tt_heap *h);
/* Call fn on every marked object of the small space (overflow recovery). */
TT_HIDDEN void tt__space_each_marked(tt_heap *h, void (*fn)(tt_heap *, uintptr_t));
/* The block holding addr if addr is inside a data block of h in use. */
TT_HIDDEN struct tt__block *tt__space_find_block(const tt_heap *h, uintptr_t addr);

/* ------------------------------------------------------------------ */
/* Large-object space (large.c)                                         */

struct tt__large {
    uint64_t sig;
    struct tt__large *next, *prev;
    size_t mapped; /* bytes reserved, this record included */
    size_t bytes;  /* header plus payload */
    uint32_t mark;
    uint32_t pad_;
    uintptr_t hdr; /* the object's header word; payload follows */
};
#define TT__LARGE_OVERHEAD (offsetof(struct tt__large, hdr))

static inline struct tt__large *tt__large_of(uintptr_t payload)
{
    return (struct tt__large *)(payload - sizeof(struct tt__large));
}

TT_HIDDEN tt_ref tt__large_alloc(tt_thread *t, const tt_type *ty, size_t bytes,
                                 const char *file, int line);
TT_HIDDEN void tt__large_sweep(tt_heap *h);
TT_HIDDEN void tt__large_finish(tt_heap *h);

/* ------------------------------------------------------------------ */
/* Handle tables (handles.c): globals and weak references               */

struct tt__hslot {
    tt_ref ref;
    uint32_t gen;       /* odd while in use, even while free */
    uint32_t next_free; /* index + 1 of the next free slot, 0 = none */
    const char *file;   /* where it was created */
    int line;
    int pad_;
    tt_weak_fn cb;      /* weak references: callback when the target dies */
    void *cb_env;
};

#define TT__HSEG_SHIFT 10
#define TT__HSEG_SLOTS (1u << TT__HSEG_SHIFT)
#define TT__HSEG_MAX 16384u /* segments: 16 M handles of each kind */
/* A handle is gen << 32 | tag << TT__HTAG_SHIFT | index: the index takes
 * the low 24 bits (TT__HSEG_MAX * TT__HSEG_SLOTS = 2^24 slots), the heap's
 * tag (1..255, never 0) the 8 above it. */
#define TT__HTAG_SHIFT 24

/* `segs` is reserved whole on first use and never moves, so readers on
 * other threads index it without the lock; `nsegs` is published (release)
 * after its segment. A slot's `gen` and `ref` are accessed atomically;
 * the rest belongs to whoever holds the slot. */
struct tt__htable {
    struct tt__hslot **segs;
    uint32_t nsegs;     /* atomic */
    uint32_t free_head; /* index + 1, 0 = none; under the heap lock */
    int64_t count;      /* in use by threads gone (detached); lock held */
    uint32_t kind;      /* 0 globals, 1 weak references: the thread cache used */
    uint32_t tag;       /* the heap's tag << TT__HTAG_SHIFT, in every handle */
};

TT_HIDDEN void tt__htable_finish(tt_heap *h, struct tt__htable *tb);
/* Give a detaching thread's cached free slots back to the tables. */
TT_HIDDEN void tt__hcache_flush(tt_thread *t);
/* Handles of table `kind` in use (lock held). */
TT_HIDDEN uint64_t tt__handles_in_use(tt_heap *h, unsigned kind);
/* Clear weak references whose target is unmarked; queue their callbacks. */
TT_HIDDEN void tt__weaks_clear_dead(tt_heap *h);
/* The callback of weak w, taken (so it runs once); false if w was freed. */
TT_HIDDEN bool tt__weak_take_callback(tt_heap *h, tt_weak w, tt_weak_fn *fn, void **env);
/* Call fn(slot) on every slot in use. */
TT_HIDDEN void tt__htable_each(struct tt__htable *tb, void (*fn)(tt_heap *, struct tt__hslot *),
                               tt_heap *h);

/* ------------------------------------------------------------------ */
/* The cleanup log (cleanup.c)                                          */

/* One registration: 16 bytes. `w` packs the object's payload address
 * (bits 3..47), flag bits 0..2 and the function's id (bits 48..63); a zero
 * `w` is an entry that ran or was cancelled. The log keeps entries in
 * registration order, so the shutdown order is the log read backwards,
 * and the newest live entry of the log is always the newest of its
 * object. An object's entries form a stack: its newest entry (the head)
 * is found in the foreign payload or, for other objects, in the `heads`
 * map; each entry with TT__CE_OLDER finds the next older one in the
 * `older` map. */
struct tt__centry {
    uintptr_t w;
    void *env;
};

#define TT__CE_DEALLOC ((uintptr_t)1) /* registered by an allocator */
#define TT__CE_OLDER ((uintptr_t)2)   /* the object has an older entry */
#define TT__CE_BASE ((uintptr_t)4)    /* a foreign object's first: releasing it releases the object */
#define TT__CE_FLAGS ((uintptr_t)7)
#define TT__CE_ADDR_MASK (((uintptr_t)1 << 48) - 8)
#define TT__CE_FN_SHIFT 48

/* Reserved function ids; user functions are interned from TT__FN_USER. */
enum { TT__FN_NONE = 0,      /* a foreign object's base with no function */
       TT__FN_KEEPALIVE = 1, /* env is the object that must outlive this one */
       TT__FN_GUARDIAN = 2,  /* env is the tt_guardian to deliver to */
       TT__FN_FINALIZE = 3,  /* the object's type's finalize hook */
       TT__FN_USER = 4,
       TT__FN_MAX = 65535 };

static inline uintptr_t tt__ce_obj(uintptr_t w) { return w & TT__CE_ADDR_MASK; }
static inline uint32_t tt__ce_fn(uintptr_t w) { return (uint32_t)(w >> TT__CE_FN_SHIFT); }
static inline uintptr_t tt__ce_with_fn(uintptr_t w, uint32_t fn)
{
    return (w & (((uintptr_t)1 << TT__CE_FN_SHIFT) - 1)) | ((uintptr_t)fn << TT__CE_FN_SHIFT);
}

struct tt__site {
    const char *file;
    int line;
};

/* The payload of a foreign object. `state` holds TT__FOREIGN_* flags in
 * its low 16 bits and, while TT__FOREIGN_FAST is set, the id of the base
 * cleanup in its high 16 bits (base_env is its env). It is read and
 * written with atomic builtins: tt_release of a FAST object, and the
 * address reads, work without the heap lock (foreign.c). */
struct tt__foreign {
    void *addr;
    size_t ext;     /* external bytes accounted to the heap */
    uint32_t head;  /* index + 1 of the newest log entry; 0 none */
    uint32_t state; /* TT__FOREIGN_* | base fn id << TT__FOREIGN_FN_SHIFT */
    void *base_env; /* the base entry's env, while FAST */
};
#define TT__FOREIGN_RELEASED 1u
#define TT__FOREIGN_IN_WTABLE 2u
/* The base entry was claimed to run: by the context that runs it (under
 * the lock) or by tt_release's unlocked path. A claimed base entry still
 * in the log is stale (the unlocked path leaves it there; the next
 * collection purges it); nothing runs it again. */
#define TT__FOREIGN_CLAIMED 4u
/* The base is the only entry, the object holds no external bytes and is
 * in no wrapper table: tt_release may run it without the lock. Set at
 * creation by tt_foreign_new, cleared (never set again) by anything that
 * breaks one of those. */
#define TT__FOREIGN_FAST 8u
#define TT__FOREIGN_FN_SHIFT 16

/* A thread's registrations made without the heap lock, waiting for the
 * log: a single-producer (the thread) single-consumer (whoever holds the
 * heap lock) ring. The producer stores the object, then `tail` (release);
 * the consumer reads `tail` (acquire), appends the bases in order, then
 * stores `head`. Every acquisition of the heap lock empties every ring
 * first (tt__regs_drain), so a locked registration lands after every
 * unlocked one that happened before it: the log stays in registration
 * order. */
#define TT__REGS 256u
struct tt__regs {
    uint32_t head, tail;  /* atomic; tail - head entries are waiting */
    tt_cleanup_fn fn;     /* the function this thread registered last under */
    uint32_t fn_id;       /* the lock, and its id: the only one it may use */
    uintptr_t obj[TT__REGS];
};

/* Items of the pending queue: what the cleanup contexts run. */
enum { TT__PEND_OBJECT = 1, /* run every remaining cleanup of an object */
       TT__PEND_WEAK = 2 }; /* call a weak reference's callback */
struct tt__pend {
    uint64_t v; /* object payload address or weak handle bits */
    uint32_t kind;
    uint32_t pad_;
    uint64_t found_ns; /* when the collection that queued it found it */
};

/* A FIFO of pending items (ring buffer). Guardians have one each. */
struct tt__queue {
    struct tt__pend *items;
    size_t cap, head, count; /* cap is a power of two or 0 */
};

struct tt_guardian {
    uint64_t sig;
    tt_heap *heap;
    tt_guardian *next, *prev;
    struct tt__queue q;
    const char *file;
    int line;
};
#define TT__GUARDIAN_SIG UINT64_C(0x7474475541524431)
#define TT__GUARDIAN_DEAD UINT64_C(0x7474475541524430)

struct tt_wtable {
    uint64_t sig;
    tt_heap *heap;
    tt_wtable *next, *prev;
    tt__u64map map; /* foreign address -> wrapper payload address */
    const char *file;
    int line;
};
#define TT__WTABLE_SIG UINT64_C(0x7474575441424c31)
#define TT__WTABLE_DEAD UINT64_C(0x7474575441424c30)

/* ------------------------------------------------------------------ */
/* Threads and the heap                                                 */

/* A thread's state, read by collectors (atomically). Every state but
 * RUNNING lets a collection proceed without the thread. */
enum { TT__TS_RUNNING = 0, /* may touch the heap: a collection waits for it */
       TT__TS_PARKED,      /* stopped at a safepoint until the collection ends */
       TT__TS_FOREIGN,     /* inside a foreign region */
       TT__TS_IDLE };      /* internal: the finalizer thread waiting, a heap closing */

/* A thread's cache of free handle slots (handles.c): most tt_global_new
 * and _free calls take and give slots here, without the heap lock. */
#define TT__HCACHE_MAX 128u
struct tt__hcache {
    uint32_t n;
    uint32_t idx[TT__HCACHE_MAX];
};

struct tt__pin {
    uintptr_t obj;
    struct tt__pin *prev;
};

struct tt_thread {
    struct tt__fast f; /* must be first: the inline paths read it */
    tt_heap *heap;
    tt_thread *next, *prev;
    struct tt__block *cur_block[TT__NCLASSES];
    uintptr_t run_start[TT__NCLASSES]; /* start of the current run, for accounting */
    const char *file; /* where it was attached */
    int line;
    int dead_reason;  /* TT__SLOW_DEAD: 1 detached, 2 heap closed, 3 OS thread exited */
    pthread_t owner;  /* the OS thread that attached it */
    const char *owner_token; /* that OS thread's token (thread.c) */
    uint32_t state;   /* TT__TS_*, atomic */
    uint32_t index;   /* serial range, 1..4095, unique among attached threads
                         of the process: frame serials start at index << 20 */
    uint32_t cleanup_depth; /* cleanups on this thread's stack: queues are not run inside */
    /* Checked mode with forbid_resurrection: the dead object whose
     * cleanup this thread is running from the pending queue (0: none), and
     * where that cleanup was registered (NULL if not recorded). */
    uintptr_t dying;
    const char *dying_file;
    int dying_line;
    bool internal;    /* attached by tether (close, the finalizer thread) */
    const char *region_file; /* where the current foreign region was entered */
    int region_line;
    /* Objects pinned by calls running on this thread (newest first, in
     * those calls' C frames): roots, like locals. Cheaper than a frame
     * where a call only needs its argument kept across user code. */
    struct tt__pin *pins;
    struct tt__regs regs;
    uint64_t released_fast; /* foreign objects released by tt_release's
                               unlocked path: written by this thread
                               alone (atomic stores), summed by the stats */
    struct tt__hcache hcache[2]; /* globals, weak references */
    int64_t hcount[2];  /* handles made minus freed by this thread; written by
                           it alone (atomic stores), summed by the stats */
};

struct tt_tracer {
    void (*visit)(tt_tracer *tr, tt_ref *field);
    tt_heap *heap;
    void *ctx;
};

/* Log-linear histogram of nanoseconds: 8 sub-buckets per power of two. */
#define TT__HIST_BUCKETS (64 * 8)
struct tt__hist {
    uint64_t count, max;
    uint32_t b[TT__HIST_BUCKETS];
};
TT_HIDDEN void tt__hist_add(struct tt__hist *hs, uint64_t ns);
TT_HIDDEN uint64_t tt__hist_percentile(const struct tt__hist *hs, double q);

struct tt__markpool;

/* What an OS thread's exit record holds for each heap (thread_exit.c): it
 * outlives the heap as long as a record holds it, so an exit racing a
 * close never reads freed memory. */
struct tt__anchor {
    pthread_mutex_t lock;
    tt_heap *h;    /* NULL once close has begun */
    unsigned refs; /* the heap, plus each OS thread record that holds it */
};

struct tt_heap {
    uint64_t sig;
    tt_config cfg;
    tt_page_hooks pages;
    bool checked;
    bool collecting;
    uint32_t id;                 /* unique in the process (nonzero); see heap_id */

    /* The heap lock (world.c): every out-of-line path that touches shared
     * state holds it; it is recursive for the holding OS thread, and let go
     * around user code and while the thread waits for a collection. A
     * collection holds it with every other thread stopped. */
    pthread_mutex_t lock;
    uintptr_t lock_owner;        /* the holder's token (&tt__self_token), 0; atomic */
    unsigned lock_depth;
    /* Stopping the world (world.c): `world_lock` guards the thread list
     * and the thread states' transitions out of RUNNING-with-a-stop. */
    pthread_mutex_t world_lock;
    pthread_cond_t stopped_cv;   /* a thread left RUNNING while stopping */
    pthread_cond_t resume_cv;    /* the stop is over */
    uint32_t stopping;           /* atomic: a collector is stopping the world */
    size_t nthreads;
    struct tt__hist ttsp;        /* time to safepoint */
    struct tt__anchor *anchor;   /* outlives the heap while OS threads hold it */
    bool closing;                /* world_lock: close has begun */
    unsigned exiting;            /* world_lock: exiting OS threads detaching theirs */

    /* The finalizer thread (finalizer.c). */
    pthread_t fin_thread;
    bool fin_started, fin_stop, fin_ready;
    pthread_cond_t fin_cv;       /* with `lock`: the queue has work, or stop */
    tt_thread *fin_t;
    struct tt__hist fin_latency;
    /* Items done whose latency awaits the clock (finalize.c): one clock
     * read serves a group, and is after every item of it. */
    uint64_t lat_found[32];
    unsigned lat_n;
    uint64_t found_ns;           /* when the current collection found the dead */

    /* Parallel marking (mark.c). */
    struct tt__markpool *mp;

    /* small space */
    struct tt__chunk *chunks;
    tt__ptrset chunk_set;        /* chunk bases, for validating addresses */
    struct tt__block *unused;    /* zeroed blocks not counted in the footprint */
    struct tt__block *free;      /* committed empty blocks */
    size_t nfree;
    struct tt__block *avail[TT__NCLASSES]; /* blocks with free slots to scan */

    /* large space */
    struct tt__large *large;
    tt__ptrset large_set;        /* payload addresses of large objects */
    size_t nlarge;

    /* footprint and pacing */
    size_t committed;            /* bytes of blocks FREE, IN_USE or OWNED */
    size_t pmark_bytes;          /* mark bytes of parallel drains (chunks') */
    size_t large_bytes;          /* bytes reserved for large objects */
    size_t alloc_since_gc;       /* bytes handed out since the last collection */
    size_t threshold;            /* collect when alloc_since_gc reaches this */
    uint32_t regs_since_gc;      /* cleanups registered since the last collection */

    /* roots */
    tt_thread *threads;
    struct tt__htable globals;
    struct tt__htable weaks;

    /* marking */
    uintptr_t *mark_stack;
    size_t mark_cap, mark_top;
    bool mark_overflow;
    uint64_t marked_objects, marked_bytes;

    /* checked mode */
    tt__ptrset types_seen;

    /* cleanups (cleanup.c) */
    struct tt__centry *ce;       /* the log, in registration order */
    struct tt__site *ce_site;    /* checked mode: where each entry was made */
    size_t ce_len, ce_cap, ce_dead;
    size_t ce_keepalive;         /* live keep-alive entries */
    tt__u64map heads;            /* object (not foreign) -> newest entry + 1 */
    tt__u64map older;            /* entry + 1 -> next older entry + 1 */
    tt_cleanup_fn *fns;          /* interned functions, by id; atomic pointer:
                                    read without the lock by tt_release */
    uint32_t nfns, fns_cap;
    /* Arrays fns outgrew: kept until close, since an unlocked reader may
     * still hold one (their entries never change). Doubling from 64 to
     * TT__FN_MAX + 1 retires at most 10. */
    tt_cleanup_fn *fns_retired[12];
    uint32_t fns_retired_cap[12], nfns_retired;
    uint64_t released_fast;      /* released_fast of detached threads */
    uint64_t stale_dropped;      /* stale base entries removed from the log */
    tt__u64map fn_ids;           /* function -> id */
    tt_cleanup_fn fn_last;       /* the last function interned, and its id */
    uint32_t fn_last_id;

    /* finalization (finalize.c) */
    struct tt__queue pending;
    bool running_cleanups;       /* the pending queue is being run */
    tt_guardian *guardians;
    uintptr_t *fin_objs;         /* scratch during a collection */
    size_t fin_cap;
    uintptr_t *ephs;             /* ephemerons marked this cycle */
    size_t ephs_len, ephs_cap;

    /* foreign memory (foreign.c) */
    size_t ext_live;             /* external bytes of unreleased foreign objects */
    size_t ext_since_gc;         /* external bytes added since the last collection */
    size_t ext_freed;            /* released since open */
    tt_wtable *wtables;
    void *leak_acc;              /* leaks.c: the report being gathered */
    tt_heap *exit_next;          /* leaks.c: in the exit registry */
    bool exit_listed;

    /* objects of static entries (static_roots.c) */
    struct tt__sroot *sroots;
    size_t nsroots, sroots_cap, sroots_dead;
    tt__u64map sroot_ix;         /* entry serial -> index + 1 */

    /* statistics */
    tt_stats st;
};

/* heap.c */
TT_HIDDEN tt_heap *tt__heap_of(tt_thread *t);
/* Entry check of the calls that take a heap and no thread: TT_OK if h is
 * an open heap; otherwise the status, after a report ("heap-closed" to
 * h's handler, "bad-heap" to tt_misuse_abort) or, for NULL, only the last
 * error. */
TT_HIDDEN int tt__heap_arg(const tt_heap *h, const char *fname, const char *file, int line);
/* Free a malloc'd descriptor whose signature is already dead, or, for a
 * checked heap, keep it until exit so that later use is reported. */
TT_HIDDEN void tt__retire(tt_heap *h, void *desc);

/* thread.c: entry check for out-of-line paths. Returns the heap, or NULL
 * after reporting a dead thread or heap (error code in *code). */
TT_HIDDEN tt_heap *tt__enter_fail(tt_thread *t, const char *file, int line, int *code);
TT_HIDDEN void tt__thread_free(tt_thread *t, int reason);
/* Attach the calling OS thread; `internal`: for tether's own use (close,
 * the finalizer thread), not recorded as the OS thread's attachment. */
TT_HIDDEN tt_thread *tt__thread_attach(tt_heap *h, bool internal, const char *file, int line);
/* Detach t (any state but dead); reason as in dead_reason. */
TT_HIDDEN void tt__thread_detach(tt_thread *t, int reason);
/* The id of the heap whose thread was last given the serial range of
 * `serial` (0 if none ever was), for naming a local of another heap. */
TT_HIDDEN uint32_t tt__serial_heap(uint32_t serial);
/* A thread freed: its serial range (t->index) may go to another thread. */
TT_HIDDEN void tt__serial_range_drop(uint32_t index);

/* thread_exit.c */
/* Open: the heap's anchor (and the process-wide key, once). Reports. */
TT_HIDDEN int tt__thread_exit_key_init(tt_heap *h);
/* Open failed after init: free the anchor. */
TT_HIDDEN void tt__thread_exit_anchor_free(tt_heap *h);
/* The calling OS thread has (or is about to have) attachments to h. */
TT_HIDDEN int tt__thread_exit_hold(tt_heap *h);
/* The calling OS thread has no attachment to h left. */
TT_HIDDEN void tt__thread_exit_drop(tt_heap *h);
/* Close: no exit detaches this heap's threads any more. */
TT_HIDDEN void tt__thread_exit_key_close(tt_heap *h);
TT_HIDDEN int tt__locals_reserve(tt_thread *t, uint64_t need);

/* alloc.c */
TT_HIDDEN size_t tt__object_bytes(const tt_type *ty, uintptr_t payload);

/* world.c: the heap lock, stopping the world, safepoints. */
TT_HIDDEN int tt__world_init(tt_heap *h);
TT_HIDDEN void tt__world_finish(tt_heap *h);
TT_HIDDEN void tt__lock(tt_heap *h);
TT_HIDDEN void tt__unlock(tt_heap *h);
/* Let go of the lock entirely (around user code, before waiting); returns
 * the depth to give tt__relock. 0 if this OS thread did not hold it. */
TT_HIDDEN unsigned tt__unlock_all(tt_heap *h);
TT_HIDDEN void tt__relock(tt_heap *h, unsigned depth);
static inline tt_heap *tt__lock_ret(tt_heap *h)
{
    tt__lock(h);
    return h;
}
static inline void tt__guard_release(tt_heap **hp)
{
    if (*hp) tt__unlock(*hp);
}
/* Hold h's lock until the end of the enclosing block. */
#define TT__LOCKED(h) \
    tt_heap *tt__guard_ __attribute__((cleanup(tt__guard_release), unused)) = tt__lock_ret(h)
static inline tt_heap *tt__lock_thread(tt_thread *t)
{
    if (!t || t->f.sig != TT__THREAD_SIG) return NULL;
    tt__lock(t->heap);
    return t->heap;
}
/* Hold the lock of t's heap (if t is a live thread) until the end of the
 * enclosing block; the entry checks then report a bad t as usual. */
#define TT__LOCKED_T(t) \
    tt_heap *tt__guard_ __attribute__((cleanup(tt__guard_release), unused)) = tt__lock_thread(t)
/* Run user code without the lock: TT__USER(h, fn(args)). */
#define TT__USER(h, call)                     \
    do {                                      \
        unsigned tt__d_ = tt__unlock_all(h);  \
        call;                                 \
        tt__relock((h), tt__d_);              \
    } while (0)
/* Stop at a safepoint if a collection waits for t (lock let go meanwhile). */
TT_HIDDEN void tt__safepoint(tt_thread *t);
/* Stop every other attached thread (the lock let go while waiting, held on
 * return). False if another thread was collecting: t waited for it and the
 * world runs again. */
TT_HIDDEN bool tt__world_stop(tt_heap *h, tt_thread *t);
TT_HIDDEN void tt__world_resume(tt_heap *h);
/* Link and unlink a thread in the heap's list (lock held). */
TT_HIDDEN void tt__world_link(tt_heap *h, tt_thread *t);
TT_HIDDEN void tt__world_unlink(tt_heap *h, tt_thread *t);
/* Set t's state; wakes a waiting collector. To RUNNING: waits out a stop. */
TT_HIDDEN void tt__thread_set_state(tt_thread *t, uint32_t state);
static inline uint32_t tt__thread_state(const tt_thread *t)
{
    return __atomic_load_n(&t->state, __ATOMIC_SEQ_CST);
}

/* Set or clear hold bits of t's owner_key (tether/fast.h): by the owner
 * alone, so a load and a store do; atomic because a thread wrongly given
 * t reads the word. */
static inline void tt__hold_set(tt_thread *t, uintptr_t bits)
{
    uintptr_t k = __atomic_load_n(&t->f.owner_key, __ATOMIC_RELAXED);
    __atomic_store_n(&t->f.owner_key, k | bits, __ATOMIC_RELAXED);
}
static inline void tt__hold_clear(tt_thread *t, uintptr_t bits)
{
    uintptr_t k = __atomic_load_n(&t->f.owner_key, __ATOMIC_RELAXED);
    __atomic_store_n(&t->f.owner_key, k & ~bits, __ATOMIC_RELAXED);
}

/* A byte per OS thread (thread.c): its address names the calling OS
 * thread in one instruction, where pthread_self is a call. */
TT_HIDDEN extern _Thread_local char tt__self_token __attribute__((tls_model("initial-exec")));

/* Whether the calling OS thread holds h's lock. Only this thread ever
 * stores its own token, so the comparison is exact even though other
 * threads change the word. */
static inline bool tt__lock_held(tt_heap *h)
{
    return __atomic_load_n(&h->lock_owner, __ATOMIC_RELAXED) == (uintptr_t)&tt__self_token;
}

/* The entry check of every out-of-line path taking a thread: t is a live
 * thread and, in checked mode, belongs to the calling OS thread and is
 * outside its foreign region. Its heap, or NULL with the misuse reported
 * and *code set. Inline: checked mode sends every call through it. */
static inline tt_heap *tt__enter(tt_thread *t, const char *file, int line, int *code)
{
    if (TT_LIKELY(t && t->f.sig == TT__THREAD_SIG &&
                  (!t->f.checked || (t->owner_token == &tt__self_token &&
                                     tt__thread_state(t) != TT__TS_FOREIGN))))
        return t->heap;
    return tt__enter_fail(t, file, line, code);
}


/* collect.c: a full collection on thread t, lock held. Returns false if
 * another thread's collection ran instead (t waited for it). */
TT_HIDDEN bool tt__collect(tt_heap *h, tt_thread *t);
/* Is the object at payload p marked? (valid during and after a collection) */
static inline bool tt__is_marked(uintptr_t p)
{
    uintptr_t hdr = ((const uintptr_t *)p)[-1];
    if (hdr & TT__HDR_LARGE) return tt__large_of(p)->mark != 0;
    uint64_t bit;
    return (*tt__mark_word(p - 8, &bit) & bit) != 0;
}

/* Set the mark of the object at payload p; true if it was not marked. */
static inline bool tt__set_mark_hdr(uintptr_t p, uintptr_t hdr)
{
    if (TT_UNLIKELY(hdr & TT__HDR_LARGE)) {
        struct tt__large *lo = tt__large_of(p);
        if (lo->mark) return false;
        lo->mark = 1;
        return true;
    }
    uint64_t bit;
    uint64_t *w = tt__mark_word(p - 8, &bit);
    if (*w & bit) return false;
    *w |= bit;
    return true;
}
static inline bool tt__set_mark(uintptr_t p) { return tt__set_mark_hdr(p, ((const uintptr_t *)p)[-1]); }

/* The internal kind of ephemerons (ephemeron.c). */
#define TT__KIND_EPHEMERON 6u

/* mark.c */
TT_HIDDEN int tt__mark_init(tt_heap *h);
TT_HIDDEN void tt__mark_finish(tt_heap *h);
/* Stop the helper threads of parallel marking (close). */
TT_HIDDEN void tt__mark_workers_stop(tt_heap *h);
TT_HIDDEN void tt__mark_root(tt_heap *h, uintptr_t p);
TT_HIDDEN void tt__mark_drain(tt_heap *h);
TT_HIDDEN void tt__trace_object(tt_heap *h, uintptr_t p, tt_tracer *tr);

/* verify.c: the verifier inside a collection (verify_collections). */
TT_HIDDEN void tt__verify_stopped(tt_heap *h);

/* check.c */
/* NULL if p is a live object of h; otherwise why not. Never faults. */
TT_HIDDEN const char *tt__object_problem(const tt_heap *h, uintptr_t p);
/* The slot of p in t's cache of objects known live (checked mode; see
 * struct tt__fast): collect_stopped empties every thread's cache, since a
 * collection ends what it proves. */
static inline uintptr_t *tt__vcache_slot(tt_thread *t, uintptr_t p)
{
    return &t->f.vcache[tt__vc_index(p)];
}

/* An object t allocated: live until the next collection. */
static inline void tt__vcache_add(tt_thread *t, uintptr_t p) { *tt__vcache_slot(t, p) = p; }

/* tt__object_problem for a check made by t, remembering the live objects
 * it finds until the next collection, so that checking the same object
 * again costs a compare. */
static inline const char *tt__object_problem_t(tt_thread *t, uintptr_t p)
{
    uintptr_t *slot = tt__vcache_slot(t, p);
    if (TT_LIKELY(*slot == p && p)) return NULL;
    const char *why = tt__object_problem(t->heap, p);
    if (!why) *slot = p;
    return why;
}
/* Checked mode, forbid_resurrection: a misuse report if val is the dying
 * object of t's running cleanup, stored by `what` (a field, a global). */
TT_HIDDEN int tt__resurrect_report(tt_thread *t, tt_ref val, const char *what, const char *file,
                                   int line);
static inline int tt__check_resurrect(tt_thread *t, tt_ref val, const char *what,
                                      const char *file, int line)
{
    if (TT_LIKELY(!t->dying || val.bits != t->dying)) return TT_OK;
    return tt__resurrect_report(t, val, what, file, line);
}
/* cleanup.c: the site of the cleanup of obj that runs next (checked
 * mode), or NULL. */
TT_HIDDEN const struct tt__site *tt__cleanup_next_site(tt_heap *h, uintptr_t obj);
TT_HIDDEN bool tt__type_valid(const tt_type *ty, const char **why);

/* cleanup.c */
TT_HIDDEN void tt__cleanup_finish(tt_heap *h);
TT_HIDDEN uint32_t tt__cleanup_head(tt_heap *h, uintptr_t obj);
/* The next older entry (+1) of the entry at index idx, 0 if none. */
TT_HIDDEN uint32_t tt__cleanup_older(tt_heap *h, uint32_t idx);
/* Run the newest remaining cleanup of obj (keep-alive and guardian entries
 * are skipped, and dropped once no cleanup is left). False if none. */
TT_HIDDEN bool tt__cleanup_run_one(tt_thread *t, uintptr_t obj);
/* Run every remaining cleanup of obj, newest first; drop its keep-alive
 * and (if drop_guardians) guardian entries. Returns how many ran. */
TT_HIDDEN size_t tt__cleanup_run_all(tt_thread *t, uintptr_t obj, bool drop_guardians);
/* Run the newest entry of the whole log (shutdown order); false if none. */
TT_HIDDEN bool tt__cleanup_run_newest(tt_thread *t);
/* Remove the guardian entry of obj (newest one); its guardian or NULL. */
TT_HIDDEN tt_guardian *tt__cleanup_take_guardian(tt_heap *h, uintptr_t obj);
TT_HIDDEN void tt__cleanup_compact(tt_heap *h);
/* Drop obj's entries with function fn (and env, if not NULL) unrun. */
TT_HIDDEN void tt__cleanup_drop(tt_heap *h, uintptr_t obj, uint32_t fn, const void *env);
TT_HIDDEN int tt__cleanup_add(tt_heap *h, uintptr_t obj, uint32_t fn, uintptr_t flags, void *env,
                              const char *file, int line);
TT_HIDDEN int tt__cleanup_reserve(tt_heap *h, size_t n);
TT_HIDDEN int tt__cleanup_intern(tt_heap *h, tt_cleanup_fn fn, uint32_t *id);
/* The id of an interned function, without interning it: false if fn was
 * never registered. */
TT_HIDDEN bool tt__cleanup_find(tt_heap *h, tt_cleanup_fn fn, uint32_t *id);
TT_HIDDEN size_t tt__cleanup_bytes(const tt_heap *h);
/* Remove the stale base entries (see TT__FOREIGN_CLAIMED) from the log:
 * each collection does, before it looks for dead objects. Lock held. */
TT_HIDDEN void tt__cleanup_purge_stale(tt_heap *h);
/* Append every thread's waiting registrations to the log, in order; the
 * heap lock is held. False if the log could not grow for all of them
 * (they stay waiting). tt__lock and tt__relock call it. */
TT_HIDDEN bool tt__regs_drain(tt_heap *h);
/* Mark the objects still waiting in rings as roots (a collection after a
 * drain that could not finish: they must not be swept unregistered). */
TT_HIDDEN void tt__regs_mark(tt_heap *h);
/* Foreign objects released by unlocked paths, by every thread so far. */
TT_HIDDEN uint64_t tt__released_fast(tt_heap *h);

/* foreign.c */
/* Whether p (a live object) is a foreign object: one header read. */
static inline bool tt__is_foreign(uintptr_t p) { return tt_type_of((tt_ref){p}) == &tt_foreign_type; }
/* The object's cleanups are all done: give back its external bytes,
 * clear its address, drop it from wrapper tables. */
TT_HIDDEN void tt__foreign_release(tt_heap *h, uintptr_t p);
/* Run pending cleanups if this heap runs them at foreign-memory calls. */
TT_HIDDEN void tt__foreign_cleanup_point(tt_thread *t);
/* Release a new foreign object without calling its base cleanup: it turned
 * out not to own its address. */
TT_HIDDEN void tt__foreign_disown(tt_thread *t, uintptr_t p);
/* Claim the base entry of a foreign object for running: false if it was
 * claimed already (then it must not run). Clears TT__FOREIGN_FAST. */
TT_HIDDEN bool tt__foreign_claim(struct tt__foreign *fp);
/* The flags and base id of a foreign object: an atomic load, since the
 * unlocked paths change them without the lock. */
static inline uint32_t tt__foreign_state(const struct tt__foreign *fp)
{
    return __atomic_load_n(&fp->state, __ATOMIC_ACQUIRE);
}
/* Clear TT__FOREIGN_FAST: the object no longer qualifies. Lock held. */
static inline void tt__foreign_unfast(struct tt__foreign *fp)
{
    __atomic_and_fetch(&fp->state, ~(uint32_t)TT__FOREIGN_FAST, __ATOMIC_RELAXED);
}
/* tt_release's unlocked path: releases obj and returns true if it is a
 * FAST foreign object of an unchecked heap whose base nobody claimed;
 * otherwise false, having done nothing. */
TT_HIDDEN bool tt__foreign_release_fast(tt_thread *t, tt_ref obj);

/* finalize.c */
TT_HIDDEN void tt__finalize_mark_roots(tt_heap *h);
/* Strong marking is done: reach a fixpoint over ephemerons and keep-alive
 * edges. */
TT_HIDDEN void tt__finalize_fixpoint(tt_heap *h);
/* Clear weak things whose target is unmarked; queue weak callbacks. */
TT_HIDDEN void tt__finalize_clear_weak(tt_heap *h);
/* Queue dead objects with cleanups in dependency order, keeping alive
 * everything they reach. */
TT_HIDDEN void tt__finalize_queue_dead(tt_heap *h);
TT_HIDDEN int tt__queue_push(tt_heap *h, struct tt__queue *q, uint64_t v, uint32_t kind);
TT_HIDDEN void tt__queue_free(tt_heap *h, struct tt__queue *q);
TT_HIDDEN size_t tt__run_pending(tt_thread *t, size_t budget);
TT_HIDDEN void tt__finalize_shutdown(tt_heap *h);
/* leaks.c: the report at close (checked mode; nothing runs in the heap),
 * and the registry of heaps that report at process exit. */
TT_HIDDEN void tt__leaks_at_close(tt_heap *h);
TT_HIDDEN int tt__leaks_exit_register(tt_heap *h);
TT_HIDDEN void tt__leaks_exit_unregister(tt_heap *h);
TT_HIDDEN void tt__finalize_finish(tt_heap *h);
TT_HIDDEN void tt__report(tt_heap *h, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* finalizer.c: the finalizer thread. */
TT_HIDDEN int tt__finalizer_start(tt_heap *h);
TT_HIDDEN void tt__finalizer_stop(tt_heap *h);

/* ephemeron.c */
/* Record an ephemeron met by marking; false if the record cannot grow
 * (the caller then traces it strongly). */
TT_HIDDEN bool tt__ephemeron_found(tt_heap *h, uintptr_t p);
TT_HIDDEN bool tt__ephemerons_step(tt_heap *h); /* true if it marked something */
TT_HIDDEN void tt__ephemerons_clear_dead(tt_heap *h);

/* wtable.c */
TT_HIDDEN void tt__wtables_sweep(tt_heap *h);
TT_HIDDEN void tt__wtables_drop(tt_heap *h, uintptr_t obj, const void *addr);
TT_HIDDEN void tt__wtables_finish(tt_heap *h);

/* static_key.c */
TT_HIDDEN tt_static_key tt__static_key_of_name(const char *ns, const char *module, const char *name);
/* NULL if (ns, module, name) is a valid fully qualified name; else why. */
TT_HIDDEN const char *tt__static_name_problem(const char *ns, const char *module, const char *name);

/* static_table.c: lock-free. The registered entry with key k, or NULL;
 * an entry's serial (0 once unregistered). */
TT_HIDDEN const tt_static *tt__static_find(tt_static_key k);
TT_HIDDEN uint64_t tt__static_serial(const tt_static *e);

/* static_roots.c: one heap's objects of static entries. */
struct tt__sroot {
    tt_static_key key;  /* of the entry it was built for */
    uint64_t serial;    /* the entry's serial then; 0 once dropped */
    uintptr_t obj;      /* 0 while its build runs */
    const tt_thread *builder; /* the thread running the build */
};
TT_HIDDEN void tt__static_roots_mark(tt_heap *h);
TT_HIDDEN void tt__static_roots_each(tt_heap *h, void (*fn)(void *ctx, tt_ref r), void *ctx);
TT_HIDDEN void tt__static_roots_finish(tt_heap *h);

/* The heap's footprint (heap_bytes, what max_size limits besides external
 * bytes): blocks held, the mark bytes of parallel drains, large objects. */
static inline size_t tt__footprint(const tt_heap *h)
{
    return h->committed + h->pmark_bytes + h->large_bytes;
}

/* stats.c */
TT_HIDDEN void tt__stats_pause(tt_heap *h, uint64_t ns);
TT_HIDDEN void tt__stats_footprint(tt_heap *h);

#endif
