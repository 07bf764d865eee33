"""The init benchmark's results as cells and markdown tables."""
import math
import statistics
from collections import defaultdict
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from grid import LABELS
from modes import Mode

Cells = Dict[tuple, List[float]]


def mean_std(values: Sequence[float]) -> Tuple[float, float]:
    if not values:
        return float('nan'), float('nan')
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return statistics.mean(values), std


def mean(values: Optional[Sequence[float]]) -> Optional[float]:
    return mean_std(values)[0] if values else None


def fmt(values: Optional[Sequence[float]], bold: bool = False) -> str:
    if not values:
        return '–'
    m, std = mean_std(values)
    text = f'{m:.2f} ± {std:.2f}' if len(values) > 1 else f'{m:.2f}'
    return f'**{text}**' if bold else text


def first_run(r: Mapping, mode: Mode) -> bool:
    """Whether ``r`` is a grid run at the shortest budget and the shared
    recipe: one per size and seed, where the fit is read."""
    return (r.get('budget') == min(mode.budgets)
            and r.get('lr') == mode.shared_lr and 'dataset' not in r)


def collect(results: Mapping[str, Mapping], mode: Mode) -> Cells:
    """Accuracies by cell: ``('grid', method, size, budget, lr)``,
    ``('init', method, size)``, ``('fit', method, size)`` (right after the
    scaler fit), ``('select', method, size, lr)`` (validation),
    ``('abl', variant, size, budget)``, ``('abl_fit', variant, size)``,
    ``('transfer', method, size, budget, dataset)``."""
    cells: Cells = defaultdict(list)
    for name, r in results.items():
        if 'accuracy' not in r or not {'method', 'variant'} & set(r):
            continue
        acc, size = r['accuracy'], r.get('size')
        fit = r.get('fit', {}).get('val', {}).get('accuracy/top1')
        if name.startswith('abl'):
            cells[('abl', r['variant'], size, r['budget'])].append(acc)
            if fit is not None:
                cells[('abl_fit', r['variant'], size)].append(fit)
        elif name.startswith('select'):
            cells[('select', r['method'], size, r['lr'])].append(acc)
        elif name.startswith('transfer'):
            cells[('transfer', r['method'], size, r['budget'],
                   r['dataset'])].append(acc)
        elif name.startswith('init'):
            cells[('init', r['method'], size)].append(acc)
        else:
            cells[('grid', r['method'], size, r['budget'],
                   r['lr'])].append(acc)
            # Right after the scaler fit (before any training), once per
            # seed: from its shortest run at the shared recipe.
            if fit is not None and first_run(r, mode):
                cells[('fit', r['method'], size)].append(fit)
    return cells


def grid_table(mode: Mode, cells: Cells, lr_of) -> str:
    """Test accuracy per size and budget; ``lr_of(method, size)`` names
    the lr of each column's runs (best mean per row in bold)."""
    methods = mode.methods
    lines = []
    for size in mode.sizes:
        lines += [
            f'\n**{size.name}** ({size.heads} heads)\n',
            '| epochs | ' + ' | '.join(LABELS[m] for m in methods) + ' |',
            '|---' * (len(methods) + 1) + '|'
        ]
        for budget in mode.budgets:
            values = [
                cells.get(('grid', m, size.name, budget, lr_of(m, size.name)))
                for m in methods
            ]
            means = [mean(v) for v in values]
            top = max((x for x in means if x is not None), default=None)
            row = [fmt(v, x == top) for v, x in zip(values, means)]
            lines.append(f'| {budget} | ' + ' | '.join(row) + ' |')
    return '\n'.join(lines)


#: The baselines of the headline table, by their short names.
BASELINES = {
    'kd': 'KD',
    'ws': 'WS',
    'tleg': 'TLEG',
    'mimetic': 'Mimetic',
    'front': 'FRONT'
}


