/*
 * tt_test.h: the test harness. One header, no library.
 *
 * Each test file is one program: it defines static test functions, runs
 * them with RUN(fn) from main, and returns tt_test_done(), which is nonzero
 * if any check failed.
 *
 *   CHECK(cond)                 a condition
 *   CHECK_EQ(a, b)              signed integers (status codes, counts)
 *   CHECK_EQU(a, b)             unsigned 64-bit integers (sizes, stats)
 *   CHECK_CMPU(a, op, b)        unsigned comparison: CHECK_CMPU(x, <=, y)
 *   CHECK_REF(a, b)             two tt_ref are the same reference
 *   CHECK_STREQ(a, b)           two C strings (NULL-safe)
 *   CHECK_CONTAINS(hay, needle) substring (NULL-safe)
 *   CHECK_ERR(c)                tt_last_error()->code == c
 *   REQUIRE(cond)               CHECK, and return from the (void) test
 *                               function if it failed
 *
 * A failed check prints file:line, the expression and the values, and the
 * program keeps going, so one run shows every failure.
 *
 * Death tests: CHECK_DIES(fn, arg, what) runs fn(arg) in a forked child
 * whose stderr goes into a pipe, then checks that the child was killed by
 * SIGABRT, that its stderr contains `what` and "<this file>:<line>", where
 * <line> is the line on which fn called DEATH_LINE() (write it on the same
 * line as the call that must be reported:  DEATH_LINE(); tt_collect(t); ).
 * The child ends only by _exit or a signal, so no atexit handler and no
 * leak checker runs in it.
 */
#ifndef TT_TEST_H
#define TT_TEST_H

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <tether.h>

/* Whether this build runs under AddressSanitizer (slower: tests that
 * loop may do fewer rounds). */
#if defined(__SANITIZE_ADDRESS__)
#define TT_TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TT_TEST_SANITIZED 1
#endif
#endif
#ifndef TT_TEST_SANITIZED
#define TT_TEST_SANITIZED 0
#endif

/* Whether checked mode is compiled into the library (CMake option
 * TETHER_CHECKS). Tests that need it exit with TT_TEST_SKIP without it. */
#ifdef TT_TEST_NO_CHECKS
#define TT_TEST_CHECKS_BUILT 0
#else
#define TT_TEST_CHECKS_BUILT 1
#endif
#define TT_TEST_SKIP 77

static int tt__failures;
static long tt__checks;

