"""Interleaved process pairs of the stage-1 step benchmark.

Each variant runs in a fresh process (``--worker VARIANT``), launched in the
order KD, WAVE, KD, WAVE, ... per mode, eager before compiled, so a drift of
the machine (clocks, temperature, other load) shifts both members of a pair
alike. The WAVE/KD img/s ratio of each pair is the measurement; its median
over the pairs is reported with the smallest and largest pair as the spread.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
from common import markdown, report, write_json

#: Modes and their members, in launch order (KD first).
MODES = {
    'eager': ('kd-eager', 'wave-eager'),
    'compile': ('kd-compile', 'wave-compile'),
}
#: Per-variant figures summarised by their median over the processes.
MEDIANS = ('img_s', 'mfu', 'step_ms', 'peak_mem_gib', 'compose_share',
           'optim_share', 'host_ms_per_step')
#: Compilation counters summarised by their largest value.
MAXIMA = ('graph_breaks', 'recompiled_in_timed')
PROCESS_COLUMNS = ('process', 'mode', 'pair', 'variant', 'img_s', 'mfu',
                   'step_ms', 'peak_mem_gib', 'first_step_s', 'graph_breaks',
                   'recompiled_in_timed', 'compose_share', 'optim_share',
                   'host_ms_per_step')
SUMMARY_COLUMNS = ('mode', 'variant', 'runs', 'img_s', 'mfu', 'step_ms',
                   'peak_mem_gib', 'graph_breaks', 'recompiled_in_timed',
                   'compose_share', 'optim_share', 'host_ms_per_step', 'ratio',
                   'ratio_min', 'ratio_max')
STDERR_TAIL = 2000
Row = Dict[str, object]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The orchestration options and the worker protocol."""
    variants = [v for members in MODES.values() for v in members]
    parser.add_argument(
        '--pairs', type=int, default=3, help='KD, WAVE pairs per mode')
    parser.add_argument(
        '--worker-timeout',
        type=float,
        default=None,
        help='seconds a worker may run (default: no limit)')
    parser.add_argument(
        '--worker',
        choices=variants,
        default=None,
        help='run this one variant in this process')
    parser.add_argument(
        '--worker-out',
        default=None,
        help="write --worker's row here as JSON (instead of --out)")


def title(args: argparse.Namespace) -> str:
    """The tables' title: what was timed."""
    return (f'Stage-1 step, {args.arch} {args.img_size}px batch '
            f'{args.batch} {args.dtype}')


def work(args: argparse.Namespace,
         run: Callable[[argparse.Namespace, str, torch.device],
                       Row], columns: Sequence[str]) -> int:
    """Run the variant ``args.worker`` in this process; 1 if it failed.

    Args:
        args: The parsed arguments.
        run: Runs a variant on a device and returns its row.
        columns: The columns of the one-row table.

    Returns:
        The exit status. The row goes to ``args.worker_out`` as JSON where
        given (the file :func:`launch` reads), else it is reported as a
        one-row table (and written to ``args.out``).
    """
    device = torch.device(args.device)
    try:
        row = run(args, args.worker, device)
    except Exception as exc:
        traceback.print_exc()
        row = dict(
            variant=args.worker, error=f'{type(exc).__name__}: {exc}'[:300])
    print(row, flush=True)
    if args.worker_out:
        write_json(args.worker_out, row)
    else:
        report('distill_step', title(args), args, device, [row], columns,
               lambda r: r['variant'])
    return 1 if 'error' in row else 0


def schedule(variants: Sequence[str],
             pairs: int) -> List[Tuple[str, int, str]]:
    """``(mode, pair, variant)`` in launch order.

    A mode runs where ``variants`` name one of its members; a member not
    named is left out of every pair (and the mode gets no ratio).
    """
    plan = []
    for mode, members in MODES.items():
        chosen = [v for v in members if v in variants]
        for pair in range(pairs if chosen else 0):
            plan += [(mode, pair, v) for v in chosen]
    return plan


def launch(command: Sequence[str], timeout: Optional[float] = None) -> Row:
    """Run one worker; its row, or an error row with its stderr's tail.

    ``command`` gets ``--worker-out PATH`` appended; the worker writes its
    row there as JSON. A nonzero exit, a timeout or a missing or unreadable
    file make the row an error row.
    """
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, 'row.json')
        try:
            proc = subprocess.run([*command, '--worker-out', path],
                                  capture_output=True,
                                  text=True,
                                  timeout=timeout)
            rc, stderr, failure = proc.returncode, proc.stderr, None
        except subprocess.TimeoutExpired as exc:
            rc, stderr = None, exc.stderr or ''
            failure = f'timed out after {timeout:g} s'
        if isinstance(stderr, bytes):
            stderr = stderr.decode(errors='replace')
        try:
            with open(path) as f:
                row = json.load(f)
        except (OSError, ValueError) as exc:
            row = dict(error=failure or f'exit {rc}, no row '
                       f'({type(exc).__name__})')
    if rc != 0 or 'error' in row:
        row.setdefault('error', failure or f'exit {rc}')
        row['stderr_tail'] = stderr[-STDERR_TAIL:]
    row['returncode'] = rc
    return row


