/*
 * test_static_remote.c: keys and closures cross a process boundary.
 *
 * The static table's promise is that every process of the same program
 * computes the same key for the same entry, so a key or a closure written
 * by one process can be looked up by another. This test starts a second
 * process of itself (fork, then exec of /proc/self/exe with WORKER_ARG:
 * a fresh image that registered its entries by its own constructors, not
 * a forked copy of the parent's table) and talks to it through two pipes.
 *
 * Protocol, both ways: frames of a u32 big-endian length and that many
 * bytes. A request is one byte saying what kind of call it is, then one
 * closure (tt_closure_encode); the kind fixes the type the worker expects
 * (REQ_* below), so a closure naming an entry of another type must be
 * rejected by tt_static_lookup. REQ_TEXT instead carries the key as 32 hex
 * digits (tt_static_key_to_text) then the arguments of an int64 binop.
 * The worker answers "ok <result>", "error <TT_E* name> <message of
 * tt_last_error()>", or "error bad-request <why>" for a request that
 * tether accepted but this protocol does not. It exits 0 when its stdin
 * closes.
 *
 * The parent checks the answers: valid closures for each entry, a key
 * with one bit flipped (TT_ENOTFOUND naming the key), a closure of the
 * wrong type (TT_ETYPE naming both types), a closure cut short (TT_ERANGE),
 * bad magic or version (TT_EINVAL), and keys in text form.
 */
#include <fcntl.h>

#include "tt_test.h"

#define WORKER_ARG "--static-remote-worker"
#define SELF_EXE "/proc/self/exe"
/* Frames larger than this are refused: a corrupt length must not make the
 * reader allocate gigabytes. */
#define MAX_FRAME ((size_t)16 << 20)
/* A hang (a worker that never answers) must fail the test, not block the
 * suite until ctest's own timeout. */
#define TIMEOUT_SECONDS 120

/* ------------------------------------------------------------------ */
/* The entries, registered before main in both processes                */

#define NS "tether.test"
#define MODULE "remote"

#define BINOP_TYPE "int64(int64,int64)"
#define UNARY_TYPE "string(string)"
#define CONCAT_TYPE "string(string,string)"
#define VERSION_TYPE "struct version"

typedef int64_t binop_fn(int64_t a, int64_t b);
/* Strings travel as (bytes, length); `out` has room for the result, whose
 * length the caller knows (the sum of the inputs' lengths). */
typedef void unary_fn(const char *s, size_t n, char *out);
typedef void concat_fn(const char *a, size_t an, const char *b, size_t bn, char *out);

struct version {
    int major, minor;
    const char *name;
};

/* The test only adds and subtracts values far from the int64 limits. */
static int64_t add_i64(int64_t a, int64_t b) { return a + b; }
static int64_t sub_i64(int64_t a, int64_t b) { return a - b; }

static void reverse_str(const char *s, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) out[i] = s[n - 1 - i];
}

static void concat_str(const char *a, size_t an, const char *b, size_t bn, char *out)
{
    memcpy(out, a, an);
    memcpy(out + an, b, bn);
}

static const struct version version_value = {3, 14, "remote-test"};

static TT_STATIC_FN(add_entry, NS, MODULE, "add", BINOP_TYPE, add_i64);
static TT_STATIC_FN(sub_entry, NS, MODULE, "sub", BINOP_TYPE, sub_i64);
static TT_STATIC_FN(reverse_entry, NS, MODULE, "reverse", UNARY_TYPE, reverse_str);
static TT_STATIC_FN(concat_entry, NS, MODULE, "concat", CONCAT_TYPE, concat_str);
static TT_STATIC_DATA(version_entry, NS, MODULE, "version", VERSION_TYPE, &version_value);

/* Request kinds: the first byte of a request frame. */
enum {
    REQ_BINOP = 'I',   /* closure, payload two int64 -> "ok <int64>" */
    REQ_UNARY = 'S',   /* closure, payload a string -> "ok <string>" */
    REQ_CONCAT = 'C',  /* closure, payload u32 length of a, a, b -> "ok <a b>" */
    REQ_VERSION = 'V', /* closure, empty payload -> "ok <name> <major>.<minor>" */
    REQ_TEXT = 'T'     /* 32 hex digits of a key, then two int64 -> as REQ_BINOP */
};

