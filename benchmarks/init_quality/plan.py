"""The job list of one benchmark mode: ancestry, auxiliaries, the grid,
the transfer runs and the ablations (see :mod:`grid` for the vocabulary)."""
import os.path as osp
from typing import Dict, List

from grid import (Mode, Size, applicable, data_options, job, size_options,
                  wave_init_options)

#: Ablation auxiliaries: name -> WaveTemplate overrides.
ABLATION_AUXES: Dict[str, Dict[str, object]] = {
    'aux_k4': {
        'model.backbone.num_templates': 4
    },
    'aux_k8': {
        'model.backbone.num_templates': 8
    },
    'aux_w32': {
        'model.backbone.template_width': 32
    },
    # Nested widths need every tensor templated: off here too.
    'aux_novec': {
        'model.backbone.templated': ['attn', 'ffn'],
        'model.nested_widths': []
    },
    'aux_plain': {
        'model.nested_min_layers': 0,
        'model.nested_widths': []
    },
    'aux_nested_depth': {
        'model.nested_widths': []
    },
    'aux_nested_width': {
        'model.nested_min_layers': 0
    },
}


def teacher_options(mode: Mode, work: str) -> Dict[str, object]:
    anc = mode.ancestry
    return {
        'model.teacher.model.backbone.arch.num_layers': anc.layers,
        'model.teacher.model.backbone.arch.embed_dims': anc.width,
        'model.teacher.model.backbone.arch.num_heads': anc.heads,
        'model.teacher.model.backbone.arch.feedforward_channels':
        4 * anc.width,
        'model.teacher.model.head.in_channels': anc.width,
        'model.teacher.checkpoint': osp.join(work, 'ancestry'),
    }


def templates_of(work: str, aux: str) -> str:
    return osp.join(work, aux, 'templates.safetensors')


def ancestry_checkpoint(mode: Mode, work: str) -> str:
    return osp.join(work, 'ancestry', f'epoch_{mode.ancestry_epochs}.pth')


def method_options(method: str, mode: Mode, work: str,
                   fit_iters: int) -> Dict[str, object]:
    """Overrides that point a method's config at this benchmark's files."""
    if method == 'kd':
        return teacher_options(mode, work)
    if method == 'ws':
        return {'model.init_cfg.2.checkpoint': ancestry_checkpoint(mode, work)}
    if method == 'tleg':
        return {'model.init_cfg.2.templates': templates_of(work, 'aux_tleg')}
    if method in ('wave', 'wave_df'):
        return wave_init_options(
            templates_of(work, 'aux_wave'),
            fit_iters if method == 'wave' else 0,
            fit_lr=mode.fit_lr)
    return {}


DEPENDS = {
    'kd': ['ancestry'],
    'ws': ['ancestry'],
    'tleg': ['aux_tleg'],
    'wave': ['aux_wave'],
    'wave_df': ['aux_wave'],
}


def method_job(name: str,
               method: str,
               options: Dict[str, object],
               kind: str = 'train',
               **meta) -> Dict[str, object]:
    """A job of one method: its config, the auxiliary it waits for."""
    config = 'wave' if method == 'wave_df' else method
    return job(
        name,
        config,
        options,
        kind=kind,
        after=DEPENDS.get(method, []),
        method=method,
        **meta)


def _cost(size: Size, epochs: int, method: str) -> float:
    """Rough relative cost, to start the longest jobs first."""
    teacher = 1.5 if method == 'kd' else 1.0
    return max(epochs, 0.2) * size.layers * size.width**2 * teacher


def auxiliary_jobs(mode: Mode, work: str) -> List[Dict[str, object]]:
    anc = mode.ancestry
    workers = mode.ancestry_loader_workers
    base = {
        **data_options(mode, mode.ancestry_epochs, mode.ancestry_subset, 0),
        **size_options(anc), 'train_dataloader.num_workers': workers,
        'train_dataloader.persistent_workers': workers > 0
    }
    aux = {
        **base,
        **teacher_options(mode, work), 'model.backbone.template_width':
        mode.template_width,
        'model.backbone.num_templates': mode.num_templates,
        'model.nested_widths': list(mode.nested_widths),
        'model.nested_min_layers': mode.nested_min_layers
    }
    jobs = [
        job('ancestry',
            'ancestry_vit-6x128-p7_1xb128-3e_fmnist.py',
            base,
            kind='distill'),
        job('aux_wave',
            'distill_vit-6x128-p7_1xb128-3e_fmnist.py',
            aux,
            kind='distill',
            after=['ancestry']),
        job('aux_tleg',
            'tleg-distill_vit-6x128-p7_1xb128-3e_fmnist.py', {
                k: v
                for k, v in aux.items()
                if 'template' not in k and 'nested' not in k
            },
            kind='distill',
            after=['ancestry']),
    ]
    if mode.ablations:
        for name, extra in ABLATION_AUXES.items():
            jobs.append(
                job(name,
                    'distill_vit-6x128-p7_1xb128-3e_fmnist.py', {
                        **aux,
                        **extra
                    },
                    kind='distill',
                    after=['ancestry']))
    return jobs


def needed_auxiliaries(
        mode: Mode, work: str,
        jobs: List[Dict[str, object]]) -> List[Dict[str, object]]:
    """The ancestry and the auxiliaries that ``jobs`` wait for."""
    auxes = auxiliary_jobs(mode, work)
    needed = {d for j in jobs for d in j['after']}
    needed |= {d for a in auxes if a['name'] in needed for d in a['after']}
    return [a for a in auxes if a['name'] in needed]


