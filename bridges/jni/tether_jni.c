/*
 * tether_jni.c: the JVM bridge (see tether_jni.h).
 *
 * A held Java object is a tether foreign object whose address is the JNI
 * global reference itself, entered in the bridge's wrapper table so that
 * the bridge can tell its own objects from other foreign objects without
 * reading anything through the address. Its cleanup may run on any
 * thread, so it finds that thread's JNIEnv, attaching the thread to the
 * JVM as a daemon if needed (detached again when the thread exits).
 *
 * The bridge's memory is shared by its owner thread, the cleanups (any
 * thread) and the Java threads that call the natives (the Cleaner, the
 * MemoryMXBean notifier): `refs` counts the bridge itself while open,
 * every TetherRef whose Cleaner has not run, and, from tt_jni_close on,
 * every held object not yet cleaned up; whoever drops it to zero frees
 * the bridge. While the bridge is open, held objects are counted in
 * `made` and `deleted` instead (see there). The natives only queue work
 * under `lock`; the owner does it at its next bridge call.
 */
#include "tether_jni.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define JNI_SIG UINT64_C(0x74744a4e49425231)
#define REF_CLASS "org/tether/TetherRef"
#define PRESSURE_CLASS "org/tether/TetherPressure"

enum { N_ARRAYS = 9 };
static const char *const array_names[N_ARRAYS] = {"[B", "[Z", "[C", "[S", "[I", "[F", "[J", "[D",
                                                  "[Ljava/lang/Object;"};
static const size_t array_elem[N_ARRAYS] = {1, 1, 2, 2, 4, 4, 8, 8, 8};

struct tt_jni {
    uint64_t sig;
    JavaVM *vm;
    tt_thread *t;
    const char *owner; /* the thread that opened the bridge (its token), */
                       /* and its JNIEnv */
    JNIEnv *env;
    int checked; /* the heap's checked mode: reading a released value is a misuse there */
    size_t refs; /* atomic: 1 while open, plus TetherRef objects whose
                    Cleaner has not run, plus (once closed) held objects
                    not cleaned */
    pthread_mutex_t lock;
    int closed; /* under lock: the natives queue nothing more */
    uint64_t *freeq; /* TetherRef globals to free (bits), under lock */
    size_t freeq_n, freeq_cap;
    int pressure; /* atomic: a threshold notification is waiting */
    jclass ref_cls, system_cls, iterator_cls, iterable_cls, oom_cls;
    jclass arrays[N_ARRAYS];
    jmethodID ref_ctor, gc, has_next, next, iterator;
    jfieldID ref_bits, ref_closed;
    jobject listener;
    jmethodID uninstall;
    tt_jni_stats st; /* counters: atomic builtins */
    /* Held objects made and cleaned up (held = made - deleted), split so
     * that the bridge's own thread counts in `own` (it alone writes it)
     * without a locked instruction while the bridge is open: the four
     * atomic adds a wrap and release took were a sixth of its cost. Other
     * threads add to `other` under `lock`, which tt_jni_close takes to
     * turn what is still held into shares of `refs`. */
    struct split {
        size_t own, other;
    } made, deleted;
};

/* A byte per OS thread: its address names the calling thread in one
 * instruction (pthread_self is a call, and the hot paths ask twice). */
static _Thread_local char self_token __attribute__((tls_model("initial-exec")));
static int on_owner(const tt_jni *b) { return b->owner == &self_token; }

static void count(size_t *c, long d) { __atomic_fetch_add(c, (size_t)d, __ATOMIC_RELAXED); }

/* Count one held object made (made) or cleaned up (deleted). Returns
 * whether it holds a share of refs: it does once the bridge is closed
 * (tt_jni_close moved the count into refs), and then the caller makes or
 * drops that share. */
static __attribute__((noinline, cold)) int count_held_slow(tt_jni *b, struct split *c, int made)
{
    pthread_mutex_lock(&b->lock);
    int closed = b->closed;
    if (closed && made)
        __atomic_fetch_add(&b->refs, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&c->other, 1, __ATOMIC_RELAXED); /* stats read it unlocked */
    pthread_mutex_unlock(&b->lock);
    return closed;
}

static inline int count_held(tt_jni *b, struct split *c, int made)
{
    /* The owner thread while open: close happens on this thread, so the
     * flag cannot change under it. */
    if (on_owner(b) && !b->closed) {
        __atomic_store_n(&c->own, c->own + 1, __ATOMIC_RELAXED);
        return 0;
    }
    return count_held_slow(b, c, made);
}

