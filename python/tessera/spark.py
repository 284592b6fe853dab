"""tessera.spark: distributed training inside a Spark application, as PySpark's
``pyspark.ml.torch.distributor.TorchDistributor`` does for PyTorch.

    from tessera.spark import Distributor
    result = Distributor(num_processes=2, local_mode=False).run(train, data_dir)

``run`` starts ``num_processes`` processes, each with MASTER_ADDR, MASTER_PORT, WORLD_SIZE, RANK,
LOCAL_RANK and LOCAL_WORLD_SIZE set (what ``init_process_group("gloo")`` reads, as torchrun sets
them), calls the training function in each (or runs a Python script, given its path) and returns
rank 0's result. With ``local_mode=False`` the processes are the tasks of one barrier-mode Spark
stage, on the cluster's executors: the rendezvous address is rank 0's task's host, its port is
chosen there and shared through the barrier context (``BarrierTaskContext.allGather``), and Spark
starts all the tasks together or none. With ``local_mode=True`` (the default, as in PySpark) they
are processes on the driver's machine, and no Spark is needed.

A failure in any process fails the run: ``run`` raises a RuntimeError naming the rank and what it
raised (or its exit status); the others end at their next collective or at the group's timeout.
Functions (and their arguments and results) travel pickled: PySpark's cloudpickle when PySpark is
installed (closures and functions of ``__main__`` work), Python's pickle otherwise.
"""
import os
import pickle
import queue
import socket
import subprocess
import sys
import time
import traceback

__all__ = ["Distributor"]


def _pickler():
    """cloudpickle (standalone or PySpark's) where installed: it sends closures and functions
    defined in __main__; Python's pickle otherwise (module-level functions only)."""
    try:
        import cloudpickle
        return cloudpickle
    except ImportError:
        pass
    try:
        from pyspark import cloudpickle
        return cloudpickle
    except ImportError:
        return pickle


def _free_port(host):
    """A TCP port free on host's interface now (the group's store binds it next)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _env(rank, world, local_rank, local_world, addr, port):
    return {"MASTER_ADDR": addr, "MASTER_PORT": str(port), "WORLD_SIZE": str(world), "RANK": str(rank),
            "LOCAL_RANK": str(local_rank), "LOCAL_WORLD_SIZE": str(local_world)}


def _run_in_process(payload, env):
    """One process's work: the function's result (pickled) or the failure's description."""
    os.environ.update(env)
    dumps = _pickler()
    try:
        kind, target, args, kwargs = dumps.loads(payload)
        if kind == "script":  # a Python script, or any executable (a C++ training program)
            python = target.endswith(".py") or not os.access(target, os.X_OK)
            status = subprocess.call(([sys.executable] if python else []) + [target, *args], env=dict(os.environ))
            if status != 0:
                return ("failed", f"{target} exited with status {status}")
            return ("ok", dumps.dumps(None))
        return ("ok", dumps.dumps(target(*args, **kwargs)))
    except BaseException as e:  # noqa: B902 - every failure goes back to the driver, named
        return ("failed", f"{type(e).__name__}: {e}\n{traceback.format_exc()}")


def _worker_main(payload_path, outcome_path):
    """One process of a run (python -m tessera.spark PAYLOAD OUTCOME): runs the payload with the
    environment its launcher set and writes the outcome, atomically. It dies with its launcher
    (a Spark task that is killed takes its process along)."""
    try:
        import ctypes
        ctypes.CDLL(None).prctl(1, 9)  # PR_SET_PDEATHSIG, SIGKILL (Linux)
    except (OSError, AttributeError):
        pass
    with open(payload_path, "rb") as f:
        outcome = _run_in_process(f.read(), {})
    with open(outcome_path + ".tmp", "wb") as f:
        pickle.dump(outcome, f)
    os.replace(outcome_path + ".tmp", outcome_path)


