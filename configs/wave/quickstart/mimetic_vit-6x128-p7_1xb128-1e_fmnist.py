# Baseline of the init benchmark: mimetic initialisation (Trockman & Kolter,
# ICML 2023), data-free, then the same training as every target.
_base_ = ['./_base_/target_fmnist.py']

model = dict(init_cfg=_base_.deit_init + [dict(type='MimeticInit')])
