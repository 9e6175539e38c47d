package org.tether;

import java.lang.management.ManagementFactory;
import java.lang.management.MemoryNotificationInfo;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.MemoryType;
import javax.management.ListenerNotFoundException;
import javax.management.Notification;
import javax.management.NotificationEmitter;
import javax.management.NotificationListener;

/**
 * The bridge's view of Java heap pressure: a usage threshold on every heap
 * pool that supports one (a fraction of its maximum), whose notifications
 * tell the C bridge (pressure0) that the Java heap is filling up. The
 * bridge then collects tether, which deletes the global references of
 * dead foreign objects, and asks the JVM to collect. uninstall() returns
 * only when no notification can reach the bridge any more.
 */
public final class TetherPressure implements NotificationListener {
    private long bridge;

    private TetherPressure(long bridge) {
        this.bridge = bridge;
    }

    /** Arm the thresholds at `fraction` of each heap pool's maximum. */
    public static TetherPressure install(long bridge, double fraction) {
        for (MemoryPoolMXBean pool : ManagementFactory.getMemoryPoolMXBeans()) {
            long max = pool.getUsage().getMax();
            if (pool.getType() == MemoryType.HEAP && pool.isUsageThresholdSupported() && max > 0) {
                pool.setUsageThreshold((long) (max * fraction));
            }
        }
        TetherPressure p = new TetherPressure(bridge);
        ((NotificationEmitter) ManagementFactory.getMemoryMXBean()).addNotificationListener(p, null, null);
        return p;
    }

    @Override
    public synchronized void handleNotification(Notification n, Object handback) {
        if (bridge != 0 && MemoryNotificationInfo.MEMORY_THRESHOLD_EXCEEDED.equals(n.getType())) {
            pressure0(bridge);
        }
    }

    public synchronized void uninstall() {
        bridge = 0;
        try {
            ((NotificationEmitter) ManagementFactory.getMemoryMXBean()).removeNotificationListener(this);
        } catch (ListenerNotFoundException e) {
            // already gone
        }
    }

    static native void pressure0(long bridge);
}
