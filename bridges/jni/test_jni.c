/*
 * test_jni.c: the JVM bridge against a real JVM (embedded, -Xcheck:jni,
 * -Xmx256m). Java objects held from C (global references deleted by the
 * cleanup, on a thread the bridge attaches if needed; array sizes as
 * external bytes); TetherRef objects (close, Cleaner); iteration that
 * never exceeds the local capacity; relief on OutOfMemoryError and on a
 * heap threshold notification; refusals. Run with TT_CHECKED=0 and =1.
 */
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "tether_jni.h"
#include "tt_test.h"

static JavaVM *vm;
static JNIEnv *env;
static tt_heap *h;
static tt_thread *t;
static tt_jni *b;

static tt_jni_stats stats(void)
{
    tt_jni_stats s;
    tt_jni_get_stats(b, &s);
    return s;
}

/* A weak reference to obj, to see whether Java collected it. */
static jobject weak_of(jobject obj)
{
    jclass c = (*env)->FindClass(env, "java/lang/ref/WeakReference");
    jmethodID ctor = (*env)->GetMethodID(env, c, "<init>", "(Ljava/lang/Object;)V");
    jobject w = (*env)->NewObject(env, c, ctor, obj);
    jobject g = (*env)->NewGlobalRef(env, w);
    (*env)->DeleteLocalRef(env, w);
    (*env)->DeleteLocalRef(env, c);
    return g;
}

static int weak_cleared(jobject w)
{
    jclass sys = (*env)->FindClass(env, "java/lang/System");
    jmethodID gc = (*env)->GetStaticMethodID(env, sys, "gc", "()V");
    jclass c = (*env)->FindClass(env, "java/lang/ref/Reference");
    jmethodID get = (*env)->GetMethodID(env, c, "get", "()Ljava/lang/Object;");
    int cleared = 0;
    for (int i = 0; i < 20 && !cleared; i++) { /* gc is a hint: ask again */
        (*env)->CallStaticVoidMethod(env, sys, gc);
        CHECK(!(*env)->ExceptionCheck(env));
        jobject o = (*env)->CallObjectMethod(env, w, get);
        CHECK(!(*env)->ExceptionCheck(env));
        cleared = o == NULL;
        if (o) (*env)->DeleteLocalRef(env, o);
    }
    (*env)->DeleteLocalRef(env, sys);
    (*env)->DeleteLocalRef(env, c);
    return cleared;
}

/* Held, read back, released; the Java object is then collectable. */
static void test_hold_get_release(void)
{
    tt_frame f = tt_frame_push(t, 1);
    jstring s = (*env)->NewStringUTF(env, "hello from Java");
    jobject w = weak_of(s);
    tt_local l = tt_local_new(t, tt_jni_hold(b, s));
    (*env)->DeleteLocalRef(env, s);
    CHECK(!weak_cleared(w)); /* held from C: alive */
    jstring back = tt_jni_get(b, tt_local_get(t, l));
    REQUIRE(back != NULL);
    const char *chars = (*env)->GetStringUTFChars(env, back, NULL);
    CHECK_STREQ(chars, "hello from Java");
    (*env)->ReleaseStringUTFChars(env, back, chars);
    (*env)->DeleteLocalRef(env, back);
    size_t deleted = stats().deleted;
    CHECK_EQ(tt_jni_release(b, tt_local_get(t, l)), TT_OK);
    CHECK_EQU(stats().deleted, deleted + 1);
    CHECK(weak_cleared(w));
    CHECK(tt_jni_get(b, tt_local_get(t, l)) == NULL);
    CHECK_ERR(TT_ESTATE);
    CHECK_EQ(tt_jni_release(b, tt_local_get(t, l)), TT_ESTATE);
    (*env)->DeleteGlobalRef(env, w);
    tt_frame_pop(t, f, TT_NO_LOCAL);
}

