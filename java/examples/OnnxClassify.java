// java/examples/OnnxClassify.java: an ONNX classifier (the one FashionMnist.java exports) loaded
// from Java, run on Fashion-MNIST test images (normalized as it was trained): the first
// predictions by class name, and the accuracy.
import org.tessera.DataLoader;
import org.tessera.Module;
import org.tessera.Tensor;
import org.tessera.Trainer;

public class OnnxClassify {
  static final String[] CLASSES = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                                   "Bag", "Ankle boot"};

  public static void main(String[] args) {
    String path = args.length > 0 ? args[0] : "fashion_convnet.onnx";
    try (Module model = Module.loadOnnx(path);
         DataLoader test = DataLoader.mnist("/usr/share/datasets/fashion-mnist", false, 0.2860, 0.3530, 500, false, 0);
         Tensor images = Tensor.randn(4, 1, 28, 28)) {
      try (Tensor logits = model.forward(images); Tensor probs = logits.softmax(1)) {
        float[] p = probs.toFloatArray();
        for (int i = 0; i < 4; ++i) {
          int best = 0;
          for (int c = 1; c < 10; ++c) {
            if (p[i * 10 + c] > p[i * 10 + best]) {
              best = c;
            }
          }
          System.out.printf("random image %d: %s (%.2f)%n", i, CLASSES[best], p[i * 10 + best]);
        }
      }
      Trainer.Metrics m = Trainer.evaluate(model, test, "cross_entropy");
      System.out.printf("%s on the Fashion-MNIST test set: accuracy %.4f%n", path, m.accuracy());
      if (m.accuracy() < 0.9) {
        System.exit(1);
      }
    }
  }
}
