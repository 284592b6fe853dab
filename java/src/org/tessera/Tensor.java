package org.tessera;

import java.lang.ref.Reference;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/** A tessera tensor. Close it when done (try-with-resources), or let the garbage collector's
 * Cleaner release it. Ops return new tensors. Errors are {@link TesseraException}s naming the op
 * and the shapes. */
public final class Tensor extends NativeHandle {
  Tensor(long handle) {
    super(handle, Native::tensorFree);
  }

  static Tensor wrap(long handle) {
    return handle == 0 ? null : new Tensor(handle);
  }

  // --- making tensors ---------------------------------------------------------------------------
  /** A float32 tensor holding a copy of data (row-major), of the given shape. */
  public static Tensor of(float[] data, long... shape) {
    return new Tensor(Native.tensorFromArray(data, shape, DType.FLOAT32.code));
  }

  public static Tensor of(double[] data, long... shape) {
    return new Tensor(Native.tensorFromArray(data, shape, DType.FLOAT64.code));
  }

  public static Tensor of(int[] data, long... shape) {
    return new Tensor(Native.tensorFromArray(data, shape, DType.INT32.code));
  }

  public static Tensor of(long[] data, long... shape) {
    return new Tensor(Native.tensorFromArray(data, shape, DType.INT64.code));
  }

  /** A tensor over a direct ByteBuffer's memory, without copying: writes on either side are seen
   * on both. The buffer must be in native byte order; it stays reachable while the tensor (or a
   * view of it) uses it. */
  public static Tensor fromBuffer(ByteBuffer buffer, DType dtype, long... shape) {
    if (buffer == null || !buffer.isDirect()) {
      throw new IllegalArgumentException("fromBuffer: the buffer must be a direct ByteBuffer");
    }
    if (buffer.order() != ByteOrder.nativeOrder()) {
      throw new IllegalArgumentException("fromBuffer: the buffer must be in native byte order (ByteOrder.nativeOrder())");
    }
    return new Tensor(Native.tensorFromBuffer(buffer, shape, dtype.code));
  }

  public static Tensor zeros(long... shape) {
    return zeros(DType.FLOAT32, shape);
  }

  public static Tensor zeros(DType dtype, long... shape) {
    return new Tensor(Native.tensorFactory(0, shape, dtype.code, 0));
  }

  public static Tensor ones(long... shape) {
    return new Tensor(Native.tensorFactory(1, shape, DType.FLOAT32.code, 0));
  }

  /** Uniform values in [0, 1). */
  public static Tensor rand(long... shape) {
    return new Tensor(Native.tensorFactory(2, shape, DType.FLOAT32.code, 0));
  }

  /** Standard normal values. */
  public static Tensor randn(long... shape) {
    return new Tensor(Native.tensorFactory(3, shape, DType.FLOAT32.code, 0));
  }

  public static Tensor full(double value, long... shape) {
    return new Tensor(Native.tensorFactory(4, shape, DType.FLOAT32.code, value));
  }

  // --- what it is --------------------------------------------------------------------------------
  public long[] shape() {
    try {
      return Native.tensorShape(handle());
    } finally {
      Reference.reachabilityFence(this);
    }
  }

  public long numel() {
    long n = 1;
    for (long d : shape()) {
      n *= d;
    }
    return n;
  }

  public DType dtype() {
    try {
      return DType.of(Native.tensorDType(handle()));
    } finally {
      Reference.reachabilityFence(this);
    }
  }

  /** "cpu" or "cuda:N". */
  public String device() {
    try {
      return Native.tensorDevice(handle());
    } finally {
      Reference.reachabilityFence(this);
    }
  }

  @Override
  public String toString() {
    if (isClosed()) {
      return "Tensor(closed)";
    }
    try {
      return Native.tensorString(handle());
    } finally {
      Reference.reachabilityFence(this);
    }
  }

  // --- its values ----------------------------------------------------------------------------------
  /** The values as floats (converted from the tensor's dtype). */
  public float[] toFloatArray() {
    try (Tensor t = to(DType.FLOAT32)) {
      float[] out = new float[Math.toIntExact(t.numel())];
      t.copyTo(out, 4L * out.length);
      return out;
    }
  }

  public double[] toDoubleArray() {
    try (Tensor t = to(DType.FLOAT64)) {
      double[] out = new double[Math.toIntExact(t.numel())];
      t.copyTo(out, 8L * out.length);
      return out;
    }
  }

  public long[] toLongArray() {
    try (Tensor t = to(DType.INT64)) {
      long[] out = new long[Math.toIntExact(t.numel())];
      t.copyTo(out, 8L * out.length);
      return out;
    }
  }

  private void copyTo(Object array, long nbytes) {
    try {
      Native.tensorCopyTo(handle(), array, nbytes);
    } finally {
      Reference.reachabilityFence(this);
    }
  }

  /** The value of a one-element tensor. */
  public double item() {
    try {
      return Native.tensorItem(handle());
    } finally {
      Reference.reachabilityFence(this);
    }
  }

