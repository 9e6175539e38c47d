/*
 * file.c: a FILE * owned by a heap object, closed by fclose exactly once.
 *
 * The wrapper is a foreign object whose address is the FILE * and whose
 * cleanup is fclose. The file is closed
 *   1. now, by tt_release, when the program is done with it;
 *   2. after a collection finds the wrapper unreachable, at the next
 *      tt_run_finalizers (the collector itself never runs a cleanup);
 *   (or, for whatever is still open at the end, by tt_heap_close: see
 *   shutdown.c).
 * 3. A wrapper table maps each FILE * to one wrapper, so a binding that
 *    meets the same FILE * again hands out the same object.
 *
 * The heap is opened with cfg.explicit_cleanups_only, so files are closed
 * only at the points this program chooses. (By default the calls that
 * create foreign objects also run pending cleanups.)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <tether.h>

#define EXPECT(cond) ((cond) ? (void)0 : expect_failed(__LINE__, #cond))

static void expect_failed(int line, const char *what)
{
    const tt_error *e = tt_last_error();
    fprintf(stderr, "file.c:%d: expected %s (last tether error: %s %s)\n", line, what,
            tt_status_name(e->code), e->message);
    exit(1);
}

/* ------------------------------------------------------------------ */
/* The wrapper                                                          */

static int files_closed;

/* The cleanup. Inside it tt_foreign_addr still returns the FILE *. */
static void close_file(tt_thread *t, tt_ref obj, void *env)
{
    (void)env;
    FILE *fp = tt_foreign_addr(t, obj);
    if (fclose(fp) != 0) perror("fclose"); /* a real program would log it */
    files_closed++;
}

/* An open stream keeps a buffer of about BUFSIZ bytes: declare that much,
 * so that many dropped wrappers make the heap collect. */
#define FILE_BYTES BUFSIZ

/* Wrap fp. On failure tether registered nothing, so close it here. */
static tt_ref wrap_file(tt_thread *t, FILE *fp)
{
    EXPECT(fp != NULL);
    tt_ref r = tt_foreign_new(t, fp, FILE_BYTES, close_file, NULL);
    if (tt_is_null(r)) fclose(fp);
    EXPECT(!tt_is_null(r));
    return r;
}

/* ------------------------------------------------------------------ */
/* 1. Closed early                                                      */

static void early_release(tt_thread *t)
{
    printf("1. tt_release closes the file now\n");
    tt_frame f = tt_frame_push(t, 1);
    tt_local l = tt_local_new(t, wrap_file(t, tmpfile()));

    FILE *fp = tt_foreign_addr(t, tt_local_get(t, l));
    EXPECT(fputs("scratch data\n", fp) >= 0);
    EXPECT(tt_release(t, tt_local_get(t, l)) == TT_OK);
    EXPECT(files_closed == 1 && tt_foreign_released(t, tt_local_get(t, l)));
    printf("   closed: %d file(s); the wrapper says released\n", files_closed);
    tt_frame_pop(t, f, TT_NO_LOCAL);
}

/* ------------------------------------------------------------------ */
/* 2. Closed after a collection                                         */

#define MESSAGE "written, then dropped\n"

static void dropped_and_collected(tt_thread *t)
{
    printf("2. a dropped wrapper: tt_collect queues fclose, tt_run_finalizers runs it\n");
    char path[] = "/tmp/tether-file-XXXXXX";
    int fd = mkstemp(path);
    EXPECT(fd >= 0);
    FILE *fp = fdopen(fd, "w");
    if (!fp) close(fd);

    /* Write through the wrapper. The text sits in the stream's buffer:
     * only fclose (or fflush) puts it in the file. */
    tt_frame f = tt_frame_push(t, 1);
    tt_local l = tt_local_new(t, wrap_file(t, fp));
    EXPECT(fputs(MESSAGE, tt_foreign_addr(t, tt_local_get(t, l))) >= 0);
    tt_frame_pop(t, f, TT_NO_LOCAL); /* the wrapper's only root is gone */

    int before = files_closed;
    tt_collect(t);
    EXPECT(files_closed == before); /* the collector runs no cleanup */
    EXPECT(tt_pending_cleanups(t) == 1);
    printf("   after tt_collect: %zu wrapper pending, file still open\n", tt_pending_cleanups(t));

    size_t ran = tt_run_finalizers(t, 0); /* 0: run every pending cleanup */
    EXPECT(ran == 1 && files_closed == before + 1 && tt_pending_cleanups(t) == 0);

    /* fclose flushed the buffer: the text is in the file now. */
    char line[128] = "";
    FILE *in = fopen(path, "r");
    EXPECT(in != NULL);
    EXPECT(fgets(line, sizeof line, in) != NULL);
    fclose(in);
    remove(path);
    EXPECT(strcmp(line, MESSAGE) == 0);
    printf("   tt_run_finalizers ran %zu cleanup; fclose flushed \"%.*s\" to the file\n", ran,
           (int)strlen(line) - 1, line);
}

