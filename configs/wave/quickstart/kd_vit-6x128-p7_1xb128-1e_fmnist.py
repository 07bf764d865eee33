# Control of the init benchmark ("KD control"): the stock ViT from
# mmpretrain's default init, trained for the same epochs with distillation
# from the ancestry (CE + soft KL).
_base_ = ['./_base_/target_fmnist.py']

# A checkpoint file, or the ancestry's work dir (its last checkpoint).
teacher_checkpoint = {{_base_.ancestry_work_dir}}

model = dict(
    type='DistillImageClassifier',
    head=dict(type='KroneckerDistillHead', alpha=1.0, tau=1.0),
    teacher=dict(model={{_base_.ancestry}}, checkpoint=teacher_checkpoint))