def headline_table(mode: Mode, cells: Cells, lr_of) -> str:
    """Per size and budget scratch, the best baseline and WAVE, each at
    ``lr_of(method, size)``; before any training, the best baseline, WAVE
    data-free and WAVE fitted (means over seeds; WAVE in bold where it is at
    least the best baseline)."""

    def best(key) -> Tuple[Optional[float], str]:
        scored = [(mean(cells.get(key(m))), n) for m, n in BASELINES.items()]
        scored = [(x, n) for x, n in scored if x is not None]
        return max(scored, default=(None, ''))

    def text(x: Optional[float], bold: bool = False) -> str:
        return '–' if x is None else (f'**{x:.2f}**' if bold else f'{x:.2f}')

    def shown(top: Optional[float], name: str) -> str:
        return f'{text(top)} ({name})' if name else '–'

    head = [
        f'{c}, {b} ep' for b in mode.budgets
        for c in ('scratch', 'best baseline', 'WAVE')
    ]
    head.append('no data: best baseline / WAVE / WAVE fitted')
    lines = [
        '| size | ' + ' | '.join(head) + ' |', '|---' * (len(head) + 1) + '|'
    ]
    for size in mode.sizes:
        row = []
        for b in mode.budgets:

            def grid(m: str, b=b) -> tuple:
                return ('grid', m, size.name, b, lr_of(m, size.name))

            top, name = best(grid)
            wave = mean(cells.get(grid('wave')))
            row += [
                text(mean(cells.get(grid('scratch')))),
                shown(top, name),
                text(wave, None not in (wave, top) and wave >= top)
            ]
        top, name = best(lambda m: ('init', m, size.name))
        row.append(' / '.join([shown(top, name)] + [
            text(mean(cells.get(k))) for k in (('init', 'wave_df', size.name),
                                               ('fit', 'wave', size.name))
        ]))
        lines.append(f'| {size.name} | ' + ' | '.join(row) + ' |')
    return '\n'.join(lines)


def lr_table(mode: Mode, cells: Cells, chosen: Mapping[tuple, float]) -> str:
    """The chosen lr per method and size, with each lr's validation
    accuracy (``select_budget`` epochs, seed 0)."""
    lines = [
        '| size | ' + ' | '.join(LABELS[m] for m in mode.methods) + ' |',
        '|---' * (len(mode.methods) + 1) + '|'
    ]
    for size in mode.sizes:
        row = []
        for m in mode.methods:
            lr = chosen.get((m, size.name))
            scores = [
                mean(cells.get(('select', m, size.name, x))) for x in mode.lrs
            ]
            row.append('–' if lr is None else f'**{lr:g}** (' +
                       ' / '.join('?' if s is None else f'{s:.1f}'
                                  for s in scores) + ')')
        lines.append(f'| {size.name} | ' + ' | '.join(row) + ' |')
    return '\n'.join(lines)


#: Columns of the untrained table: cell kind and method.
UNTRAINED_COLUMNS = (('init', 'ws'), ('init', 'tleg'), ('init', 'mimetic'),
                     ('init', 'front'), ('init', 'wave_df'), ('fit', 'wave'),
                     ('init', 'wave_proj_df'), ('fit', 'wave_proj'))


def init_table(mode: Mode, cells: Cells) -> str:
    labels = [
        LABELS[m] if kind == 'init' else f'{LABELS[m]} fitted'
        for kind, m in UNTRAINED_COLUMNS
    ]
    lines = [
        '| size | ' + ' | '.join(labels) + ' |',
        '|---' * (len(labels) + 1) + '|'
    ]
    for size in mode.sizes:
        row = [
            fmt(cells.get((kind, m, size.name)))
            for kind, m in UNTRAINED_COLUMNS
        ]
        lines.append(f'| {size.name} | ' + ' | '.join(row) + ' |')
    return '\n'.join(lines)


