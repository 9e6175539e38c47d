/*
 * jni_pressure.c: the scenario of issue 7 on the JVM. A JVM with -Xmx64m;
 * N Java byte[1 MiB], each wrapped in a tether foreign object, only the
 * last 10 reachable from tether.
 *
 *   bridge    tt_jni_new_byte_array + tt_jni_hold: the array's size is the
 *             object's external size, so tether collects as the Java heap
 *             fills, and its cleanups delete the global references.
 *   baseline  NewByteArray + a global reference in a foreign object of no
 *             external size whose cleanup deletes it (ordinary
 *             finalization): tether sees only small objects and never
 *             collects, so the JVM throws OutOfMemoryError.
 *
 * Each run is its own process (one JVM per process); the report gives
 * whether it completed (or where it failed), the peak Java heap use
 * (Runtime.totalMemory - freeMemory, sampled every item) and peak RSS.
 *
 * Usage: jni_pressure [--check] [N]   (default 10000)
 * --check: exit 0 only if the bridge run completes and the baseline fails
 * (the test); otherwise 0 unless the bridge run fails (the benchmark).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tether_jni.h"

#define KEEP 10
#define ITEM (1 << 20)

static void delete_global(tt_thread *t, tt_ref obj, void *ctx)
{
    JavaVM *vm = ctx;
    JNIEnv *env;
    if ((*vm)->GetEnv(vm, (void **)&env, JNI_VERSION_1_8) == JNI_OK)
        (*env)->DeleteGlobalRef(env, tt_foreign_addr(t, obj));
}

static int run(int bridge, long n)
{
    JavaVM *vm;
    JNIEnv *env;
    JavaVMOption opts[] = {{.optionString = "-Djava.class.path=" TETHER_JNI_JAR},
                           {.optionString = "-Xmx64m"}};
    JavaVMInitArgs args = {.version = JNI_VERSION_1_8, .nOptions = 2, .options = opts};
    if (JNI_CreateJavaVM(&vm, (void **)&env, &args) != JNI_OK) return 2;
    tt_heap *h = tt_heap_open(NULL);
    tt_thread *t = h ? tt_thread_attach(h) : NULL;
    tt_jni *b = t && bridge ? tt_jni_open(vm, t, 0) : NULL;
    if (!t || (bridge && !b)) return 2;
    jclass rt_cls = (*env)->FindClass(env, "java/lang/Runtime");
    jmethodID get_rt = (*env)->GetStaticMethodID(env, rt_cls, "getRuntime", "()Ljava/lang/Runtime;");
    jmethodID total = (*env)->GetMethodID(env, rt_cls, "totalMemory", "()J");
    jmethodID freem = (*env)->GetMethodID(env, rt_cls, "freeMemory", "()J");
    jobject rt = (*env)->CallStaticObjectMethod(env, rt_cls, get_rt);

    tt_global keep = tt_global_new(t, tt_alloc_array(t, &tt_refs_type, KEEP));
    long peak_java = 0, done = 0;
    const char *fail = NULL;
    for (long i = 0; i < n; i++) {
        jbyteArray a = bridge ? tt_jni_new_byte_array(b, ITEM) : (*env)->NewByteArray(env, ITEM);
        if (!a) {
            (*env)->ExceptionClear(env);
            fail = "OutOfMemoryError";
            break;
        }
        tt_ref held;
        if (bridge) {
            held = tt_jni_hold(b, a);
        } else {
            jobject g = (*env)->NewGlobalRef(env, a);
            held = g ? tt_foreign_new(t, g, 0, delete_global, vm) : TT_NULL;
        }
        (*env)->DeleteLocalRef(env, a);
        if (tt_is_null(held)) {
            fail = tt_last_error()->message;
            break;
        }
        tt_array_set(t, tt_global_get(t, keep), (size_t)(i % KEEP), held);
        long used = (long)((*env)->CallLongMethod(env, rt, total) - (*env)->CallLongMethod(env, rt, freem));
        if (used > peak_java) peak_java = used;
        done = i + 1;
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    tt_stats st;
    tt_heap_stats(h, &st);
    printf("  %-9s %-10s %6ld of %ld arrays  peak Java heap %5.1f MiB  peak RSS %6.1f MiB  "
           "tether collections %4llu%s%s\n",
           bridge ? "bridge" : "baseline", done == n ? "completed" : "FAILED", done, n,
           (double)peak_java / (1 << 20), (double)ru.ru_maxrss / 1024.0,
           (unsigned long long)st.collections, fail ? "  " : "", fail ? fail : "");
    fflush(stdout);
    return done == n ? 0 : 1;
}

static int in_child(int bridge, long n)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) return 2;
    if (pid == 0) _exit(run(bridge, n));
    int status;
    if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status)) return 2;
    return WEXITSTATUS(status);
}

int main(int argc, char **argv)
{
    int check = 0;
    long n = 10000;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--check") == 0) check = 1;
        else n = atol(argv[i]);
    }
    if (n <= 0) return 2;
    printf("jni_pressure: %ld Java byte[1 MiB] in a JVM of -Xmx64m, each in a tether foreign "
           "object, the last %d kept\n", n, KEEP);
    int with = in_child(1, n);
    int without = in_child(0, n);
    if (with != 0) return 1;
    if (check && without != 1) {
        printf("  the baseline did not fail: the scenario does not show what the bridge is for\n");
        return 1;
    }
    return 0;
}
