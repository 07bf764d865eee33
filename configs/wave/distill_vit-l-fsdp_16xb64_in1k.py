# Stage 1 from a larger ancestry: templates distilled from a ViT-L/16 into a
# ViT-L-shaped auxiliary, both sharded over the GPUs with MMEngine's FSDP
# strategy (FlexibleRunner): the auxiliary's templates and optimizer state
# by FSDPStrategy, the frozen teacher layer by layer (teacher shard=True).
#
#   bash tools/dist_train.sh configs/wave/distill_vit-l-fsdp_16xb64_in1k.py 8
#
# The templates file is gathered from the shards and written by rank 0.
_base_ = ['./distill_deit-b.py']

# Any mmpretrain ViT-L/16 224px classifier checkpoint, stored locally.
teacher_checkpoint = 'checkpoints/vit-large-p16_in1k.pth'

vit_large = dict(
    type='VisionTransformer', arch='large', img_size=224, patch_size=16)

model = dict(
    backbone=dict(
        arch='large',
        template_width=256,
        ancestry='mmpretrain ViT-L/16 (ImageNet-1K)'),
    head=dict(in_channels=1024),
    teacher=dict(
        model=dict(backbone=vit_large, head=dict(in_channels=1024)),
        checkpoint=teacher_checkpoint,
        shard=True))

runner_type = 'FlexibleRunner'
strategy = dict(
    type='FSDPStrategy',
    model_wrapper=dict(
        use_orig_params=True,
        auto_wrap_policy=dict(
            type='torch.distributed.fsdp.wrap.size_based_auto_wrap_policy',
            # Above the auxiliary's ~12.5M parameters: its template
            # ParameterDicts are indexed, never called, so they cannot be
            # FSDP units of their own (TemplateBank raises if they are).
            min_num_params=1e8)))
# bf16 autocast, fp32 parameters (MMEngine picks the sharded grad scaler).
# No clip_grad: MMEngine would clip each rank's shard by its own norm.
optim_wrapper = dict(type='AmpOptimWrapper', dtype='bfloat16', clip_grad=None)
