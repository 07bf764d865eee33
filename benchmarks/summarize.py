"""Merge benchmark JSON files into one ``results.json`` and ``summary.md``.

Usage::

    python benchmarks/summarize.py OUT_DIR RESULT.json [RESULT.json ...]

Results of the same benchmark (e.g. one ``distill_step`` run per variant)
share one table; a missing or unreadable file is listed, not fatal.
"""
import json
import sys
from pathlib import Path
from typing import Dict, List

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import markdown  # noqa: E402

from wave_mm.fileio import atomic_write  # noqa: E402

COLUMNS = {
    'compose_speed': [
        'case', 'scope', 'path', 'dtype', 'out_M', 'fwd_ms', 'fwd_bwd_ms',
        'fwd_bwd_min_ms', '<=1ms', 'error'
    ],
    'distill_step': [
        'variant', 'img_s', 'mfu', 'step_ms', 'peak_mem_gib', 'first_step_s',
        'graphs', 'graph_breaks', 'recompiled_in_timed', 'compose_share',
        'optim_share', 'error'
    ],
}
TITLES = {
    'compose_speed':
    'Composing ViT weights from templates (forward and '
    'forward + backward, ms per call)',
    'distill_step':
    'Stage-1 training step (MMEngine train_step, '
    'student + frozen teacher)',
}


def main() -> None:
    out_dir, paths = Path(sys.argv[1]), sys.argv[2:]
    groups: Dict[str, List[dict]] = {}
    missing: List[str] = []
    for path in paths:
        try:
            with open(path) as f:
                data = json.load(f)
            groups.setdefault(data['benchmark'], []).append(data)
        except (OSError, ValueError, KeyError) as exc:
            missing.append(f'{Path(path).name} ({type(exc).__name__})')
    lines = ['# WAVE benchmarks', '']
    for name, runs in groups.items():
        rows = [row for run in runs for row in run['rows']]
        present = {k for row in rows for k in row}
        columns = [
            c for c in COLUMNS.get(name,
                                   list(rows[0]) if rows else [])
            if c in present
        ]
        lines += [
            f'## {TITLES.get(name, name)}', '',
            f"Environment: {runs[0]['env']}", '',
            markdown(rows, columns), ''
        ]
        args = {
            k: v
            for k, v in runs[0]['args'].items()
            if k not in ('out', 'variants', 'paths', 'compile')
        }
        lines += [f'Arguments: `{args}`', '']
    if missing:
        lines += ['## Missing results (timed out or failed: see run.log)', ''
                  ] + [f'- {m}' for m in missing] + ['']
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(str(out_dir / 'summary.md'), '\n'.join(lines).encode())
    atomic_write(
        str(out_dir / 'results.json'),
        json.dumps(dict(groups=groups, missing=missing), indent=1).encode())
    print('\n'.join(lines))


if __name__ == '__main__':
    main()
