"""Shares of named ops in profiled training steps.

A few steps run under ``torch.profiler``, each inside a ``record_function``
range of its own. Time counted:

- on CUDA, time is GPU kernel time. The total is the sum of the
  durations of every device event (kernels, copies, fills), each counted
  once; the GPU-side mirrors of ``record_function`` ranges (user
  annotations, such as the step range itself) span kernels already
  counted and are left out. An op's time is its total GPU time (the
  kernels it and its child ops launched,
  ``FunctionEvent.device_time_total``);
- on CPU, where the device is the host, an op's time is its total CPU time
  and the total is the wall time of the step ranges.

An op nested in another op of the same group (``Optimizer.step#AdamW.step``
around ``aten::_fused_adamw_``, a custom op re-dispatched below autograd) is
counted once, at its outermost occurrence, so shares never count a kernel
twice. Backward ops run on autograd's own thread on CUDA: they are outside
the step ranges but not outside the profile, so the device total and the op
times include them.
"""
from typing import Callable, Dict, Iterable, List, Optional

import torch
from torch.autograd import DeviceType
from torch.autograd.profiler_util import FunctionEvent
from torch.profiler import ProfilerActivity, profile, record_function

#: The composition's custom ops (``wave_mm/kernels/compose_op.py``). The
#: torch path the composition takes elsewhere (CPU, other dtypes) records
#: only stock aten ops, and its share is reported as ``None``.
COMPOSE_OPS = ('wave_mm::kron_compose', 'wave_mm::kron_compose_backward')
#: Substrings naming the optimizer step: the range ``torch.optim`` records
#: around ``step()`` and the fused AdamW op.
OPTIMIZER_KEYS = ('Optimizer.step', '_fused_adamw')
STEP_RANGE = 'benchmark::profiled_step'
#: Kernels listed by :func:`top_kernels`, and the characters of their names.
TOP_KERNELS = 15
NAME_CHARS = 90


def kernel_times(events: Iterable[FunctionEvent]) -> Dict[str, float]:
    """GPU time in µs per name of the kernels, copies and fills on the
    device; host ops and ranges annotated over device work are left out."""
    spent: Dict[str, float] = {}
    for e in events:
        if (e.device_type != DeviceType.CPU and not e.is_async
                and not e.is_user_annotation):
            spent[e.name] = spent.get(e.name, 0.0) + e.device_time_total
    return spent


def outermost(events: Iterable[FunctionEvent],
              match: Callable[[str], bool]) -> List[FunctionEvent]:
    """The host events ``match`` names that have no matching ancestor."""
    found = []
    for event in events:
        if event.device_type != DeviceType.CPU or not match(event.name):
            continue
        parent = event.cpu_parent
        while parent is not None and not match(parent.name):
            parent = parent.cpu_parent
        if parent is None:
            found.append(event)
    return found


def shares(events: List[FunctionEvent], steps: int,
           on_device: bool) -> Dict[str, Optional[float]]:
    """Composition and optimizer shares of the profiled steps' time.

    Args:
        events: ``prof.events()`` of ``steps`` steps in :data:`STEP_RANGE`
            ranges.
        steps: How many steps were profiled.
        on_device: Whether kernel times were recorded (a CUDA run).

    Returns:
        ``compose_share`` (``None`` where no composition op ran),
        ``compose_calls``, ``optim_share``, ``host_ms_per_step`` (wall time
        of a step's range on the host), ``device_ms_per_step`` (the
        total divided by ``steps``) and ``top_kernels`` (empty on CPU).
    """
    ranges = outermost(events, lambda name: name == STEP_RANGE)
    host_us = sum(e.cpu_time_total for e in ranges)
    if on_device:
        kernels = kernel_times(events)
        total = sum(kernels.values())

        def spent(e: FunctionEvent) -> float:
            return e.device_time_total
    else:
        kernels = {}
        total = host_us

        def spent(e: FunctionEvent) -> float:
            return e.cpu_time_total

    compose = outermost(events, lambda name: name in COMPOSE_OPS)
    optim = outermost(events,
                      lambda name: any(k in name for k in OPTIMIZER_KEYS))

    def share(found: List[FunctionEvent]) -> Optional[float]:
        if not found or total <= 0:
            return None
        return sum(spent(e) for e in found) / total

    return dict(
        compose_share=share(compose),
        compose_calls=len(compose),
        optim_share=share(optim),
        host_ms_per_step=host_us / 1e3 / max(steps, 1),
        device_ms_per_step=total / 1e3 / max(steps, 1),
        top_kernels=top_kernels(kernels, steps))


def top_kernels(kernels: Dict[str, float],
                steps: int,
                count: int = TOP_KERNELS) -> List[List[object]]:
    """The ``count`` device kernels of most GPU time in ``kernels``
    (:func:`kernel_times`): ``[name, ms per step, share]``, largest first;
    names are cut to :data:`NAME_CHARS` characters."""
    total = sum(kernels.values())
    ranked = sorted(kernels.items(), key=lambda kv: -kv[1])[:count]
    return [[name[:NAME_CHARS], us / 1e3 / max(steps, 1), us / total]
            for name, us in ranked]


def profile_steps(step: Callable[[], None], device: torch.device,
                  steps: int) -> Dict[str, Optional[float]]:
    """Run ``step`` ``steps`` times under the profiler; returns
    :func:`shares` of them (``{}`` for 0 steps)."""
    if steps <= 0:
        return {}
    on_device = device.type == 'cuda'
    activities = [ProfilerActivity.CPU]
    if on_device:
        activities.append(ProfilerActivity.CUDA)
        torch.cuda.synchronize(device)
    with profile(activities=activities) as prof:
        for _ in range(steps):
            with record_function(STEP_RANGE):
                step()
        if on_device:
            torch.cuda.synchronize(device)
    return shares(list(prof.events()), steps, on_device)