def holdout_table(mode: Mode, results: Mapping[str, Mapping]) -> str:
    """The fit's held-out check per size: the data-free start's and the
    best held-out accuracy, and which state the fit kept."""
    lines = [
        '| size | held-out images | start (held-out) | best fit '
        '(held-out) | kept fit / start | iterations run |',
        '|---|---|---|---|---|---|',
    ]
    for size in mode.sizes:
        fits = [
            r['fit'] for r in results.values()
            if r.get('method') == 'wave' and r.get('size') == size.name
            and first_run(r, mode) and 'holdout' in r.get('fit', {})
        ]
        records = [f['holdout'] for f in fits]
        if not records:
            continue
        start = [h['start']['accuracy'] for h in records]
        best = [h['best']['accuracy'] for h in records]
        kept = sum(h['kept'] == 'fit' for h in records)
        iters = [f['iters'] for f in fits]
        lines.append(f'| {size.name} | {records[0]["images"]} | {fmt(start)} '
                     f'| {fmt(best)} | {kept} / {len(records) - kept} | '
                     f'{fmt(iters)} |')
    return '\n'.join(lines)


def stage1_table(mode: Mode, results: Mapping[str, Mapping]) -> List[str]:
    """Auxiliary accuracy by start and epochs, the epochs the projected
    start needs to reach the full random-start distillation, and the
    energy the projection captures per tensor."""
    runs = [(f'aux_proj{n}', 'projection', n) for n in mode.projection_epochs]
    runs += [(f'aux_rand{n}', 'random', n) for n in mode.random_epochs]
    runs.append(('aux_wave', 'random', mode.ancestry_epochs))
    lines = [
        '| start | epochs | auxiliary accuracy | s |', '|---|---|---|---|'
    ]
    reached: Dict[str, Optional[int]] = {}
    full = results.get('aux_wave', {}).get('accuracy')
    for name, start, epochs in sorted(runs, key=lambda r: (r[1], r[2])):
        r = results.get(name, {})
        if 'accuracy' not in r:
            continue
        lines.append(f'| {start} | {epochs} | {r["accuracy"]:.2f} | '
                     f'{r.get("seconds", "?")} |')
        if full is not None and r['accuracy'] >= full - 1e-9:
            reached.setdefault(start, epochs)
    out = ['\n'.join(lines)]
    if full is not None:
        proj, rand = reached.get('projection'), reached.get('random')
        ratio = (rand / proj) if proj and rand else None
        out.append(f'- epochs to reach the {mode.ancestry_epochs}-epoch '
                   f'random-start accuracy ({full:.2f} %): from the '
                   f'projection {proj if proj is not None else "not within"} '
                   f'{list(mode.projection_epochs)}, from a random start '
                   f'{rand}; ' +
                   (f'{ratio:.1f}x fewer' if ratio else 'no ratio') +
                   ' (the bar is 3x)')
    energy = results.get('aux_proj0', {}).get('energy')
    if energy:
        out.append('- energy of the ancestry the projection keeps: ' +
                   ', '.join(f'{k} {v:.3f}' for k, v in energy.items()))
    return out


def ablation_table(mode: Mode, cells: Cells) -> str:
    variants = [
        v for v in mode.variants
        if any(k[0] == 'abl' and k[1] == v for k in cells)
    ]
    variants += sorted({k[1] for k in cells if k[0] == 'abl'} - set(variants))
    lines = [
        '| variant | ' + ' | '.join(f'{s.name} init | {s.name} fitted | '
                                    f'{s.name} 1 epoch'
                                    for s in mode.ablation_sizes) + ' |',
        '|---' * (3 * len(mode.ablation_sizes) + 1) + '|'
    ]
    for v in variants:
        row = []
        for s in mode.ablation_sizes:
            row += [
                fmt(cells.get(('abl', v, s.name, 0))),
                fmt(cells.get(('abl_fit', v, s.name))),
                fmt(cells.get(('abl', v, s.name, 1)))
            ]
        lines.append(f'| {v} | ' + ' | '.join(row) + ' |')
    return '\n'.join(lines)


def compression(scalers: Mapping[str, Sequence[int]]) -> Dict[str, float]:
    """Values of each type in the auxiliary over those of its templates,
    from the scalers' shapes ``[L, K, *grid]``: ``L * prod(grid) / K``."""
    return {
        name: shape[0] * math.prod(shape[2:]) / shape[1]
        for name, shape in scalers.items()
    }


def transfer_table(mode: Mode, cells: Cells) -> str:
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
