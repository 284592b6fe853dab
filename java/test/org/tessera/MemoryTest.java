package org.tessera;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** Handles dropped without close() are released by the Cleaner: a million small tensors leave
 * the process's resident memory where it was. */
class MemoryTest {
  private static long residentKb() throws Exception {
    for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
      if (line.startsWith("VmRSS:")) {
        return Long.parseLong(line.replaceAll("[^0-9]", ""));
      }
    }
    throw new IllegalStateException("no VmRSS in /proc/self/status");
  }

  private static void churn(int n) {
    for (int i = 0; i < n; ++i) {
      Tensor t = Tensor.zeros(4);  // dropped: the Cleaner frees it
      if (i % 100_000 == 0) {
        System.gc();
      }
      t.numel();
    }
    System.gc();
  }

  @Test
  void aMillionDroppedTensorsDoNotGrowNativeMemory() throws Exception {
    churn(200_000);  // warm-up: the JIT, the allocator's caches, the handle table
    Thread.sleep(200);
    long before = residentKb();
    churn(1_000_000);
    // The Cleaner's thread releases what the collector found; give it time (a busy machine is slow).
    long after = residentKb();
    for (int i = 0; i < 50 && after - before >= 40_000; ++i) {
      System.gc();
      Thread.sleep(100);
      after = residentKb();
    }
    // Leaking every tensor would cost hundreds of MB (a handle, a tensor and its storage each).
    assertTrue(after - before < 40_000, "resident memory grew from " + before + " kB to " + after + " kB");
  }
}
