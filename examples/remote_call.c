/*
 * remote_call.c: calling static functions in another process.
 *
 * The key of a static entry is a hash of its name, so every process of
 * the same program computes the same key for it. A key, or a closure (a
 * key and its arguments), can therefore be sent to another process, which
 * looks it up in its own table and runs the function there.
 *
 * This program starts a worker: a second copy of itself (fork, then exec
 * of /proc/self/exe, so that the worker is a fresh process whose entries
 * were registered by its own constructors). It sends the worker closures
 * through a pipe and prints the answers. On the wire, both ways, each
 * message is a frame: a 4-byte big-endian length, then that many bytes.
 *
 *   request: one byte naming the signature the worker must expect
 *            ('I': int64(int64,int64), 'S': string(string)), then a
 *            closure (tt_closure_encode) whose payload holds the arguments
 *   answer:  "ok <result>", or "error <status> <message>"
 *
 * The worker never trusts the key: tt_static_lookup_fn checks that the entry
 * has the type the request promises, so the closure of a string function
 * sent as an int64 request is refused with TT_ETYPE instead of being
 * called with the wrong arguments. The last call below shows that.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <tether.h>

#define EXPECT(cond) ((cond) ? (void)0 : expect_failed(__LINE__, #cond))

static void expect_failed(int line, const char *what)
{
    const tt_error *e = tt_last_error();
    fprintf(stderr, "remote_call.c:%d: expected %s (last tether error: %s %s)\n", line, what,
            tt_status_name(e->code), e->message);
    exit(1);
}

/* ------------------------------------------------------------------ */
/* The static functions: the same in both processes                     */

/* The type names are the contract between sender and worker: the worker
 * asks for the type it is about to call, by name. */
#define INT_BINOP "int64(int64,int64)"
#define STRING_FN "string(string)" /* writes n bytes to out */

typedef int64_t int_binop(int64_t a, int64_t b);
typedef void string_fn(const char *s, size_t n, char *out);

/* int64 from its two's complement bits, without the implementation-
 * defined conversion of a value over INT64_MAX. */
static int64_t to_i64(uint64_t u) { return u <= INT64_MAX ? (int64_t)u : -(int64_t)~u - 1; }

/* The arguments come from another process: wrap around rather than
 * overflow (signed overflow is undefined behaviour in C). */
static int64_t add(int64_t a, int64_t b) { return to_i64((uint64_t)a + (uint64_t)b); }
static int64_t mul(int64_t a, int64_t b) { return to_i64((uint64_t)a * (uint64_t)b); }

static void shout(const char *s, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = s[i] >= 'a' && s[i] <= 'z' ? (char)(s[i] - 'a' + 'A') : s[i];
}

/* Registered before main, in the worker as in the sender. */
static TT_STATIC_FN(add_entry, "example", "remote_call", "add", INT_BINOP, add);
static TT_STATIC_FN(mul_entry, "example", "remote_call", "mul", INT_BINOP, mul);
static TT_STATIC_FN(shout_entry, "example", "remote_call", "shout", STRING_FN, shout);

/* ------------------------------------------------------------------ */
/* Frames                                                               */

/* A pipe may take or give fewer bytes than asked, and a signal may
 * interrupt a call: loop until all of them went through. */
static int write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* 1 when all len bytes were read, 0 at end of file before the first,
 * -1 on an error or an end of file in the middle. */
static int read_all(int fd, void *buf, size_t len)
{
    char *p = buf;
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, p + got, len - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return n == 0 && got == 0 ? 0 : -1;
        got += (size_t)n;
    }
    return 1;
}

static int send_frame(int fd, const void *body, size_t len)
{
    uint8_t head[4] = {(uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8),
                       (uint8_t)len};
    if (len > UINT32_MAX || write_all(fd, head, 4) != 0) return -1;
    return write_all(fd, body, len);
}

/* A frame in a malloc'd buffer, with a NUL after it so that a text answer
 * is a C string. 1, 0 at a clean end of file, or -1. */
#define MAX_FRAME (1u << 20) /* a corrupt length must not allocate gigabytes */

