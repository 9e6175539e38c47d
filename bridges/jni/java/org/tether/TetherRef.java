package org.tether;

import java.lang.ref.Cleaner;

/**
 * A tether object held from Java: a tether global reference, freed when
 * this object becomes unreachable (through a Cleaner) or at once by
 * close(). Made by the C bridge (tt_jni_wrap_object); the C side reads the
 * reference back with tt_jni_unwrap.
 *
 * The Cleaner runs on a Java thread that tether does not know, so the
 * native free only queues the reference; the bridge frees it on its own
 * thread at its next call (or tt_jni_drain).
 */
public final class TetherRef implements AutoCloseable {
    private static final Cleaner CLEANER = Cleaner.create();

    private final long bits;
    private final Cleaner.Cleanable cleanable;
    private volatile boolean closed;

    TetherRef(long bridge, long bits) {
        this.bits = bits;
        this.cleanable = CLEANER.register(this, new Free(bridge, bits));
    }

    /** Give the tether object back now; later unwraps see nothing. */
    @Override
    public void close() {
        closed = true;
        cleanable.clean();
    }

    private static final class Free implements Runnable {
        private final long bridge;
        private final long bits;

        Free(long bridge, long bits) {
            this.bridge = bridge;
            this.bits = bits;
        }

        @Override
        public void run() {
            free0(bridge, bits);
        }
    }

    static native void free0(long bridge, long bits);
}