/* Arrays count their size as external bytes; other objects none. */
static void test_array_sizes(void)
{
    tt_frame f = tt_frame_push(t, 3);
    jobject a = (*env)->NewByteArray(env, 1000);
    jobject i = (*env)->NewIntArray(env, 10);
    jobject o = (*env)->NewStringUTF(env, "not an array");
    tt_local la = tt_local_new(t, tt_jni_hold(b, a));
    tt_local li = tt_local_new(t, tt_jni_hold(b, i));
    tt_local lo = tt_local_new(t, tt_jni_hold(b, o));
    CHECK_EQU(tt_foreign_size(t, tt_local_get(t, la)), 1000);
    CHECK_EQU(tt_foreign_size(t, tt_local_get(t, li)), 40);
    CHECK_EQU(tt_foreign_size(t, tt_local_get(t, lo)), 0);
    (*env)->DeleteLocalRef(env, a);
    (*env)->DeleteLocalRef(env, i);
    (*env)->DeleteLocalRef(env, o);
    tt_frame_pop(t, f, TT_NO_LOCAL);
}

/* A dead held object's cleanup, run by a thread the JVM does not know:
 * the bridge attaches it, deletes the reference, and Java collects. */
static void *run_cleanups_elsewhere(void *arg)
{
    (void)arg;
    tt_thread *t2 = tt_thread_attach(h);
    if (!t2) return NULL;
    tt_run_finalizers(t2, 0);
    tt_thread_detach(t2);
    return NULL;
}

static void test_cleanup_on_unattached_thread(void)
{
    CHECK_EQ(tt_collect(t), TT_OK); /* what earlier tests dropped goes first */
    tt_run_finalizers(t, 0);
    jobject s = (*env)->NewStringUTF(env, "dropped by C");
    jobject w = weak_of(s);
    (void)tt_jni_hold(b, s); /* not rooted in tether */
    (*env)->DeleteLocalRef(env, s);
    size_t attached = stats().attached, deleted = stats().deleted;
    CHECK_EQ(tt_collect(t), TT_OK);
    pthread_t th;
    CHECK_EQ(tt_foreign_region_enter(t), TT_OK);
    REQUIRE(pthread_create(&th, NULL, run_cleanups_elsewhere, NULL) == 0);
    pthread_join(th, NULL);
    CHECK_EQ(tt_foreign_region_leave(t), TT_OK);
    CHECK_EQU(stats().deleted, deleted + 1);
    CHECK_EQU(stats().attached, attached + 1);
    CHECK(weak_cleared(w));
    (*env)->DeleteGlobalRef(env, w);
}

/* TetherRef: unwrap, close (freed at the next bridge call), and the
 * Cleaner of an unreachable one. */
static int cleanups_run;
static void count_cleanup(tt_thread *tc, tt_ref obj, void *ctx)
{
    (void)tc;
    (void)obj;
    (void)ctx;
    cleanups_run++;
}

static void test_tether_ref(void)
{
    cleanups_run = 0;
    tt_frame f = tt_frame_push(t, 1);
    tt_local l = tt_local_new(t, tt_foreign_new(t, NULL, 0, count_cleanup, NULL));
    jobject r = tt_jni_wrap_object(b, tt_local_get(t, l));
    REQUIRE(r != NULL);
    tt_frame_pop(t, f, TT_NO_LOCAL);
    CHECK_EQ(tt_collect(t), TT_OK);
    tt_run_finalizers(t, 0);
    CHECK_EQ(cleanups_run, 0); /* Java holds it */
    CHECK(!tt_is_null(tt_jni_unwrap(b, r)));

    jclass c = (*env)->GetObjectClass(env, r);
    jmethodID close = (*env)->GetMethodID(env, c, "close", "()V");
    (*env)->CallVoidMethod(env, r, close);
    CHECK(!(*env)->ExceptionCheck(env));
    CHECK(tt_is_null(tt_jni_unwrap(b, r)));
    size_t freed = stats().unwrapped_freed;
    CHECK_EQU(tt_jni_drain(b), 1);
    CHECK_EQU(stats().unwrapped_freed, freed + 1);
    CHECK_EQ(tt_collect(t), TT_OK);
    tt_run_finalizers(t, 0);
    CHECK_EQ(cleanups_run, 1);
    (*env)->DeleteLocalRef(env, r);
    (*env)->DeleteLocalRef(env, c);

    /* Unreachable in Java: the Cleaner queues the free. */
    f = tt_frame_push(t, 1);
    l = tt_local_new(t, tt_foreign_new(t, NULL, 0, count_cleanup, NULL));
    r = tt_jni_wrap_object(b, tt_local_get(t, l));
    tt_frame_pop(t, f, TT_NO_LOCAL);
    jobject w = weak_of(r);
    (*env)->DeleteLocalRef(env, r);
    CHECK(weak_cleared(w));
    size_t got = 0;
    for (int i = 0; i < 200 && !got; i++) { /* the Cleaner thread runs when it runs */
        got = tt_jni_drain(b);
        if (!got) usleep(10000);
    }
    CHECK_EQU(got, 1);
    CHECK_EQ(tt_collect(t), TT_OK);
    tt_run_finalizers(t, 0);
    CHECK_EQ(cleanups_run, 2);
    (*env)->DeleteGlobalRef(env, w);
}

