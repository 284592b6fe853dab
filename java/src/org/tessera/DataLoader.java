package org.tessera;

import java.lang.ref.Reference;

/** Batches for training and evaluation. */
public final class DataLoader extends NativeHandle {
  private DataLoader(long handle) {
    super(handle, Native::loaderFree);
  }

  /** Batches of the rows of inputs and targets (copied references: the tensors may be closed). */
  public static DataLoader fromTensors(Tensor inputs, Tensor targets, long batchSize, boolean shuffle, long seed) {
    try {
      return new DataLoader(Native.loaderFromTensors(inputs.handle(), targets.handle(), batchSize, shuffle, seed));
    } finally {
      Reference.reachabilityFence(inputs);
      Reference.reachabilityFence(targets);
    }
  }

  /** MNIST-format files in dir (Fashion-MNIST: /usr/share/datasets/fashion-mnist): images
   * [N, 1, 28, 28] float32 in [0, 1], labels int64. */
  public static DataLoader mnist(String dir, boolean train, long batchSize, boolean shuffle, long seed) {
    return mnist(dir, train, 0, 1, batchSize, shuffle, seed);
  }

  /** The same with the images normalized as (x - mean) / std (Fashion-MNIST's: 0.2860, 0.3530). */
  public static DataLoader mnist(String dir, boolean train, double mean, double std, long batchSize, boolean shuffle,
                                 long seed) {
    return new DataLoader(Native.loaderMnist(dir, train, mean, std, batchSize, shuffle, seed));
  }

  public long numBatches() {
    try {
      return Native.loaderNumBatches(handle());
    } finally {
      Reference.reachabilityFence(this);
    }
  }
}
