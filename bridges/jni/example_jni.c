/*
 * example_jni.c: a JVM (embedded here) and a tether heap sharing objects
 * through the bridge (bridges/jni/tether_jni.h).
 *
 *   1. C keeps a Java byte[] alive with tt_jni_hold; tether counts its
 *      size, and a collection deletes the reference once C forgets it;
 *   2. Java keeps a tether object alive through a TetherRef, and gives it
 *      back with close();
 *   3. a Java list is converted element by element into tether objects,
 *      each local reference deleted at once.
 */
#include <stdio.h>
#include <stdlib.h>

#include "tether_jni.h"

struct number {
    long value;
};
static const tt_type number_type = TT_ATOMIC_TYPE_INIT(struct number);

static void check(int ok, const char *what)
{
    printf("   %-62s %s\n", what, ok ? "ok" : "FAILED");
    if (!ok) exit(1);
}

static int freed;
static void count_free(tt_thread *t, tt_ref obj, void *ctx)
{
    (void)t;
    (void)obj;
    (void)ctx;
    freed++;
}

/* Each Integer of the list becomes a tether number kept in a ref array. */
struct into {
    tt_global array;
    size_t n;
    jmethodID int_value;
};

static int to_number(tt_thread *t, JNIEnv *env, jobject elem, void *ctx)
{
    struct into *in = ctx;
    jint v = (*env)->CallIntMethod(env, elem, in->int_value);
    if ((*env)->ExceptionCheck(env)) return 1;
    tt_ref r = tt_alloc(t, &number_type);
    if (tt_is_null(r)) return 1;
    TT_PTR(struct number, r)->value = v;
    return tt_array_set(t, tt_global_get(t, in->array), in->n++, r);
}

int main(void)
{
    JavaVM *vm;
    JNIEnv *env;
    JavaVMOption opts[] = {{.optionString = "-Djava.class.path=" TETHER_JNI_JAR}};
    JavaVMInitArgs args = {.version = JNI_VERSION_1_8, .nOptions = 1, .options = opts};
    if (JNI_CreateJavaVM(&vm, (void **)&env, &args) != JNI_OK) return 1;
    tt_heap *h = tt_heap_open(NULL);
    tt_thread *t = h ? tt_thread_attach(h) : NULL;
    tt_jni *b = t ? tt_jni_open(vm, t, 0) : NULL;
    if (!b) return 1;
    printf("tether + a JVM through the bridge\n");

    /* 1. C holds a Java array. */
    tt_frame f = tt_frame_push(t, 1);
    jbyteArray bytes = tt_jni_new_byte_array(b, 4096);
    tt_local held = tt_local_new(t, tt_jni_hold(b, bytes));
    (*env)->DeleteLocalRef(env, bytes);
    printf("1. C holds a Java byte[4096]\n");
    check(tt_foreign_size(t, tt_local_get(t, held)) == 4096, "tether counts its 4096 bytes");
    tt_frame_pop(t, f, TT_NO_LOCAL);
    tt_collect(t);
    tt_run_finalizers(t, 0);
    tt_jni_stats st;
    tt_jni_get_stats(b, &st);
    check(st.deleted == 1, "once C forgets it, a collection deletes the global reference");

    /* 2. Java holds a tether object. */
    f = tt_frame_push(t, 1);
    tt_local obj = tt_local_new(t, tt_foreign_new(t, NULL, 0, count_free, NULL));
    jobject ref = tt_jni_wrap_object(b, tt_local_get(t, obj));
    tt_frame_pop(t, f, TT_NO_LOCAL);
    tt_collect(t);
    tt_run_finalizers(t, 0);
    printf("2. Java holds a tether object through an org.tether.TetherRef\n");
    check(freed == 0 && !tt_is_null(tt_jni_unwrap(b, ref)), "it survives tether's collection");
    jclass rc = (*env)->GetObjectClass(env, ref);
    (*env)->CallVoidMethod(env, ref, (*env)->GetMethodID(env, rc, "close", "()V"));
    tt_jni_drain(b);
    tt_collect(t);
    tt_run_finalizers(t, 0);
    check(freed == 1, "after TetherRef.close() it is tether's to collect");
    (*env)->DeleteLocalRef(env, rc);
    (*env)->DeleteLocalRef(env, ref);

    /* 3. A Java list into tether objects. */
    jclass al = (*env)->FindClass(env, "java/util/ArrayList");
    jclass ic = (*env)->FindClass(env, "java/lang/Integer");
    jobject list = (*env)->NewObject(env, al, (*env)->GetMethodID(env, al, "<init>", "()V"));
    jmethodID add = (*env)->GetMethodID(env, al, "add", "(Ljava/lang/Object;)Z");
    jmethodID value_of = (*env)->GetStaticMethodID(env, ic, "valueOf", "(I)Ljava/lang/Integer;");
    for (int i = 1; i <= 100; i++) {
        jobject v = (*env)->CallStaticObjectMethod(env, ic, value_of, i);
        (*env)->CallBooleanMethod(env, list, add, v);
        if ((*env)->ExceptionCheck(env)) return 1;
        (*env)->DeleteLocalRef(env, v);
    }
    struct into in = {tt_global_new(t, tt_alloc_array(t, &tt_refs_type, 100)), 0,
                      (*env)->GetMethodID(env, ic, "intValue", "()I")};
    long seen = 0;
    int rc2 = tt_jni_iterate(b, list, to_number, &in, &seen);
    long sum = 0;
    for (size_t i = 0; i < in.n; i++)
        sum += TT_PTR(struct number, tt_array_get(tt_global_get(t, in.array), i))->value;
    printf("3. a java.util.ArrayList of 100 Integers, iterated from C\n");
    check(rc2 == 0 && seen == 100 && sum == 5050, "100 tether numbers summing to 5050");

    tt_global_free(t, in.array);
    tt_jni_close(b);
    tt_thread_detach(t);
    tt_heap_close(h);
    return 0;
}