/* ------------------------------------------------------------------ */
/* Bytes                                                                */

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void put_i64(uint8_t *p, int64_t v)
{
    uint64_t u = (uint64_t)v; /* two's complement, well defined */
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(u >> (56 - 8 * i));
}

static int64_t get_i64(const uint8_t *p)
{
    uint64_t u = 0;
    for (int i = 0; i < 8; i++) u = u << 8 | p[i];
    /* Converting a value above INT64_MAX to int64_t is implementation-
     * defined; negate the complement instead. */
    return u <= (uint64_t)INT64_MAX ? (int64_t)u : -(int64_t)~u - 1;
}

/* Write or read exactly len bytes, through partial transfers and signals.
 * read_full returns 1, 0 at end of file before the first byte, -1 on an
 * error or an end of file in the middle. */
static int write_full(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int read_full(int fd, void *buf, size_t len)
{
    uint8_t *p = buf;
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, p + got, len - got);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return -1;
        if (n == 0) return got == 0 ? 0 : -1;
        got += (size_t)n;
    }
    return 1;
}

static int write_frame(int fd, const void *body, size_t len)
{
    uint8_t head[4];
    if (len > MAX_FRAME) return -1;
    put_u32(head, (uint32_t)len);
    if (write_full(fd, head, sizeof head) != 0) return -1;
    return write_full(fd, body, len);
}

/* Read one frame into a malloc'd buffer with a NUL after it (so that a
 * text answer is a C string). Returns 1, 0 at a clean end of file, -1. */
static int read_frame(int fd, uint8_t **body, size_t *len)
{
    uint8_t head[4];
    int r = read_full(fd, head, sizeof head);
    if (r <= 0) return r;
    size_t n = get_u32(head);
    if (n > MAX_FRAME) return -1;
    uint8_t *p = malloc(n + 1);
    if (!p) return -1;
    if (n > 0 && read_full(fd, p, n) != 1) {
        free(p);
        return -1;
    }
    p[n] = 0;
    *body = p;
    *len = n;
    return 1;
}

/* ------------------------------------------------------------------ */
/* The worker (the second process)                                      */

/* A growing answer. On running out of memory the worker gives up (exit
 * 3): the parent then sees a broken pipe and a nonzero status. */
struct answer {
    char *p;
    size_t len, cap;
};

static void answer_put(struct answer *a, const void *bytes, size_t n)
{
    if (a->len + n > a->cap) {
        size_t cap = a->cap ? a->cap : 64;
        while (cap < a->len + n) cap *= 2;
        char *p = realloc(a->p, cap);
        if (!p) _exit(3);
        a->p = p;
        a->cap = cap;
    }
    memcpy(a->p + a->len, bytes, n);
    a->len += n;
}