static size_t split_value(const struct split *c)
{
    return __atomic_load_n(&c->own, __ATOMIC_RELAXED) + __atomic_load_n(&c->other, __ATOMIC_RELAXED);
}

/* ---- JNIEnv of any thread ---- */

static pthread_key_t detach_key;
static pthread_once_t detach_once = PTHREAD_ONCE_INIT;

/* A thread the bridge attached to the JVM leaves it when it exits. */
static void detach_at_exit(void *vm)
{
    (*(JavaVM *)vm)->DetachCurrentThread((JavaVM *)vm);
}
static void make_detach_key(void) { pthread_key_create(&detach_key, detach_at_exit); }

static int open_bridge(const tt_jni *b) { return b && b->sig == JNI_SIG; }

static __attribute__((noinline)) JNIEnv *env_of_slow(tt_jni *b)
{
    JNIEnv *env = NULL;
    jint rc = (*b->vm)->GetEnv(b->vm, (void **)&env, JNI_VERSION_1_8);
    if (rc == JNI_OK) return env;
    if (rc != JNI_EDETACHED) return NULL;
    if ((*b->vm)->AttachCurrentThreadAsDaemon(b->vm, (void **)&env, NULL) != JNI_OK) return NULL;
    pthread_once(&detach_once, make_detach_key);
    pthread_setspecific(detach_key, b->vm);
    count(&b->st.attached, 1);
    return env;
}

static inline JNIEnv *env_of(tt_jni *b)
{
    /* The opening thread stays attached while the bridge is open (see the
     * header), so its JNIEnv is kept: GetEnv is a call into the JVM. */
    if (open_bridge(b) && on_owner(b)) return b->env;
    return env_of_slow(b);
}

static void bridge_unref(tt_jni *b)
{
    if (__atomic_sub_fetch(&b->refs, 1, __ATOMIC_ACQ_REL) != 0) return;
    b->sig = 0;
    pthread_mutex_destroy(&b->lock);
    free(b->freeq);
    free(b);
}

/* ---- held Java objects ---- */

static void held_cleanup(tt_thread *t, tt_ref obj, void *ctx)
{
    tt_jni *b = ctx;
    jobject g = tt_foreign_addr(t, obj);
    JNIEnv *env = env_of(b);
    if (env && g) (*env)->DeleteGlobalRef(env, g);
    if (count_held(b, &b->deleted, 0)) bridge_unref(b);
}

static size_t array_bytes(tt_jni *b, JNIEnv *env, jobject obj)
{
    for (int i = 0; i < N_ARRAYS; i++)
        if ((*env)->IsInstanceOf(env, obj, b->arrays[i]))
            return (size_t)(*env)->GetArrayLength(env, (jarray)obj) * array_elem[i];
    return 0;
}

/* The start of a bridge call that works in Java: b is open (else NULL with
 * TT_ECLOSED), queued work is done, and this thread's JNIEnv returned. */
static JNIEnv *begin(tt_jni *b, const char *what)
{
    if (!open_bridge(b)) {
        tt_set_error(TT_ECLOSED, "%s: not an open bridge", what);
        return NULL;
    }
    /* Nothing queued (the usual case): two loads, no call. */
    if (__atomic_load_n(&b->freeq_n, __ATOMIC_ACQUIRE) || __atomic_load_n(&b->pressure, __ATOMIC_ACQUIRE))
        tt_jni_drain(b);
    JNIEnv *env = env_of(b);
    if (!env) tt_set_error(TT_ESTATE, "%s: this thread cannot attach to the JVM", what);
    return env;
}

tt_ref tt_jni_hold_sized(tt_jni *b, jobject obj, size_t external_bytes)
{
    if (!obj) {
        tt_set_error(TT_EINVAL, "tt_jni_hold: null Java object");
        return TT_NULL;
    }
    JNIEnv *env = begin(b, "tt_jni_hold");
    if (!env) return TT_NULL;
    jobject g = (*env)->NewGlobalRef(env, obj);
    if (!g) {
        tt_set_error(TT_ENOMEM, "tt_jni_hold: the JVM could not make a global reference");
        return TT_NULL;
    }
    /* Counted before the object exists: a collection inside
     * tt_foreign_new may run cleanups, never this one's. */
    int share = count_held(b, &b->made, 1);
    tt_ref held = tt_foreign_new(b->t, g, external_bytes, held_cleanup, b);
    if (tt_is_null(held)) {
        (*env)->DeleteGlobalRef(env, g);
        if (count_held(b, &b->deleted, 0) || share) bridge_unref(b);
        return TT_NULL;
    }
    return held;
}

