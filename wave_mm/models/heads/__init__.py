from .kronecker_distill_head import KroneckerDistillHead, soft_distill_loss

__all__ = ['KroneckerDistillHead', 'soft_distill_loss']
