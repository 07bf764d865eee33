"""The init benchmark's report: verdicts, tables, cost and the plot."""
import os.path as osp
import time
from typing import Callable, Dict, List, Mapping

from grid import LABELS
from modes import Mode
from plan import chosen_lrs, templates_of
from tables import (Cells, ablation_table, collect, compression, fmt,
                    grid_table, headline_table, holdout_table, init_table,
                    lr_table, mean, mean_std, stage1_table, transfer_table)

from wave_mm.fileio import atomic_write


def _beaten(mode: Mode, cells: Cells, lr_of) -> List[str]:
    """Every (size, budget, baseline) where WAVE's mean is lower."""
    out = []
    for size in mode.sizes:
        for budget in mode.budgets:

            def at(m):
                return mean(
                    cells.get(
                        ('grid', m, size.name, budget, lr_of(m, size.name))))

            wave = at('wave')
            for other in mode.methods:
                ref = at(other) if other != 'wave' else None
                if ref is not None and wave is not None and wave < ref:
                    out.append(f'{size.name}@{budget}ep by {LABELS[other]} '
                               f'({wave:.2f} < {ref:.2f})')
    return out


def _yes_no(items: List[str]) -> str:
    return 'yes' if not items else 'no: ' + '; '.join(items)


def own_lr(mode: Mode, chosen: Mapping[tuple,
                                       float]) -> Callable[[str, str], float]:
    """``lr_of(method, size)`` of the tables: each method's chosen lr,
    the shared one where none is chosen yet."""
    return lambda method, size: chosen.get((method, size), mode.shared_lr)


def verdicts(mode: Mode, cells: Cells, chosen: Mapping[tuple,
                                                       float]) -> List[str]:
    own = own_lr(mode, chosen)

    def shared(m, s):
        return mode.shared_lr

    out = [
        'WAVE >= every baseline and control at every budget and size, each '
        'at its own lr: ' + _yes_no(_beaten(mode, cells, own)),
        'the same at the shared recipe (lr '
        f'{mode.shared_lr:g}): ' + _yes_no(_beaten(mode, cells, shared)),
    ]
    full = max(mode.budgets)
    tenth = [b for b in mode.budgets if b * 10 <= full]
    if tenth:
        b = max(tenth)
        wins = [
            s.name for s in mode.sizes if
            (mean(cells.get(('grid', 'wave', s.name, b,
                             own('wave', s.name)))) or 0) >= (mean(
                                 cells.get(('grid', 'scratch', s.name, full,
                                            own('scratch', s.name)))) or 101)
        ]
        out.append(f'WAVE after {b} epochs >= scratch after {full} (own '
                   f'lrs) on {len(wins)} of {len(mode.sizes)} sizes '
                   f'({", ".join(wins) or "none"})')
    for kind, other in (('init', 'ws'), ('init', 'front')):
        worse = []
        for s in mode.sizes:
            ref = mean(cells.get((kind, other, s.name)))
            df = mean(cells.get(('init', 'wave_df', s.name)))
            if ref is not None and df is not None and df < ref:
                worse.append(f'{s.name} ({df:.2f} < {ref:.2f})')
        out.append(f'WAVE data-free init >= {LABELS[other]} init on every '
                   'size where it applies: ' + _yes_no(worse))
    worse = []
    for s in mode.sizes:
        df = mean(cells.get(('init', 'wave_df', s.name)))
        fit = mean(cells.get(('fit', 'wave', s.name)))
        if df is not None and fit is not None and fit < df:
            worse.append(f'{s.name} ({fit:.2f} < {df:.2f})')
    out.append('WAVE fitted >= data-free on every size (test accuracy, '
               'mean over seeds): ' + _yes_no(worse))
    return out


def cost_lines(mode: Mode, results: Mapping[str, Mapping],
               work: str) -> List[str]:
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
    lines += [
        '', f'- stored: one templates file of {aux.get("params", 0):,} '
        f'values serves every size; the {len(mode.sizes)} targets\' full '
        f'weights are {total:,} values, of which WAVE fits only the scalers '
        'above (and the head)'
    ]
    ratios = _compression(work)
    if ratios:
        lines.append('- values of each type in the auxiliary per template '
                     'value: ' + ', '.join(f'{k} {v:.1f}x'
                                           for k, v in ratios.items()))
    return lines


def _compression(work: str) -> Dict[str, float]:
    path = templates_of(work, 'aux_wave')
    if not osp.isfile(path):
        return {}
    from wave_mm.core.weight_types import WEIGHT_TYPES
    from wave_mm.templates import load_templates
    scalers = load_templates(path).scalers
    return compression(
        {k: tuple(scalers[k].shape)
         for k in WEIGHT_TYPES if k in scalers})