tt_ref tt_jni_hold(tt_jni *b, jobject obj)
{
    JNIEnv *env = open_bridge(b) && obj ? env_of(b) : NULL;
    return tt_jni_hold_sized(b, obj, env ? array_bytes(b, env, obj) : 0);
}

/* The global reference of a value this bridge holds, or NULL with the
 * error set. */
static jobject held_global(tt_jni *b, tt_ref held, const char *what)
{
    if (!open_bridge(b)) {
        tt_set_error(TT_ECLOSED, "%s: not an open bridge", what);
        return NULL;
    }
    if (tt_is_null(held) || tt_type_of(held) != &tt_foreign_type) {
        tt_set_error(TT_EINVAL, "%s: not a Java object held by this bridge", what);
        return NULL;
    }
    /* The bridge's values are the foreign objects whose base cleanup is
     * held_cleanup for this bridge. A released one is refused with
     * TT_ESTATE; checked mode would call reading it a misuse, so there the
     * flag is asked first (unchecked, tt_foreign_addr_if answers both). */
    if (b->checked && tt_foreign_released(b->t, held)) {
        tt_set_error(TT_ESTATE, "%s: the Java object was released", what);
        return NULL;
    }
    jobject g = tt_foreign_addr_if(b->t, held, held_cleanup, b);
    if (g) return g;
    if (tt_last_error()->code == TT_ESTATE)
        tt_set_error(TT_ESTATE, "%s: the Java object was released", what);
    else
        tt_set_error(TT_EINVAL, "%s: not a Java object held by this bridge", what);
    return NULL;
}

jobject tt_jni_get(tt_jni *b, tt_ref held)
{
    jobject g = held_global(b, held, "tt_jni_get");
    if (!g) return NULL;
    JNIEnv *env = env_of(b);
    return env ? (*env)->NewLocalRef(env, g) : NULL;
}

int tt_jni_release(tt_jni *b, tt_ref held)
{
    /* Unchecked: one call checks that the value is this bridge's and
     * releases it. Checked mode asks held_global first (see there). */
    if (!open_bridge(b) || b->checked || tt_is_null(held) || tt_type_of(held) != &tt_foreign_type) {
        if (!held_global(b, held, "tt_jni_release")) return tt_last_error()->code;
        return tt_release(b->t, held);
    }
    int rc = tt_release_if(b->t, held, held_cleanup, b);
    if (rc == TT_ESTATE)
        return tt_set_error(TT_ESTATE, "tt_jni_release: the Java object was released");
    if (rc == TT_ETYPE)
        return tt_set_error(TT_EINVAL, "tt_jni_release: not a Java object held by this bridge");
    return rc;
}

/* ---- tether objects held from Java ---- */

JNIEXPORT void JNICALL tt__jni_free0(JNIEnv *env, jclass cls, jlong bridge, jlong bits);
JNIEXPORT void JNICALL tt__jni_free0(JNIEnv *env, jclass cls, jlong bridge, jlong bits)
{
    (void)env;
    (void)cls;
    tt_jni *b = (tt_jni *)(intptr_t)bridge;
    pthread_mutex_lock(&b->lock);
    /* Once closed, the global stays until heap close frees every global.
     * Without memory to queue it likewise (the leak report names it). */
    if (!b->closed && b->freeq_n == b->freeq_cap) {
        size_t cap = b->freeq_cap ? 2 * b->freeq_cap : 64;
        uint64_t *q = realloc(b->freeq, cap * sizeof *q);
        if (q) {
            b->freeq = q;
            b->freeq_cap = cap;
        }
    }
    if (!b->closed && bits && b->freeq_n < b->freeq_cap) {
        b->freeq[b->freeq_n] = (uint64_t)bits;
        __atomic_store_n(&b->freeq_n, b->freeq_n + 1, __ATOMIC_RELEASE); /* read unlocked by drain */
    }
    pthread_mutex_unlock(&b->lock);
    bridge_unref(b); /* the TetherRef's share */
}

