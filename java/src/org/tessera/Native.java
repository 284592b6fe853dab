package org.tessera;

import java.nio.ByteBuffer;

/** The native methods (libtessera_jni, over tessera's C API). Handles are longs; a failed call
 * throws {@link TesseraException}. Loaded from the path in the system property
 * {@code tessera.library} when it is set, else from {@code java.library.path}. */
final class Native {
  static {
    String path = System.getProperty("tessera.library");
    if (path != null && !path.isEmpty()) {
      System.load(path);
    } else {
      System.loadLibrary("tessera_jni");
    }
  }

  private Native() {}

  static native String version();
  static native void manualSeed(long seed);
  static native void setNumThreads(int threads);
  static native boolean setGradEnabled(boolean on);

  static native long tensorFromArray(Object array, long[] shape, int dtype);
  static native long tensorFromBuffer(ByteBuffer buffer, long[] shape, int dtype);
  /** kind: 0 zeros, 1 ones, 2 rand, 3 randn, 4 full(value). */
  static native long tensorFactory(int kind, long[] shape, int dtype, double value);
  static native void tensorFree(long t);
  static native long[] tensorShape(long t);
  static native int tensorDType(long t);
  static native String tensorDevice(long t);
  static native String tensorString(long t);
  static native void tensorCopyTo(long t, Object array, long nbytes);
  static native double tensorItem(long t);
  static native long tensorToDevice(long t, String device);
  static native long tensorToDType(long t, int dtype);
  static native long tensorReshape(long t, long[] shape);
  static native long tensorTranspose(long t, long dim0, long dim1);
  static native void tensorSetRequiresGrad(long t, boolean on);
  static native boolean tensorRequiresGrad(long t);
  static native void tensorBackward(long t);
  static native long tensorGrad(long t);
  static native void tensorZeroGrad(long t);

  /** An op of the C API's table by name: b for binary ops and losses, value for scalar ops (and
   * as the dim of softmax-like ops), dims and keepdim for reductions. */
  static native long op(String name, long a, long b, double value, long[] dims, boolean keepdim);
  static native String[] opNames();

  static native long moduleFromZoo(String name, long inChannels, long classes);
  static native long moduleLoadOnnx(String path);
  static native void moduleExportOnnx(long m, long example, boolean dynamicBatch, String path);
  static native void moduleSaveLoad(long m, String path, boolean save);
  static native long moduleForward(long m, long x);
  static native void moduleTrain(long m, boolean on);
  static native boolean moduleIsTraining(long m);
  static native void moduleToDevice(long m, String device);
  static native String[] moduleParameterNames(long m);
  static native long moduleParameter(long m, int i);
  static native long moduleNumParameters(long m);
  static native String moduleString(long m);
  static native void moduleFree(long m);

  /** kind: 0 SGD (a: momentum), 1 Adam, 2 AdamW (a, b: betas). */
  static native long optimizer(int kind, long m, double lr, double a, double b, double eps, double weightDecay,
                               boolean nesterov);
  static native void optimizerStep(long o);
  static native void optimizerZeroGrad(long o);
  static native double optimizerLr(long o);
  static native void optimizerSetLr(long o, double lr);
  static native void optimizerFree(long o);
  static native void checkpoint(String path, long m, long o, boolean save, long[] epochStep);

  static native long loaderFromTensors(long x, long y, long batchSize, boolean shuffle, long seed);
  static native long loaderMnist(String dir, boolean train, double mean, double std, long batchSize, boolean shuffle,
                                 long seed);
  static native long loaderNumBatches(long l);
  static native void loaderFree(long l);

  static native double[] fit(long m, long train, long o, String loss, long epochs, long validation,
                             ProgressListener listener);
  static native double[] evaluate(long m, long loader, String loss);
}
