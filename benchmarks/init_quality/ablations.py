"""The ablations: one-epoch WAVE runs (and their untrained data-free init)
that vary one choice at a time from the defaults: the auxiliary (template
count and block, Kronecker order, fused qkv, what is templated, nesting,
its start), the data-free rules and the scaler fit."""
from typing import Dict, List

from grid import Job, Mode, config_path, data_options, wave_init_options
from plan import cost, templates_of

#: Ablation auxiliaries: name -> overrides of the WAVE auxiliary.
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
    'aux_st': {
        'model.backbone.kron_order': 'ST'
    },
    'aux_split_qkv': {
        'model.backbone.fused_qkv': False
    },
    # Nested widths need every tensor templated: off here, and in the
    # reference aux_plain.
    'aux_matrices': {
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

#: Ablation variants: name -> what it changes of the defaults (the
#: auxiliary, the rules, the fit). ``proj3``/``rand3``: the auxiliary
#: distilled 3 epochs from the Kronecker projection / a random start.
VARIANTS: Dict[str, Dict[str, object]] = {
    'default': {},
    'k4': dict(aux='aux_k4'),
    'k8': dict(aux='aux_k8'),
    'block32': dict(aux='aux_w32'),
    'kron_st': dict(aux='aux_st'),
    'split_qkv': dict(aux='aux_split_qkv'),
    'matrices_only': dict(aux='aux_matrices'),
    'no_nesting': dict(aux='aux_plain'),
    'nested_depth_only': dict(aux='aux_nested_depth'),
    'nested_width_only': dict(aux='aux_nested_width'),
    'proj3': dict(aux='aux_proj3'),
    'rand3': dict(aux='aux_rand3'),
    'crop_interp': dict(width_rule='crop', depth_rule='interp'),
    'crop_first': dict(width_rule='crop'),
    'scaled_interp': dict(depth_rule='interp'),
    'mean_first': dict(width_rule='mean'),
    'fit0': dict(fit_iters=0),
    'fit20': dict(fit_iters=20),
    'fit200': dict(fit_iters=200),
    'fit_lr1e-2': dict(fit_lr=1e-2),
    'fit_lr1e-3': dict(fit_lr=1e-3),
    'no_holdout': dict(holdout=0),
}

#: What a variant may change besides its auxiliary.
_FIT_KEYS = {'fit_iters', 'fit_lr', 'holdout'}


def _variant_init(work: str, variant: Dict[str, object],
                  fit_iters: int) -> Dict[str, object]:
    """WaveInit and the scaler fit as an ablation variant sets them."""
    return wave_init_options(
        templates_of(work, variant['aux']),
        fit_iters,
        variant['width_rule'],
        variant['depth_rule'],
        fit_lr=variant['fit_lr'],
        holdout=variant['holdout'])


def ablation_jobs(mode: Mode, work: str) -> List[Job]:
    """Every variant of ``mode.variants`` on the ablation sizes and seeds,
    at the shared recipe."""
    default = dict(
        aux='aux_wave',
        width_rule='scaled',
        depth_rule='first',
        fit_iters=mode.fit_iters,
        fit_lr=mode.fit_lr,
        holdout=None)
    jobs = []
    for variant in mode.variants:
        change = VARIANTS[variant]
        v = {**default, **change}
        after = (v['aux'], )
        for size in mode.ablation_sizes:
            for seed in mode.ablation_seeds or mode.seeds:
                base = {
                    **data_options(
                        mode, 1, mode.train_subset, seed, lr=mode.shared_lr),
                    **size.options()
                }
                labels = dict(variant=variant, size=size.name, seed=seed)
                jobs.append(
                    Job(f'abl_{variant}_{size.name}_s{seed}',
                        config_path('wave'), {
                            **base,
                            **_variant_init(work, v, v['fit_iters'])
                        },
                        after=after,
                        budget=1,
                        cost=cost(size, 1, 'wave'),
                        **labels))
                # A variant of the fit alone shares default's data-free init.
                if not _FIT_KEYS & set(change):
                    jobs.append(
                        Job(f'abl_init_{variant}_{size.name}_s{seed}',
                            config_path('wave'), {
                                **base,
                                **_variant_init(work, v, 0)
                            },
                            kind='init',
                            after=after,
                            budget=0,
                            **labels))
    return jobs
