# Baseline of the init benchmark: TLEG (Xia et al., AAAI 2024) from the
# auxiliary of tleg-distill_vit-6x128-p7_1xb128-3e_fmnist, then the same
# training as every target. Depth may differ from the auxiliary; width not.
# The head is the auxiliary's too: the target keeps its classes.
_base_ = ['./_base_/target_fmnist.py']

templates = ('work_dirs/tleg-distill_vit-6x128-p7_1xb128-3e_fmnist/'
             'templates.safetensors')

model = dict(init_cfg=_base_.deit_init +
             [dict(type='TLEGInit', templates=templates, head=True)])
