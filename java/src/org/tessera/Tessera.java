package org.tessera;

/** The library: version, random seed, threads. */
public final class Tessera {
  private Tessera() {}

  /** The native library's version, e.g. "0.1.0". */
  public static String version() {
    return Native.version();
  }

  /** Seeds the default random generator (weights, shuffling, dropout). */
  public static void manualSeed(long seed) {
    Native.manualSeed(seed);
  }

  /** The CPU threads the ops use. */
  public static void setNumThreads(int threads) {
    Native.setNumThreads(threads);
  }
}
