"""Stage 1 from the Kronecker projection of the ancestry, against a random
start, on the Fashion-MNIST quickstart.

    python benchmarks/projection_start.py [--epochs 3] [--out F]

Needs the quickstart's ancestry (``bash tools/quickstart.sh`` trains it into
``work_dirs/quickstart/ancestry``). Distils the quickstart's auxiliary twice
with its own config, from a random start and from
``KroneckerProjectionInit`` of the ancestry, validating every epoch, and
reports the accuracies, the epochs the projected start needs to reach the
random start's last accuracy, and the energy each weight type keeps.
"""
import argparse
import glob
import json
import os.path as osp
import re
import subprocess
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)

from wave_mm.fileio import atomic_write  # noqa: E402

CONFIG = 'configs/wave/quickstart/distill_vit-6x128-p7_1xb128-3e_fmnist.py'


def distil(work: str, ancestry: str, epochs: int, projection: bool) -> dict:
    options = [
        f'train_cfg.max_epochs={epochs}', 'train_cfg.val_interval=1',
        f'model.teacher.checkpoint={ancestry}'
    ]
    if projection:
        options += [
            'model.backbone.init_cfg.type=KroneckerProjectionInit',
            f'model.backbone.init_cfg.checkpoint={ancestry}'
        ]
    start = time.time()
    subprocess.run([
        sys.executable,
        osp.join(ROOT, 'tools', 'train.py'), CONFIG, '--work-dir', work,
        '--cfg-options', *options
    ],
                   cwd=ROOT,
                   check=True,
                   stdout=subprocess.DEVNULL)
    log = open(sorted(glob.glob(osp.join(work, '*', '*.log')))[-1]).read()
    accuracy = [
        float(a) for a in re.findall(
            r'Epoch\(val\) \[\d+\]\[\d+/\d+\]\s+accuracy/top1: ([\d.]+)', log)
    ]
    energy = re.findall(r'captured energy ([\d.]+) \((\w+)\) to ([\d.]+)', log)
    return dict(
        accuracy=accuracy,
        minutes=round((time.time() - start) / 60, 1),
        energy=energy[0] if energy else None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--epochs', type=int, default=3)
    parser.add_argument(
        '--ancestry', default=osp.join(ROOT, 'work_dirs/quickstart/ancestry'))
    parser.add_argument(
        '--work-dir', default=osp.join(ROOT, 'work_dirs/projection_start'))
    parser.add_argument('--out', help='results JSON')
    args = parser.parse_args()
    runs = {
        name:
        distil(
            osp.join(args.work_dir, name), args.ancestry, args.epochs,
            name == 'projection')
        for name in ('random', 'projection')
    }
    target = runs['random']['accuracy'][-1]
    reached = next(
        (i + 1
         for i, a in enumerate(runs['projection']['accuracy']) if a >= target),
        None)
    print('| start | ' + ' | '.join(f'epoch {i + 1}'
                                    for i in range(args.epochs)) +
          ' | minutes |')
    print('|---' * (args.epochs + 2) + '|')
    for name, run in runs.items():
        print(f'| {name} | ' + ' | '.join(f'{a:.2f}'
                                          for a in run['accuracy']) +
              f' | {run["minutes"]} |')
    print(f'\nthe projected start reaches the random start\'s epoch-'
          f'{args.epochs} accuracy ({target:.2f}) after {reached} epochs; '
          f'energy kept: {runs["projection"]["energy"]}')
    if args.out:
        atomic_write(
            args.out,
            json.dumps(
                dict(
                    date=time.strftime('%Y-%m-%d'),
                    epochs=args.epochs,
                    runs=runs,
                    reached=reached),
                indent=1).encode())


if __name__ == '__main__':
    main()
