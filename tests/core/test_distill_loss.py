import torch
import torch.nn.functional as F

from wave_mm.core import soft_distill_loss


def test_zero_for_the_teacher_and_tau_squared_kl_otherwise():
    torch.manual_seed(0)
    student, teacher = torch.randn(4, 5), torch.randn(4, 5)
    assert float(soft_distill_loss(teacher, teacher, 2.0)) < 1e-6
    p_t = F.softmax(teacher / 2.0, -1)
    kl = (p_t * (p_t.log() - F.log_softmax(student / 2.0, -1))).sum(-1)
    torch.testing.assert_close(
        soft_distill_loss(student, teacher, 2.0), 4.0 * kl.mean())
