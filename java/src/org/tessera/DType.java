package org.tessera;

/** Element types, with the C API's codes. */
public enum DType {
  BOOL(0, 1), UINT8(1, 1), INT8(2, 1), INT32(3, 4), INT64(4, 8), FLOAT16(5, 2), BFLOAT16(6, 2), FLOAT32(7, 4),
  FLOAT64(8, 8);

  final int code;
  /** Bytes per element. */
  public final int size;

  DType(int code, int size) {
    this.code = code;
    this.size = size;
  }

  static DType of(int code) {
    for (DType d : values()) {
      if (d.code == code) {
        return d;
      }
    }
    throw new IllegalStateException("unknown dtype code " + code);
  }
}
