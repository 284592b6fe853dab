package org.tessera;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.junit.jupiter.api.Test;

class TensorTest {
  @Test
  void arraysShapesAndValuesRoundTrip() {
    try (Tensor t = Tensor.of(new float[] {1, 2, 3, 4, 5, 6}, 2, 3)) {
      assertArrayEquals(new long[] {2, 3}, t.shape());
      assertEquals(DType.FLOAT32, t.dtype());
      assertEquals("cpu", t.device());
      assertEquals(6, t.numel());
      assertArrayEquals(new float[] {1, 2, 3, 4, 5, 6}, t.toFloatArray());
      assertArrayEquals(new double[] {1, 2, 3, 4, 5, 6}, t.toDoubleArray());
      assertTrue(t.toString().startsWith("tensor("));
    }
    try (Tensor l = Tensor.of(new long[] {7, -1}, 2); Tensor d = Tensor.of(new double[] {0.5}, 1)) {
      assertEquals(DType.INT64, l.dtype());
      assertArrayEquals(new long[] {7, -1}, l.toLongArray());
      assertEquals(0.5, d.item());
    }
  }

  @Test
  void opsMatchHandWorkedValues() {
    try (Tensor a = Tensor.of(new float[] {1, 2, 3, 4, 5, 6}, 2, 3);
         Tensor at = a.transpose(0, 1);
         Tensor m = a.matmul(at);
         Tensor c = a.mul(2).add(a);
         Tensor s = c.sum();
         Tensor soft = a.softmax(1);
         Tensor rows = soft.reduce("sum", false, 1);
         Tensor big = a.amax(1)) {
      assertArrayEquals(new float[] {14, 32, 32, 77}, m.toFloatArray());
      assertEquals(63.0, s.item());
      float[] r = rows.toFloatArray();
      assertEquals(1.0, r[0], 1e-6);
      assertEquals(1.0, r[1], 1e-6);
      assertArrayEquals(new float[] {3, 6}, big.toFloatArray());
    }
    assertTrue(Tensor.opNames().length > 50);
  }

  @Test
  @SuppressWarnings("try")  // (the NoGrad scope is used for its effect, not referenced)
  void autogradAndNoGrad() {
    try (Tensor x = Tensor.of(new double[] {1, -2, 0.5}, 3).requiresGrad(true);
         Tensor loss = x.mul(x).sum()) {
      assertNull(x.grad());
      loss.backward();
      try (Tensor g = x.grad()) {
        assertArrayEquals(new double[] {2, -4, 1}, g.toDoubleArray());
      }
      try (NoGrad ng = new NoGrad(); Tensor y = x.mul(x)) {
        assertTrue(!y.requiresGrad());
      }
      try (Tensor y = x.mul(x)) {
        assertTrue(y.requiresGrad());
      }
      x.zeroGrad();
      assertNull(x.grad());
    }
  }

  @Test
  void directBuffersAreSharedNotCopied() {
    ByteBuffer buf = ByteBuffer.allocateDirect(16).order(ByteOrder.nativeOrder());
    buf.putFloat(0, 1).putFloat(4, 2).putFloat(8, 3).putFloat(12, 4);
    try (Tensor t = Tensor.fromBuffer(buf, DType.FLOAT32, 2, 2); Tensor twice = t.mul(2)) {
      assertArrayEquals(new float[] {2, 4, 6, 8}, twice.toFloatArray());
      buf.putFloat(0, 10);  // the tensor sees the buffer's writes
      assertEquals(10f, t.toFloatArray()[0]);
    }
    assertThrows(IllegalArgumentException.class, () -> Tensor.fromBuffer(ByteBuffer.allocate(16), DType.FLOAT32, 4));
    assertThrows(IllegalArgumentException.class,
                 () -> Tensor.fromBuffer(ByteBuffer.allocateDirect(8).order(ByteOrder.nativeOrder()), DType.FLOAT32, 4));
  }

  @Test
  void errorsCarryTheStatusAndTheMessage() {
    try (Tensor a = Tensor.zeros(2, 3); Tensor b = Tensor.zeros(3, 2)) {
      TesseraException e = assertThrows(TesseraException.class, () -> a.add(b));
      assertEquals("TS_SHAPE_ERROR", e.status());
      assertTrue(e.getMessage().contains("add") && e.getMessage().contains("[2, 3]") && e.getMessage().contains("[3, 2]"),
                 e.getMessage());
      e = assertThrows(TesseraException.class, () -> a.item());
      assertTrue(e.getMessage().contains("item"), e.getMessage());
      assertThrows(TesseraException.class, () -> a.to("tpu:0"));
      assertThrows(IllegalArgumentException.class, () -> a.unary("no_such_op"));
      assertThrows(IllegalArgumentException.class, () -> Tensor.of(new float[] {1, 2, 3}, 2, 2));
      e = assertThrows(TesseraException.class, () -> Tensor.zeros(2, -1));
      assertEquals("TS_SHAPE_ERROR", e.status());
    }
    Tensor t = Tensor.ones(2);
    t.close();
    t.close();  // (twice is fine)
    assertThrows(IllegalStateException.class, t::shape);
    assertEquals("Tensor(closed)", t.toString());
  }
}