/* ------------------------------------------------------------------ */
/* 3. One wrapper per FILE *                                            */

static void canonical_wrapper(tt_thread *t)
{
    printf("3. a wrapper table maps the same FILE * to one wrapper\n");
    tt_wtable *tab = tt_wtable_new(t);
    EXPECT(tab != NULL);
    tt_frame f = tt_frame_push(t, 1);

    FILE *fp = tmpfile();
    EXPECT(fp != NULL);
    int created;
    tt_ref w1 = tt_wtable_wrap(t, tab, fp, FILE_BYTES, close_file, NULL, &created);
    if (tt_is_null(w1)) fclose(fp); /* as with tt_foreign_new: still ours */
    EXPECT(!tt_is_null(w1) && created == 1);
    tt_local l = tt_local_new(t, w1);

    /* The same FILE * comes back (from a callback, a lookup...): the
     * existing wrapper is returned and nothing new is registered. */
    tt_ref w2 = tt_wtable_wrap(t, tab, fp, FILE_BYTES, close_file, NULL, &created);
    EXPECT(created == 0 && tt_same(w1, w2));
    EXPECT(tt_same(tt_wtable_get(t, tab, fp), w1) && tt_wtable_count(tab) == 1);
    EXPECT(tt_cleanup_count(t, w1) == 1);
    printf("   wrapped twice: one wrapper, one fclose registered\n");

    /* Entries are weak. When the wrapper dies, the collection that finds
     * it removes its entry before its cleanup is even queued, so a wrapper
     * about to be closed is never handed out again. */
    int before = files_closed;
    tt_local_set(t, l, TT_NULL);
    tt_collect(t);
    EXPECT(tt_wtable_count(tab) == 0 && tt_is_null(tt_wtable_get(t, tab, fp)));
    EXPECT(files_closed == before && tt_run_finalizers(t, 0) == 1 && files_closed == before + 1);
    printf("   dropped: the entry went with the collection, the file with the finalizers\n");

    /* tt_release also removes the wrapper from every table at once. */
    fp = tmpfile();
    EXPECT(fp != NULL);
    tt_ref w3 = tt_wtable_wrap(t, tab, fp, FILE_BYTES, close_file, NULL, &created);
    if (tt_is_null(w3)) fclose(fp);
    EXPECT(!tt_is_null(w3) && created == 1 && tt_wtable_count(tab) == 1);
    tt_local_set(t, l, w3);
    EXPECT(tt_release(t, w3) == TT_OK && tt_wtable_count(tab) == 0);
    EXPECT(files_closed == before + 2);
    printf("   released: the entry and the file went at once\n");

    tt_frame_pop(t, f, TT_NO_LOCAL);
    EXPECT(tt_wtable_free(t, tab) == TT_OK);
}

int main(void)
{
    tt_config cfg;
    tt_config_init(&cfg);
    cfg.explicit_cleanups_only = 1;
    tt_heap *h = tt_heap_open(&cfg);
    EXPECT(h != NULL);
    tt_thread *t = tt_thread_attach(h);
    EXPECT(t != NULL);

    early_release(t);
    dropped_and_collected(t);
    canonical_wrapper(t);

    tt_stats st;
    tt_heap_stats(h, &st);
    EXPECT(files_closed == 4 && st.external_bytes == 0 && st.objects_finalized == 2);
    printf("done: %d files closed, %llu by finalization\n", files_closed,
           (unsigned long long)st.objects_finalized);

    tt_thread_detach(t);
    tt_heap_close(h);
    EXPECT(files_closed == 4); /* nothing was left for close */
    return 0;
}
