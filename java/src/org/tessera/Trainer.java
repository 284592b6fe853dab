package org.tessera;

import java.lang.ref.Reference;

/** The Keras-style training loop (tessera's C++ trainer). */
public final class Trainer {
  private Trainer() {}

  /** A loss and an accuracy (NaN when the loss is not a classification one). */
  public record Metrics(double loss, double accuracy) {}

  /** Trains model for epochs epochs with the optimizer and a loss by name ("cross_entropy",
   * "mse_loss", "nll_loss", ...; null: cross_entropy). validation and listener may be null.
   * Returns the last epoch's metrics: the validation ones when there is a validation loader. */
  public static Metrics fit(Module model, DataLoader train, Optimizer optimizer, String loss, int epochs,
                            DataLoader validation, ProgressListener listener) {
    try {
      double[] r = Native.fit(model.handle(), train.handle(), optimizer.handle(), loss, epochs,
                              validation == null ? 0 : validation.handle(), listener);
      return new Metrics(r[0], r[1]);
    } finally {
      Reference.reachabilityFence(model);
      Reference.reachabilityFence(train);
      Reference.reachabilityFence(optimizer);
      Reference.reachabilityFence(validation);
    }
  }

  /** The model's loss and accuracy over a loader (evaluation mode). */
  public static Metrics evaluate(Module model, DataLoader loader, String loss) {
    try {
      double[] r = Native.evaluate(model.handle(), loader.handle(), loss);
      return new Metrics(r[0], r[1]);
    } finally {
      Reference.reachabilityFence(model);
      Reference.reachabilityFence(loader);
    }
  }
}