def grid_jobs(mode: Mode, work: str) -> List[Dict[str, object]]:
    """Every applicable (method, size, budget, seed), plus the untrained
    evaluations of the initializers (budget 0)."""
    jobs = []
    for size in mode.sizes:
        for seed in mode.seeds:
            for method in ('ws', 'tleg', 'mimetic', 'wave_df'):
                if not applicable(method, size, mode.ancestry):
                    continue
                opts = {
                    **data_options(mode, 1, mode.train_subset, seed),
                    **size_options(size),
                    **method_options(method, mode, work, mode.fit_iters)
                }
                jobs.append(
                    method_job(
                        f'init_{method}_{size.name}_s{seed}',
                        method,
                        opts,
                        kind='init',
                        size=size.name,
                        budget=0,
                        seed=seed))
            for method in ('scratch', 'kd', 'ws', 'tleg', 'mimetic', 'wave'):
                if not applicable(method, size, mode.ancestry):
                    continue
                for epochs in mode.budgets:
                    opts = {
                        **data_options(mode, epochs, mode.train_subset, seed),
                        **size_options(size),
                        **method_options(method, mode, work, mode.fit_iters)
                    }
                    jobs.append(
                        method_job(
                            f'{method}_{size.name}_{epochs}ep_s{seed}',
                            method,
                            opts,
                            size=size.name,
                            budget=epochs,
                            seed=seed,
                            cost=_cost(size, epochs, method)))
    return jobs


def transfer_jobs(mode: Mode, work: str,
                  roots: Dict[str, str]) -> List[Dict[str, object]]:
    """Fashion-MNIST templates and ancestry -> MNIST / digits targets with
    a new head (WS and WAVE both drop the ancestry's head)."""
    jobs = []
    for dataset in mode.transfer:
        for size in mode.transfer_sizes:
            for seed in mode.seeds:
                for method in ('scratch', 'ws', 'wave'):
                    if not applicable(method, size, mode.ancestry):
                        continue
                    opts = data_options(mode, mode.transfer_epochs, None, seed,
                                        roots[dataset], 'MNIST')
                    opts.update({
                        'val_dataloader.dataset.indices':
                        None,
                        **size_options(size),
                        **method_options(method, mode, work, mode.fit_iters)
                    })
                    if method == 'ws':
                        opts['model.init_cfg.2.head'] = False
                    if method == 'wave':
                        opts['model.init_cfg']['head'] = False
                    jobs.append(
                        method_job(
                            f'transfer_{dataset}_{method}_{size.name}_s{seed}',
                            method,
                            opts,
                            size=size.name,
                            dataset=dataset,
                            budget=mode.transfer_epochs,
                            seed=seed,
                            cost=_cost(size, 1, method)))
    return jobs


def ablation_jobs(mode: Mode, work: str) -> List[Dict[str, object]]:
    """One-epoch WAVE runs (and their untrained data-free init) varying one
    choice at a time from the defaults."""
    default = dict(
        aux='aux_wave',
        width_rule='scaled',
        depth_rule='first',
        fit_iters=mode.fit_iters,
        fit_lr=mode.fit_lr)
    # name: what the variant changes
    variants: Dict[str, Dict[str, object]] = {
        'default': {},
        'k4': dict(aux='aux_k4'),
        'k8': dict(aux='aux_k8'),
        'block32': dict(aux='aux_w32'),
        'no_vectors': dict(aux='aux_novec'),
        'no_nesting': dict(aux='aux_plain'),
        'nested_depth_only': dict(aux='aux_nested_depth'),
        'nested_width_only': dict(aux='aux_nested_width'),
        'crop_interp': dict(width_rule='crop', depth_rule='interp'),
        'crop_first': dict(width_rule='crop'),
        'scaled_interp': dict(depth_rule='interp'),
        'mean_first': dict(width_rule='mean'),
        'fit0': dict(fit_iters=0),
        'fit20': dict(fit_iters=20),
        'fit200': dict(fit_iters=200),
        'fit_lr1e-2': dict(fit_lr=1e-2),
        'fit_lr1e-3': dict(fit_lr=1e-3),
    }
    jobs = []
    for variant, change in variants.items():
        v = {**default, **change}
        aux = v['aux']
        for size in mode.ablation_sizes:
            for seed in mode.seeds:
                base = {
                    **data_options(mode, 1, mode.train_subset, seed),
                    **size_options(size)
                }
                meta = dict(variant=variant, size=size.name, seed=seed)
                jobs.append(
                    job(f'abl_{variant}_{size.name}_s{seed}',
                        'wave', {
                            **base,
                            **wave_init_options(
                                templates_of(work, aux),
                                v['fit_iters'],
                                v['width_rule'],
                                v['depth_rule'],
                                fit_lr=v['fit_lr'])
                        },
                        after=[aux],
                        budget=1,
                        cost=_cost(size, 1, 'wave'),
                        **meta))
                # A variant of the fit alone shares default's data-free init.
                if not {'fit_iters', 'fit_lr'} & set(change):
                    jobs.append(
                        job(f'abl_init_{variant}_{size.name}_s{seed}',
                            'wave', {
                                **base,
                                **wave_init_options(
                                    templates_of(work, aux),
                                    0,
                                    v['width_rule'],
                                    v['depth_rule'],
                                    fit_lr=v['fit_lr'])
                            },
                            kind='init',
                            after=[aux],
                            budget=0,
                            **meta))
    return jobs