  // --- conversions and views ---------------------------------------------------------------------
  /** A copy on the device ("cpu", "cuda:0"), or this tensor's data when already there. */
  public Tensor to(String device) {
    try {
      return new Tensor(Native.tensorToDevice(handle(), device));
    } finally {
      Reference.reachabilityFence(this);
    }
  }

  public Tensor to(DType dtype) {
    try {
      return new Tensor(Native.tensorToDType(handle(), dtype.code));
    } finally {
      Reference.reachabilityFence(this);
    }
  }

  /** Another shape (one size may be -1), a view when possible. */
  public Tensor reshape(long... shape) {
    try {
      return new Tensor(Native.tensorReshape(handle(), shape));
    } finally {
      Reference.reachabilityFence(this);
    }
  }

  public Tensor transpose(long dim0, long dim1) {
    try {
      return new Tensor(Native.tensorTranspose(handle(), dim0, dim1));
    } finally {
      Reference.reachabilityFence(this);
    }
  }

  // --- autograd ------------------------------------------------------------------------------------
  public Tensor requiresGrad(boolean on) {
    try {
      Native.tensorSetRequiresGrad(handle(), on);
      return this;
    } finally {
      Reference.reachabilityFence(this);
    }
  }

  public boolean requiresGrad() {
    try {
      return Native.tensorRequiresGrad(handle());
    } finally {
      Reference.reachabilityFence(this);
    }
  }

  public void backward() {
    try {
      Native.tensorBackward(handle());
    } finally {
      Reference.reachabilityFence(this);
    }
  }

  /** The accumulated gradient, or null when there is none. */
  public Tensor grad() {
    try {
      return wrap(Native.tensorGrad(handle()));
    } finally {
      Reference.reachabilityFence(this);
    }
  }

  public void zeroGrad() {
    try {
      Native.tensorZeroGrad(handle());
    } finally {
      Reference.reachabilityFence(this);
    }
  }

  // --- the ops (every op of the C API's table by name; the common ones as methods) ----------------
  /** The names of the ops {@link #unary}, {@link #binary}, {@link #scalar}, {@link #alongDim} and
   * {@link #reduce} take. */
  public static String[] opNames() {
    return Native.opNames();
  }

  private Tensor call(String op, Tensor other, double value, long[] dims, boolean keepdim) {
    try {
      long b = other == null ? 0 : other.handle();
      return new Tensor(Native.op(op, handle(), b, value, dims, keepdim));
    } finally {
      Reference.reachabilityFence(this);
      Reference.reachabilityFence(other);
    }
  }

  /** An elementwise op of one tensor: "exp", "relu", "sigmoid", ... */
  public Tensor unary(String op) {
    return call(op, null, 0, null, false);
  }

  /** An op of two tensors (broadcasting): "add", "mul", "matmul", "eq", ..., or a loss
   * ("cross_entropy", "mse_loss", ...) of this input and a target. */
  public Tensor binary(String op, Tensor other) {
    if (other == null) {
      throw new IllegalArgumentException(op + ": the other tensor is null");
    }
    return call(op, other, 0, null, false);
  }

  /** An op of this tensor and a number: "add_scalar", "mul_scalar", "pow_scalar", ... */
  public Tensor scalar(String op, double value) {
    return call(op, null, value, null, false);
  }

  /** An op along one dim: "softmax", "log_softmax", "cumsum". */
  public Tensor alongDim(String op, long dim) {
    return call(op, null, dim, null, false);
  }

  /** A reduction ("sum", "mean", "amax", "amin") over dims (none: every dim). */
  public Tensor reduce(String op, boolean keepdim, long... dims) {
    return call(op, null, 0, dims, keepdim);
  }

  public Tensor add(Tensor o) {
    return binary("add", o);
  }

  public Tensor sub(Tensor o) {
    return binary("sub", o);
  }

  public Tensor mul(Tensor o) {
    return binary("mul", o);
  }

  public Tensor div(Tensor o) {
    return binary("div", o);
  }

  public Tensor matmul(Tensor o) {
    return binary("matmul", o);
  }

  public Tensor add(double v) {
    return scalar("add_scalar", v);
  }

  public Tensor mul(double v) {
    return scalar("mul_scalar", v);
  }

  public Tensor pow(double v) {
    return scalar("pow_scalar", v);
  }

  public Tensor exp() {
    return unary("exp");
  }

  public Tensor log() {
    return unary("log");
  }

  public Tensor relu() {
    return unary("relu");
  }

  public Tensor sigmoid() {
    return unary("sigmoid");
  }

  public Tensor tanh() {
    return unary("tanh");
  }

  public Tensor softmax(long dim) {
    return alongDim("softmax", dim);
  }

  public Tensor sum() {
    return reduce("sum", false);
  }

  public Tensor mean() {
    return reduce("mean", false);
  }

  /** The largest values over dims (none: every dim). */
  public Tensor amax(long... dims) {
    return reduce("amax", false, dims);
  }

  /** Softmax cross-entropy of these logits and class indices (int64), averaged. */
  public Tensor crossEntropy(Tensor target) {
    return binary("cross_entropy", target);
  }

  public Tensor mseLoss(Tensor target) {
    return binary("mse_loss", target);
  }
}
