package org.tessera;

/** A failed call into tessera: {@link #status()} is the C API's status name (TS_SHAPE_ERROR,
 * TS_VALUE_ERROR, ...), the message its error message, which names the op and the offending
 * shapes, dtypes or values. */
public class TesseraException extends RuntimeException {
  private static final long serialVersionUID = 1L;
  private final String status;

  public TesseraException(String status, String message) {
    super(status + ": " + message);
    this.status = status;
  }

  /** The C API's status name, e.g. "TS_SHAPE_ERROR". */
  public String status() {
    return status;
  }
}
