# What both distillations of the quickstart ancestry share (the WAVE
# auxiliary and the TLEG baseline's): the student is distilled from the
# ancestry with the same loss, budget and data; each sibling config adds
# its backbone. The templates file lands in the work dir as
# templates.safetensors.
_base_ = ['./quickstart_fmnist.py']

# A checkpoint file, or the ancestry's work dir (its last checkpoint).
teacher_checkpoint = {{_base_.ancestry_work_dir}}

model = dict(
    type='DistillImageClassifier',
    neck=None,
    head=dict(
        type='KroneckerDistillHead',
        num_classes=10,
        in_channels=128,
        alpha=1.0,
        tau=1.0,
        loss=dict(type='CrossEntropyLoss')),
    teacher=dict(model={{_base_.ancestry}}, checkpoint=teacher_checkpoint))

custom_hooks = [dict(type='TemplateExportHook')]
