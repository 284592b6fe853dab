"""tessera.distributed over gloo from Python: the launcher (python -m tessera.distributed.run)
and its failure paths, a rank that never joins, and bad arguments. (The collectives and
DistributedDataParallel on two ranks run as ctest's python_dist_two_ranks_gloo.)"""
import subprocess
import sys
import textwrap
import time

import pytest
import tessera as ts
import tessera.distributed as dist

pytestmark = pytest.mark.skipif(not dist.built_with_gloo(), reason="built without gloo")


def launch(tmp_path, body, nproc=2, timeout=60):
    script = tmp_path / "job.py"
    script.write_text(textwrap.dedent(body))
    t0 = time.monotonic()
    p = subprocess.run([sys.executable, "-m", "tessera.distributed.run", "--nproc-per-node", str(nproc),
                        "--master-port", "0", str(script)], capture_output=True, text=True, timeout=timeout)
    return p, time.monotonic() - t0


def test_a_job_runs_and_reduces(tmp_path):
    p, _ = launch(tmp_path, """
        import os, tessera as ts, tessera.distributed as dist
        dist.init_process_group("gloo")
        assert dist.get_backend() == "gloo" and dist.get_world_size() == 3
        assert dist.get_rank() == int(os.environ["RANK"]) == int(os.environ["LOCAL_RANK"])
        t = ts.tensor([float(dist.get_rank())], dtype=ts.float64)
        dist.all_reduce(t)
        assert t.item() == 3.0
        dist.barrier()
        dist.destroy_process_group()
        assert not dist.is_initialized()
    """, nproc=3)
    assert p.returncode == 0, p.stderr


def test_a_failing_rank_ends_the_job_with_its_status(tmp_path):
    p, took = launch(tmp_path, """
        import os, sys, time
        if os.environ["RANK"] == "1":
            sys.exit(3)
        time.sleep(60)
    """)
    assert p.returncode == 3
    assert took < 30
    assert "rank 1" in p.stderr and "status 3" in p.stderr


def test_a_rank_that_never_joins_is_an_error_within_the_timeout(tmp_path):
    p, took = launch(tmp_path, """
        import os, time, tessera.distributed as dist
        if os.environ["RANK"] == "1":
            time.sleep(60)
        dist.init_process_group("gloo", timeout=2)
    """)
    assert p.returncode == 1
    assert took < 30
    assert "not set within 2 s" in p.stderr, p.stderr


def test_bad_arguments():
    with pytest.raises(ValueError, match="none of env://"):
        dist.init_process_group("gloo", "udp://x:1", world_size=2, rank=0, timeout=1)
    with pytest.raises(ValueError, match="timeout must be positive"):
        dist.init_process_group("gloo", "tcp://127.0.0.1:1", world_size=2, rank=0, timeout=-1)
    with pytest.raises(ValueError, match="unknown backend"):
        dist.init_process_group("nccl2")
    with pytest.raises(ValueError, match="rank 2 is not in a world of 2"):
        dist.init_process_group("gloo", "tcp://127.0.0.1:1", world_size=2, rank=2, timeout=1)
    assert not dist.is_initialized()
    p = subprocess.run([sys.executable, "-m", "tessera.distributed.run", "--nproc-per-node", "0", "x.py"],
                       capture_output=True, text=True)
    assert p.returncode == 2 and "nproc-per-node" in p.stderr


def test_a_rank_that_dies_or_hangs_mid_run_is_an_error_not_a_hang(tmp_path):
    """After init: rank 1 dies (the others' next collective fails at once) or hangs (theirs fails
    when the group's timeout passes); the launcher ends the job with rank 0's failure."""
    for how, limit in (("dies", 20), ("hangs", 30)):
        p, took = launch(tmp_path, f"""
            import os, sys, time, tessera as ts, tessera.distributed as dist
            dist.init_process_group("gloo", timeout=3)
            t = ts.ones(1000)
            dist.all_reduce(t)
            if dist.get_rank() == 1:
                if "{how}" == "dies":
                    os._exit(0)  # gone without a word (status 0: the launcher waits for rank 0)
                time.sleep(120)
            try:
                dist.all_reduce(t)
            except RuntimeError as e:
                print("rank 0 error:", e, file=sys.stderr)
                sys.exit(5)
        """)
        assert p.returncode == 5, (how, p.returncode, p.stderr)
        assert took < limit, (how, took)
        assert "rank 0 error: dist.all_reduce (gloo, rank 0)" in p.stderr, p.stderr


