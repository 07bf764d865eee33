"""The whole WAVE pipeline on Fashion-MNIST, end to end, on a CPU.

    python tools/quickstart.py [--work-dir work_dirs/quickstart] [--force]

Configs in ``configs/wave/quickstart/``:

1. put Fashion-MNIST where mmpretrain reads it (``tools/prepare_data.py``);
2. train the ancestry ViT (``ancestry_vit-6x128-p7_1xb128-3e_fmnist.py``);
3. distil weight templates from it
   (``distill_vit-6x128-p7_1xb128-3e_fmnist.py``);
4. for several target sizes, initialise a stock ViT with ``WaveInit`` and
   fit its scalers with ``ScalerInitHook``
   (``wave_vit-6x128-p7_1xb128-1e_fmnist.py``), train it briefly, and train
   the same size from scratch (``scratch_vit-6x128-p7_1xb128-1e_fmnist.py``);
5. print a table, and write ``results.json`` and ``results.png``.

Every step is ``tools/train.py`` on a config, so each can be rerun alone;
finished steps 2-3 are reused unless ``--force``.
"""
import argparse
import glob
import json
import os
import os.path as osp
import subprocess
import sys
import time
from typing import Dict, List, Optional

from vit_size import ViTSize

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = osp.join(ROOT, 'configs', 'wave', 'quickstart')
ANCESTRY = 'ancestry_vit-6x128-p7_1xb128-3e_fmnist.py'
DISTILL = 'distill_vit-6x128-p7_1xb128-3e_fmnist.py'
WAVE = 'wave_vit-6x128-p7_1xb128-1e_fmnist.py'
SCRATCH = 'scratch_vit-6x128-p7_1xb128-1e_fmnist.py'
# Around the 6x128 auxiliary (64-wide blocks).
TARGETS = [
    ('shallower', ViTSize(3, 128, 4)),
    ('deeper', ViTSize(9, 128, 4)),
    ('narrower', ViTSize(6, 64, 2)),
    ('wider', ViTSize(6, 192, 6)),
    ('non-multiple', ViTSize(6, 96, 3)),
]


def run(config: str,
        work_dir: str,
        options: Optional[List[str]] = None,
        quiet: bool = True) -> None:
    """``tools/train.py config``; progress lines stream to the terminal."""
    cmd = [
        sys.executable,
        osp.join(ROOT, 'tools', 'train.py'),
        osp.join(CONFIGS, config), '--work-dir', work_dir
    ]
    if options:
        cmd += ['--cfg-options'] + options
    print(f'\n$ {" ".join(cmd[1:])}', flush=True)
    keep = ('Epoch(', 'ScalerInitHook:', 'templates written', 'Error', 'error')
    with subprocess.Popen(
            cmd,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True) as proc:
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if not quiet or any(k in line for k in keep):
                print('  ' + line.rstrip()[:160], flush=True)
    if proc.returncode:
        sys.stdout.write(''.join(lines[-40:]))
        raise SystemExit(f'{config} failed (exit {proc.returncode})')


