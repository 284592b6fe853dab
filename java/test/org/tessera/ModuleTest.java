package org.tessera;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ModuleTest {
  @TempDir Path dir;

  private static Tensor labels(int n) {
    long[] y = new long[n];
    for (int i = 0; i < n; ++i) {
      y[i] = i % 10;
    }
    return Tensor.of(y, n);
  }

  @Test
  void zooModelTrainsSavesAndExports() throws Exception {
    Tessera.manualSeed(1);
    try (Module net = Module.zoo("lenet5", 1, 10);
         Tensor x = Tensor.randn(16, 1, 28, 28);
         Tensor y = labels(16);
         Optimizer opt = Optimizer.adam(net, 3e-3)) {
      assertEquals(61706, net.numParameters());
      assertEquals("0.weight", net.parameterNames()[0]);
      double first = 0, last = 0;
      for (int step = 0; step < 30; ++step) {
        opt.zeroGrad();
        try (Tensor logits = net.forward(x); Tensor loss = logits.crossEntropy(y)) {
          loss.backward();
          opt.step();
          if (step == 0) {
            first = loss.item();
          }
          last = loss.item();
        }
      }
      assertTrue(last < first * 0.5, first + " -> " + last);
      net.eval();
      assertTrue(!net.isTraining());
      float[] out;
      try (Tensor o = net.forward(x)) {
        out = o.toFloatArray();
      }
      String weights = dir.resolve("lenet5.safetensors").toString();
      net.save(weights);
      try (Module twin = Module.zoo("lenet5", 1, 10)) {
        twin.load(weights);
        twin.eval();
        try (Tensor o = twin.forward(x)) {
          assertArrayEquals(out, o.toFloatArray());
        }
      }
      String onnx = dir.resolve("lenet5.onnx").toString();
      net.exportOnnx(x, onnx);
      try (Module imported = Module.loadOnnx(onnx); Tensor o = imported.forward(x)) {
        float[] got = o.toFloatArray();
        for (int i = 0; i < out.length; ++i) {
          assertEquals(out[i], got[i], 1e-4);
        }
      }
      String ckpt = dir.resolve("run.ckpt").toString();
      Optimizer.saveCheckpoint(ckpt, net, opt, 3, 30);
      assertArrayEquals(new long[] {3, 30}, Optimizer.loadCheckpoint(ckpt, net, null));
      assertTrue(Files.exists(Path.of(ckpt)));
      assertTrue(net.toString().contains("Conv2d"));
    }
  }

  @Test
  void fitCallsTheListenerAndEvaluates() {
    Tessera.manualSeed(2);
    try (Module net = Module.zoo("mlp", 1, 10);
         Tensor x = Tensor.randn(32, 1, 28, 28);
         Tensor y = labels(32);
         DataLoader data = DataLoader.fromTensors(x, y, 8, true, 0);
         Optimizer opt = Optimizer.sgd(net, 0.05, 0.9)) {
      assertEquals(4, data.numBatches());
      AtomicInteger batches = new AtomicInteger(), epochs = new AtomicInteger();
      Trainer.Metrics m = Trainer.fit(net, data, opt, "cross_entropy", 3, null, (epoch, batch, n, loss) -> {
        if (batch < 0) {
          epochs.incrementAndGet();
        } else {
          batches.incrementAndGet();
        }
        return epoch == 1 && batch < 0;  // stop after the second epoch
      });
      assertEquals(8, batches.get());
      assertEquals(2, epochs.get());
      assertTrue(m.accuracy() >= 0 && m.accuracy() <= 1);
      Trainer.Metrics e = Trainer.evaluate(net, data, null);
      assertTrue(e.loss() > 0);
      RuntimeException thrown = assertThrows(RuntimeException.class,
          () -> Trainer.fit(net, data, opt, null, 1, null, (epoch, batch, n, loss) -> {
            throw new IllegalStateException("listener failed");
          }));
      assertEquals("listener failed", thrown.getMessage());
    }
  }

  @Test
  void badInputIsAnExceptionNotACrash() {
    TesseraException e = assertThrows(TesseraException.class, () -> Module.zoo("alexnet", 1, 10));
    assertEquals("TS_VALUE_ERROR", e.status());
    assertTrue(e.getMessage().contains("alexnet"), e.getMessage());
    e = assertThrows(TesseraException.class, () -> Module.loadOnnx("/nonexistent/model.onnx"));
    assertTrue(e.getMessage().contains("/nonexistent/model.onnx"), e.getMessage());
    try (Module net = Module.zoo("lenet5", 1, 10); Tensor wrong = Tensor.zeros(2, 3)) {
      e = assertThrows(TesseraException.class, () -> net.forward(wrong));
      assertEquals("TS_SHAPE_ERROR", e.status());
      assertThrows(TesseraException.class, () -> net.parameter(99));
      assertThrows(TesseraException.class, () -> DataLoader.mnist("/nonexistent", true, 8, false, 0));
    }
  }
}
