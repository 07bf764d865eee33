# Baseline of the init benchmark: FRONT (frequency-domain initialisation,
# arXiv 2603.07523, ICML 2026) from the ancestry's checkpoint, then the same
# training as every target. The head is copied too: the target keeps the
# ancestry's classes.
_base_ = ['./_base_/target_fmnist.py']

ancestry_checkpoint = _base_.ancestry_work_dir + '/epoch_3.pth'

model = dict(
    init_cfg=_base_.deit_init +
    [dict(type='FRONTInit', checkpoint=ancestry_checkpoint, head=True)])
