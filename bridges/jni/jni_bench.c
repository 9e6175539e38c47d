/*
 * jni_bench.c: the cost targets of the JVM bridge, each against the best
 * hand-written JNI in the same process, alternating, medians of ROUNDS:
 *
 *   iterate   a java.util.Iterator of 1,000,000 Integers, each converted
 *             into a tether object (a boxed int kept in a tether array):
 *             tt_jni_iterate against a loop of hasNext / next / intValue /
 *             DeleteLocalRef doing the same conversion.      goal <= 1.2x
 *   wrap      tt_jni_hold + tt_jni_release of one Java object, against
 *             NewGlobalRef + DeleteGlobalRef alone.          goal <= 1.3x
 *             Measured once the iterate phase's million tether objects
 *             are dropped: each held value is a tether object, so with a
 *             large live tether heap a wrap also pays its share of the
 *             collections that allocation causes, which a global
 *             reference does not. That figure is printed beside it.
 *
 * Output: one line per figure (ns per element or per pair), then the
 * ratios with their goals. Exit status 0 whatever the ratios (bench/run.sh
 * reads and judges them).
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "tether_jni.h"

enum { ROUNDS = 5, ITEMS = 1000000, WRAPS = 1000000 };

struct boxed {
    long value;
};
static const tt_type boxed_type = TT_ATOMIC_TYPE_INIT(struct boxed);

static JNIEnv *env;
static tt_thread *t;
static tt_jni *b;
static jmethodID int_value, has_next, next, iterator;
static tt_global out; /* a tether array of ITEMS references */

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* The conversion both loops make: a tether object holding the int, stored
 * in the output array. */
static int convert(tt_thread *tc, JNIEnv *e, jobject elem, void *ctx)
{
    size_t *i = ctx;
    jint v = (*e)->CallIntMethod(e, elem, int_value);
    if ((*e)->ExceptionCheck(e)) return 1;
    tt_ref r = tt_alloc(tc, &boxed_type);
    if (tt_is_null(r)) return 1;
    TT_PTR(struct boxed, r)->value = v;
    tt_array_set(tc, tt_global_get(tc, out), (*i)++, r);
    return 0;
}

static double run_bridge(jobject list)
{
    size_t i = 0;
    double t0 = now_ns();
    if (tt_jni_iterate(b, list, convert, &i, NULL) != 0 || i != ITEMS) exit(3);
    return (now_ns() - t0) / ITEMS;
}

static double run_hand(jobject list)
{
    size_t i = 0;
    double t0 = now_ns();
    jobject it = (*env)->CallObjectMethod(env, list, iterator);
    while ((*env)->CallBooleanMethod(env, it, has_next)) {
        jobject e = (*env)->CallObjectMethod(env, it, next);
        if ((*env)->ExceptionCheck(env) || convert(t, env, e, &i)) exit(3);
        (*env)->DeleteLocalRef(env, e);
    }
    (*env)->DeleteLocalRef(env, it);
    if (i != ITEMS) exit(3);
    return (now_ns() - t0) / ITEMS;
}

static double run_wrap(jobject obj)
{
    double t0 = now_ns();
    for (int i = 0; i < WRAPS; i++) {
        tt_ref held = tt_jni_hold_sized(b, obj, 0);
        if (tt_is_null(held) || tt_jni_release(b, held) != TT_OK) exit(3);
    }
    return (now_ns() - t0) / WRAPS;
}

static double run_global(jobject obj)
{
    double t0 = now_ns();
    for (int i = 0; i < WRAPS; i++) {
        jobject g = (*env)->NewGlobalRef(env, obj);
        if (!g) exit(3);
        (*env)->DeleteGlobalRef(env, g);
    }
    return (now_ns() - t0) / WRAPS;
}

static int cmp(const void *x, const void *y)
{
    double a = *(const double *)x, c = *(const double *)y;
    return (a > c) - (a < c);
}

static double median(double *v)
{
    qsort(v, ROUNDS, sizeof *v, cmp);
    return v[ROUNDS / 2];
}

int main(void)
{
    JavaVM *vm;
    JavaVMOption opts[] = {{.optionString = "-Djava.class.path=" TETHER_JNI_JAR}};
    JavaVMInitArgs args = {.version = JNI_VERSION_1_8, .nOptions = 1, .options = opts};
    if (JNI_CreateJavaVM(&vm, (void **)&env, &args) != JNI_OK) return 2;
    tt_heap *h = tt_heap_open(NULL);
    t = h ? tt_thread_attach(h) : NULL;
    b = t ? tt_jni_open(vm, t, 0) : NULL;
    if (!b) return 2;
    jclass al = (*env)->FindClass(env, "java/util/ArrayList");
    jclass ic = (*env)->FindClass(env, "java/lang/Integer");
    jclass itc = (*env)->FindClass(env, "java/util/Iterator");
    jmethodID ctor = (*env)->GetMethodID(env, al, "<init>", "(I)V");
    jmethodID add = (*env)->GetMethodID(env, al, "add", "(Ljava/lang/Object;)Z");
    jmethodID value_of = (*env)->GetStaticMethodID(env, ic, "valueOf", "(I)Ljava/lang/Integer;");
    int_value = (*env)->GetMethodID(env, ic, "intValue", "()I");
    has_next = (*env)->GetMethodID(env, itc, "hasNext", "()Z");
    next = (*env)->GetMethodID(env, itc, "next", "()Ljava/lang/Object;");
    iterator = (*env)->GetMethodID(env, al, "iterator", "()Ljava/util/Iterator;");
    jobject list = (*env)->NewObject(env, al, ctor, (jint)ITEMS);
    for (int i = 0; i < ITEMS; i++) {
        jobject v = (*env)->CallStaticObjectMethod(env, ic, value_of, (jint)i);
        (*env)->CallBooleanMethod(env, list, add, v);
        if ((*env)->ExceptionCheck(env)) return 2;
        (*env)->DeleteLocalRef(env, v);
    }
    out = tt_global_new(t, tt_alloc_array(t, &tt_refs_type, ITEMS));
    jobject obj = (*env)->NewStringUTF(env, "wrapped");

    double bridge[ROUNDS], hand[ROUNDS], wrap[ROUNDS], global[ROUNDS], live[ROUNDS];
    run_bridge(list); /* warm-up: JIT, heap sizes */
    run_hand(list);
    run_wrap(obj);
    run_global(obj);
    for (int r = 0; r < ROUNDS; r++) {
        bridge[r] = run_bridge(list);
        hand[r] = run_hand(list);
        live[r] = run_wrap(obj); /* with the million converted objects live */
    }
    tt_global_free(t, out);
    tt_collect(t);
    for (int r = 0; r < ROUNDS; r++) {
        wrap[r] = run_wrap(obj);
        global[r] = run_global(obj);
    }
    double mb = median(bridge), mh = median(hand), mw = median(wrap), mg = median(global);
    printf("  iterate 1,000,000 Integers into tether objects: bridge %.1f ns/element, hand-written "
           "JNI loop %.1f ns/element: %.2fx (goal <= 1.20x: %s)\n",
           mb, mh, mb / mh, mb / mh <= 1.2 ? "met" : "MISSED");
    printf("  wrap + release one Java object: bridge %.1f ns, NewGlobalRef + DeleteGlobalRef %.1f ns: "
           "%.2fx (goal <= 1.30x: %s); with 1,000,000 live tether objects the bridge takes %.1f ns\n",
           mw, mg, mw / mg, mw / mg <= 1.3 ? "met" : "MISSED", median(live));
    return 0;
}
