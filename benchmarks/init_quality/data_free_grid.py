"""Data-free initialisation from one auxiliary of the ``gpu`` mode, on the
grid's sizes, next to Weight Selection; runs on a CPU too.

Distils the auxiliary (``aux_wave`` or an ablation's, e.g.
``aux_plain``) from the grid's ancestry with the grid's recipe unless
its result exists, then evaluates ``WaveInit(head=True)`` with no data and
no training, and ``WeightSelectionInit(head=True)`` where it applies, on
the whole test set::

    python benchmarks/init_quality/data_free_grid.py \
        --work-dir WORK --aux aux_plain --threads 2

``WORK`` is the grid's work dir (``run_gpu.sh``'s ``WORK``, e.g. unpacked
from its ``state.tgz``): its ``ancestry/`` is the teacher and the source of
Weight Selection.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
import grid  # noqa: E402
import plan  # noqa: E402
from jobs import result_path, run_job  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--work-dir', required=True)
    parser.add_argument('--aux', default='aux_wave')
    parser.add_argument('--threads', type=int, default=1)
    args = parser.parse_args()
    mode, work = grid.MODES['gpu'], osp.abspath(args.work_dir)
    auxes = {j['name']: j for j in plan.auxiliary_jobs(mode, work)}
    if args.aux not in auxes:
        raise SystemExit(f'--aux must be one of {sorted(auxes)}')
    if not osp.isfile(result_path(work, args.aux)):
        run_job(auxes[args.aux], work, args.threads)
    print(f'| size | WS | {args.aux} |\n|---|---|---|')
    for size in mode.sizes:
        base = {
            **grid.data_options(mode, 1, mode.train_subset, 0),
            **grid.size_options(size)
        }
        ws = float('nan')
        if grid.applicable('ws', size, mode.ancestry):
            ws = run_job(
                plan.method_job(
                    f'df_ws_{size.name}',
                    'ws', {
                        **base,
                        **plan.method_options('ws', mode, work, 0)
                    },
                    kind='init'), work, args.threads)['accuracy']
        wave = run_job(
            plan.method_job(
                f'df_{args.aux}_{size.name}',
                'wave', {
                    **base,
                    **grid.wave_init_options(
                        plan.templates_of(work, args.aux),
                        0,
                        fit_lr=mode.fit_lr)
                },
                kind='init'), work, args.threads)['accuracy']
        print(f'| {size.name} | {ws:.2f} | {wave:.2f} |', flush=True)


if __name__ == '__main__':
    main()
