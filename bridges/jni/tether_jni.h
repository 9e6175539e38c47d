/*
 * tether_jni.h: a bridge between a tether heap and a Java virtual machine,
 * through JNI.
 *
 *  - Java objects held from C. tt_jni_hold makes a tether foreign object
 *    owning a JNI global reference; its cleanup deletes the reference on
 *    whatever thread runs it (tether's finalizer thread, a mutator, heap
 *    close), attaching that thread to the JVM as a daemon if it is not
 *    attached yet. A Java array counts its size as external bytes, so
 *    tether collects when C keeps much of the Java heap alive.
 *  - tether objects held from Java. tt_jni_wrap_object returns an
 *    org.tether.TetherRef holding a tether global reference; a
 *    java.lang.ref.Cleaner (or close()) frees it. The Cleaner runs on a
 *    Java thread tether does not know, so the free is queued and done by
 *    the bridge at its next call, or tt_jni_drain.
 *  - Pressure. When a Java heap pool passes a usage threshold (a
 *    MemoryMXBean notification) or a bridge allocation throws
 *    OutOfMemoryError, the bridge collects tether and runs its cleanups,
 *    which deletes the global references of dead foreign objects, then asks
 *    the JVM to collect (the allocation is retried once).
 *  - Iteration. tt_jni_iterate runs a java.util.Iterator to its end from
 *    C and deletes each element's local reference as soon as the callback
 *    has converted it: the local capacity is never exceeded, whatever the
 *    length.
 *
 * The classes org.tether.TetherRef and org.tether.TetherPressure come in
 * the jar TETHER_JNI_JAR (built with the bridge); it must be on the JVM's
 * class path.
 *
 * Cycles. A Java object held from C (a global reference) that reaches a
 * TetherRef whose tether object holds that same Java object is a cycle
 * neither collector can see: both stay alive until one side is released
 * explicitly (tt_jni_release, TetherRef.close). Hold across the boundary
 * in one direction, or release explicitly.
 *
 * Shutdown: tt_jni_close, then tt_heap_close, then (if the program made
 * it) DestroyJavaVM.
 */
#ifndef TETHER_JNI_H
#define TETHER_JNI_H

#include <stddef.h>

#include <jni.h>
#include <tether.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tt_jni tt_jni;

/* Open a bridge between vm and t's heap; the calling OS thread must be
 * attached to both (t is its tether thread), and stay attached to the JVM
 * until tt_jni_close: the bridge keeps its JNIEnv. Registers the natives of
 * org.tether.TetherRef and org.tether.TetherPressure and arms the pressure
 * thresholds at `threshold` (a fraction of each heap pool's maximum; 0
 * means 0.75). Returns NULL with tether's last error set: TT_EINVAL (null
 * argument, or the calling thread not attached to vm), TT_ENOTFOUND (the
 * classes are not on the class path), TT_ENOMEM. */
tt_jni *tt_jni_open(JavaVM *vm, tt_thread *t, double threshold);

/* Close the bridge: free the globals queued by Java's Cleaner, disarm the
 * pressure listener. Foreign objects still holding Java references keep
 * working (their cleanups delete the references at heap close or when
 * they die). Call on the bridge's thread, before tt_heap_close and
 * before DestroyJavaVM. TT_OK; TT_EINVAL (not an open bridge); TT_ESTATE
 * (called on another thread: nothing is done). */
int tt_jni_close(tt_jni *b);

/* ---- Java objects held from C ---- */

/* A tether foreign object holding a global reference to obj. Its
 * external size is the array's size for a Java array (elements times
 * element size; 8 per element for object arrays), otherwise 0; use
 * tt_jni_hold_sized to give one. TT_NULL with tether's last error set on
 * failure (TT_ENOMEM: tether's heap limit, or the JVM could not make the
 * global reference; TT_EINVAL: obj is null). May collect; a cleanup
 * point. */
tt_ref tt_jni_hold(tt_jni *b, jobject obj);
tt_ref tt_jni_hold_sized(tt_jni *b, jobject obj, size_t external_bytes);

/* A new local reference to the Java object `held` holds, or NULL with
 * tether's last error set: TT_ESTATE (released), TT_EINVAL (not a value
 * of this bridge). */
jobject tt_jni_get(tt_jni *b, tt_ref held);

/* Delete the global reference now. TT_OK; TT_ESTATE if released already;
 * TT_EINVAL if held is not a value of this bridge. */
int tt_jni_release(tt_jni *b, tt_ref held);

/* ---- tether objects held from Java ---- */

/* A new org.tether.TetherRef (a local reference) holding a tether global
 * reference to obj. NULL with tether's last error set (TT_ENOMEM; a Java
 * exception is left pending). */
jobject tt_jni_wrap_object(tt_jni *b, tt_ref obj);

/* The object a TetherRef holds; TT_NULL if ref is not a TetherRef or was
 * closed (or collected and its Cleaner has run). */
tt_ref tt_jni_unwrap(tt_jni *b, jobject ref);

/* ---- pressure and safe points ---- */

/* Free the globals the Cleaner queued, and if the Java heap signalled
 * pressure, relieve it (tt_jni_relieve). Returns the globals freed. Called
 * by every bridge call. */
size_t tt_jni_drain(tt_jni *b);

/* Collect tether and run its pending cleanups (deleting the global
 * references of dead foreign objects), then System.gc(). TT_OK or
 * tether's error. */
int tt_jni_relieve(tt_jni *b);

/* A new byte[n]; on OutOfMemoryError, relieve and retry once. NULL with a
 * pending OutOfMemoryError if the retry fails too. */
jbyteArray tt_jni_new_byte_array(tt_jni *b, jsize n);

/* ---- iteration ---- */

/* Called for each element of an iteration, with a local reference the
 * bridge deletes after the call. Return 0 to go on, anything else to stop
 * (tt_jni_iterate then returns it). */
typedef int (*tt_jni_each_fn)(tt_thread *t, JNIEnv *env, jobject elem, void *ctx);

/* Run `it` (a java.util.Iterator, or an Iterable whose iterator() is
 * used) to its end, calling fn for each element. Returns 0 when done, fn's
 * nonzero result if it stopped, or -1 if Java threw (the exception is left
 * pending). *count (may be NULL) receives the elements seen. */
int tt_jni_iterate(tt_jni *b, jobject it, tt_jni_each_fn fn, void *ctx, long *count);

/* Counters, for tests and reports. */
typedef struct tt_jni_stats {
    size_t held;          /* global references held by foreign objects */
    size_t deleted;       /* deleted by cleanups */
    size_t wrapped;       /* TetherRef objects made */
    size_t unwrapped_freed; /* their globals freed (Cleaner or close) */
    size_t pressure_events; /* threshold notifications received */
    size_t reliefs;       /* tt_jni_relieve runs (including automatic) */
    size_t oom_retries;   /* allocations retried after OutOfMemoryError */
    size_t attached;      /* threads the bridge attached to the JVM */
} tt_jni_stats;
void tt_jni_get_stats(tt_jni *b, tt_jni_stats *out);

#ifdef __cplusplus
}
#endif
#endif