JNIEXPORT void JNICALL tt__jni_pressure0(JNIEnv *env, jclass cls, jlong bridge);
JNIEXPORT void JNICALL tt__jni_pressure0(JNIEnv *env, jclass cls, jlong bridge)
{
    (void)env;
    (void)cls;
    tt_jni *b = (tt_jni *)(intptr_t)bridge;
    count(&b->st.pressure_events, 1);
    __atomic_store_n(&b->pressure, 1, __ATOMIC_RELEASE);
}

jobject tt_jni_wrap_object(tt_jni *b, tt_ref obj)
{
    JNIEnv *env = begin(b, "tt_jni_wrap_object");
    if (!env) return NULL;
    tt_global g = tt_global_new(b->t, obj);
    if (tt_global_is_null(g) && !tt_is_null(obj)) return NULL;
    __atomic_fetch_add(&b->refs, 1, __ATOMIC_RELAXED); /* released by free0 */
    jobject ref = (*env)->NewObject(env, b->ref_cls, b->ref_ctor, (jlong)(intptr_t)b, (jlong)g.bits);
    if (!ref) {
        tt_global_free(b->t, g);
        bridge_unref(b);
        tt_set_error(TT_ENOMEM, "tt_jni_wrap_object: the JVM could not make a TetherRef");
        return NULL;
    }
    count(&b->st.wrapped, 1);
    return ref;
}

tt_ref tt_jni_unwrap(tt_jni *b, jobject ref)
{
    if (!open_bridge(b) || !ref) return TT_NULL;
    JNIEnv *env = env_of(b);
    if (!env || !(*env)->IsInstanceOf(env, ref, b->ref_cls)) return TT_NULL;
    if ((*env)->GetBooleanField(env, ref, b->ref_closed)) return TT_NULL;
    tt_global g = {(uint64_t)(*env)->GetLongField(env, ref, b->ref_bits)};
    return g.bits ? tt_global_get(b->t, g) : TT_NULL;
}

/* ---- pressure ---- */

int tt_jni_relieve(tt_jni *b)
{
    if (!open_bridge(b)) return tt_set_error(TT_ECLOSED, "tt_jni_relieve: not an open bridge");
    count(&b->st.reliefs, 1);
    tt_collect_and_release(b->t);
    JNIEnv *env = env_of(b);
    if (env) {
        (*env)->CallStaticVoidMethod(env, b->system_cls, b->gc);
        if ((*env)->ExceptionCheck(env)) (*env)->ExceptionClear(env);
    }
    return TT_OK;
}

size_t tt_jni_drain(tt_jni *b)
{
    if (!open_bridge(b)) return 0;
    size_t n = 0;
    /* Nothing queued (the usual case): no lock. A free queued just after
     * this read waits for the next call. */
    while (__atomic_load_n(&b->freeq_n, __ATOMIC_ACQUIRE) != 0) {
        pthread_mutex_lock(&b->lock);
        uint64_t bits = 0;
        if (b->freeq_n) {
            bits = b->freeq[b->freeq_n - 1];
            __atomic_store_n(&b->freeq_n, b->freeq_n - 1, __ATOMIC_RELAXED);
        }
        pthread_mutex_unlock(&b->lock);
        if (!bits) break;
        tt_global_free(b->t, (tt_global){bits});
        count(&b->st.unwrapped_freed, 1);
        n++;
    }
    if (__atomic_load_n(&b->pressure, __ATOMIC_ACQUIRE) &&
        __atomic_exchange_n(&b->pressure, 0, __ATOMIC_ACQ_REL))
        tt_jni_relieve(b);
    return n;
}

jbyteArray tt_jni_new_byte_array(tt_jni *b, jsize n)
{
    JNIEnv *env = begin(b, "tt_jni_new_byte_array");
    if (!env) return NULL;
    jbyteArray a = (*env)->NewByteArray(env, n);
    if (a || !(*env)->ExceptionCheck(env)) return a;
    jthrowable ex = (*env)->ExceptionOccurred(env);
    (*env)->ExceptionClear(env); /* no JNI call may run with it pending */
    int oom = (*env)->IsInstanceOf(env, ex, b->oom_cls);
    if (!oom) {
        (*env)->Throw(env, ex); /* not ours to handle: pending again */
        (*env)->DeleteLocalRef(env, ex);
        return NULL;
    }
    (*env)->DeleteLocalRef(env, ex);
    count(&b->st.oom_retries, 1);
    tt_jni_relieve(b);
    return (*env)->NewByteArray(env, n);
}