/* Iteration of 1,000,000 Integers inside a local frame of 16: -Xcheck:jni
 * warns on stderr if the frame's capacity is ever exceeded, which the
 * bridge must never do; a loop that forgets DeleteLocalRef does it, which
 * shows the warning is there to see. */
struct sum {
    long long total;
};

static int add_integer(tt_thread *tc, JNIEnv *e, jobject elem, void *ctx)
{
    (void)tc;
    static jmethodID int_value;
    if (!int_value) {
        jclass c = (*e)->FindClass(e, "java/lang/Integer");
        int_value = (*e)->GetMethodID(e, c, "intValue", "()I");
        (*e)->DeleteLocalRef(e, c);
    }
    ((struct sum *)ctx)->total += (*e)->CallIntMethod(e, elem, int_value);
    return (*e)->ExceptionCheck(e) ? 1 : 0;
}

static jobject integer_list(long n)
{
    jclass al = (*env)->FindClass(env, "java/util/ArrayList");
    jmethodID ctor = (*env)->GetMethodID(env, al, "<init>", "(I)V");
    jmethodID add = (*env)->GetMethodID(env, al, "add", "(Ljava/lang/Object;)Z");
    jclass ic = (*env)->FindClass(env, "java/lang/Integer");
    jmethodID value_of = (*env)->GetStaticMethodID(env, ic, "valueOf", "(I)Ljava/lang/Integer;");
    jobject list = (*env)->NewObject(env, al, ctor, (jint)n);
    for (long i = 0; i < n; i++) {
        jobject v = (*env)->CallStaticObjectMethod(env, ic, value_of, (jint)(i % 1000));
        CHECK(!(*env)->ExceptionCheck(env));
        (*env)->CallBooleanMethod(env, list, add, v);
        CHECK(!(*env)->ExceptionCheck(env));
        (*env)->DeleteLocalRef(env, v);
    }
    (*env)->DeleteLocalRef(env, al);
    (*env)->DeleteLocalRef(env, ic);
    return list;
}

/* Run fn with stdout and stderr going to a file (-Xcheck:jni writes its
 * warnings to the JVM's tty, stdout); returns what was written. */
static char *capture_output(void (*fn)(void *), void *arg)
{
    char path[] = "/tmp/tt_jni_outputXXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return NULL;
    fflush(stdout);
    fflush(stderr);
    int saved1 = dup(1), saved2 = dup(2);
    dup2(fd, 1);
    dup2(fd, 2);
    fn(arg);
    fflush(stdout);
    fflush(stderr);
    dup2(saved1, 1);
    dup2(saved2, 2);
    close(saved1);
    close(saved2);
    off_t len = lseek(fd, 0, SEEK_END);
    char *text = calloc(1, (size_t)len + 1);
    if (text && len > 0 && pread(fd, text, (size_t)len, 0) < 0) text[0] = 0;
    close(fd);
    unlink(path);
    return text;
}

struct iter_run {
    jobject list;
    struct sum sum;
    long seen;
    int rc;
};

static void iterate_in_small_frame(void *arg)
{
    struct iter_run *r = arg;
    (*env)->PushLocalFrame(env, 16);
    r->rc = tt_jni_iterate(b, r->list, add_integer, &r->sum, &r->seen);
    (*env)->PopLocalFrame(env, NULL);
}

static void leak_in_small_frame(void *arg)
{
    struct iter_run *r = arg;
    (*env)->PushLocalFrame(env, 16);
    jclass al = (*env)->FindClass(env, "java/util/List");
    jmethodID get = (*env)->GetMethodID(env, al, "get", "(I)Ljava/lang/Object;");
    for (int i = 0; i < 100 && !(*env)->ExceptionCheck(env); i++)
        (void)(*env)->CallObjectMethod(env, r->list, get, i);
    (void)(*env)->ExceptionCheck(env);
    (*env)->PopLocalFrame(env, NULL);
}

