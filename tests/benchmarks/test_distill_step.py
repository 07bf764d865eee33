"""The stage-1 step benchmark: interleaved KD/WAVE process pairs, their
ratio summary, failing workers and the profiled shares of a step."""
import json
import os
import os.path as osp
import statistics
import subprocess
import sys

import pytest
import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SCRIPT = osp.join(ROOT, 'benchmarks', 'distill_step.py')
sys.path.insert(0, osp.join(ROOT, 'benchmarks'))
import distill_step  # noqa: E402
import step_pairs  # noqa: E402
import step_profile  # noqa: E402
from torch.autograd import DeviceType  # noqa: E402
from torch.autograd.profiler_util import FunctionEvent  # noqa: E402

TINY = [
    '--device', 'cpu', '--arch', 'deit-tiny', '--img-size', '32',
    '--patch-size', '16', '--batch', '2', '--warmup', '1', '--iters', '1',
    '--rounds', '1', '--classes', '10', '--profile-steps', '1'
]


def row(pair, name, img_s=None, **extra):
    found = dict(pair=pair, name=name, **extra)
    if img_s is None:
        found['error'] = 'RuntimeError: boom'
    else:
        found['img_s'] = img_s
    return found


def test_summary_is_the_median_and_spread_of_per_pair_ratios():
    rows = [
        row(0, 'kd-eager', 100.0, step_ms=10.0, optim_share=0.2),
        row(0, 'wave-eager', 110.0, compose_share=0.01),
        row(1, 'kd-eager', 50.0, step_ms=20.0, optim_share=0.4),
        row(1, 'wave-eager', 60.0, compose_share=0.03),
        row(2, 'kd-eager', 200.0, step_ms=5.0),
        row(2, 'wave-eager', 180.0),
    ]
    summary = step_pairs.summarize(rows)
    assert summary['ratios'] == pytest.approx([1.1, 1.2, 0.9])
    assert summary['ratio'] == pytest.approx(1.1)
    assert summary['ratio_min'] == pytest.approx(0.9)
    assert summary['ratio_max'] == pytest.approx(1.2)
    # Not the ratio of the medians (110 / 100 here by chance; 1.1 too).
    assert summary['kd']['img_s'] == 100.0 and summary['wave']['runs'] == 3
    assert summary['kd']['step_ms'] == 10.0
    assert summary['kd']['optim_share'] == pytest.approx(0.3)  # Nones skipped
    assert summary['wave']['compose_share'] == pytest.approx(0.02)
    assert summary['kd']['compose_share'] is None
    assert summary['failed'] == 0 and 'error' not in summary


def test_a_failed_worker_drops_its_pair_and_names_the_error():
    rows = [
        row(0, 'kd-compile', 100.0, graph_breaks=0, recompiled_in_timed=0),
        row(0, 'wave-compile', 120.0, graph_breaks=1, recompiled_in_timed=0),
        row(1, 'kd-compile', 100.0, graph_breaks=0, recompiled_in_timed=2),
        row(1, 'wave-compile'),
    ]
    summary = step_pairs.summarize(rows)
    assert summary['ratios'] == pytest.approx([1.2])
    assert summary['failed'] == 1
    assert '1 of 4 workers failed' in summary['error']
    assert 'boom' in summary['error']
    assert summary['wave']['runs'] == 1
    assert summary['wave']['graph_breaks'] == 1  # maxima
    assert summary['kd']['recompiled_in_timed'] == 2


def test_no_ratio_without_both_members_of_a_pair():
    lone = step_pairs.summarize([row(0, 'kd-eager', 1.0)])
    assert lone['ratio'] is None and 'wave' not in lone
    assert 'error' not in lone
    broken = step_pairs.summarize([row(0, 'kd-eager'), row(0, 'wave-eager')])
    assert broken['ratio'] is None and broken['failed'] == 2


def test_schedule_interleaves_kd_and_wave_eager_first():
    plan = step_pairs.schedule(
        ['wave-compile', 'kd-compile', 'wave-eager', 'kd-eager'], 2)
    pairs = [(m, p, v) for m in ('eager', 'compile') for p in (0, 1)
             for v in (f'kd-{m}', f'wave-{m}')]
    assert plan == pairs
    lone = step_pairs.schedule(['wave-compile'], 2)
    assert lone == [('compile', 0, 'wave-compile'),
                    ('compile', 1, 'wave-compile')]


def test_launch_turns_crashes_into_error_rows():
    python = [sys.executable, '-c']
    writes = ("import json, sys; json.dump({'img_s': 2.0}, "
              "open(sys.argv[sys.argv.index('--worker-out') + 1], 'w'))")
    assert step_pairs.launch(python + [writes]) == dict(
        img_s=2.0, returncode=0)
    crashed = step_pairs.launch(
        python + ["import sys; sys.stderr.write('trace'); sys.exit(3)"])
    assert crashed['returncode'] == 3 and 'exit 3' in crashed['error']
    assert crashed['stderr_tail'] == 'trace'
    hung = step_pairs.launch(python + ['import time; time.sleep(30)'], 0.5)
    assert 'timed out' in hung['error'] and hung['returncode'] is None


