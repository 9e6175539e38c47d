/*
 * tether/core.h: references, status codes, errors, heap and thread lifecycle.
 *
 * Everything in tether hangs off a tt_heap. A program opens a heap, attaches
 * each mutator thread to it (tt_thread), allocates through the thread, roots
 * what it keeps in local frames or global references, and closes the heap.
 *
 * Errors: every function that can fail returns a status (TT_OK or a negative
 * TT_E* code) or a null value (TT_NULL, a null handle, NULL), and records the
 * code and a message in the calling OS thread's last-error record, read with
 * tt_last_error(). Misuse detected in checked mode is reported through the
 * heap's misuse handler (default: print to stderr and abort).
 *
 * Thread-safety: any number of OS threads may use a heap at once, each
 * through the tt_thread it attached (see tether/threads.h for safepoints
 * and foreign regions). A tt_thread, its frames and its locals belong to the
 * OS thread that attached it. Globals, weak references, foreign objects,
 * guardians and wrapper tables may be used from any attached thread.
 * Several heaps share nothing.
 */
#ifndef TETHER_CORE_H
#define TETHER_CORE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(TT_BUILDING_LIBRARY) && defined(__GNUC__)
#define TT_API __attribute__((visibility("default")))
#else
#define TT_API
#endif

/* The inline fast paths: inlined even where the compiler's size
 * heuristics would not, since a call costs more than the path itself. */
#ifdef __GNUC__
#define TT_INLINE static inline __attribute__((always_inline))
#else
#define TT_INLINE static inline
#endif

#define TT_LIKELY(x) __builtin_expect(!!(x), 1)
#define TT_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* The call site, passed by the convenience macros so that errors and
 * misuse reports name the caller's file:line. */
#define TT_HERE __FILE__, __LINE__

/* ------------------------------------------------------------------ */
/* References                                                           */

/* A reference to a heap object. A distinct type, so the compiler rejects
 * mixing GC references with foreign addresses (void *). The bits are the
 * address of the object's payload; objects never move, so the address is
 * stable for the object's whole life. Zero is the null reference. */
typedef struct tt_ref {
    uintptr_t bits;
} tt_ref;

#define TT_NULL ((tt_ref){0})

static inline int tt_is_null(tt_ref r) { return r.bits == 0; }
static inline int tt_same(tt_ref a, tt_ref b) { return a.bits == b.bits; }

/* The object's payload address, stable while the object lives. NULL for
 * TT_NULL. The memory is owned by the heap: do not free it. */
static inline void *tt_ptr(tt_ref r) { return (void *)r.bits; }

/* Typed payload access: TT_PTR(struct pair, r)->left. */
#define TT_PTR(T, r) ((T *)tt_ptr(r))

/* ------------------------------------------------------------------ */
/* Status codes and the last error                                      */

enum {
    TT_OK = 0,
    TT_ENOMEM = -1,  /* heap or OS memory exhausted after a full collection */
    TT_EINVAL = -2,  /* bad argument: null, zero or absurd size, bad type */
    TT_ESTALE = -3,  /* a handle used after its frame popped or it was freed */
    TT_ECLOSED = -4, /* heap closed or thread detached */
    TT_EMISUSE = -5, /* reserved; a misuse returns the code of its kind */
    TT_ERANGE = -6,  /* index or capacity out of range */
    TT_ESTATE = -7,  /* call not allowed in the current state */
    TT_ENOTFOUND = -8, /* no such static entry (unknown key, or unloaded) */
    TT_ETYPE = -9,   /* an object or static entry of another type than the one expected */
    TT_EEXIST = -10  /* a static entry with the same key is already registered */
};

/* The last error recorded on the calling OS thread. */
typedef struct tt_error {
    int code;          /* TT_E* code; TT_OK if none since tt_clear_error */
    const char *file;  /* caller's file, when the call went through a macro */
    int line;          /* caller's line, 0 if unknown */
    char message[256]; /* what failed and why */
} tt_error;

