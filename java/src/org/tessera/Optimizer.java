package org.tessera;

import java.lang.ref.Reference;

/** An optimizer over a model's parameters: SGD, Adam or AdamW. */
public final class Optimizer extends NativeHandle {
  private Optimizer(long handle) {
    super(handle, Native::optimizerFree);
  }

  private static long of(Module m, int kind, double lr, double a, double b, double eps, double wd, boolean nesterov) {
    try {
      return Native.optimizer(kind, m.handle(), lr, a, b, eps, wd, nesterov);
    } finally {
      Reference.reachabilityFence(m);
    }
  }

  public static Optimizer sgd(Module m, double lr, double momentum, double weightDecay, boolean nesterov) {
    return new Optimizer(of(m, 0, lr, momentum, 0, 0, weightDecay, nesterov));
  }

  public static Optimizer sgd(Module m, double lr, double momentum) {
    return sgd(m, lr, momentum, 0, false);
  }

  public static Optimizer adam(Module m, double lr, double beta1, double beta2, double eps, double weightDecay) {
    return new Optimizer(of(m, 1, lr, beta1, beta2, eps, weightDecay, false));
  }

  public static Optimizer adam(Module m, double lr) {
    return adam(m, lr, 0.9, 0.999, 1e-8, 0);
  }

  /** AdamW (decoupled weight decay; PyTorch's default decay is 0.01). */
  public static Optimizer adamw(Module m, double lr, double beta1, double beta2, double eps, double weightDecay) {
    return new Optimizer(of(m, 2, lr, beta1, beta2, eps, weightDecay, false));
  }

  public void step() {
    try {
      Native.optimizerStep(handle());
    } finally {
      Reference.reachabilityFence(this);
    }
  }

  public void zeroGrad() {
    try {
      Native.optimizerZeroGrad(handle());
    } finally {
      Reference.reachabilityFence(this);
    }
  }

  public double lr() {
    try {
      return Native.optimizerLr(handle());
    } finally {
      Reference.reachabilityFence(this);
    }
  }

  public void setLr(double lr) {
    try {
      Native.optimizerSetLr(handle(), lr);
    } finally {
      Reference.reachabilityFence(this);
    }
  }

  /** Saves model, optimizer state (optimizer may be null), epoch and step in one file, atomically. */
  public static void saveCheckpoint(String path, Module model, Optimizer optimizer, long epoch, long step) {
    try {
      Native.checkpoint(path, model.handle(), optimizer == null ? 0 : optimizer.handle(), true, new long[] {epoch, step});
    } finally {
      Reference.reachabilityFence(model);
      Reference.reachabilityFence(optimizer);
    }
  }

  /** Restores a checkpoint into model (and optimizer, when not null); returns {epoch, step}. */
  public static long[] loadCheckpoint(String path, Module model, Optimizer optimizer) {
    long[] epochStep = new long[2];
    try {
      Native.checkpoint(path, model.handle(), optimizer == null ? 0 : optimizer.handle(), false, epochStep);
      return epochStep;
    } finally {
      Reference.reachabilityFence(model);
      Reference.reachabilityFence(optimizer);
    }
  }
}
