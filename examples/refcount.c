/*
 * refcount.c: wrapping a reference-counted C object.
 *
 * Many C libraries count references: `new` returns an object with one
 * reference, `ref` adds one, `unref` drops one and destroys the object
 * when none is left. A heap object that wraps such an object owns some of
 * those references, and must give back exactly what it took, once:
 *
 *   - tt_foreign_new adopts the creation reference, with unref as the
 *     object's first cleanup;
 *   - tt_cleanup_retain calls ref and pushes the matching unref, with the
 *     room for it secured first (a retain is never left without its
 *     release);
 *   - tt_cleanup_run_last is the releaser: it runs the newest unref now;
 *   - finalization (or tt_release) runs every unref still registered,
 *     newest first; the creation reference goes last, and with it the
 *     wrapper is released.
 * The count reaches zero exactly once, whichever path gives the
 * references back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tether.h>

#define EXPECT(cond) ((cond) ? (void)0 : expect_failed(__LINE__, #cond))

static void expect_failed(int line, const char *what)
{
    const tt_error *e = tt_last_error();
    fprintf(stderr, "refcount.c:%d: expected %s (last tether error: %s %s)\n", line, what,
            tt_status_name(e->code), e->message);
    exit(1);
}

/* ------------------------------------------------------------------ */
/* A reference-counted C object, as a C library would define it         */

struct texture {
    int refs;
    char name[24];
};

static int textures_destroyed;

static struct texture *texture_new(const char *name)
{
    struct texture *tx = calloc(1, sizeof *tx);
    if (!tx) return NULL;
    tx->refs = 1;
    snprintf(tx->name, sizeof tx->name, "%s", name);
    return tx;
}

static void texture_ref(struct texture *tx) { tx->refs++; }

static void texture_unref(struct texture *tx)
{
    if (tx->refs <= 0) { /* an unref too many: the bug this example avoids */
        fprintf(stderr, "refcount.c: texture %s unreferenced below zero\n", tx->name);
        exit(1);
    }
    if (--tx->refs == 0) {
        printf("   texture \"%s\" destroyed\n", tx->name);
        textures_destroyed++;
        free(tx);
    }
}

/* ------------------------------------------------------------------ */
/* Adapters with tether's signatures                                    */

static void retain_texture(void *env) { texture_ref(env); }

static void release_texture(tt_thread *t, tt_ref obj, void *env)
{
    (void)t;
    (void)obj;
    texture_unref(env);
}

/* A wrapper that adopts tx's creation reference. On failure nothing was
 * registered: the reference is still ours to drop. */
static tt_ref wrap_texture(tt_thread *t, struct texture *tx)
{
    EXPECT(tx != NULL);
    tt_ref w = tt_foreign_new(t, tx, sizeof *tx, release_texture, tx);
    if (tt_is_null(w)) texture_unref(tx);
    EXPECT(!tt_is_null(w));
    return w;
}

/* ------------------------------------------------------------------ */
/* 1. Retains given back by finalization                                */

static void finalized(tt_thread *t)
{
    printf("1. retain, release one, then let finalization release the rest\n");
    struct texture *tx = texture_new("grass");
    tt_frame f = tt_frame_push(t, 1);
    tt_local l = tt_local_new(t, wrap_texture(t, tx));

    /* Three users of the texture each take a reference through the
     * wrapper. */
    for (int i = 0; i < 3; i++)
        EXPECT(tt_cleanup_retain(t, tt_local_get(t, l), retain_texture, release_texture, tx) ==
               TT_OK);
    EXPECT(tx->refs == 4 && tt_cleanup_count(t, tt_local_get(t, l)) == 4);

    /* One user is done: the releaser runs its unref now. */
    EXPECT(tt_cleanup_run_last(t, tt_local_get(t, l)) == TT_OK);
    EXPECT(tx->refs == 3 && tt_cleanup_count(t, tt_local_get(t, l)) == 3);
    printf("   3 retains, 1 released: %d references (the creation one included)\n", tx->refs);

    /* Drop the wrapper. The collection queues its cleanups and runs none. */
    tt_frame_pop(t, f, TT_NO_LOCAL);
    tt_collect(t);
    EXPECT(tt_pending_cleanups(t) == 1 && tx->refs == 3 && textures_destroyed == 0);

    /* The three remaining unrefs run here, newest first: 3 -> 0. */
    size_t ran = tt_run_finalizers(t, 0);
    EXPECT(ran == 3 && textures_destroyed == 1);
    printf("   tt_run_finalizers ran %zu unrefs\n", ran);

    /* Nothing runs twice. */
    tt_collect(t);
    EXPECT(tt_run_finalizers(t, 0) == 0 && textures_destroyed == 1);
}

/* ------------------------------------------------------------------ */
/* 2. Shared with C code, released explicitly                           */

static void shared_and_released(tt_thread *t)
{
    printf("2. shared with C code, then tt_release gives the wrapper's back\n");
    struct texture *tx = texture_new("stone");
    tt_frame f = tt_frame_push(t, 1);
    tt_local l = tt_local_new(t, wrap_texture(t, tx));
    EXPECT(tt_cleanup_retain(t, tt_local_get(t, l), retain_texture, release_texture, tx) ==
           TT_OK);

    texture_ref(tx); /* C code keeps a reference of its own */
    EXPECT(tx->refs == 3);

    /* tt_release runs every remaining unref of the wrapper now. The
     * texture survives: C code still holds it. */
    EXPECT(tt_release(t, tt_local_get(t, l)) == TT_OK);
    EXPECT(tx->refs == 1 && textures_destroyed == 1);
    EXPECT(tt_cleanup_count(t, tt_local_get(t, l)) == 0);
    printf("   after tt_release: %d reference left, held by C code\n", tx->refs);

    /* The released wrapper holds no reference, so its death releases
     * nothing more. */
    tt_frame_pop(t, f, TT_NO_LOCAL);
    tt_collect(t);
    EXPECT(tt_run_finalizers(t, 0) == 0);

    texture_unref(tx); /* the last one */
    EXPECT(textures_destroyed == 2);
}

int main(void)
{
    tt_config cfg;
    tt_config_init(&cfg);
    cfg.explicit_cleanups_only = 1; /* cleanups run only where we say */
    tt_heap *h = tt_heap_open(&cfg);
    EXPECT(h != NULL);
    tt_thread *t = tt_thread_attach(h);
    EXPECT(t != NULL);

    finalized(t);
    shared_and_released(t);

    tt_stats st;
    tt_heap_stats(h, &st);
    EXPECT(st.cleanups_run == 6 && st.external_bytes == 0);
    printf("done: 2 textures destroyed once each, %llu unrefs run by tether\n",
           (unsigned long long)st.cleanups_run);

    tt_thread_detach(t);
    tt_heap_close(h);
    return 0;
}
