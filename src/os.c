/*
 * os.c: pages from the operating system (or the embedder's hooks) and the
 * clock.
 *
 * Every bulk allocation of the heap goes through the heap's page hooks, so
 * an embedder can supply memory and a test can make any of them fail.
 */
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

static void *os_reserve(size_t bytes, size_t align, void *ctx)
{
    (void)ctx;
    if (align <= TT__PAGE) {
        void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        return p == MAP_FAILED ? NULL : p;
    }
    /* Over-reserve, then trim both ends to the alignment. */
    size_t span = bytes + align;
    char *p = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return NULL;
    uintptr_t a = tt__align_up((uintptr_t)p, align);
    size_t head = a - (uintptr_t)p;
    size_t tail = span - head - bytes;
    if (head) munmap(p, head);
    if (tail) munmap((char *)a + bytes, tail);
    return (void *)a;
}

static void os_release(void *p, size_t bytes, void *ctx)
{
    (void)ctx;
    munmap(p, bytes);
}

static int os_decommit(void *p, size_t bytes, void *ctx)
{
    (void)ctx;
    return madvise(p, bytes, MADV_DONTNEED);
}

void tt__pages_default(tt_page_hooks *out)
{
    out->reserve = os_reserve;
    out->release = os_release;
    out->decommit = os_decommit;
    out->ctx = NULL;
}

/* Chunks of the default page source are offered to transparent huge
 * pages (a no-op unless the system allows them for madvised ranges, the
 * usual setting): the first touch of 2 MiB then costs one fault instead of
 * 512, and marking misses the TLB less. A chunk is 4 MiB aligned, so it
 * is two whole huge pages. Decommitting one block of one later splits that
 * huge page (the rest stays mapped), which trimming does rarely. */
static void offer_huge_pages(tt_heap *h, void *p, size_t bytes, size_t align)
{
#ifdef MADV_HUGEPAGE
    if (p && h->pages.reserve == os_reserve && !h->cfg.no_huge_pages &&
        align >= TT__CHUNK_SIZE && bytes % TT__HUGE_PAGE == 0)
        (void)madvise(p, bytes, MADV_HUGEPAGE); /* advice: failure changes nothing */
#else
    (void)h, (void)p, (void)bytes, (void)align;
#endif
}

void *tt__pages_reserve(tt_heap *h, size_t bytes, size_t align)
{
    bytes = tt__align_up(bytes, TT__PAGE);
    if (align < TT__PAGE) align = TT__PAGE;
    void *p = h->pages.reserve(bytes, align, h->pages.ctx);
    offer_huge_pages(h, p, bytes, align);
    return p;
}

void tt__pages_release(tt_heap *h, void *p, size_t bytes)
{
    if (p) h->pages.release(p, tt__align_up(bytes, TT__PAGE), h->pages.ctx);
}

int tt__pages_decommit(tt_heap *h, void *p, size_t bytes)
{
    if (!h->pages.decommit) return -1;
    return h->pages.decommit(p, bytes, h->pages.ctx);
}

void *tt__pages_grow(tt_heap *h, void *old, size_t old_bytes, size_t new_bytes)
{
    void *p = tt__pages_reserve(h, new_bytes, TT__PAGE);
    if (!p) return NULL;
    if (old) {
        memcpy(p, old, old_bytes);
        tt__pages_release(h, old, old_bytes);
    }
    return p;
}

uint64_t tt__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
