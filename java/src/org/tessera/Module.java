package org.tessera;

import java.lang.ref.Reference;

/** A model: one of the zoo's, or an ONNX file. */
public final class Module extends NativeHandle {
  private Module(long handle) {
    super(handle, Native::moduleFree);
  }

  /** A zoo model by name ("mlp", "lenet5", "convnet", "cifar_cnn", "vgg11", "resnet18",
   * "resnet50") for images of inChannels channels and classes classes. */
  public static Module zoo(String name, long inChannels, long classes) {
    return new Module(Native.moduleFromZoo(name, inChannels, classes));
  }

  /** An ONNX file as a model (its initializers are parameters: it can be fine-tuned). */
  public static Module loadOnnx(String path) {
    return new Module(Native.moduleLoadOnnx(path));
  }

  public Tensor forward(Tensor x) {
    try {
      return new Tensor(Native.moduleForward(handle(), x.handle()));
    } finally {
      Reference.reachabilityFence(this);
      Reference.reachabilityFence(x);
    }
  }

  /** Training (true) or evaluation (false) mode; returns this module. */
  public Module train(boolean on) {
    try {
      Native.moduleTrain(handle(), on);
      return this;
    } finally {
      Reference.reachabilityFence(this);
    }
  }

  public Module eval() {
    return train(false);
  }

  public boolean isTraining() {
    try {
      return Native.moduleIsTraining(handle());
    } finally {
      Reference.reachabilityFence(this);
    }
  }

  /** Moves the parameters and buffers to the device ("cpu", "cuda:0"); returns this module. */
  public Module to(String device) {
    try {
      Native.moduleToDevice(handle(), device);
      return this;
    } finally {
      Reference.reachabilityFence(this);
    }
  }

  /** The state dict as a safetensors file (written to a temporary name, then renamed). */
  public void save(String path) {
    try {
      Native.moduleSaveLoad(handle(), path, true);
    } finally {
      Reference.reachabilityFence(this);
    }
  }

  /** Loads a state dict saved by save() (or any safetensors file with the same keys). */
  public void load(String path) {
    try {
      Native.moduleSaveLoad(handle(), path, false);
    } finally {
      Reference.reachabilityFence(this);
    }
  }

  /** Runs the model on example (evaluation mode) and writes the traced graph as ONNX, with a
   * symbolic batch dim (the file runs at any batch size). */
  public void exportOnnx(Tensor example, String path) {
    exportOnnx(example, path, true);
  }

  /** The same, with the example's batch size fixed in the file unless dynamicBatch. */
  public void exportOnnx(Tensor example, String path, boolean dynamicBatch) {
    try {
      Native.moduleExportOnnx(handle(), example.handle(), dynamicBatch, path);
    } finally {
      Reference.reachabilityFence(this);
      Reference.reachabilityFence(example);
    }
  }

  /** The parameters' dotted names ("0.weight", ...). */
  public String[] parameterNames() {
    try {
      return Native.moduleParameterNames(handle());
    } finally {
      Reference.reachabilityFence(this);
    }
  }

  /** The i-th parameter (the tensor itself: changing it changes the model). */
  public Tensor parameter(int i) {
    try {
      return new Tensor(Native.moduleParameter(handle(), i));
    } finally {
      Reference.reachabilityFence(this);
    }
  }

  /** The number of parameter elements, in all. */
  public long numParameters() {
    try {
      return Native.moduleNumParameters(handle());
    } finally {
      Reference.reachabilityFence(this);
    }
  }

  @Override
  public String toString() {
    if (isClosed()) {
      return "Module(closed)";
    }
    try {
      return Native.moduleString(handle());
    } finally {
      Reference.reachabilityFence(this);
    }
  }
}
