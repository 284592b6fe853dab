package org.tessera;

/** A scope without gradient recording on this thread, for try-with-resources (as PyTorch's
 * {@code torch.no_grad()}): {@code try (NoGrad g = new NoGrad()) { ... }}. */
public final class NoGrad implements AutoCloseable {
  private final boolean previous;
  private boolean closed;

  public NoGrad() {
    previous = Native.setGradEnabled(false);
  }

  @Override
  public void close() {
    if (!closed) {
      closed = true;
      Native.setGradEnabled(previous);
    }
  }
}
