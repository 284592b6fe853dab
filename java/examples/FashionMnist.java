// java/examples/FashionMnist.java: LeNet-5 trained on Fashion-MNIST from Java (one epoch), the
// test accuracy printed, the model exported as ONNX (to the path given, for OnnxClassify).
import org.tessera.DataLoader;
import org.tessera.Module;
import org.tessera.Optimizer;
import org.tessera.Tensor;
import org.tessera.Tessera;
import org.tessera.Trainer;

public class FashionMnist {
  public static void main(String[] args) {
    String data = "/usr/share/datasets/fashion-mnist";
    String onnx = args.length > 0 ? args[0] : "fashion_lenet5.onnx";
    Tessera.manualSeed(0);
    try (Module net = Module.zoo("lenet5", 1, 10);
         Optimizer opt = Optimizer.sgd(net, 0.05, 0.9);
         DataLoader train = DataLoader.mnist(data, true, 64, true, 0);
         DataLoader test = DataLoader.mnist(data, false, 500, false, 0)) {
      Trainer.Metrics m = Trainer.fit(net, train, opt, "cross_entropy", 1, test, (epoch, batch, n, loss) -> {
        if (batch % 300 == 0) {
          System.out.printf("  batch %d/%d: loss %.4f%n", batch, n, loss);
        }
        return false;
      });
      System.out.printf("tessera %s from Java: test loss %.4f, test accuracy %.4f%n", Tessera.version(), m.loss(),
                        m.accuracy());
      try (Tensor example = Tensor.zeros(2, 1, 28, 28)) {  // (a batch of 2: the batch dim becomes symbolic)
        net.exportOnnx(example, onnx);
      }
      System.out.println("exported " + onnx);
      if (m.accuracy() < 0.8) {
        System.exit(1);
      }
    }
  }
}
