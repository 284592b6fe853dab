package org.tessera;

import java.lang.ref.Cleaner;
import java.util.function.LongConsumer;

/** A native object owned by a Java one: released by {@link #close()} or, as a safety net, by a
 * Cleaner once the Java object is unreachable. Using it after close() is an IllegalStateException. */
abstract class NativeHandle implements AutoCloseable {
  private static final Cleaner CLEANER = Cleaner.create();

  /** The release action: must not refer to the Java object (or it would never become unreachable). */
  private static final class Release implements Runnable {
    private long handle;
    private final LongConsumer free;

    Release(long handle, LongConsumer free) {
      this.handle = handle;
      this.free = free;
    }

    synchronized long get() {
      return handle;
    }

    @Override
    public void run() {
      long h;
      synchronized (this) {
        h = handle;
        handle = 0;
      }
      if (h != 0) {
        free.accept(h);
      }
    }
  }

  private final Release release;
  private final Cleaner.Cleanable cleanable;

  NativeHandle(long handle, LongConsumer free) {
    if (handle == 0) {
      throw new IllegalStateException("a null native handle");
    }
    release = new Release(handle, free);
    cleanable = CLEANER.register(this, release);
  }

  /** The native handle; an IllegalStateException once closed. */
  final long handle() {
    long h = release.get();
    if (h == 0) {
      throw new IllegalStateException(getClass().getSimpleName() + " is closed");
    }
    return h;
  }

  /** Whether close() has released the native object. */
  public final boolean isClosed() {
    return release.get() == 0;
  }

  /** Releases the native object now (later calls do nothing). */
  @Override
  public void close() {
    cleanable.clean();
  }
}
