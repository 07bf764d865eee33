"""Tables, cost accounting, verdicts and the plot of the init benchmark."""
import os.path as osp
import statistics
import time
from collections import defaultdict
from typing import Dict, List, Optional, Sequence, Tuple

from grid import LABELS, Mode

from wave_mm.fileio import atomic_write

GRID_METHODS = ('scratch', 'kd', 'ws', 'tleg', 'mimetic', 'wave')
INIT_METHODS = ('ws', 'tleg', 'mimetic', 'wave_df', 'wave')


def mean_std(values: Sequence[float]) -> Tuple[float, float]:
    if not values:
        return float('nan'), float('nan')
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return statistics.mean(values), std


def fmt(values: Optional[Sequence[float]]) -> str:
    if not values:
        return '–'
    mean, std = mean_std(values)
    return f'{mean:.2f} ± {std:.2f}' if len(values) > 1 else f'{mean:.2f}'


def collect(results: Dict[str, Dict]) -> Dict[tuple, List[float]]:
    """``(kind, method/variant, size, budget[, dataset]) -> accuracies``."""
    cells: Dict[tuple, List[float]] = defaultdict(list)
    for name, r in results.items():
        if 'accuracy' not in r or 'method' not in r and 'variant' not in r:
            continue
        if name.startswith('abl'):
            cells[('abl', r['variant'], r['size'],
                   r['budget'])].append(r['accuracy'])
        elif name.startswith('transfer'):
            cells[('transfer', r['method'], r['size'], r['budget'],
                   r['dataset'])].append(r['accuracy'])
        else:
            cells[('grid', r['method'], r['size'],
                   r['budget'])].append(r['accuracy'])
        # WAVE right after the scaler fit (before any training), once per
        # seed: from its shortest run.
        fit = r.get('fit', {}).get('val')
        if (fit and r.get('method') == 'wave' and 'dataset' not in r
                and r['budget'] == 1):
            cells[('grid', 'wave', r['size'], 0)].append(fit['accuracy/top1'])
    return cells


def grid_table(mode: Mode, cells) -> str:
    lines = []
    for size in mode.sizes:
        lines += [
            f'\n**{size.name}** ({size.heads} heads)\n',
            '| epochs | ' + ' | '.join(LABELS[m] for m in GRID_METHODS) + ' |',
            '|---' * (len(GRID_METHODS) + 1) + '|'
        ]
        for budget in mode.budgets:
            row = [
                fmt(cells.get(('grid', m, size.name, budget)))
                for m in GRID_METHODS
            ]
            lines.append(f'| {budget} | ' + ' | '.join(row) + ' |')
    return '\n'.join(lines)


def init_table(mode: Mode, cells) -> str:
    labels = [LABELS[m] for m in INIT_METHODS[:-1]] + ['WAVE scalers fitted']
    lines = [
        '| size | ' + ' | '.join(labels) + ' |',
        '|---' * (len(INIT_METHODS) + 1) + '|'
    ]
    for size in mode.sizes:
        row = [fmt(cells.get(('grid', m, size.name, 0))) for m in INIT_METHODS]
        lines.append(f'| {size.name} | ' + ' | '.join(row) + ' |')
    return '\n'.join(lines)


def transfer_table(mode: Mode, cells) -> str:
    methods = ('scratch', 'ws', 'wave')
    lines = [
        '| dataset | size | ' + ' | '.join(LABELS[m] for m in methods) + ' |',
        '|---' * (len(methods) + 2) + '|'
    ]
    for dataset in mode.transfer:
        for size in mode.transfer_sizes:
            row = [
                fmt(
                    cells.get(('transfer', m, size.name, mode.transfer_epochs,
                               dataset))) for m in methods
            ]
            lines.append(f'| {dataset} | {size.name} | ' + ' | '.join(row) +
                         ' |')
    return '\n'.join(lines)


def ablation_table(mode: Mode, cells) -> str:
    variants = sorted({k[1] for k in cells if k[0] == 'abl'})
    lines = [
        '| variant | ' + ' | '.join(f'{s.name} init | {s.name} 1 epoch'
                                    for s in mode.ablation_sizes) + ' |',
        '|---' * (2 * len(mode.ablation_sizes) + 1) + '|'
    ]
    for v in variants:
        row = []
        for s in mode.ablation_sizes:
            row += [
                fmt(cells.get(('abl', v, s.name, 0))),
                fmt(cells.get(('abl', v, s.name, 1)))
            ]
        lines.append(f'| {v} | ' + ' | '.join(row) + ' |')
    return '\n'.join(lines)


def cost_table(mode: Mode, results: Dict[str, Dict]) -> str:
    aux = results.get('aux_wave', {})
    anc = results.get('ancestry', {})
    lines = [
        f'- one-time: ancestry {mode.ancestry_epochs} epochs in '
        f'{anc.get("seconds", "?")} s; WAVE distillation '
        f'{mode.ancestry_epochs} epochs in {aux.get("seconds", "?")} s '
        '(wall-clock; the distillations share the device with each other)',
        '',
        '| size | params | scalers fitted | fit s (mean) |',
        '|---|---|---|---|',
    ]
    total = 0
    for size in mode.sizes:
        fits = [
            r['fit'] for r in results.values()
            if r.get('method') == 'wave' and r.get('size') == size.name
            and 'fit' in r and 'dataset' not in r
        ]
        params = next((r['params']
                       for r in results.values() if r.get('size') == size.name
                       and 'params' in r and r.get('method') == 'scratch'), 0)
        secs = mean_std([f['seconds'] for f in fits])[0] if fits else 0
        scalers = fits[0]['scalers'] if fits else 0
        lines.append(f'| {size.name} | {params:,} | {scalers:,} | '
                     f'{secs:.1f} |')
        total += params
    # The templates file holds exactly the auxiliary's parameters:
    # templates, its own scalers and its head.
    lines += [
        '', f'- stored: one templates file of {aux.get("params", 0):,} '
        f'values serves every size; the {len(mode.sizes)} targets\' full '
        f'weights are {total:,} values, of which WAVE fits only the scalers '
        'above (and the head)'
    ]
    return '\n'.join(lines)