def test_two_launchers_as_two_nodes(tmp_path):
    """--nnodes 2: two launchers (two "machines", here both on 127.0.0.1) make one job of four
    ranks: RANK = node_rank * nproc_per_node + LOCAL_RANK, one rendezvous at the master."""
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    script = tmp_path / "job.py"
    script.write_text(textwrap.dedent("""
        import os, tessera as ts, tessera.distributed as dist
        dist.init_process_group("gloo", timeout=60)
        rank, world = dist.get_rank(), dist.get_world_size()
        assert world == 4 and rank == int(os.environ["GROUP_RANK"]) * 2 + int(os.environ["LOCAL_RANK"])
        t = ts.tensor([float(rank)], dtype=ts.float64)
        dist.all_reduce(t)
        assert t.item() == 6.0, t
    """))
    cmd = [sys.executable, "-m", "tessera.distributed.run", "--nproc-per-node", "2", "--nnodes", "2",
           "--master-addr", "127.0.0.1", "--master-port", str(port)]
    nodes = [subprocess.Popen(cmd + ["--node-rank", str(r), str(script)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for r in (0, 1)]
    outs = [n.communicate(timeout=120) for n in nodes]
    assert [n.returncode for n in nodes] == [0, 0], outs


def test_distributor_local_mode_trains_like_one_process():
    """tessera.spark.Distributor(local_mode=True), as TorchDistributor's: two processes on this
    machine, each on half the batch under DistributedDataParallel, give rank 0's weights equal to
    one process on the whole batch (float64); the environment is torchrun's."""
    import numpy as np
    from distributor_jobs import data, train_linear
    from tessera.spark import Distributor
    x, y = data()
    (w, b), seen = Distributor(num_processes=2, local_mode=True).run(train_linear, x, y, 20)
    (w1, b1), _ = train_linear(x, y, 20, distributed=False)
    np.testing.assert_allclose(w, w1, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(b, b1, rtol=1e-10, atol=1e-12)
    assert seen == {"RANK": "0", "WORLD_SIZE": "2", "LOCAL_RANK": "0", "LOCAL_WORLD_SIZE": "2",
                    "MASTER_ADDR": "127.0.0.1"}


def test_distributor_reports_the_failing_rank_and_runs_scripts(tmp_path):
    from distributor_jobs import fail_on_rank
    from tessera.spark import Distributor
    t0 = time.monotonic()
    with pytest.raises(RuntimeError, match="rank 1 of 2 failed: ValueError: rank 1 gives up"):
        Distributor(num_processes=2).run(fail_on_rank, 1)
    assert time.monotonic() - t0 < 30  # the other rank is ended, not waited for
    from distributor_jobs import secondary_failure_first
    with pytest.raises(RuntimeError, match="rank 1 of 2 failed: ValueError: the cause"):  # the cause, not its echo
        Distributor(num_processes=2).run(secondary_failure_first)
    script = tmp_path / "job.py"
    script.write_text("import os, sys\nassert sys.argv[1:] == ['7']\nsys.exit(int(os.environ['RANK']) * 3)\n")
    with pytest.raises(RuntimeError, match=r"rank 1 of 2 failed: .*job.py exited with status 3"):
        Distributor(num_processes=2).run(str(script), 7)
    script.write_text("import sys\nassert sys.argv[1:] == ['7']\n")
    assert Distributor(num_processes=2).run(str(script), 7) is None
    program = tmp_path / "program"  # any executable (a C++ program, say): run as it is, with the variables
    program.write_text("#!/bin/sh\n[ \"$1\" = 7 ] && [ \"$WORLD_SIZE\" = 2 ] && exit $((RANK * 4))\nexit 1\n")
    program.chmod(0o755)
    with pytest.raises(RuntimeError, match=r"rank 1 of 2 failed: .*program exited with status 4"):
        Distributor(num_processes=2).run(str(program), 7)
    with pytest.raises(ValueError, match="num_processes must be a positive integer"):
        Distributor(num_processes=0)
    with pytest.raises(TypeError, match="expected a function or a script path"):
        Distributor().run(42)
