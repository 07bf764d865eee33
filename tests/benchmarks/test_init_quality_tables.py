"""The init benchmark's headline table: the best baseline per cell, WAVE in
bold only where it is at least that baseline, gaps shown as such."""
import os.path as osp
import sys
from dataclasses import replace

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(ROOT, 'benchmarks', 'init_quality'))
from modes import MODES  # noqa: E402
from tables import headline_table  # noqa: E402


def test_headline_names_the_best_baseline_and_bolds_only_wins():
    mode = MODES['quick']
    mode = replace(mode, budgets=(1, ), sizes=mode.sizes[:2])
    a, b = (s.name for s in mode.sizes)
    cells = {
        ('grid', 'scratch', a, 1, 1e-4): [40.0, 42.0],
        ('grid', 'ws', a, 1, 1e-4): [80.0],
        ('grid', 'front', a, 1, 1e-4): [81.0, 83.0],
        ('grid', 'wave', a, 1, 1e-4): [82.0, 82.0],
        ('grid', 'wave', b, 1, 1e-4): [70.0],
        ('grid', 'ws', b, 1, 1e-4): [71.0],
        ('init', 'ws', a): [30.0],
        ('init', 'wave_df', a): [79.0],
        ('fit', 'wave', a): [80.5],
    }
    lines = headline_table(mode, cells, lambda m, s: 1e-4).splitlines()
    assert lines[0] == ('| size | scratch, 1 ep | best baseline, 1 ep | '
                        'WAVE, 1 ep | no data: best baseline / WAVE / WAVE '
                        'fitted |')
    # a tie with the best baseline (FRONT, mean 82) is a win
    assert lines[2] == (f'| {a} | 41.00 | 82.00 (FRONT) | **82.00** | '
                        '30.00 (WS) / 79.00 / 80.50 |')
    # WAVE behind: not bold; missing cells are dashes
    assert lines[3] == f'| {b} | – | 71.00 (WS) | 70.00 | – / – / – |'