static int recv_frame(int fd, uint8_t **body, size_t *len)
{
    uint8_t head[4];
    int r = read_all(fd, head, 4);
    if (r <= 0) return r;
    size_t n = (size_t)head[0] << 24 | (size_t)head[1] << 16 | (size_t)head[2] << 8 | head[3];
    if (n > MAX_FRAME || !(*body = malloc(n + 1))) return -1;
    if (n > 0 && read_all(fd, *body, n) != 1) {
        free(*body);
        return -1;
    }
    (*body)[n] = 0;
    *len = n;
    return 1;
}

/* The two int64 arguments of an INT_BINOP call, big-endian. */
static void put_i64(uint8_t *p, int64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)((uint64_t)v >> (56 - 8 * i));
}

static int64_t get_i64(const uint8_t *p)
{
    uint64_t u = 0;
    for (int i = 0; i < 8; i++) u = u << 8 | p[i];
    return to_i64(u);
}

/* ------------------------------------------------------------------ */
/* The worker                                                           */

/* The tags of the types the worker calls, made once: the table then knows
 * their names, and a TT_ETYPE message can say what was expected. */
static tt_type_tag binop_tag, string_tag;

/* A malloc'd answer of at most 255 characters. */
__attribute__((format(printf, 2, 3))) static char *answer(size_t *len, const char *fmt, ...)
{
    char *s = malloc(256);
    va_list ap;
    if (!s) exit(1);
    va_start(ap, fmt);
    int n = vsnprintf(s, 256, fmt, ap);
    va_end(ap);
    *len = n < 0 ? 0 : n > 255 ? 255 : (size_t)n;
    return s;
}

/* "error <status> <message>" from the last tether error. */
static char *tether_error(size_t *len)
{
    const tt_error *e = tt_last_error();
    return answer(len, "error %s %s", tt_status_name(e->code), e->message);
}

/* Answer one request: a malloc'd answer, its length in *len. */
static char *serve(const uint8_t *req, size_t req_len, size_t *len)
{
    if (req_len < 1 || (req[0] != 'I' && req[0] != 'S'))
        return answer(len, "error bad-request: unknown kind of call");

    /* The closure: a key, and the payload (pointing into req). */
    tt_closure c;
    if (tt_closure_decode(req + 1, req_len - 1, &c, NULL) != TT_OK) return tether_error(len);

    /* The function, if its entry is a function of the type this kind of
     * call will use. tt_static_lookup_fn reads it from the table itself;
     * tt_static_lookup gives the whole entry (names, site) instead. */
    tt_static_code code = tt_static_lookup_fn(c.key, req[0] == 'I' ? binop_tag : string_tag);
    if (!code) return tether_error(len);

    if (req[0] == 'I') {
        if (c.payload_len != 16) return answer(len, "error bad-request: want two int64");
        int_binop *fn = (int_binop *)code;
        return answer(len, "ok %" PRId64, fn(get_i64(c.payload), get_i64(c.payload + 8)));
    }
    string_fn *fn = (string_fn *)code;
    char *s = malloc(3 + c.payload_len);
    if (!s) exit(1);
    memcpy(s, "ok ", 3);
    fn((const char *)c.payload, c.payload_len, s + 3);
    *len = 3 + c.payload_len;
    return s;
}

/* Serve requests from stdin until it closes; answers go to stdout. */
static int worker(void)
{
    binop_tag = tt_type_tag_for(INT_BINOP);
    string_tag = tt_type_tag_for(STRING_FN);
    for (;;) {
        uint8_t *req;
        size_t req_len, len;
        int r = recv_frame(0, &req, &req_len);
        if (r <= 0) return r == 0 ? 0 : 1; /* 0: the sender is done */
        char *ans = serve(req, req_len, &len);
        free(req);
        r = send_frame(1, ans, len);
        free(ans);
        if (r != 0) return 1;
    }
}

/* ------------------------------------------------------------------ */
/* The sender                                                           */

struct worker {
    pid_t pid;
    int to, from; /* the worker's stdin and stdout */
};

/* A copy of fd numbered 3 or more and closed on exec: the worker inherits
 * only the two ends it uses as stdin and stdout (holding the write end of
 * its own stdin, it would never see end of file), and dup2 onto 0 and 1
 * cannot overwrite a pipe end. */