def verdicts(mode: Mode, cells) -> List[str]:

    def m(method, size, budget):
        values = cells.get(('grid', method, size, budget))
        return mean_std(values)[0] if values else None

    out = []
    beaten = []
    for size in mode.sizes:
        for budget in mode.budgets:
            wave = m('wave', size.name, budget)
            for other in GRID_METHODS[:-1]:
                ref = m(other, size.name, budget)
                if ref is not None and wave is not None and wave < ref:
                    beaten.append(f'{size.name}@{budget}ep by {LABELS[other]} '
                                  f'({wave:.2f} < {ref:.2f})')
    out.append(
        'WAVE >= every baseline and control at every budget and size: ' +
        ('yes' if not beaten else 'no: ' + '; '.join(beaten)))
    full = max(mode.budgets)
    tenth = [b for b in mode.budgets if b * 10 <= full]
    if tenth:
        b = max(tenth)
        wins = [
            s.name for s in mode.sizes if (m('wave', s.name, b) or 0) >= (
                m('scratch', s.name, full) or 101)
        ]
        out.append(f'WAVE after {b} epochs >= scratch after {full} on '
                   f'{len(wins)} of {len(mode.sizes)} sizes '
                   f'({", ".join(wins) or "none"}; the bar is 3)')
    worse = []
    for s in mode.sizes:
        ws, df = m('ws', s.name, 0), m('wave_df', s.name, 0)
        if ws is not None and df is not None and df < ws:
            worse.append(f'{s.name} ({df:.2f} < {ws:.2f})')
    out.append('WAVE data-free init >= Weight Selection init on every size '
               'where WS applies: ' +
               ('yes' if not worse else 'no: ' + ', '.join(worse)))
    return out


def plot(mode: Mode, cells, path: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(
        1, len(mode.sizes), figsize=(3.2 * len(mode.sizes), 3.2), sharey=True)
    axes = axes if len(mode.sizes) > 1 else [axes]
    lines = {}  # one colour per method in every panel, one legend entry
    for ax, size in zip(axes, mode.sizes):
        for i, method in enumerate(GRID_METHODS):
            xs = [
                b for b in mode.budgets
                if cells.get(('grid', method, size.name, b))
            ]
            if not xs:
                continue
            ys = [
                mean_std(cells[('grid', method, size.name, b)])[0] for b in xs
            ]
            lines[method], = ax.plot(
                xs, ys, marker='o', color=f'C{i}', label=LABELS[method])
        ax.set_xscale('log')
        ax.set_title(size.name)
        ax.set_xlabel('epochs')
    axes[0].set_ylabel('Fashion-MNIST test accuracy (%)')
    axes[-1].legend(
        handles=[lines[m] for m in GRID_METHODS if m in lines], fontsize=7)
    fig.tight_layout()
    atomic_write(path, lambda f: fig.savefig(f, dpi=110, format='png'))


def write_report(mode_name: str, mode: Mode, results: Dict[str, Dict],
                 work: str, minutes: float) -> Dict[str, object]:
    """Write ``report.md`` and ``accuracy.png``; returns the verdicts."""
    cells = collect(results)
    checks = verdicts(mode, cells)
    sections = [
        f'# WAVE vs initialisation baselines ({mode_name} mode, '
        f'{time.strftime("%Y-%m-%d")}, {minutes:.1f} min)',
        f'\nAncestry {mode.ancestry.name}: '
        f'{results.get("ancestry", {}).get("accuracy", float("nan")):.2f}%; '
        'WAVE auxiliary '
        f'{results.get("aux_wave", {}).get("accuracy", float("nan")):.2f}%; '
        'TLEG auxiliary '
        f'{results.get("aux_tleg", {}).get("accuracy", float("nan")):.2f}%. '
        f'Targets train on {mode.train_subset or 60000} images; mean ± std '
        f'over seeds {list(mode.seeds)}.',
        '\n## Verdicts\n',
        '\n'.join(f'- {c}' for c in checks),
        '\n## Test accuracy (%) after training\n',
        grid_table(mode, cells),
        '\n## Before any training (%)\n',
        init_table(mode, cells),
        '\n## Cost\n',
        cost_table(mode, results),
    ]
    if mode.transfer:
        sections += [
            f'\n## Transfer, {mode.transfer_epochs} epochs (%)\n',
            transfer_table(mode, cells)
        ]
    if any(k[0] == 'abl' for k in cells):
        sections += ['\n## Ablations (%)\n', ablation_table(mode, cells)]
    atomic_write(
        osp.join(work, 'report.md'), ('\n'.join(sections) + '\n').encode())
    try:
        plot(mode, cells, osp.join(work, 'accuracy.png'))
    except ImportError as err:  # the tables are the result; the plot helps
        print(f'no plot: {err}')
    return dict(verdicts=checks)
