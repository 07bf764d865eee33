"""The distillation loss both stages use: soft KL to a teacher."""
import torch.nn.functional as F
from torch import Tensor


def soft_distill_loss(student: Tensor, teacher: Tensor, tau: float) -> Tensor:
    """``tau^2 * KL(softmax(teacher / tau) || softmax(student / tau))``,
    averaged over the batch."""
    log_p_s = F.log_softmax(student.float() / tau, dim=-1)
    log_p_t = F.log_softmax(teacher.float() / tau, dim=-1)
    kl = F.kl_div(log_p_s, log_p_t, log_target=True, reduction='batchmean')
    return kl * tau**2