static void test_iterate(void)
{
    long n = 1000000;
    struct iter_run r = {.list = integer_list(n)};
    char *err = capture_output(iterate_in_small_frame, &r);
    REQUIRE(err != NULL);
    CHECK_EQ(r.rc, 0);
    CHECK_EQ(r.seen, n);
    CHECK_EQ(r.sum.total, (long long)(n / 1000) * (999 * 1000 / 2));
    CHECK(strstr(err, "exceeds capacity") == NULL);
    free(err);
    err = capture_output(leak_in_small_frame, &r);
    REQUIRE(err != NULL);
    CHECK(strstr(err, "exceeds capacity") != NULL); /* -Xcheck:jni is on */
    free(err);
    (*env)->DeleteLocalRef(env, r.list);
}

/* Byte arrays held only by dead foreign objects (global references that
 * tether alone can delete, made without the bridge so that nothing
 * relieves meanwhile) fill the Java heap; the next bridge allocation
 * still succeeds: it relieves first, because the heap threshold was
 * passed, or after an OutOfMemoryError, whichever comes first (the
 * notification is asynchronous). One too large for any heap is retried
 * once and fails. */
static void delete_global(tt_thread *tc, tt_ref obj, void *ctx)
{
    (void)tc;
    (void)ctx;
    (*env)->DeleteGlobalRef(env, tt_foreign_addr(tc, obj));
}

static void test_oom_retry(void)
{
    size_t retries = stats().oom_retries, reliefs = stats().reliefs;
    int made = 0;
    for (int i = 0; i < 400; i++) { /* 400 MiB through a 256 MiB heap */
        jbyteArray a = (*env)->NewByteArray(env, 1 << 20);
        if (!a) {
            (*env)->ExceptionClear(env);
            break;
        }
        jobject g = (*env)->NewGlobalRef(env, a);
        (void)tt_foreign_new(t, g, 0, delete_global, NULL); /* no pressure */
        (*env)->DeleteLocalRef(env, a);
        made++;
    }
    CHECK(made < 400); /* the Java heap did fill up */
    jbyteArray a = tt_jni_new_byte_array(b, 1 << 20);
    CHECK(a != NULL);
    CHECK(stats().reliefs > reliefs);
    if (a) (*env)->DeleteLocalRef(env, a);
    a = tt_jni_new_byte_array(b, 0x7ffffff0);
    CHECK(a == NULL);
    CHECK((*env)->ExceptionCheck(env));
    (*env)->ExceptionClear(env);
    CHECK_EQU(stats().oom_retries, retries + 1);
}

/* A heap pool passing its threshold notifies the bridge; its next call
 * relieves. */
static void test_threshold_notification(void)
{
    size_t events = stats().pressure_events, reliefs = stats().reliefs;
    jclass al = (*env)->FindClass(env, "java/util/ArrayList");
    jmethodID ctor = (*env)->GetMethodID(env, al, "<init>", "()V");
    jmethodID add = (*env)->GetMethodID(env, al, "add", "(Ljava/lang/Object;)Z");
    jobject keep = (*env)->NewObject(env, al, ctor);
    for (int i = 0; i < 230 && stats().pressure_events == events; i++) {
        jbyteArray a = (*env)->NewByteArray(env, 1 << 20);
        if (!a) {
            (*env)->ExceptionClear(env);
            break;
        }
        (*env)->CallBooleanMethod(env, keep, add, a);
        CHECK(!(*env)->ExceptionCheck(env));
        (*env)->DeleteLocalRef(env, a);
    }
    (*env)->DeleteLocalRef(env, keep);
    for (int i = 0; i < 200 && stats().pressure_events == events; i++) usleep(10000);
    CHECK(stats().pressure_events > events);
    tt_jni_drain(b);
    CHECK(stats().reliefs > reliefs);
    (*env)->DeleteLocalRef(env, al);
}

/* A bridge closed with Java objects still held: closing from another
 * thread is refused; after the close, the held objects' cleanups still
 * run (with the bridge's memory alive until the last one, which frees it:
 * AddressSanitizer would see a use after free) and delete their
 * references. One of them was released before the close. */
static int close_rc;
static void *close_elsewhere(void *arg)
{
    close_rc = tt_jni_close(arg);
    return NULL;
}