def plot(mode: Mode, cells: Cells, chosen, path: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(
        1, len(mode.sizes), figsize=(3.2 * len(mode.sizes), 3.2), sharey=True)
    axes = axes if len(mode.sizes) > 1 else [axes]
    lines = {}  # one colour per method in every panel, one legend entry
    lr_of = own_lr(mode, chosen)
    for ax, size in zip(axes, mode.sizes):
        for i, method in enumerate(mode.methods):
            lr = lr_of(method, size.name)
            xs = [
                b for b in mode.budgets
                if cells.get(('grid', method, size.name, b, lr))
            ]
            if not xs:
                continue
            ys = [mean(cells[('grid', method, size.name, b, lr)]) for b in xs]
            lines[method], = ax.plot(
                xs, ys, marker='o', color=f'C{i}', label=LABELS[method])
        ax.set_xscale('log')
        ax.set_title(size.name)
        ax.set_xlabel('epochs (each method at its own lr)')
    axes[0].set_ylabel('Fashion-MNIST test accuracy (%)')
    axes[-1].legend(
        handles=[lines[m] for m in mode.methods if m in lines], fontsize=7)
    fig.tight_layout()
    atomic_write(path, lambda f: fig.savefig(f, dpi=110, format='png'))


def write_report(mode_name: str, mode: Mode, results: Dict[str, Dict],
                 work: str, minutes: float) -> Dict[str, object]:
    """Write ``report.md`` and ``accuracy.png``; returns the verdicts and
    the chosen lrs."""
    cells = collect(results, mode)
    chosen = chosen_lrs(mode, results)
    checks = verdicts(mode, cells, chosen)

    def acc(name):
        return fmt([results[name]['accuracy']]) if 'accuracy' in results.get(
            name, {}) else '?'

    lr_of = own_lr(mode, chosen)
    # TLEG applies to targets of the ancestry's width only.
    tleg = (f'{acc("aux_tleg")} %' if 'aux_tleg' in results else
            'not needed (no target of the ancestry\'s width)')
    sections = [
        f'# WAVE vs initialisation baselines ({mode_name} mode, '
        f'{time.strftime("%Y-%m-%d")}, {minutes:.1f} min)',
        f'\nAncestry {mode.ancestry.name}: {acc("ancestry")} %; WAVE '
        f'auxiliary {acc("aux_wave")} %; TLEG auxiliary {tleg}; '
        f'projection alone {acc("aux_proj0")} %. Targets train on '
        f'{mode.train_subset} images; mean ± std over seeds '
        f'{list(mode.seeds)}; each method\'s lr is chosen per size from '
        f'{[f"{x:g}" for x in mode.lrs]} on the last {mode.val_images} of '
        'those images, held out of its selection runs.',
        '\n## Verdicts\n',
        '\n'.join(f'- {c}' for c in checks),
        '\n## Headline (%; each method at its own lr)\n',
        headline_table(mode, cells, lr_of),
        '\n## Test accuracy (%), each method at its own lr\n',
        grid_table(mode, cells, lr_of),
        f'\n## Chosen lr (validation accuracy % at {mode.select_budget} '
        f'epochs for {" / ".join(f"{x:g}" for x in mode.lrs)})\n',
        lr_table(mode, cells, chosen),
        f'\n## Test accuracy (%), shared recipe (lr {mode.shared_lr:g})\n',
        grid_table(mode, cells, lambda m, s: mode.shared_lr),
        '\n## Before any training (%)\n',
        init_table(mode, cells),
        '\n## The scaler fit\'s held-out check\n',
        holdout_table(mode, results),
        '\n## Stage 1 from the Kronecker projection\n',
        '\n'.join(stage1_table(mode, results)),
        '\n## Cost\n',
        '\n'.join(cost_lines(mode, results, work)),
    ]
    if mode.transfer:
        sections += [
            f'\n## Transfer, {mode.transfer_epochs} epochs (%)\n',
            transfer_table(mode, cells)
        ]
    if any(k[0] == 'abl' for k in cells):
        sections += [
            '\n## Ablations (%; 1 epoch at the shared recipe)\n',
            ablation_table(mode, cells)
        ]
    atomic_write(
        osp.join(work, 'report.md'), ('\n'.join(sections) + '\n').encode())
    try:
        plot(mode, cells, chosen, osp.join(work, 'accuracy.png'))
    except ImportError as err:  # the tables are the result; the plot helps
        print(f'no plot: {err}')
    return dict(
        verdicts=checks,
        chosen_lrs={
            f'{m}/{s}': lr
            for (m, s), lr in sorted(chosen.items())
        })
