# Stage 1 as distill_deit-b.py, started at the closed-form Kronecker
# projection of the teacher (KroneckerProjectionInit: the best 12 templates
# per weight type and their scalers, by truncated SVD) instead of a random
# auxiliary.
#
#   python tools/train.py configs/wave/distill_deit-b_from-projection.py
_base_ = ['./distill_deit-b.py']

model = dict(
    backbone=dict(
        init_cfg=dict(
            type='KroneckerProjectionInit',
            checkpoint={{_base_.teacher_checkpoint}})))