static void test_close_with_held(void)
{
    tt_jni *b2 = tt_jni_open(vm, t, 0);
    REQUIRE(b2 != NULL);
    tt_frame f = tt_frame_push(t, 3);
    jobject w[3];
    tt_local l[3];
    for (int i = 0; i < 3; i++) {
        jstring s = (*env)->NewStringUTF(env, "held across close");
        w[i] = weak_of(s);
        l[i] = tt_local_new(t, tt_jni_hold(b2, s));
        (*env)->DeleteLocalRef(env, s);
    }
    CHECK_EQ(tt_jni_release(b2, tt_local_get(t, l[0])), TT_OK);
    tt_jni_stats st;
    tt_jni_get_stats(b2, &st);
    CHECK_EQU(st.held, 2);
    CHECK_EQU(st.deleted, 1);
    pthread_t th;
    REQUIRE(pthread_create(&th, NULL, close_elsewhere, b2) == 0);
    pthread_join(th, NULL);
    CHECK_EQ(close_rc, TT_ESTATE);
    CHECK_EQ(tt_jni_close(b2), TT_OK);
    CHECK(weak_cleared(w[0]));
    CHECK(!weak_cleared(w[1]) && !weak_cleared(w[2]));
    /* l[1] by an explicit release after the close; l[2] when it dies. */
    CHECK_EQ(tt_release(t, tt_local_get(t, l[1])), TT_OK);
    tt_frame_pop(t, f, TT_NO_LOCAL);
    CHECK_EQ(tt_collect(t), TT_OK);
    tt_run_finalizers(t, 0);
    for (int i = 0; i < 3; i++) {
        CHECK(weak_cleared(w[i]));
        (*env)->DeleteGlobalRef(env, w[i]);
    }
}

/* Refusals: a foreign object the bridge did not make; null arguments. */
static void test_refused(void)
{
    tt_frame f = tt_frame_push(t, 1);
    int x = 0;
    tt_local l = tt_local_new(t, tt_foreign_new(t, &x, 0, NULL, NULL));
    CHECK(tt_jni_get(b, tt_local_get(t, l)) == NULL);
    CHECK_ERR(TT_EINVAL);
    CHECK_EQ(tt_jni_release(b, tt_local_get(t, l)), TT_EINVAL);
    CHECK_EQ(tt_release(t, tt_local_get(t, l)), TT_OK);
    tt_frame_pop(t, f, TT_NO_LOCAL);
    CHECK(tt_is_null(tt_jni_hold(b, NULL)));
    CHECK_ERR(TT_EINVAL);
    CHECK(tt_jni_open(NULL, t, 0) == NULL);
    CHECK_ERR(TT_EINVAL);
    jobject s = (*env)->NewStringUTF(env, "not a TetherRef");
    CHECK(tt_is_null(tt_jni_unwrap(b, s)));
    (*env)->DeleteLocalRef(env, s);
}

int main(void)
{
    JavaVMOption opts[] = {{.optionString = "-Djava.class.path=" TETHER_JNI_JAR},
                           {.optionString = "-Xcheck:jni"},
                           {.optionString = "-Xmx256m"}};
    JavaVMInitArgs args = {.version = JNI_VERSION_1_8, .nOptions = 3, .options = opts};
    if (JNI_CreateJavaVM(&vm, (void **)&env, &args) != JNI_OK) {
        fprintf(stderr, "cannot create a JVM\n");
        return 2;
    }
    h = tt_heap_open(NULL);
    t = h ? tt_thread_attach(h) : NULL;
    b = t ? tt_jni_open(vm, t, 0.6) : NULL;
    if (!b) {
        fprintf(stderr, "cannot open the bridge: %s\n", tt_last_error()->message);
        return 2;
    }
    RUN(test_hold_get_release);
    RUN(test_array_sizes);
    RUN(test_cleanup_on_unattached_thread);
    RUN(test_tether_ref);
    RUN(test_iterate);
    RUN(test_oom_retry);
    RUN(test_threshold_notification);
    RUN(test_refused);
    RUN(test_close_with_held);
    CHECK_EQ(tt_jni_close(b), TT_OK);
    tt_collect(t);
    tt_run_finalizers(t, 0);
    tt_thread_detach(t);
    tt_heap_close(h);
    return tt_test_done();
}