static int moved(int fd)
{
    int copy = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    EXPECT(copy >= 0);
    close(fd);
    return copy;
}

static void start_worker(struct worker *w)
{
    int in[2], out[2];
    EXPECT(pipe(in) == 0 && pipe(out) == 0);
    for (int i = 0; i < 2; i++) {
        in[i] = moved(in[i]);
        out[i] = moved(out[i]);
    }
    char *argv[] = {"/proc/self/exe", "--worker", NULL};
    w->pid = fork();
    EXPECT(w->pid >= 0);
    if (w->pid == 0) {
        /* In the child, exec at once: between fork and exec only
         * async-signal-safe calls are allowed (in a threaded or sanitized
         * program, anything else may deadlock). */
        if (dup2(in[0], 0) < 0 || dup2(out[1], 1) < 0) _exit(126);
        execv(argv[0], argv);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    w->to = in[1];
    w->from = out[0];
}

/* Close the worker's stdin, which ends it; its exit status. */
static int stop_worker(struct worker *w)
{
    int status;
    close(w->to);
    close(w->from);
    while (waitpid(w->pid, &status, 0) < 0) EXPECT(errno == EINTR);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Send a call of kind 'I' or 'S' to entry e with these arguments; the
 * answer, malloc'd. */
static char *call(struct worker *w, char kind, const tt_static *e, const void *args, size_t n)
{
    tt_static_key k = tt_static_key_of(e);
    size_t size = tt_closure_encode(k, args, n, NULL, 0); /* cap 0: the size */
    uint8_t *req = malloc(1 + size);
    EXPECT(size == TT_CLOSURE_HEADER + n && req != NULL);
    req[0] = (uint8_t)kind;
    EXPECT(tt_closure_encode(k, args, n, req + 1, size) == size);
    EXPECT(send_frame(w->to, req, 1 + size) == 0);
    free(req);

    uint8_t *ans;
    size_t len;
    EXPECT(recv_frame(w->from, &ans, &len) == 1);
    return (char *)ans;
}

static char *call_binop(struct worker *w, const tt_static *e, int64_t a, int64_t b)
{
    uint8_t args[16];
    put_i64(args, a);
    put_i64(args + 8, b);
    return call(w, 'I', e, args, sizeof args);
}

/* Print an answer and check that it starts with `want`; frees it. */
static void show(const char *what, char *ans, const char *want)
{
    printf("   %-32s -> %s\n", what, ans);
    if (strncmp(ans, want, strlen(want)) != 0) {
        fprintf(stderr, "remote_call.c: %s: expected an answer starting with \"%s\"\n", what,
                want);
        exit(1);
    }
    free(ans);
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--worker") == 0) return worker();

    /* A worker that dies makes writes fail with EPIPE (checked) instead of
     * killing the sender; one that stops answering ends the program by
     * SIGALRM instead of hanging it. */
    signal(SIGPIPE, SIG_IGN);
    alarm(60);

    struct worker w;
    start_worker(&w);
    char text[TT_STATIC_KEY_TEXT];
    printf("1. a worker process; the key of example.remote_call.add is %s\n",
           tt_static_key_to_text(tt_static_key_of(&add_entry), text));

    printf("2. closures, run by the worker\n");
    show("add(40, 2)", call_binop(&w, &add_entry, 40, 2), "ok 42");
    show("mul(-6, 7)", call_binop(&w, &mul_entry, -6, 7), "ok -42");
    show("shout(\"hello, worker\")", call(&w, 'S', &shout_entry, "hello, worker", 13),
         "ok HELLO, WORKER");

    /* shout's key in an int64 call: the worker would otherwise call
     * shout(const char *, size_t, char *) with two int64. */
    printf("3. a closure of the wrong type is refused, not called\n");
    uint8_t args[16] = {0};
    show("shout's closure in an 'I' call", call(&w, 'I', &shout_entry, args, 16),
         "error TT_ETYPE");

    int status = stop_worker(&w);
    printf("4. stdin closed: the worker exited with status %d\n", status);
    EXPECT(status == 0);
    return 0;
}
