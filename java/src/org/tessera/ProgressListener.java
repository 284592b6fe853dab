package org.tessera;

/** Called by {@link Trainer#fit} after each training batch (batch 0 .. numBatches - 1, loss: the
 * epoch's running mean) and at each epoch's end (batch -1, loss: the epoch's mean). Returning true
 * stops training after the current epoch. */
@FunctionalInterface
public interface ProgressListener {
  boolean onProgress(long epoch, long batch, long numBatches, double loss);
}