__attribute__((format(printf, 2, 3))) static void answer_printf(struct answer *a, const char *fmt,
                                                                 ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0) n = 0;
    answer_put(a, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

/* "error <code> <message>" from the last tether error. */
static void answer_tether_error(struct answer *a)
{
    const tt_error *e = tt_last_error();
    answer_printf(a, "error %s %s", tt_status_name(e->code), e->message);
}

/* The tags the worker expects, one per kind of request; made once, so
 * that the table remembers their names for its TT_ETYPE messages. */
static tt_type_tag binop_tag, unary_tag, concat_tag, version_tag;

static void run_binop(const tt_static *e, const uint8_t *args, size_t n, struct answer *a)
{
    if (n != 16) {
        answer_printf(a, "error bad-request int64 binop payload of %zu bytes, want 16", n);
        return;
    }
    binop_fn *fn = (binop_fn *)tt_static_fn(e);
    if (!fn) {
        answer_tether_error(a);
        return;
    }
    answer_printf(a, "ok %" PRId64, fn(get_i64(args), get_i64(args + 8)));
}

static void run_unary(const tt_static *e, const uint8_t *args, size_t n, struct answer *a)
{
    unary_fn *fn = (unary_fn *)tt_static_fn(e);
    if (!fn) {
        answer_tether_error(a);
        return;
    }
    char *out = malloc(n + 1); /* + 1: malloc(0) may return NULL */
    if (!out) _exit(3);
    fn((const char *)args, n, out);
    answer_put(a, "ok ", 3);
    answer_put(a, out, n);
    free(out);
}

static void run_concat(const tt_static *e, const uint8_t *args, size_t n, struct answer *a)
{
    if (n < 4 || get_u32(args) > n - 4) {
        answer_printf(a, "error bad-request concat payload of %zu bytes is malformed", n);
        return;
    }
    concat_fn *fn = (concat_fn *)tt_static_fn(e);
    if (!fn) {
        answer_tether_error(a);
        return;
    }
    size_t an = get_u32(args), bn = n - 4 - an;
    const char *s = (const char *)args + 4;
    char *out = malloc(an + bn + 1);
    if (!out) _exit(3);
    fn(s, an, s + an, bn, out);
    answer_put(a, "ok ", 3);
    answer_put(a, out, an + bn);
    free(out);
}

static void run_version(const tt_static *e, size_t n, struct answer *a)
{
    if (n != 0) {
        answer_printf(a, "error bad-request version takes no payload, got %zu bytes", n);
        return;
    }
    const struct version *v = tt_static_data(e);
    if (!v) {
        answer_tether_error(a);
        return;
    }
    answer_printf(a, "ok %s %d.%d", v->name, v->major, v->minor);
}

/* Answer one request. */
static void serve(const uint8_t *req, size_t len, struct answer *a)
{
    if (len == 0) {
        answer_printf(a, "error bad-request empty frame");
        return;
    }
    int kind = req[0];
    const uint8_t *body = req + 1;
    size_t body_len = len - 1;

    if (kind == REQ_TEXT) {
        tt_static_key k;
        if (body_len < 32) {
            answer_printf(a, "error bad-request text key of %zu characters", body_len);
            return;
        }
        if (tt_static_key_parse((const char *)body, 32, &k) != TT_OK) {
            answer_tether_error(a);
            return;
        }
        const tt_static *e = tt_static_lookup(k, binop_tag);
        if (!e) {
            answer_tether_error(a);
            return;
        }
        run_binop(e, body + 32, body_len - 32, a);
        return;
    }

    tt_type_tag expected;
    switch (kind) {
    case REQ_BINOP: expected = binop_tag; break;
    case REQ_UNARY: expected = unary_tag; break;
    case REQ_CONCAT: expected = concat_tag; break;
    case REQ_VERSION: expected = version_tag; break;
    default: answer_printf(a, "error bad-request unknown kind %d", kind); return;
    }

    tt_closure c;
    size_t used = 0;
    if (tt_closure_decode(body, body_len, &c, &used) != TT_OK) {
        answer_tether_error(a);
        return;
    }
    /* One closure per frame: bytes after it mean the sender and this
     * worker disagree about the format. */
    if (used != body_len) {
        answer_printf(a, "error bad-request %zu bytes after the closure", body_len - used);
        return;
    }
    const tt_static *e = tt_static_lookup(c.key, expected);
    if (!e) {
        answer_tether_error(a);
        return;
    }
    switch (kind) {
    case REQ_BINOP: run_binop(e, c.payload, c.payload_len, a); break;
    case REQ_UNARY: run_unary(e, c.payload, c.payload_len, a); break;
    case REQ_CONCAT: run_concat(e, c.payload, c.payload_len, a); break;
    default: run_version(e, c.payload_len, a); break;
    }
}

static int worker_main(void)
{
    /* If the parent stops reading, end rather than wait forever. */
    alarm(TIMEOUT_SECONDS);
    binop_tag = tt_type_tag_for(BINOP_TYPE);
    unary_tag = tt_type_tag_for(UNARY_TYPE);
    concat_tag = tt_type_tag_for(CONCAT_TYPE);
    version_tag = tt_type_tag_for(VERSION_TYPE);
    for (;;) {
        uint8_t *req = NULL;
        size_t len = 0;
        int r = read_frame(0, &req, &len);
        if (r == 0) return 0; /* stdin closed: the parent is done */
        if (r < 0) {
            fprintf(stderr, "worker: cannot read a request frame\n");
            return 2;
        }
        struct answer a = {NULL, 0, 0};
        serve(req, len, &a);
        free(req);
        r = write_frame(1, a.p, a.len);
        free(a.p);
        if (r != 0) {
            fprintf(stderr, "worker: cannot write an answer\n");
            return 2;
        }
    }
}

/* ------------------------------------------------------------------ */
/* The parent's side                                                    */

/* The running worker, for the timeout handler to kill. */
static volatile pid_t running_worker;

struct worker {
    pid_t pid;
    int to;   /* the worker's stdin */
    int from; /* the worker's stdout */
};

/* A copy of fd numbered 3 or more and closed on exec, so that the worker
 * inherits only its stdin and stdout (a worker holding the write end of
 * its own stdin would never see end of file), and so that no pipe end is
 * 0 or 1, which the dup2 calls in the child would overwrite. */
static int high_cloexec(int fd)
{
    int copy = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    close(fd);
    return copy;
}

/* Start a worker. Returns 0, or -1 with nothing left open. */
static int worker_start(struct worker *w)
{
    int in[2], out[2];
    if (pipe(in) != 0) return -1;
    if (pipe(out) != 0) {
        close(in[0]);
        close(in[1]);
        return -1;
    }
    for (int i = 0; i < 2; i++) {
        in[i] = high_cloexec(in[i]);
        out[i] = high_cloexec(out[i]);
    }
    if (in[0] < 0 || in[1] < 0 || out[0] < 0 || out[1] < 0) goto fail;

    char *argv[] = {(char *)SELF_EXE, (char *)WORKER_ARG, NULL};
    pid_t pid = fork();
    if (pid < 0) goto fail;
    if (pid == 0) {
        /* Only async-signal-safe calls until exec: the child of a
         * multithreaded (or sanitized) process may not do more. The new
         * image runs its own constructors, so its table is its own. */
        if (dup2(in[0], 0) < 0 || dup2(out[1], 1) < 0) _exit(126);
        execv(SELF_EXE, argv);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    running_worker = pid;
    w->pid = pid;
    w->to = in[1];
    w->from = out[0];
    return 0;

fail:
    for (int i = 0; i < 2; i++) {
        if (in[i] >= 0) close(in[i]);
        if (out[i] >= 0) close(out[i]);
    }
    return -1;
}

/* Close the worker's stdin, expect no further output and exit status 0. */
static void worker_stop(struct worker *w)
{
    int status = 0;
    uint8_t extra;
    close(w->to);
    CHECK_EQ(read_full(w->from, &extra, 1), 0); /* nothing left unasked */
    close(w->from);
    pid_t r;
    while ((r = waitpid(w->pid, &status, 0)) < 0 && errno == EINTR) continue;
    running_worker = 0;
    CHECK_EQ(r, w->pid);
    CHECK(WIFEXITED(status));
    CHECK_EQ(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), 0);
}

/* Send one request (kind, then body) and return the answer as a malloc'd
 * C string, or NULL (and a failed check) if the worker did not answer. */
static char *ask(struct worker *w, int kind, const void *body, size_t len)
{
    uint8_t *req = malloc(len + 1);
    CHECK(req != NULL);
    if (!req) return NULL;
    req[0] = (uint8_t)kind;
    if (len > 0) memcpy(req + 1, body, len);
    int sent = write_frame(w->to, req, len + 1);
    free(req);
    CHECK_EQ(sent, 0);
    if (sent != 0) return NULL;

    uint8_t *ans = NULL;
    size_t ans_len = 0;
    int r = read_frame(w->from, &ans, &ans_len);
    CHECK_EQ(r, 1);
    if (r != 1) return NULL;
    CHECK_EQU(strlen((char *)ans), ans_len); /* answers are text */
    return (char *)ans;
}

/* The closure of key k with payload[0 .. n), malloc'd; its size in *len. */
static uint8_t *closure_of(tt_static_key k, const void *payload, size_t n, size_t *len)
{
    size_t need = tt_closure_encode(k, payload, n, NULL, 0);
    CHECK_EQU(need, TT_CLOSURE_HEADER + n);
    uint8_t *buf = need ? malloc(need) : NULL;
    CHECK(buf != NULL);
    if (!buf) return NULL;
    CHECK_EQU(tt_closure_encode(k, payload, n, buf, need), need);
    *len = need;
    return buf;
}

/* Ask for the closure of entry e with that payload. */
static char *ask_closure(struct worker *w, int kind, const tt_static *e, const void *payload,
                         size_t n)
{
    size_t len = 0;
    uint8_t *c = closure_of(tt_static_key_of(e), payload, n, &len);
    if (!c) return NULL;
    char *ans = ask(w, kind, c, len);
    free(c);
    return ans;
}

static char *ask_binop(struct worker *w, const tt_static *e, int64_t a, int64_t b)
{
    uint8_t args[16];
    put_i64(args, a);
    put_i64(args + 8, b);
    return ask_closure(w, REQ_BINOP, e, args, sizeof args);
}

static char *ask_concat(struct worker *w, const char *a, const char *b)
{
    size_t an = strlen(a), bn = strlen(b);
    uint8_t *args = malloc(4 + an + bn);
    CHECK(args != NULL);
    if (!args) return NULL;
    put_u32(args, (uint32_t)an);
    memcpy(args + 4, a, an);
    memcpy(args + 4 + an, b, bn);
    char *ans = ask_closure(w, REQ_CONCAT, &concat_entry, args, 4 + an + bn);
    free(args);
    return ans;
}

/* The answer is exactly `want`; frees it. */
#define CHECK_ANSWER(ans, want)     \
    do {                            \
        char *tt__ans = (ans);      \
        CHECK_STREQ(tt__ans, want); \
        free(tt__ans);              \
    } while (0)

/* The answer starts with "error <code_name> ". */
#define CHECK_ERROR_CODE(ans, code_name)                                                     \
    do {                                                                                     \
        const char *tt__a = (ans);                                                           \
        tt__checks++;                                                                        \
        if (!tt__a || strncmp(tt__a, "error " code_name " ", strlen("error " code_name " ")) \
                          != 0)                                                              \
            tt__fail(__FILE__, __LINE__, "answer \"%s\" is not \"error %s ...\"",              \
                     tt__a ? tt__a : "(null)", code_name);                                   \
    } while (0)

/* ------------------------------------------------------------------ */
/* Tests                                                                */

/* What the protocol rests on: a key is computed from the entry's name
 * alone, so the worker (another image of the program) finds the same
 * one; and the byte and text forms give the key back. */
static void test_keys_are_names(void)
{
    const tt_static *entries[] = {&add_entry, &sub_entry, &reverse_entry, &concat_entry,
                                  &version_entry};
    const char *names[] = {"add", "sub", "reverse", "concat", "version"};
    for (size_t i = 0; i < sizeof entries / sizeof entries[0]; i++) {
        tt_static_key k = tt_static_key_of(entries[i]);
        CHECK(tt_static_key_eq(k, tt_static_key_for(NS, MODULE, names[i])));
        CHECK(!tt_static_key_eq(k, (tt_static_key){0, 0}));

        uint8_t bytes[TT_STATIC_KEY_BYTES];
        tt_static_key_to_bytes(k, bytes);
        CHECK(tt_static_key_eq(tt_static_key_from_bytes(bytes), k));

        char text[TT_STATIC_KEY_TEXT];
        tt_static_key back = {0, 0};
        CHECK_EQU(strlen(tt_static_key_to_text(k, text)), 32);
        CHECK_EQ(tt_static_key_parse(text, 32, &back), TT_OK);
        CHECK(tt_static_key_eq(back, k));
    }
}

/* Each entry, called in the worker through a closure. */
static void test_calls(void)
{
    struct worker w;
    REQUIRE(worker_start(&w) == 0);

    CHECK_ANSWER(ask_binop(&w, &add_entry, 40, 2), "ok 42");
    CHECK_ANSWER(ask_binop(&w, &add_entry, -5, INT64_C(1234567890123)), "ok 1234567890118");
    CHECK_ANSWER(ask_binop(&w, &sub_entry, 10, 25), "ok -15");
    CHECK_ANSWER(ask_binop(&w, &sub_entry, INT64_MIN + 1, 1), "ok -9223372036854775808");
    CHECK_ANSWER(ask_closure(&w, REQ_UNARY, &reverse_entry, "stressed", 8), "ok desserts");
    CHECK_ANSWER(ask_closure(&w, REQ_UNARY, &reverse_entry, NULL, 0), "ok ");
    CHECK_ANSWER(ask_concat(&w, "static ", "table"), "ok static table");
    CHECK_ANSWER(ask_concat(&w, "", "only b"), "ok only b");
    CHECK_ANSWER(ask_closure(&w, REQ_VERSION, &version_entry, NULL, 0), "ok remote-test 3.14");

    worker_stop(&w);
}

/* Many frames back to back before any answer is read, then one payload
 * larger than a pipe's buffer: frames stay delimited, and partial reads
 * and writes are put together. */
static void test_many_frames(void)
{
    enum { N = 200 };
    struct worker w;
    REQUIRE(worker_start(&w) == 0);

    for (int i = 0; i < N; i++) {
        uint8_t args[16];
        size_t len = 0;
        put_i64(args, i);
        put_i64(args + 8, (int64_t)i * i);
        uint8_t *c = closure_of(tt_static_key_of(&add_entry), args, sizeof args, &len);
        REQUIRE(c != NULL);
        uint8_t req[1 + TT_CLOSURE_HEADER + 16];
        REQUIRE(len + 1 == sizeof req);
        req[0] = REQ_BINOP;
        memcpy(req + 1, c, len);
        free(c);
        CHECK_EQ(write_frame(w.to, req, sizeof req), 0);
    }
    for (int i = 0; i < N; i++) {
        uint8_t *ans = NULL;
        size_t len = 0;
        char want[64];
        REQUIRE(read_frame(w.from, &ans, &len) == 1);
        snprintf(want, sizeof want, "ok %d", i + i * i);
        CHECK_STREQ((char *)ans, want);
        free(ans);
    }

    size_t big = 300000;
    char *text = malloc(big), *want = malloc(big + 4);
    REQUIRE(text != NULL && want != NULL);
    for (size_t i = 0; i < big; i++) text[i] = (char)('a' + i % 26);
    memcpy(want, "ok ", 3);
    for (size_t i = 0; i < big; i++) want[3 + i] = text[big - 1 - i];
    want[big + 3] = 0;
    char *ans = ask_closure(&w, REQ_UNARY, &reverse_entry, text, big);
    CHECK(ans != NULL && strcmp(ans, want) == 0);
    free(ans);
    free(text);
    free(want);

    worker_stop(&w);
}

/* A key with one bit flipped, and a key nobody declared: TT_ENOTFOUND,
 * and the message names the key the worker was given. */
static void test_unknown_keys(void)
{
    struct worker w;
    REQUIRE(worker_start(&w) == 0);
    uint8_t args[16];
    put_i64(args, 1);
    put_i64(args + 8, 2);

    for (int bit = 0; bit < 128; bit += 37) {
        size_t len = 0;
        uint8_t *c = closure_of(tt_static_key_of(&add_entry), args, sizeof args, &len);
        REQUIRE(c != NULL);
        c[4 + bit / 8] ^= (uint8_t)(1u << (bit % 8)); /* the key is bytes 4..19 */
        char text[TT_STATIC_KEY_TEXT];
        tt_static_key_to_text(tt_static_key_from_bytes(c + 4), text);

        char *ans = ask(&w, REQ_BINOP, c, len);
        free(c);
        CHECK_ERROR_CODE(ans, "TT_ENOTFOUND");
        CHECK_CONTAINS(ans, text);
        free(ans);
    }

    tt_static_key nobody = tt_static_key_for(NS, MODULE, "undeclared");
    char text[TT_STATIC_KEY_TEXT];
    size_t len = 0;
    uint8_t *c = closure_of(nobody, args, sizeof args, &len);
    REQUIRE(c != NULL);
    char *ans = ask(&w, REQ_BINOP, c, len);
    free(c);
    CHECK_ERROR_CODE(ans, "TT_ENOTFOUND");
    CHECK_CONTAINS(ans, tt_static_key_to_text(nobody, text));
    free(ans);

    /* The worker is unharmed. */
    CHECK_ANSWER(ask_binop(&w, &add_entry, 1, 2), "ok 3");
    worker_stop(&w);
}

/* A closure naming a registered entry of another type than the request
 * expects: TT_ETYPE, and the message names both types. */
static void test_wrong_type(void)
{
    struct worker w;
    REQUIRE(worker_start(&w) == 0);
    uint8_t args[16];
    put_i64(args, 1);
    put_i64(args + 8, 2);

    char *ans = ask_closure(&w, REQ_UNARY, &add_entry, args, sizeof args);
    CHECK_ERROR_CODE(ans, "TT_ETYPE");
    CHECK_CONTAINS(ans, BINOP_TYPE);
    CHECK_CONTAINS(ans, UNARY_TYPE);
    free(ans);

    /* Close names: "string(string)" is not a prefix match for
     * "string(string,string)". */
    ans = ask_closure(&w, REQ_UNARY, &concat_entry, "ab", 2);
    CHECK_ERROR_CODE(ans, "TT_ETYPE");
    CHECK_CONTAINS(ans, CONCAT_TYPE);
    CHECK_CONTAINS(ans, UNARY_TYPE);
    free(ans);

    ans = ask_closure(&w, REQ_CONCAT, &reverse_entry, "\0\0\0\0", 4);
    CHECK_ERROR_CODE(ans, "TT_ETYPE");
    CHECK_CONTAINS(ans, CONCAT_TYPE);
    CHECK_CONTAINS(ans, UNARY_TYPE);
    free(ans);

    /* A data entry asked for as a function. */
    ans = ask_closure(&w, REQ_BINOP, &version_entry, args, sizeof args);
    CHECK_ERROR_CODE(ans, "TT_ETYPE");
    CHECK_CONTAINS(ans, VERSION_TYPE);
    CHECK_CONTAINS(ans, BINOP_TYPE);
    free(ans);

    /* The right type passes the table; the arguments are the protocol's
     * business (here: a payload one int64 short). */
    ans = ask_closure(&w, REQ_BINOP, &add_entry, args, 8);
    CHECK_CONTAINS(ans, "error bad-request");
    free(ans);

    CHECK_ANSWER(ask_closure(&w, REQ_UNARY, &reverse_entry, "ab", 2), "ok ba");
    worker_stop(&w);
}

/* Frames that do not hold a whole, well-formed closure. */
static void test_bad_closures(void)
{
    struct worker w;
    REQUIRE(worker_start(&w) == 0);
    size_t len = 0;
    uint8_t *c = closure_of(tt_static_key_of(&reverse_entry), "abcdef", 6, &len);
    REQUIRE(c != NULL);
    char *ans;

    /* The payload cut short: the frame is 2 bytes shorter than the length
     * the closure declares. */
    ans = ask(&w, REQ_UNARY, c, len - 2);
    CHECK_ERROR_CODE(ans, "TT_ERANGE");
    CHECK_CONTAINS(ans, "truncated");
    free(ans);

    /* The header cut short, and no closure at all. */
    ans = ask(&w, REQ_UNARY, c, 10);
    CHECK_ERROR_CODE(ans, "TT_ERANGE");
    CHECK_CONTAINS(ans, "truncated");
    free(ans);
    ans = ask(&w, REQ_UNARY, c, 0);
    CHECK_ERROR_CODE(ans, "TT_ERANGE");
    free(ans);

    /* A declared length far beyond the frame. */
    uint8_t *huge = malloc(len);
    REQUIRE(huge != NULL);
    memcpy(huge, c, len);
    put_u32(huge + 20, UINT32_MAX);
    ans = ask(&w, REQ_UNARY, huge, len);
    CHECK_ERROR_CODE(ans, "TT_ERANGE");
    free(ans);

    /* Bad magic, then an unknown format version. */
    memcpy(huge, c, len);
    huge[0] = 'X';
    ans = ask(&w, REQ_UNARY, huge, len);
    CHECK_ERROR_CODE(ans, "TT_EINVAL");
    CHECK_CONTAINS(ans, "TTC");
    free(ans);
    memcpy(huge, c, len);
    huge[3] = TT_CLOSURE_VERSION + 1;
    ans = ask(&w, REQ_UNARY, huge, len);
    CHECK_ERROR_CODE(ans, "TT_EINVAL");
    CHECK_CONTAINS(ans, "version");
    free(ans);
    free(huge);

    /* A whole closure with bytes after it: tether decodes the closure
     * (and says how long it was), the protocol refuses the rest. */
    uint8_t *longer = malloc(len + 3);
    REQUIRE(longer != NULL);
    memcpy(longer, c, len);
    memcpy(longer + len, "xyz", 3);
    ans = ask(&w, REQ_UNARY, longer, len + 3);
    CHECK_CONTAINS(ans, "error bad-request 3 bytes after the closure");
    free(ans);
    free(longer);

    /* After all that, the same closure whole. */
    CHECK_ANSWER(ask(&w, REQ_UNARY, c, len), "ok fedcba");
    free(c);
    worker_stop(&w);
}

/* Keys in text form: the worker parses them with tt_static_key_parse. */
static void test_text_keys(void)
{
    struct worker w;
    REQUIRE(worker_start(&w) == 0);
    uint8_t req[32 + 16]; /* 32 hex digits, no NUL, then the arguments */
    char text[TT_STATIC_KEY_TEXT];
    put_i64(req + 32, 7);
    put_i64(req + 40, 5);

    memcpy(req, tt_static_key_to_text(tt_static_key_of(&add_entry), text), 32);
    CHECK_ANSWER(ask(&w, REQ_TEXT, req, sizeof req), "ok 12");

    /* Either case parses. */
    tt_static_key_to_text(tt_static_key_of(&sub_entry), text);
    for (int i = 0; i < 32; i++) req[i] = (uint8_t)(text[i] >= 'a' ? text[i] - 'a' + 'A' : text[i]);
    CHECK_ANSWER(ask(&w, REQ_TEXT, req, sizeof req), "ok 2");

    /* A character that is not a hex digit. */
    memcpy(req, text, 32);
    req[5] = 'g';
    char *ans = ask(&w, REQ_TEXT, req, sizeof req);
    CHECK_ERROR_CODE(ans, "TT_EINVAL");
    CHECK_CONTAINS(ans, "character 5"); /* names the first bad character */
    free(ans);

    /* A well-formed text key of another type, and of no entry. */
    tt_static_key_to_text(tt_static_key_of(&reverse_entry), text);
    memcpy(req, text, 32);
    ans = ask(&w, REQ_TEXT, req, sizeof req);
    CHECK_ERROR_CODE(ans, "TT_ETYPE");
    CHECK_CONTAINS(ans, UNARY_TYPE);
    CHECK_CONTAINS(ans, BINOP_TYPE);
    free(ans);

    tt_static_key_to_text(tt_static_key_for(NS, MODULE, "no such entry"), text);
    memcpy(req, text, 32);
    ans = ask(&w, REQ_TEXT, req, sizeof req);
    CHECK_ERROR_CODE(ans, "TT_ENOTFOUND");
    CHECK_CONTAINS(ans, text);
    free(ans);

    worker_stop(&w);
}

static void on_timeout(int sig)
{
    static const char msg[] = "test_static_remote: timed out (a worker stopped answering)\n";
    (void)sig;
    /* Only async-signal-safe calls in a handler. A worker stuck in a call
     * would not see its stdin close: kill it. */
    ssize_t ignored = write(2, msg, sizeof msg - 1);
    (void)ignored;
    if (running_worker > 0) kill(running_worker, SIGKILL);
    _exit(1);
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], WORKER_ARG) == 0) return worker_main();

    /* A dead worker must fail a check (EPIPE), not kill the test. */
    signal(SIGPIPE, SIG_IGN);
    signal(SIGALRM, on_timeout);
    alarm(TIMEOUT_SECONDS);

    RUN(test_keys_are_names);
    RUN(test_calls);
    RUN(test_many_frames);
    RUN(test_unknown_keys);
    RUN(test_wrong_type);
    RUN(test_bad_closures);
    RUN(test_text_keys);
    return tt_test_done();
}