def last_accuracy(work_dir: str) -> float:
    """The last ``accuracy/top1`` of a run's scalar log."""
    logs = sorted(
        glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')))
    acc = None
    for line in open(logs[-1]):
        acc = json.loads(line).get('accuracy/top1', acc)
    return float(acc)


def has_head(templates: str) -> bool:
    """Whether a templates file stores the auxiliary's head (files written
    before heads were exported do not; the targets need it)."""
    from wave_mm.templates import load_templates
    return bool(load_templates(templates).head())


def num_params(size: ViTSize) -> int:
    """Parameters of a target of ``size``: its ViT and its 10-class head."""
    from mmpretrain.models.backbones import VisionTransformer
    vit = VisionTransformer(
        arch=dict(
            embed_dims=size.width,
            num_layers=size.layers,
            num_heads=size.heads,
            feedforward_channels=4 * size.width),
        img_size=28,
        patch_size=7,
        in_channels=1)
    return sum(p.numel() for p in vit.parameters()) + size.width * 10 + 10


def plot(rows: List[Dict], path: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    from wave_mm.fileio import atomic_write
    names = [r['target'] for r in rows]
    xs = range(len(rows))
    fig, ax = plt.subplots(figsize=(8, 4))
    for i, (key, label) in enumerate([('scratch', 'scratch, trained'),
                                      ('wave_init', 'WAVE, at init'),
                                      ('wave', 'WAVE, trained')]):
        ax.bar([x + (i - 1) * 0.27 for x in xs], [r[key] for r in rows],
               0.27,
               label=label)
    ax.set_xticks(list(xs), [f'{n}\n{r["size"]}' for n, r in zip(names, rows)])
    ax.set_ylabel('Fashion-MNIST test accuracy (%)')
    ax.set_ylim(0, 100)
    ax.legend(
        loc='lower center', ncol=3, bbox_to_anchor=(0.5, 1.0), frameon=False)
    fig.tight_layout()
    atomic_write(path, lambda f: fig.savefig(f, dpi=120, format='png'))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--work-dir', default='work_dirs/quickstart')
    parser.add_argument(
        '--force',
        action='store_true',
        help='retrain the ancestry and the templates')
    args = parser.parse_args()
    work = osp.abspath(args.work_dir)
    os.makedirs(work, exist_ok=True)
    start = time.time()
    sys.path.insert(0, ROOT)
    from data_prep import prepare_fashion_mnist

    from wave_mm.fileio import atomic_write
    print('Fashion-MNIST from',
          prepare_fashion_mnist(osp.join(ROOT, 'data', 'fashion_mnist')))

    ancestry = osp.join(work, 'ancestry')
    distill = osp.join(work, 'distill')
    templates = osp.join(distill, 'templates.safetensors')
    if args.force or not osp.isfile(osp.join(ancestry, 'last_checkpoint')):
        run(ANCESTRY, ancestry)
    if args.force or not osp.isfile(templates) or not has_head(templates):
        run(DISTILL, distill, [f'model.teacher.checkpoint={ancestry}'])
    results = dict(
        ancestry=last_accuracy(ancestry),
        auxiliary=last_accuracy(distill),
        targets=[])
    for name, size in TARGETS:
        opts = size.cfg_options()
        wave_dir = osp.join(work, f'wave_{size.name}')
        scratch_dir = osp.join(work, f'scratch_{size.name}')
        run(WAVE, wave_dir, opts + [f'model.init_cfg.templates={templates}'])
        run(SCRATCH, scratch_dir, opts)
        fit = json.load(open(osp.join(wave_dir, 'scaler_init.json')))
        results['targets'].append(
            dict(
                target=name,
                size=size.name,
                params=num_params(size),
                scalers=fit['scalers'],
                fit_seconds=fit['seconds'],
                wave_init=round(fit['val']['accuracy/top1'], 2),
                wave=round(last_accuracy(wave_dir), 2),
                scratch=round(last_accuracy(scratch_dir), 2)))
    results['minutes'] = round((time.time() - start) / 60, 1)
    atomic_write(
        osp.join(work, 'results.json'),
        json.dumps(results, indent=2).encode())
    plot(results['targets'], osp.join(work, 'results.png'))
    print(f'\nancestry {results["ancestry"]:.2f}%, auxiliary (templates) '
          f'{results["auxiliary"]:.2f}%, {results["minutes"]} min')
    print('| target | size | params | scalers fitted | WAVE at init | '
          'WAVE trained | scratch trained |')
    print('|---|---|---|---|---|---|---|')
    for r in results['targets']:
        print(f'| {r["target"]} | {r["size"]} | {r["params"]:,} | '
              f'{r["scalers"]:,} | {r["wave_init"]:.2f} | {r["wave"]:.2f} | '
              f'{r["scratch"]:.2f} |')
    print(f'results in {work}/results.json and results.png')


if __name__ == '__main__':
    main()
