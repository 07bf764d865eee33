"""How many benchmark jobs one GPU runs at a time: aggregate throughput.

Runs ``n`` copies (seeds) of the same scratch job at once, for each ``n`` of
``--jobs``, through the benchmark's own worker pool, and reports training
iterations per second over all copies (worker start-up included). Without
NVIDIA MPS, processes share a GPU by time slices, so small models gain
little from running side by side; run it once as is and once under
``nvidia-cuda-mps-control -d`` to compare::

    PYTHONPATH=$PWD python benchmarks/init_quality/gpu_sharing.py \
        --jobs 1 14 --out sharing.json
"""
import argparse
import json
import math
import os
import os.path as osp
import shutil
import sys
import tempfile
import time

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from grid import MODES, ROOT, Size, data_options, size_options  # noqa: E402
from jobs import first_error, run_all  # noqa: E402
from plan import method_job  # noqa: E402


def probe(n: int, size: Size, epochs: int, work: str) -> dict:
    """``n`` scratch jobs of ``size`` at once; wall time and iterations/s."""
    mode = MODES['gpu']
    jobs = {}
    for seed in range(n):
        opts = {
            **data_options(mode, epochs, mode.train_subset, seed),
            **size_options(size), 'val_dataloader.dataset.indices': 1000
        }
        job = method_job(f'scratch_s{seed}', 'scratch', opts, seed=seed)
        jobs[job['name']] = job
    start = time.time()
    results = run_all(jobs, work, n, log=lambda _: None)
    wall = time.time() - start
    error = first_error(results)
    iters = n * epochs * math.ceil(mode.train_subset / mode.batch)
    return dict(
        jobs=n,
        size=size.name,
        epochs=epochs,
        wall_s=round(wall, 1),
        job_s=[results[k].get('seconds') for k in jobs],
        iters_per_s=round(iters / wall, 1),
        error=error[:500] if error else None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--jobs', type=int, nargs='+', default=[1, 14])
    parser.add_argument('--epochs', type=int, default=3)
    parser.add_argument('--out', default=None)
    args = parser.parse_args()
    sys.path.insert(0, ROOT)
    from wave_mm.datasets import prepare_fashion_mnist
    os.chdir(ROOT)  # the configs name data/ relative to the repository
    prepare_fashion_mnist(osp.join(ROOT, 'data', 'fashion_mnist'))
    size = MODES['gpu'].ancestry
    rows = []
    for n in args.jobs:
        work = tempfile.mkdtemp(prefix='sharing_')
        rows.append(probe(n, size, args.epochs, work))
        shutil.rmtree(work, ignore_errors=True)
        print(json.dumps(rows[-1]), flush=True)
    if args.out:
        from wave_mm.fileio import atomic_write
        atomic_write(
            args.out,
            json.dumps(dict(date=time.strftime('%Y-%m-%d'),
                            rows=rows)).encode())


if __name__ == '__main__':
    main()
