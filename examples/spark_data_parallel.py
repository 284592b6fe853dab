# examples/spark_data_parallel.py: data-parallel training inside a Spark application. Spark writes a
# DataFrame as two CSV partitions; tessera.spark.Distributor runs the training function in two
# barrier-mode Spark tasks, each reading its own partition and training one replica of a linear
# model with DistributedDataParallel over gloo; rank 0's weights come back to the driver.
import os
import sys
import tempfile

os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # the tasks run this interpreter (and its tessera)
import numpy as np  # noqa: E402
from pyspark.sql import SparkSession  # noqa: E402
from tessera.spark import Distributor  # noqa: E402


def train(data_dir, steps):
    import glob

    import tessera as ts
    import tessera.distributed as dist
    dist.init_process_group("gloo")  # MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE come from the Distributor
    rank, world = dist.get_rank(), dist.get_world_size()
    mine = sorted(glob.glob(os.path.join(data_dir, "part-*.csv")))[rank::world]  # this rank's shard
    x, y = ts.data.read_csv(mine[0], label_column="y", integer_labels=False).tensors
    ts.manual_seed(0)  # the same initial weights on every rank (DDP also broadcasts rank 0's)
    model = dist.DistributedDataParallel(ts.nn.Linear(x.shape[1], 1))
    opt = ts.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(steps):
        opt.zero_grad()
        loss = ((model(x).squeeze(1) - y) ** 2).mean()
        loss.backward()  # gradients averaged across the ranks
        opt.step()
    weights = [p.detach().numpy().copy() for p in model.parameters()]
    dist.destroy_process_group()
    return weights


if __name__ == "__main__":
    spark = SparkSession.builder.master("local[2]").appName("tessera").config("spark.ui.enabled", "false") \
        .getOrCreate()
    rng = np.random.default_rng(0)
    features = rng.standard_normal((64, 3))
    target = features @ np.array([1.5, -2.0, 0.5]) + 0.25
    rows = [tuple(map(float, f)) + (float(t),) for f, t in zip(features, target)]
    df = spark.createDataFrame(rows, ["x0", "x1", "x2", "y"])
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = os.path.join(tmp, "table")
        df.repartition(2).write.option("header", True).csv(data_dir)  # one CSV file per partition
        weight, bias = Distributor(num_processes=2, local_mode=False, spark=spark).run(train, data_dir, 200)
    print("learned", np.round(weight.ravel(), 3), np.round(bias, 3))  # about [1.5, -2, 0.5] and 0.25
    assert np.allclose(weight.ravel(), [1.5, -2.0, 0.5], atol=1e-2) and np.allclose(bias, 0.25, atol=1e-2)
    spark.stop()
