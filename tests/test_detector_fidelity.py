"""The detectors follow the benchmark's change-detection framework (EricYu97/UCD, snapshot 6972640).

Zoo-wide: no BatchNorm sees both dates in one training batch (every reference runs the dates one
after the other, so each date is normalised by its own statistics). Per model: each framework
quirk is the default and the original paper's path stays selectable by a config field.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from euromine_hf.models import build_model, zoo_names
from euromine_hf.models.change_detection.fusion import SiameseEncoder, run_per_date

DETECTORS = zoo_names("change_detection")
BATCH = 2


def _pair(channels: int = 3, size: int = 64, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    t1 = torch.randn(BATCH, channels, size, size, generator=generator)
    t2 = 3.0 + 2.0 * torch.randn(BATCH, channels, size, size, generator=generator)  # another distribution
    labels = (torch.rand(BATCH, size, size, generator=generator) > 0.5).long()
    return t1, t2, labels


@pytest.mark.parametrize("name", DETECTORS)
def test_no_batchnorm_sees_both_dates_in_one_training_batch(name: str) -> None:
    """Record the batch size of every BatchNorm call in a training forward: 2B means the dates were stacked."""
    torch.manual_seed(0)
    model = build_model(name, "tiny", num_channels=3).train()
    seen: list[tuple[str, int]] = []
    handles = [
        module.register_forward_pre_hook(lambda m, args, n=module_name: seen.append((n, args[0].shape[0])))
        for module_name, module in model.named_modules()
        if isinstance(module, nn.modules.batchnorm._BatchNorm)
    ]
    t1, t2, labels = _pair()
    model(pixel_values_t1=t1, pixel_values_t2=t2, labels=labels, labels_t1=labels, labels_t2=labels)
    for handle in handles:
        handle.remove()
    stacked = sorted({n for n, size in seen if size == 2 * BATCH})
    assert not stacked, f"{name}: BatchNorm layers normalise both dates together in training: {stacked[:5]}"


def _bn_encoder() -> nn.Module:
    class Tiny(nn.Module):
        channels, reductions = [4], [1]

        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4))

        def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
            return [self.body(x)]

    return Tiny()


def test_siamese_encoder_batchnorm_statistics_are_per_date() -> None:
    """One training forward of the Siamese encoder updates BatchNorm exactly as two sequential passes do."""
    torch.manual_seed(0)
    siamese = SiameseEncoder(_bn_encoder()).train()
    reference = _bn_encoder()
    reference.load_state_dict(siamese.encoder.state_dict())
    reference.train()
    t1, t2, _ = _pair()
    features_t1, features_t2 = siamese(t1, t2)
    expected_t1, expected_t2 = reference(t1)[0], reference(t2)[0]
    bn, bn_reference = siamese.encoder.body[1], reference.body[1]
    torch.testing.assert_close(bn.running_mean, bn_reference.running_mean)
    torch.testing.assert_close(bn.running_var, bn_reference.running_var)
    torch.testing.assert_close(features_t1[0], expected_t1)
    torch.testing.assert_close(features_t2[0], expected_t2)


def test_run_per_date_eval_is_one_batch_with_the_same_result() -> None:
    encoder = _bn_encoder()
    t1, t2, _ = _pair()
    encoder.train()
    run_per_date(encoder, t1, t2, training=True)  # moves the running statistics
    encoder.eval()
    stacked = run_per_date(encoder, t1, t2, training=False)[0]
    torch.testing.assert_close(stacked, torch.cat([encoder(t1)[0], encoder(t2)[0]], dim=0))
