/*
 * error.c: the per-OS-thread last error, status names, and misuse reports.
 *
 * A failing call records its status and a message in a thread-local
 * record (like errno, but with a message and the caller's site) and
 * returns the status. A misuse in checked mode is formatted once, recorded
 * the same way, and handed to the heap's misuse handler; the default
 * handler prints it and aborts, so the program stops at the bad call.
 */
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

static _Thread_local tt_error last_error;

const tt_error *tt_last_error(void) { return &last_error; }

void tt__error_restore(const tt_error *saved) { last_error = *saved; }

void tt_clear_error(void)
{
    last_error.code = TT_OK;
    last_error.file = NULL;
    last_error.line = 0;
    last_error.message[0] = 0;
}

const char *tt_status_name(int code)
{
    switch (code) {
    case TT_OK: return "TT_OK";
    case TT_ENOMEM: return "TT_ENOMEM";
    case TT_EINVAL: return "TT_EINVAL";
    case TT_ESTALE: return "TT_ESTALE";
    case TT_ECLOSED: return "TT_ECLOSED";
    case TT_EMISUSE: return "TT_EMISUSE";
    case TT_ERANGE: return "TT_ERANGE";
    case TT_ESTATE: return "TT_ESTATE";
    case TT_ENOTFOUND: return "TT_ENOTFOUND";
    case TT_ETYPE: return "TT_ETYPE";
    case TT_EEXIST: return "TT_EEXIST";
    default: return "TT_?";
    }
}

__attribute__((format(printf, 4, 0))) static void record(int code, const char *file, int line,
                                                          const char *fmt, va_list ap)
{
    last_error.code = code;
    last_error.file = file;
    last_error.line = line;
    vsnprintf(last_error.message, sizeof last_error.message, fmt, ap);
}

int tt_set_error_at(int code, const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    record(code, file, line, fmt, ap);
    va_end(ap);
    return code;
}

void tt_misuse_abort(const tt_misuse *m, void *ctx)
{
    (void)ctx;
    fprintf(stderr, "tether: misuse: %s\n", m->message);
    fflush(stderr);
    abort();
}

int tt__misuse(tt_heap *h, int code, const char *what, const char *file, int line,
               const char *fmt, ...)
{
    char why[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    tt__fail(code, file, line, "%s at %s:%d: %s", what, file ? file : "?", line, why);
    tt_misuse m = {code, what, file, line, last_error.message};
    tt_misuse_handler handler = tt_misuse_abort;
    void *ctx = NULL;
    /* A dead heap's configuration is still readable: checked mode keeps
     * dead descriptors (see heap.c). */
    if (h && h->cfg.on_misuse) {
        handler = h->cfg.on_misuse;
        ctx = h->cfg.misuse_ctx;
    }
    handler(&m, ctx);
    return code;
}
