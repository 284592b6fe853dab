"""python -m tessera.distributed.run [--nproc-per-node N] [--nnodes M --node-rank R]
[--master-addr A] [--master-port P] script.py args...: torchrun's launcher for tessera (the same
C++ launcher as ``tessera run``). It starts the processes with MASTER_ADDR, MASTER_PORT,
WORLD_SIZE, RANK, LOCAL_RANK and LOCAL_WORLD_SIZE set (what init_process_group("gloo") reads),
forwards Ctrl-C to them, and when one fails ends the others and exits with its status. A script
runs under this interpreter; with -m or --no-python, the rest is the command as given."""
import argparse
import sys

from .. import _tessera


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m tessera.distributed.run", description=__doc__.split("\n\n")[0])
    ap.add_argument("--nproc-per-node", "--nproc_per_node", type=int, default=1)
    ap.add_argument("--nnodes", type=int, default=1)
    ap.add_argument("--node-rank", "--node_rank", type=int, default=0)
    ap.add_argument("--master-addr", "--master_addr", default="127.0.0.1")
    ap.add_argument("--master-port", "--master_port", type=int, default=29500)
    ap.add_argument("-m", "--module", action="store_true", help="run the script as a module (python -m)")
    ap.add_argument("--no-python", "--no_python", action="store_true", help="run the command itself, not Python")
    ap.add_argument("script")
    ap.add_argument("args", nargs=argparse.REMAINDER)
    a = ap.parse_args(argv)
    if a.no_python:
        cmd = [a.script] + a.args
    else:
        cmd = [sys.executable] + (["-m"] if a.module else []) + [a.script] + a.args
    try:
        return _tessera._dist.launch(cmd, a.nproc_per_node, a.nnodes, a.node_rank, a.master_addr, a.master_port)
    except ValueError as e:
        ap.error(str(e))


if __name__ == "__main__":
    sys.exit(main())