__attribute__((format(printf, 3, 4))) static inline void tt__fail(const char *file, int line,
                                                                  const char *fmt, ...)
{
    va_list ap;
    tt__failures++;
    fprintf(stderr, "%s:%d: FAILED: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
}

#define CHECK(cond)                                                  \
    do {                                                             \
        tt__checks++;                                                \
        if (!(cond)) tt__fail(__FILE__, __LINE__, "CHECK(%s)", #cond); \
    } while (0)

#define REQUIRE(cond)                                                  \
    do {                                                               \
        tt__checks++;                                                  \
        if (!(cond)) {                                                 \
            tt__fail(__FILE__, __LINE__, "REQUIRE(%s), test stopped", #cond); \
            return;                                                    \
        }                                                              \
    } while (0)

#define CHECK_EQ(a, b)                                                           \
    do {                                                                         \
        long long tt__va = (long long)(a), tt__vb = (long long)(b);              \
        tt__checks++;                                                            \
        if (tt__va != tt__vb)                                                    \
            tt__fail(__FILE__, __LINE__, "CHECK_EQ(%s, %s): %lld != %lld", #a, #b, \
                     tt__va, tt__vb);                                            \
    } while (0)

#define CHECK_EQU(a, b)                                                               \
    do {                                                                              \
        uint64_t tt__va = (uint64_t)(a), tt__vb = (uint64_t)(b);                      \
        tt__checks++;                                                                 \
        if (tt__va != tt__vb)                                                         \
            tt__fail(__FILE__, __LINE__, "CHECK_EQU(%s, %s): %" PRIu64 " != %" PRIu64, #a, \
                     #b, tt__va, tt__vb);                                             \
    } while (0)

#define CHECK_CMPU(a, op, b)                                                             \
    do {                                                                                 \
        uint64_t tt__va = (uint64_t)(a), tt__vb = (uint64_t)(b);                         \
        tt__checks++;                                                                    \
        if (!(tt__va op tt__vb))                                                         \
            tt__fail(__FILE__, __LINE__, "CHECK_CMPU(%s %s %s): %" PRIu64 " vs %" PRIu64, \
                     #a, #op, #b, tt__va, tt__vb);                                       \
    } while (0)

#define CHECK_REF(a, b)                                                                  \
    do {                                                                                 \
        tt_ref tt__ra = (a), tt__rb = (b);                                               \
        tt__checks++;                                                                    \
        if (tt__ra.bits != tt__rb.bits)                                                  \
            tt__fail(__FILE__, __LINE__, "CHECK_REF(%s, %s): %#" PRIxPTR " != %#" PRIxPTR, \
                     #a, #b, tt__ra.bits, tt__rb.bits);                                  \
    } while (0)

#define CHECK_STREQ(a, b)                                                               \
    do {                                                                                \
        const char *tt__sa = (a), *tt__sb = (b);                                        \
        tt__checks++;                                                                   \
        if (!tt__sa || !tt__sb || strcmp(tt__sa, tt__sb) != 0)                          \
            tt__fail(__FILE__, __LINE__, "CHECK_STREQ(%s, %s): \"%s\" != \"%s\"", #a, #b, \
                     tt__sa ? tt__sa : "(null)", tt__sb ? tt__sb : "(null)");           \
    } while (0)

#define CHECK_CONTAINS(hay, needle)                                                    \
    do {                                                                               \
        const char *tt__h = (hay), *tt__n = (needle);                                  \
        tt__checks++;                                                                  \
        if (!tt__h || !tt__n || !strstr(tt__h, tt__n))                                 \
            tt__fail(__FILE__, __LINE__, "CHECK_CONTAINS(%s, %s): \"%s\" lacks \"%s\"", \
                     #hay, #needle, tt__h ? tt__h : "(null)", tt__n ? tt__n : "(null)"); \
    } while (0)

/* The calling thread's last error code is `code`. */
#define CHECK_ERR(want_code)                                                                  \
    do {                                                                                 \
        int tt__want = (want_code), tt__got = tt_last_error()->code;                          \
        tt__checks++;                                                                    \
        if (tt__want != tt__got)                                                         \
            tt__fail(__FILE__, __LINE__, "CHECK_ERR(%s): last error is %s (%d), \"%s\"",   \
                     #want_code, tt_status_name(tt__got), tt__got, tt_last_error()->message); \
    } while (0)

/* Run one test function and say whether it failed. */
#define RUN(fn)                                                              \
    do {                                                                     \
        int tt__before = tt__failures;                                       \
        printf("-- %s\n", #fn);                                              \
        fflush(stdout);                                                      \
        fn();                                                                \
        if (tt__failures != tt__before)                                      \
            printf("   %s: %d check(s) FAILED\n", #fn, tt__failures - tt__before); \
        fflush(stdout);                                                      \
    } while (0)

/* The end of main: a summary, and the exit status. */
static inline int tt_test_done(void)
{
    printf("%ld checks, %d failed\n", tt__checks, tt__failures);
    fflush(stdout);
    return tt__failures ? 1 : 0;
}

/* ------------------------------------------------------------------ */
/* A misuse handler that records the name of the last misuse and returns,
 * so the API call fails with its status code instead of aborting. */

static char tt__last_misuse[64];
static int tt__misuse_calls;

static inline void tt_test_record_misuse(const tt_misuse *m, void *ctx)
{
    (void)ctx;
    tt__misuse_calls++;
    snprintf(tt__last_misuse, sizeof tt__last_misuse, "%s", m->what ? m->what : "(null)");
}
static inline const char *tt_test_last_misuse(void) { return tt__last_misuse; }
static inline int tt_test_misuse_calls(void) { return tt__misuse_calls; }
static inline void tt_test_misuse_reset(void)
{
    tt__last_misuse[0] = 0;
    tt__misuse_calls = 0;
}

/* The whole of each report, for tests that check every field of it
 * (test_misuse, test_mt_misuse): their handlers add each report to a
 * tt_test_report, guarding it with a lock where reports come from several
 * threads. */
typedef struct tt_test_report {
    int calls;
    int code;
    char what[64];
    char file[256];
    int line;
    char message[512];
    void *ctx;
    int nlog; /* every report since the last reset: name and line */
    struct {
        char what[64];
        int line;
    } log[8];
} tt_test_report;

static inline void tt_test_report_add(tt_test_report *r, const tt_misuse *m, void *ctx)
{
    r->calls++;
    r->code = m->code;
    snprintf(r->what, sizeof r->what, "%s", m->what ? m->what : "(null)");
    snprintf(r->file, sizeof r->file, "%s", m->file ? m->file : "(null)");
    r->line = m->line;
    snprintf(r->message, sizeof r->message, "%s", m->message ? m->message : "(null)");
    r->ctx = ctx;
    if (r->nlog < 8) {
        snprintf(r->log[r->nlog].what, sizeof r->log[0].what, "%s", r->what);
        r->log[r->nlog].line = m->line;
    }
    r->nlog++;
}

/* ------------------------------------------------------------------ */
/* Death tests                                                          */

typedef void (*tt_death_fn)(void *arg);

/* A word shared between the parent and its forked children, so that a
 * child can tell which line made the call that must be reported. */
static inline volatile int *tt__death_line_word(void)
{
    static volatile int *word;
    if (!word) {
        void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) {
            perror("mmap");
            abort();
        }
        word = (volatile int *)p;
    }
    return word;
}

/* Record, in the child, the line of the call that must be reported. Put it
 * on the same source line as that call. */
#define DEATH_LINE() (*tt__death_line_word() = __LINE__)

typedef struct tt_death_result {
    int exited;      /* exited normally, with status `status` */
    int status;
    int signaled;    /* killed by signal `sig` */
    int sig;
    int line;        /* the line the child recorded with DEATH_LINE, 0 if none */
    char err[16384]; /* its stderr (truncated), NUL-terminated */
} tt_death_result;

/* Run fn(arg) in a child and collect how it ended. Returns 0, or -1 if the
 * child could not be started. */
static inline int tt_death_run(tt_death_fn fn, void *arg, tt_death_result *res)
{
    int fds[2];
    size_t len = 0;
    int status = 0;
    pid_t pid;

    memset(res, 0, sizeof *res);
    *tt__death_line_word() = 0;
    if (pipe(fds) != 0) return -1;
    fflush(stdout);
    fflush(stderr);
    pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        struct rlimit nocore = {0, 0};
        close(fds[0]);
        dup2(fds[1], 2);
        close(fds[1]);
        setrlimit(RLIMIT_CORE, &nocore);
        alarm(60); /* a child that hangs dies of SIGALRM, which fails the test */
        fn(arg);
        _exit(0);
    }
    close(fds[1]);
    for (;;) {
        char chunk[1024];
        ssize_t n = read(fds[0], chunk, sizeof chunk);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        if (len < sizeof res->err - 1) {
            size_t room = sizeof res->err - 1 - len;
            size_t take = (size_t)n < room ? (size_t)n : room;
            memcpy(res->err + len, chunk, take);
            len += take;
        }
    }
    close(fds[0]);
    res->err[len] = '\0';
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) return -1;
    }
    res->exited = WIFEXITED(status);
    res->status = res->exited ? WEXITSTATUS(status) : 0;
    res->signaled = WIFSIGNALED(status);
    res->sig = res->signaled ? WTERMSIG(status) : 0;
    res->line = *tt__death_line_word();
    return 0;
}

/* Whether hay contains needle not followed by a digit (so that "f.c:12"
 * does not match "f.c:123"). */
static inline int tt__contains_token(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    const char *p = hay;
    while ((p = strstr(p, needle)) != NULL) {
        char next = p[n];
        if (next < '0' || next > '9') return 1;
        p += 1;
    }
    return 0;
}

static inline const char *tt__basename(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* Whether res shows a death by SIGABRT whose stderr names `what` and
 * "<basename of file>:<res->line>". If not and `why` is not NULL, writes
 * the reason there. */
static inline int tt_death_matches(const tt_death_result *res, const char *file, const char *what,
                                   char *why, size_t whylen)
{
    char where[512];
    if (!res->signaled || res->sig != SIGABRT) {
        if (why)
            snprintf(why, whylen, "child did not die of SIGABRT (%s %d)",
                     res->signaled ? "signal" : "exit status",
                     res->signaled ? res->sig : res->status);
        return 0;
    }
    if (!strstr(res->err, what)) {
        if (why) snprintf(why, whylen, "stderr does not name \"%s\"", what);
        return 0;
    }
    if (res->line <= 0) {
        if (why) snprintf(why, whylen, "the child recorded no DEATH_LINE()");
        return 0;
    }
    snprintf(where, sizeof where, "%s:%d", tt__basename(file), res->line);
    if (!tt__contains_token(res->err, where)) {
        if (why) snprintf(why, whylen, "stderr does not name the call site \"%s\"", where);
        return 0;
    }
    return 1;
}

static inline void tt__check_dies(const char *file, int line, const char *fnname, tt_death_fn fn,
                                  void *arg, const char *what)
{
    tt_death_result *res = (tt_death_result *)malloc(sizeof *res);
    char why[600];
    tt__checks++;
    if (!res) {
        tt__fail(file, line, "CHECK_DIES(%s): out of memory", fnname);
        return;
    }
    if (tt_death_run(fn, arg, res) != 0) {
        tt__fail(file, line, "CHECK_DIES(%s): could not fork: %s", fnname, strerror(errno));
    } else if (!tt_death_matches(res, file, what, why, sizeof why)) {
        tt__fail(file, line, "CHECK_DIES(%s, \"%s\"): %s; child stderr:\n-----\n%s-----", fnname,
                 what, why, res->err);
    }
    free(res);
}

#define CHECK_DIES(fn, arg, what) tt__check_dies(__FILE__, __LINE__, #fn, (fn), (arg), (what))

/* ------------------------------------------------------------------ */
/* Allocation failure on demand                                         */

/* For the tests of what tether does when malloc fails. A program made
 * with tt_test_fail_alloc(name) in tests/CMakeLists.txt is linked with
 * -Wl,--wrap for malloc, calloc, realloc and aligned_alloc, so that every
 * such call in tether's objects (the program links the static library)
 * and in the test's own comes here, and it is compiled with
 * TT_TEST_FAIL_ALLOC. Then, between tt_test_alloc_fail(1) and
 * tt_test_alloc_fail(0), those calls return NULL (errno ENOMEM) on the
 * calling OS thread only; other threads, and the C library's own
 * allocations, are untouched, and the real allocator (a sanitizer's or
 * valgrind's included) serves everything else. tt_test_alloc_failures()
 * counts the calls made to fail, so that a test can tell that it reached
 * an allocation at all. */
#ifdef TT_TEST_FAIL_ALLOC
void *__real_malloc(size_t n);
void *__real_calloc(size_t count, size_t n);
void *__real_realloc(void *p, size_t n);
void *__real_aligned_alloc(size_t align, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t count, size_t n);
void *__wrap_realloc(void *p, size_t n);
void *__wrap_aligned_alloc(size_t align, size_t n);

static _Thread_local int tt__alloc_failing;
static _Thread_local long tt__alloc_failed;

static inline void tt_test_alloc_fail(int on) { tt__alloc_failing = on; }
static inline long tt_test_alloc_failures(void) { return tt__alloc_failed; }

static inline int tt__alloc_fails(void)
{
    if (!tt__alloc_failing) return 0;
    tt__alloc_failed++;
    errno = ENOMEM;
    return 1;
}
void *__wrap_malloc(size_t n) { return tt__alloc_fails() ? NULL : __real_malloc(n); }
void *__wrap_calloc(size_t count, size_t n) { return tt__alloc_fails() ? NULL : __real_calloc(count, n); }
void *__wrap_realloc(void *p, size_t n) { return tt__alloc_fails() ? NULL : __real_realloc(p, n); }
void *__wrap_aligned_alloc(size_t align, size_t n)
{
    return tt__alloc_fails() ? NULL : __real_aligned_alloc(align, n);
}
#endif

/* ------------------------------------------------------------------ */
/* Small shared helpers                                                 */

/* Open a heap with checked mode forced on or off (TT_CHECKED_*), else the
 * defaults. */
static inline tt_heap *tt_test_open(int checked)
{
    tt_config cfg;
    tt_config_init(&cfg);
    cfg.checked = checked;
    return tt_heap_open(&cfg);
}

static inline tt_stats tt_test_stats(tt_heap *h)
{
    tt_stats s;
    memset(&s, 0xa5, sizeof s);
    tt_heap_stats(h, &s);
    return s;
}

#endif
