# Baseline of the init benchmark: Weight Selection (Xu et al., ICLR 2024)
# from the ancestry's checkpoint, then the same training as every target.
# The head is selected too: the target keeps the ancestry's classes (the
# paper drops it for transfer).
_base_ = ['./_base_/target_fmnist.py']

ancestry_checkpoint = _base_.ancestry_work_dir + '/epoch_3.pth'

model = dict(init_cfg=_base_.deit_init + [
    dict(
        type='WeightSelectionInit', checkpoint=ancestry_checkpoint, head=True)
])