/* The calling OS thread's last error. Never NULL; valid until the thread's
 * next tether call. Thread-safe (thread-local). */
TT_API const tt_error *tt_last_error(void);

/* Reset the calling OS thread's last error to TT_OK. */
TT_API void tt_clear_error(void);

/* Record an error as the calling OS thread's last error, with the caller's
 * site and a printf-style message (truncated to the message buffer), and
 * return `code`: for libraries built on tether (the bridges) whose errors
 * should read like tether's. Thread-safe (thread-local). */
#define tt_set_error(code, ...) tt_set_error_at((code), TT_HERE, __VA_ARGS__)
TT_API int tt_set_error_at(int code, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* A constant name for a status code ("TT_ENOMEM"), "TT_?" if unknown. */
TT_API const char *tt_status_name(int code);

/* ------------------------------------------------------------------ */
/* Misuse reports (checked mode)                                        */

typedef struct tt_misuse {
    int code;            /* the status the API call will return */
    const char *what;    /* short name of the misuse: "local-after-pop" */
    const char *file;    /* caller's file:line */
    int line;
    const char *message; /* full text: what, where and why */
} tt_misuse;

/* Called on every detected misuse. If it returns, the API call fails with
 * m->code and the heap is left unchanged by that call. */
typedef void (*tt_misuse_handler)(const tt_misuse *m, void *ctx);

/* The default handler: prints the message to stderr and aborts. */
TT_API void tt_misuse_abort(const tt_misuse *m, void *ctx);

/* ------------------------------------------------------------------ */
/* Configuration                                                        */

enum {
    TT_CHECKED_DEFAULT = 0, /* on if the environment has TT_CHECKED=1 */
    TT_CHECKED_ON = 1,
    TT_CHECKED_OFF = 2      /* off whatever the environment says */
};

/* Page hooks, so that an embedder can supply memory or tests can inject
 * failures. reserve returns `bytes` of zeroed, read-write memory aligned to
 * `align` (a power of two, at least the page size) or NULL; release returns
 * it; decommit tells that the range may be dropped and must read as zero
 * when next used (return 0 on success, nonzero if it could not). With
 * several threads the hooks may be called from several threads at once
 * (a thread growing its local slots, marking threads growing their
 * stacks), so they must be thread-safe. */
typedef struct tt_page_hooks {
    void *(*reserve)(size_t bytes, size_t align, void *ctx);
    void (*release)(void *p, size_t bytes, void *ctx);
    int (*decommit)(void *p, size_t bytes, void *ctx);
    void *ctx;
} tt_page_hooks;

typedef struct tt_heap tt_heap;
typedef struct tt_thread tt_thread;
struct tt_stats;

/* A cleanup (see tether/cleanup.h): called once with the thread running
 * it, the object it was registered on, and the environment given at
 * registration. */
typedef void (*tt_cleanup_fn)(tt_thread *t, tt_ref obj, void *env);

/* Called at the end of every collection, on the thread that collected,
 * with the heap's statistics. It must not call tether (the heap is in the
 * middle of an allocation); it may record or signal, for example to ask
 * another runtime to collect. */
typedef void (*tt_collect_hook)(tt_heap *h, const struct tt_stats *st, void *ctx);

/* Non-fatal reports. `what` is a short name: "finalizer-cycle" (checked
 * mode; made inside a collection), "leak-global", "leak-foreign" and
 * "leak" (checked mode, at close), "close" (any mode: cleanups that could
 * not be run at close). `message` is the full text. The function must not
 * call tether. The default prints "tether: <message>" to stderr. */
typedef void (*tt_report_fn)(const char *what, const char *message, void *ctx);

/* tt_config.mark_threads: one marking thread per online core. */
#define TT_MARK_THREADS_CORES 0xffffffffu

typedef struct tt_config {
    /* Bytes allocated before the first collection. 0: 4 MiB. */
    size_t initial_size;
    /* Hard limit on the heap's footprint (blocks plus large objects). When
     * an allocation would pass it, a full collection runs first; if it still
     * does not fit, the allocation fails with TT_ENOMEM. 0: no limit;
     * otherwise at least 4 MiB (one chunk), or tt_heap_open fails with
     * TT_EINVAL. */
    size_t max_size;
    /* After a collection that left L live bytes, the next one comes after
     * max(initial_size, L * growth_percent / 100) more bytes. 0: 100. */
    unsigned growth_percent;
    /* TT_CHECKED_DEFAULT, TT_CHECKED_ON or TT_CHECKED_OFF. */
    int checked;
    /* Local slots of the base frame each thread gets on attach. 0: 16. */
    unsigned base_frame_capacity;
    /* Misuse handler; NULL: tt_misuse_abort. */
    tt_misuse_handler on_misuse;
    void *misuse_ctx;
    /* Page source; NULL: mmap/madvise/munmap. Copied at open. */
    const tt_page_hooks *pages;
    /* Nonzero: pending cleanups run only in tt_run_finalizers,
     * tt_collect_and_release and tt_heap_close (guardians are drained by the
     * program itself). Zero (the default): the calls that create external
     * memory (tt_foreign_new,
     * tt_foreign_alloc, tt_foreign_allocate, tt_external_adjust) also run
     * them, so a program that only declares external sizes never piles up
     * dead foreign memory. */
    int explicit_cleanups_only;
    /* Nonzero: tt_heap_close frees everything without running the
     * cleanups still registered (a fast exit). */
    int fast_close;
    /* See tt_collect_hook; NULL: none. */
    tt_collect_hook on_collect;
    void *collect_ctx;
    /* See tt_report_fn; NULL: print to stderr. */
    tt_report_fn on_report;
    void *report_ctx;
    /* Threads that mark during a collection, the collecting thread
     * included; 0 (the default) or TT_MARK_THREADS_CORES: one per online
     * core; 1: the collecting thread marks alone. Helpers join a drain only
     * when it is big: after 16,384 objects marked alone if the last
     * collection found parallel_mark_min (16 MiB) or more live, after
     * 524,288 otherwise (on the machines measured, below about 16 MiB
     * waking them costs more than they save). They are
     * started by the first drain that asks for them, and stopped at close.
     * A heap that marks in parallel holds 1/16 more memory (mark bytes).
     * Values above 64 mean 64. */
    unsigned mark_threads;
    /* Live bytes (found by the last collection) from which drains ask for
     * help early, as above; below it a drain marks alone for this many
     * bytes' worth of 32-byte objects first. 0: 16 MiB. Tune it to the
     * machine: where waking a thread is cheap, parallel marking pays on
     * smaller heaps. */
    size_t parallel_mark_min;
    /* Nonzero: a dedicated finalizer thread, attached to the heap, runs the
     * pending cleanups one at a time as soon as a collection queues them
     * (it is the heap's cleanup context beside explicit tt_run_finalizers
     * and guardians; external-memory calls then leave the queue to it).
     * At close it runs what remains in the queue, then stops; the cleanups
     * still registered then run on the closing thread, newest first.
     * To keep the queue short, a collection is then also due once 16,384
     * cleanups were registered since the last one (and at least a quarter
     * of the usual allocation happened): at most 4x the collections. */
    int finalizer_thread;
    /* Nonzero: after every collection, while the world is still stopped,
     * walk the heap as tt_heap_verify does; a problem found is reported as
     * the misuse "heap-corrupt" (whatever the checked mode). For tests and
     * debugging: it costs a walk of the live heap per collection. */
    int verify_collections;
    /* Nonzero: the default page source does not offer the heap's 4 MiB
     * chunks to transparent huge pages (madvise MADV_HUGEPAGE). 0 (the
     * default): it does, so the kernel may back them with 2 MiB pages when
     * it allows huge pages for madvised ranges. Has no effect with page
     * hooks of your own. */
    int no_huge_pages;
    /* Nonzero: if the heap is still open when the process exits (exit()
     * or a return from main), report what it still holds, as
     * tt_heap_leaks does with fn NULL ("leak-*" reports through on_report,
     * "... at exit"), in any mode. The report stops the heap's other
     * threads first: a thread still running in the heap at exit must reach
     * a safepoint or be in a foreign region, or the exit waits for it. */
    int leak_report_at_exit;
    /* Nonzero, in checked mode: a cleanup run from the pending queue (its
     * object found dead) may not store its object into a field (tt_store,
     * tt_array_set) or a global (tt_global_new, tt_global_set): each is the
     * misuse "resurrection" (TT_ESTATE) at the storing call, and the store
     * is not made. 0: resurrection is allowed (and memory-safe). */
    int forbid_resurrection;
} tt_config;

/* Fill *cfg with the defaults (the same as a zeroed tt_config). */
TT_API void tt_config_init(tt_config *cfg);

/* ------------------------------------------------------------------ */
/* Heaps and threads                                                    */

/* Open a heap. cfg may be NULL for the defaults. Returns NULL on failure
 * (TT_EINVAL for an inconsistent config, TT_ENOMEM) with the last error set.
 * Several heaps may exist in one process; they share nothing but one
 * pthread key, created by the first open, that detaches the attachments of
 * OS threads that exit without detaching. Thread-safe. */
TT_API tt_heap *tt_heap_open(const tt_config *cfg);

/* Close a heap: detaches every thread still attached, frees every object,
 * handle and byte the heap took from the OS. The heap and its threads are
 * dead afterwards; in checked mode any later use of them is reported as
 * misuse (their descriptors are kept, marked dead, until process exit),
 * otherwise it is undefined. NULL is ignored. */
TT_API void tt_heap_close(tt_heap *h);

/* Whether checked mode is on for this heap. */
TT_API int tt_heap_checked(const tt_heap *h);

/* Attach the calling OS thread to h. The thread gets its own allocation
 * buffers and a base local frame (cfg->base_frame_capacity slots); the
 * tt_thread is used by this OS thread only. If a collection is running, it
 * waits until it is over. An OS thread may hold several attachments (say,
 * one per coroutine it runs); a collection on that OS thread treats its
 * other attachments as stopped, and a collection on another OS thread
 * waits for each of them that is not in a foreign region. An OS thread
 * that exits while attached is detached by tether (so collections never
 * wait for it) and, in checked mode, reported as the misuse
 * "thread-exit-attached". Returns NULL on failure (TT_ENOMEM, TT_ECLOSED).
 * Thread-safe. */
#define tt_thread_attach(h) tt_thread_attach_at((h), TT_HERE)
TT_API tt_thread *tt_thread_attach_at(tt_heap *h, const char *file, int line);

/* Detach a thread: its locals stop being roots and the handle dies. Frames
 * still open beyond the base frame are misuse in checked mode. Called by
 * the OS thread that attached t; not inside a foreign region. */
#define tt_thread_detach(t) tt_thread_detach_at((t), TT_HERE)
TT_API void tt_thread_detach_at(tt_thread *t, const char *file, int line);

/* The heap a thread is attached to. */
TT_API tt_heap *tt_thread_heap(const tt_thread *t);

/* Force a full collection now, stopping every other attached thread at its
 * next safepoint. If another thread is already collecting, waits for that
 * collection and then runs one more. Returns TT_OK, or TT_ECLOSED. */
#define tt_collect(t) tt_collect_at((t), TT_HERE)
TT_API int tt_collect_at(tt_thread *t, const char *file, int line);

#ifdef __cplusplus
}
#endif
#endif