def _median(values: Sequence[Optional[float]]) -> Optional[float]:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def summarize(rows: Sequence[Row]) -> Dict[str, object]:
    """The pairs of one mode: per-pair ratios, their median and spread.

    Args:
        rows: Rows with ``pair``, ``name`` (``kd-*`` or ``wave-*``), and
            ``img_s`` or ``error``.

    Returns:
        ``ratios`` (WAVE img/s over KD img/s, per pair where both ran, in
        pair order), ``ratio`` (their median), ``ratio_min``, ``ratio_max``,
        ``kd`` and ``wave`` (medians of :data:`MEDIANS` and maxima of
        :data:`MAXIMA` over the processes that ran, and ``runs``),
        ``failed`` and, where a worker failed or no pair gave a ratio,
        ``error``.
    """

    def kind(row: Row) -> str:
        return row['name'].split('-')[0]

    pairs: Dict[int, Dict[str, Row]] = {}
    for row in rows:
        pairs.setdefault(row['pair'], {})[kind(row)] = row
    ratios = []
    for pair in sorted(pairs):
        kd, wave = pairs[pair].get('kd'), pairs[pair].get('wave')
        if kd and wave and 'error' not in kd and 'error' not in wave:
            ratios.append(wave['img_s'] / kd['img_s'])
    summary: Dict[str, object] = dict(
        pairs=len(pairs),
        ratios=ratios,
        ratio=_median(ratios),
        ratio_min=min(ratios, default=None),
        ratio_max=max(ratios, default=None))
    kinds = {kind(row) for row in rows}
    for name in ('kd', 'wave'):
        done = [r for r in rows if kind(r) == name and 'error' not in r]
        if name in kinds:
            stats: Dict[str, object] = dict(runs=len(done))
            for key in MEDIANS:
                stats[key] = _median([r.get(key) for r in done])
            for key in MAXIMA:
                found = [r[key] for r in done if r.get(key) is not None]
                stats[key] = max(found, default=None)
            summary[name] = stats
    failed = [r for r in rows if 'error' in r]
    summary['failed'] = len(failed)
    if failed:
        summary['error'] = (f'{len(failed)} of {len(rows)} workers failed; '
                            f"first: {failed[0]['error']}")
    elif kinds == {'kd', 'wave'} and not ratios:
        summary['error'] = 'no pair gave a ratio'
    return summary


def summary_rows(summaries: Dict[str, Dict[str, object]]) -> List[dict]:
    """One table row per mode and variant; the ratio on the WAVE row."""
    table = []
    for mode, summary in summaries.items():
        for kind in ('kd', 'wave'):
            if kind not in summary:
                continue
            row = dict(mode=mode, variant=kind, **summary[kind])
            if kind == 'wave':
                row.update({
                    k: summary[k]
                    for k in ('ratio', 'ratio_min', 'ratio_max')
                })
            table.append(row)
    return table


def orchestrate(args: argparse.Namespace, argv: Sequence[str],
                script: Path) -> int:
    """Launch the pairs, print and write their rows and summaries.

    Args:
        args: The parsed arguments.
        argv: The arguments as given, passed to every worker unchanged.
        script: The benchmark script the workers run.

    Returns:
        The exit status: 1 where a worker failed, else 0.
    """
    plan = schedule(args.variants, args.pairs)
    rows: List[Row] = []
    for process, (mode, pair, name) in enumerate(plan):
        command = [sys.executable, str(script), *argv, '--worker', name]
        row = dict(process=process, mode=mode, pair=pair, name=name)
        row.update(launch(command, args.worker_timeout))
        row.setdefault('variant', name)
        rows.append(row)
        result = row.get('error') or f"{row['img_s']:,.1f} img/s"
        print(
            f'[{process + 1}/{len(plan)}] {mode} pair {pair + 1} '
            f'{name}: {result}',
            flush=True)
    summaries = {
        mode: summarize([r for r in rows if r['mode'] == mode])
        for mode in dict.fromkeys(m for m, _, _ in plan)
    }
    table = markdown(summary_rows(summaries), SUMMARY_COLUMNS)
    errors = [
        f"- {m}: {s['error']}" for m, s in summaries.items() if 'error' in s
    ]
    report(
        'distill_step',
        f'{title(args)}, {args.pairs} KD/WAVE process pairs per mode',
        args,
        torch.device(args.device),
        rows,
        PROCESS_COLUMNS,
        lambda r: f"process {r['process']} ({r['name']})",
        extra=dict(summary=summaries, summary_markdown=table),
        after='\n'.join([
            '', '### Per mode (medians; ratio: WAVE / KD img/s '
            'per pair, median, min, max)', '', table, *errors
        ]))
    return 1 if any(r.get('error') for r in rows) else 0
