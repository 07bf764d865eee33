from .kronecker_distill_head import KroneckerDistillHead

__all__ = ['KroneckerDistillHead']