def test_profile_shares_of_a_cpu_step():
    model = torch.nn.Linear(8, 8)
    opt = torch.optim.AdamW(model.parameters())

    def step():
        model(torch.randn(4, 8)).sum().backward()
        opt.step()
        opt.zero_grad()

    shares = step_profile.profile_steps(step, torch.device('cpu'), 2)
    assert 0 < shares['optim_share'] <= 1
    assert shares['compose_share'] is None and shares['compose_calls'] == 0
    assert shares['host_ms_per_step'] > 0
    assert shares['top_kernels'] == []
    assert step_profile.profile_steps(step, torch.device('cpu'), 0) == {}


def event(name, start_us, end_us, **extra):
    return FunctionEvent(
        0,
        name,
        0,
        start_us,
        end_us,
        use_device='cuda',
        device_type=extra.pop('device_type', DeviceType.CUDA),
        **extra)


def test_top_kernels_rank_device_time_per_name_and_step():
    events = [
        event('gemm', 0, 30),
        event('adamw', 30, 40),
        event('gemm', 40, 70),
        event('x' * 200, 70, 90),
        event('host op', 0, 500, device_type=DeviceType.CPU),
        event('async', 0, 500, is_async=True),
        event(step_profile.STEP_RANGE, 0, 90, is_user_annotation=True),
    ]
    found = step_profile.top_kernels(
        step_profile.kernel_times(events), steps=2, count=2)
    assert [name for name, _, _ in found] == ['gemm', 'x' * 90]
    assert found[0][1] == pytest.approx(0.03)  # 60 us over 2 steps, in ms
    assert found[0][2] == pytest.approx(60 / 90)
    assert found[1][2] == pytest.approx(20 / 90)


def test_device_shares_leave_out_annotated_ranges():
    step = event(step_profile.STEP_RANGE, 0, 1000, device_type=DeviceType.CPU)
    optim = event(
        'Optimizer.step#AdamW.step', 500, 900, device_type=DeviceType.CPU)
    optim.append_kernel('adamw', 0, 10)
    events = [
        step,
        optim,
        event('gemm', 0, 60),
        event('adamw', 60, 70),
        event(step_profile.STEP_RANGE, 0, 70, is_user_annotation=True),
    ]
    found = step_profile.shares(events, steps=1, on_device=True)
    assert found['device_ms_per_step'] == pytest.approx(0.07)
    assert found['optim_share'] == pytest.approx(10 / 70)
    assert found['host_ms_per_step'] == pytest.approx(1.0)
    assert [name for name, _, _ in found['top_kernels']] == ['gemm', 'adamw']


@pytest.mark.filterwarnings('ignore:.*get_instance:UserWarning')
def test_worker_writes_its_row_with_profiled_shares(tmp_path):
    out = str(tmp_path / 'row.json')
    args = distill_step.build_parser().parse_args(
        TINY + ['--worker', 'wave-eager', '--worker-out', out])
    assert step_pairs.work(args, distill_step.run_variant, ()) == 0
    with open(out) as f:
        found = json.load(f)
    assert found['variant'] == 'wave-eager' and found['img_s'] > 0
    assert found['compose_share'] is None  # the torch path on CPU
    assert 0 < found['optim_share'] <= 1


def orchestrate(tmp_path, *extra):
    out = str(tmp_path / 'step.json')
    env = dict(os.environ, PYTHONPATH=ROOT, PYTHONWARNINGS='ignore')
    proc = subprocess.run(
        [sys.executable, SCRIPT, *TINY, *extra, '--out', out],
        capture_output=True,
        text=True,
        env=env,
        timeout=300)
    with open(out) as f:
        return proc, json.load(f)


@pytest.mark.slow
def test_orchestrator_runs_interleaved_pairs_end_to_end(tmp_path):
    proc, result = orchestrate(tmp_path, '--pairs', '2', '--variants',
                               'kd-eager', 'wave-eager')
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = result['rows']
    assert [r['name'] for r in rows] == ['kd-eager', 'wave-eager'] * 2
    assert [r['pair'] for r in rows] == [0, 0, 1, 1]
    assert not any('error' in r for r in rows)
    ratios = [rows[i + 1]['img_s'] / rows[i]['img_s'] for i in (0, 2)]
    summary = result['summary']['eager']
    assert summary['ratio'] == pytest.approx(statistics.median(ratios))
    assert summary['ratio_min'] == pytest.approx(min(ratios))
    share = summary['wave']['compose_share']
    assert share is None or 0 <= share <= 1
    assert 0 < summary['kd']['optim_share'] <= 1
    assert '| eager | wave |' in proc.stdout


@pytest.mark.slow
def test_orchestrator_survives_failing_workers(tmp_path):
    proc, result = orchestrate(tmp_path, '--pairs', '1', '--variants',
                               'kd-eager', 'wave-eager', '--arch', 'nope')
    assert proc.returncode == 1
    rows = result['rows']
    assert [r['name'] for r in rows] == ['kd-eager', 'wave-eager']
    assert all('error' in r and r['stderr_tail'] for r in rows)
    summary = result['summary']['eager']
    assert summary['ratio'] is None and summary['failed'] == 2
    assert '2 of 2 workers failed' in summary['error']