/* ---- iteration ---- */

int tt_jni_iterate(tt_jni *b, jobject it, tt_jni_each_fn fn, void *ctx, long *seen)
{
    long n = 0;
    if (seen) *seen = 0;
    if (!open_bridge(b) || !it || !fn) {
        tt_set_error(TT_EINVAL, "tt_jni_iterate: closed bridge or null argument");
        return -1;
    }
    JNIEnv *env = env_of(b);
    jobject iter = it;
    if ((*env)->IsInstanceOf(env, it, b->iterable_cls)) {
        iter = (*env)->CallObjectMethod(env, it, b->iterator);
        if (!iter) return -1;
    }
    int rc = 0;
    for (;;) {
        jboolean more = (*env)->CallBooleanMethod(env, iter, b->has_next);
        if ((*env)->ExceptionCheck(env)) {
            rc = -1;
            break;
        }
        if (!more) break;
        jobject e = (*env)->CallObjectMethod(env, iter, b->next);
        if ((*env)->ExceptionCheck(env)) {
            rc = -1;
            break;
        }
        rc = fn(b->t, env, e, ctx);
        if (e) (*env)->DeleteLocalRef(env, e);
        n++;
        if (rc) break;
    }
    if (iter != it) (*env)->DeleteLocalRef(env, iter);
    if (seen) *seen = n;
    return rc;
}

/* ---- open and close ---- */

static jclass global_class(JNIEnv *env, const char *name)
{
    jclass local = (*env)->FindClass(env, name);
    if (!local) return NULL;
    jclass g = (*env)->NewGlobalRef(env, local);
    (*env)->DeleteLocalRef(env, local);
    return g;
}

static void drop_classes(JNIEnv *env, tt_jni *b)
{
    jclass *cls[] = {&b->ref_cls, &b->system_cls, &b->iterator_cls, &b->iterable_cls, &b->oom_cls};
    for (size_t i = 0; i < sizeof cls / sizeof cls[0]; i++)
        if (*cls[i]) (*env)->DeleteGlobalRef(env, *cls[i]);
    for (int i = 0; i < N_ARRAYS; i++)
        if (b->arrays[i]) (*env)->DeleteGlobalRef(env, b->arrays[i]);
    if (b->listener) (*env)->DeleteGlobalRef(env, b->listener);
}

static int load(JNIEnv *env, tt_jni *b, double threshold)
{
    b->ref_cls = global_class(env, REF_CLASS);
    jclass pressure = b->ref_cls ? (*env)->FindClass(env, PRESSURE_CLASS) : NULL;
    if (!pressure) {
        (*env)->ExceptionClear(env);
        return tt_set_error(TT_ENOTFOUND, "tt_jni_open: %s and %s are not on the class path "
                                          "(add TETHER_JNI_JAR to it)", REF_CLASS, PRESSURE_CLASS);
    }
    b->system_cls = global_class(env, "java/lang/System");
    b->iterator_cls = global_class(env, "java/util/Iterator");
    b->iterable_cls = global_class(env, "java/lang/Iterable");
    b->oom_cls = global_class(env, "java/lang/OutOfMemoryError");
    for (int i = 0; i < N_ARRAYS; i++) b->arrays[i] = global_class(env, array_names[i]);
    b->ref_ctor = (*env)->GetMethodID(env, b->ref_cls, "<init>", "(JJ)V");
    b->ref_bits = (*env)->GetFieldID(env, b->ref_cls, "bits", "J");
    b->ref_closed = (*env)->GetFieldID(env, b->ref_cls, "closed", "Z");
    b->gc = (*env)->GetStaticMethodID(env, b->system_cls, "gc", "()V");
    b->has_next = (*env)->GetMethodID(env, b->iterator_cls, "hasNext", "()Z");
    b->next = (*env)->GetMethodID(env, b->iterator_cls, "next", "()Ljava/lang/Object;");
    b->iterator = (*env)->GetMethodID(env, b->iterable_cls, "iterator", "()Ljava/util/Iterator;");
    JNINativeMethod ref_natives[] = {{"free0", "(JJ)V", (void *)tt__jni_free0}};
    JNINativeMethod pressure_natives[] = {{"pressure0", "(J)V", (void *)tt__jni_pressure0}};
    if ((*env)->ExceptionCheck(env) ||
        (*env)->RegisterNatives(env, b->ref_cls, ref_natives, 1) != 0 ||
        (*env)->RegisterNatives(env, pressure, pressure_natives, 1) != 0) {
        (*env)->ExceptionClear(env);
        return tt_set_error(TT_ENOMEM, "tt_jni_open: could not resolve the bridge's Java classes");
    }
    jmethodID install = (*env)->GetStaticMethodID(env, pressure, "install", "(JD)Lorg/tether/TetherPressure;");
    b->uninstall = (*env)->GetMethodID(env, pressure, "uninstall", "()V");
    jobject l = install ? (*env)->CallStaticObjectMethod(env, pressure, install, (jlong)(intptr_t)b,
                                                         threshold > 0 ? threshold : 0.75)
                        : NULL;
    (*env)->DeleteLocalRef(env, pressure);
    if (!l || (*env)->ExceptionCheck(env)) {
        (*env)->ExceptionClear(env);
        return tt_set_error(TT_ENOMEM, "tt_jni_open: could not arm the Java heap thresholds");
    }
    b->listener = (*env)->NewGlobalRef(env, l);
    (*env)->DeleteLocalRef(env, l);
    return TT_OK;
}

