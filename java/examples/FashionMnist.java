// java/examples/FashionMnist.java: the C++ demo's training run from Java (what `tessera train`
// does by default: the zoo's convnet on Fashion-MNIST normalized by its mean and std, 3 epochs,
// batch 64, SGD 0.01 with momentum 0.9, the rate falling to 0 along a cosine batch by batch,
// seed 0). Prints the test accuracy and exports the model as ONNX with a symbolic batch dim.
import org.tessera.DataLoader;
import org.tessera.Module;
import org.tessera.Optimizer;
import org.tessera.Tensor;
import org.tessera.Tessera;
import org.tessera.Trainer;

public class FashionMnist {
  public static void main(String[] args) {
    String data = "/usr/share/datasets/fashion-mnist";
    String onnx = args.length > 0 ? args[0] : "fashion_convnet.onnx";
    int epochs = 3;
    double lr = 0.01;
    Tessera.manualSeed(0);
    try (Module net = Module.zoo("convnet", 1, 10);
         Optimizer opt = Optimizer.sgd(net, lr, 0.9);
         DataLoader train = DataLoader.mnist(data, true, 0.2860, 0.3530, 64, true, 0);
         DataLoader test = DataLoader.mnist(data, false, 0.2860, 0.3530, 64, false, 0)) {
      long total = epochs * train.numBatches();
      long[] steps = {0};
      long start = System.nanoTime();
      Trainer.fit(net, train, opt, "cross_entropy", epochs, test, (epoch, batch, n, loss) -> {
        if (batch < 0) {
          System.out.printf("epoch %d: loss %.4f%n", epoch + 1, loss);
        } else {
          steps[0]++;  // the cosine schedule, stepped after each batch
          opt.setLr(lr * (1 + Math.cos(Math.PI * steps[0] / total)) / 2);
        }
        return false;
      });
      double seconds = (System.nanoTime() - start) / 1e9;
      Trainer.Metrics m = Trainer.evaluate(net, test, null);
      System.out.printf("test accuracy: %.4f (loss %.4f) after %d epochs, training time %.1f s (tessera %s, Java)%n",
                        m.accuracy(), m.loss(), epochs, seconds, Tessera.version());
      try (Tensor example = Tensor.zeros(2, 1, 28, 28)) {  // (a batch of 2: the batch dim becomes symbolic)
        net.exportOnnx(example, onnx);
      }
      System.out.println("exported " + onnx);
    }
  }
}