def _start_workers(blob, envs, folder):
    """The processes of a run, one per environment: `python -m tessera.spark` each, the payload in
    a file of folder. Each imports what this process can (a function pickled by reference is
    found)."""
    payload = os.path.join(folder, "payload")
    with open(payload, "wb") as f:
        f.write(blob)
    path = os.pathsep.join([p for p in sys.path if p] + [os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    outs, procs = [], []
    for i, env in enumerate(envs):
        outs.append(os.path.join(folder, f"outcome{i}"))
        procs.append(subprocess.Popen([sys.executable, "-m", "tessera.spark", payload, outs[-1]],
                                      env=dict(os.environ, PYTHONPATH=path, **env)))
    return procs, outs


# What tessera's collectives say when a peer process ended: a consequence of another failure.
_SECONDARY = "another process of the job failed"


def _is_secondary(outcome):
    return outcome[0] != "ok" and _SECONDARY in str(outcome[1])


def _wait_for_workers(procs, outs, timeout=None, grace=3.0):
    """Each process's outcome; when one fails (or the timeout passes) the others are given `grace`
    seconds to report (a rank that failed first makes its peers' collectives fail a moment later:
    the caller reports the first cause), then ended, as torchrun does."""
    started, outcomes, failed_at = time.monotonic(), {}, None
    try:
        while len(outcomes) < len(procs):
            for i, p in enumerate(procs):
                if i in outcomes or p.poll() is None:
                    continue
                if os.path.exists(outs[i]):
                    with open(outs[i], "rb") as f:
                        outcomes[i] = pickle.load(f)
                else:
                    outcomes[i] = ("failed", f"the process exited with status {p.returncode}")
            if failed_at is None and any(state != "ok" for state, _ in outcomes.values()):
                failed_at = time.monotonic()
            if failed_at is not None and (time.monotonic() - failed_at > grace or
                                          any(o[0] != "ok" and not _is_secondary(o) for o in outcomes.values())):
                break
            if timeout is not None and time.monotonic() - started > timeout:
                for i in range(len(procs)):
                    outcomes.setdefault(i, ("failed", f"did not finish within {timeout} s"))
                break
            time.sleep(0.05)
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    return outcomes


def _task_slots(sc):
    """How many tasks the application runs at once, where the configuration says (local[N],
    or executors x cores / task cpus); None where it cannot be told (dynamic allocation)."""
    import re
    conf = sc.getConf()
    cpus = int(conf.get("spark.task.cpus", "1"))
    local = re.fullmatch(r"local(?:\[(\*|\d+)(?:,\d+)?\])?", sc.master)
    if local:
        n = local.group(1)
        return (os.cpu_count() if n == "*" else int(n or 1)) // cpus
    executors, cores = conf.get("spark.executor.instances"), conf.get("spark.executor.cores")
    if executors and cores and conf.get("spark.dynamicAllocation.enabled", "false") != "true":
        return int(executors) * (int(cores) // cpus)
    return None


class Distributor:
    """Runs a training function (or a script) on num_processes processes, as TorchDistributor:
    local_mode=True on the driver's machine, local_mode=False as barrier-mode Spark tasks.
    spark: the SparkSession (the active one, or a new one, by default). timeout: seconds the
    local processes may run (None: no limit); the process group's own timeout bounds a hung rank."""

    def __init__(self, num_processes=1, local_mode=True, use_gpu=False, spark=None, timeout=None):
        if not isinstance(num_processes, int) or num_processes < 1:
            raise ValueError(f"Distributor: num_processes must be a positive integer, got {num_processes!r}")
        if use_gpu:
            from . import cuda
            if not cuda.is_available():
                raise ValueError("Distributor: use_gpu=True, but no CUDA device is available to tessera")
        self.num_processes = num_processes
        self.local_mode = local_mode
        self.use_gpu = use_gpu
        self.spark = spark
        self.timeout = timeout

    def run(self, train_object, *args, **kwargs):
        """Runs train_object (a function, called with args and kwargs; or the path of a Python
        script or of an executable, such as a C++ program that calls
        dist::init_process_group("gloo"), run with args) in every process; returns rank 0's
        result (None for a script or program)."""
        if isinstance(train_object, (str, os.PathLike)):
            if kwargs:
                raise ValueError("Distributor.run: a script takes its arguments as strings, not keywords")
            payload = ("script", os.fspath(train_object), [str(a) for a in args], {})
        elif callable(train_object):
            payload = ("function", train_object, args, kwargs)
        else:
            raise TypeError(f"Distributor.run: expected a function or a script path, got {type(train_object).__name__}")
        try:
            blob = _pickler().dumps(payload)
        except Exception as e:
            raise TypeError(f"Distributor.run: cannot send the training function and its arguments to the processes "
                            f"({e}); define it at module level or install PySpark (its cloudpickle sends closures)")
        outcomes = self._run_local(blob) if self.local_mode else self._run_on_spark(blob)
        failed = [(rank, why) for rank, (state, why) in sorted(outcomes.items()) if state != "ok"]
        failed.sort(key=lambda f: _SECONDARY in f[1])  # a cause before the peers it brought down
        if failed:
            rank, why = failed[0]
            raise RuntimeError(f"Distributor.run: rank {rank} of {self.num_processes} failed: {why}")
        return _pickler().loads(outcomes[0][1])

    def _run_local(self, blob):
        import tempfile
        n = self.num_processes
        port = _free_port("127.0.0.1")
        with tempfile.TemporaryDirectory(prefix="tessera_spark_") as tmp:
            procs, outs = _start_workers(blob, [_env(r, n, r, n, "127.0.0.1", port) for r in range(n)], tmp)
            return _wait_for_workers(procs, outs, self.timeout)

    def _run_on_spark(self, blob):
        try:
            from pyspark import BarrierTaskContext
            from pyspark.sql import SparkSession
        except ImportError:
            raise ImportError("Distributor(local_mode=False) runs in Spark: install PySpark (pip install pyspark; it "
                              "needs a Java runtime, such as Debian's openjdk-17-jre-headless)") from None
        spark = self.spark or SparkSession.getActiveSession() or SparkSession.builder.getOrCreate()
        n = self.num_processes
        slots = _task_slots(spark.sparkContext)
        if slots is not None and n > slots:  # Spark would wait (minutes) for slots that never come
            raise RuntimeError(f"Distributor.run: {n} processes need {n} task slots at once (a barrier stage), but "
                               f"this Spark application has {slots}")

        def task(_):
            import tempfile
            ctx = BarrierTaskContext.get()
            rank = ctx.partitionId()
            hosts = [info.address.rsplit(":", 1)[0] for info in ctx.getTaskInfos()]
            # Rank 0's task picks the port on its host; every task learns it through the barrier.
            port = _free_port(hosts[0]) if rank == 0 else 0
            port = int(ctx.allGather(str(port))[0])
            local_rank = hosts[:rank].count(hosts[rank])
            env = _env(rank, len(hosts), local_rank, hosts.count(hosts[rank]), hosts[0], port)
            # A process of its own (Spark reuses its Python workers: no state leaks between runs).
            with tempfile.TemporaryDirectory(prefix="tessera_spark_") as tmp:
                state, result = _wait_for_workers(*_start_workers(blob, [env], tmp))[0]
            if state != "ok":  # fails the barrier stage: Spark ends the other tasks at once
                if _is_secondary((state, result)):
                    time.sleep(5)  # let the rank that failed first fail the stage with its own cause
                raise RuntimeError(f"tessera.spark: rank {rank} of {len(hosts)} failed: {result}")
            yield rank, (state, result)

        try:
            collected = spark.sparkContext.parallelize(range(n), n).barrier().mapPartitions(task).collect()
        except Exception as e:  # a rank's failure, or Spark's (a task killed, too few slots for the stage)
            import re
            found = re.search(r"tessera\.spark: (rank \d+ of \d+ failed: [^\n]*)", str(e))
            if found:
                raise RuntimeError(f"Distributor.run: {found.group(1)}") from None
            raise RuntimeError(f"Distributor.run: the Spark barrier stage of {n} tasks failed: {e}") from None
        return dict(collected)


if __name__ == "__main__":
    _worker_main(sys.argv[1], sys.argv[2])