tt_jni *tt_jni_open(JavaVM *vm, tt_thread *t, double threshold)
{
    JNIEnv *env = NULL;
    if (!vm || !t || (*vm)->GetEnv(vm, (void **)&env, JNI_VERSION_1_8) != JNI_OK) {
        tt_set_error(TT_EINVAL, "tt_jni_open: null argument, or this thread is not attached to the JVM");
        return NULL;
    }
    tt_jni *b = calloc(1, sizeof *b);
    if (!b) {
        tt_set_error(TT_ENOMEM, "tt_jni_open: out of memory");
        return NULL;
    }
    b->vm = vm;
    b->t = t;
    b->refs = 1;
    b->owner = &self_token;
    b->checked = tt_heap_checked(tt_thread_heap(t));
    b->env = env;
    pthread_mutex_init(&b->lock, NULL);
    if (load(env, b, threshold) != TT_OK) {
        int code = tt_last_error()->code;
        char msg[sizeof tt_last_error()->message];
        memcpy(msg, tt_last_error()->message, sizeof msg);
        drop_classes(env, b);
        pthread_mutex_destroy(&b->lock);
        free(b);
        tt_set_error(code, "%s", msg);
        return NULL;
    }
    b->sig = JNI_SIG;
    return b;
}

int tt_jni_close(tt_jni *b)
{
    if (!open_bridge(b)) return tt_set_error(TT_EINVAL, "tt_jni_close: not an open bridge");
    if (!on_owner(b))
        return tt_set_error(TT_ESTATE, "tt_jni_close: not on the thread that opened the bridge");
    JNIEnv *env = env_of(b);
    (*env)->CallVoidMethod(env, b->listener, b->uninstall);
    (*env)->ExceptionClear(env);
    tt_jni_drain(b);
    pthread_mutex_lock(&b->lock);
    b->closed = 1;
    /* Held objects not cleaned up yet take shares of refs from here: their
     * cleanups (any thread, until heap close) drop them. deleted first:
     * made never trails it. */
    size_t deleted = b->deleted.own + b->deleted.other;
    __atomic_fetch_add(&b->refs, b->made.own + b->made.other - deleted, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&b->lock);
    tt_jni_drain(b); /* what was queued before the flag */
    drop_classes(env, b);
    b->sig = 0; /* open_bridge fails from here; cleanups still run */
    bridge_unref(b);
    return TT_OK;
}

void tt_jni_get_stats(tt_jni *b, tt_jni_stats *out)
{
    if (!out) return;
    if (!b) {
        *out = (tt_jni_stats){0};
        return;
    }
    tt_jni_stats s;
    size_t *src = (size_t *)&b->st, *dst = (size_t *)&s;
    for (size_t i = 0; i < sizeof s / sizeof(size_t); i++)
        dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
    /* deleted first: made only grows and never trails it, so held >= 0. */
    s.deleted = split_value(&b->deleted);
    s.held = split_value(&b->made) - s.deleted;
    *out = s;
}
