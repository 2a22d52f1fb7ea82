"""The shared model parts: config base, model bases, change-detection Auto class, encoders, fusion."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from euromine_hf.models.change_detection.fusion import (
    AbsDiffFusion,
    AttentionFusion,
    ConcatFusion,
    SiameseEncoder,
    early_fusion,
    make_fusion,
)
from euromine_hf.models.configuration import EuroMineChangeDetectionConfig, EuroMineConfig
from euromine_hf.models.encoders import ResNetEncoder, resnet_backbone_config
from euromine_hf.models.modeling import Auxiliary, EuroMineChangeDetectionModel, binary_logits
from euromine_hf.models.registry import AutoModelForChangeDetection, MODEL_ZOO, register_model


class PartsTestConfig(EuroMineChangeDetectionConfig):
    model_type = "euromine-parts-test"  # no __init__ of its own: the base must still run


class PartsTestDetector(EuroMineChangeDetectionModel):
    config_class = PartsTestConfig

    def __init__(self, config: PartsTestConfig) -> None:
        super().__init__(config)
        self.siamese = SiameseEncoder(ResNetEncoder(resnet_backbone_config(config.num_channels, "resnet18",
                                                                           hidden_sizes=[8, 8, 8, 8])))
        self.head = torch.nn.Conv2d(8, 1, 1)
        self.post_init()

    def detect(self, pixel_values_t1, pixel_values_t2):
        features_t1, features_t2 = self.siamese(pixel_values_t1, pixel_values_t2)
        return binary_logits(self.head((features_t1[0] - features_t2[0]).abs()))

    def detect_with_auxiliary(self, pixel_values_t1, pixel_values_t2):
        logits = self.detect(pixel_values_t1, pixel_values_t2)
        return logits, [Auxiliary(0.5, logits, "labels_t1")]


@pytest.fixture(scope="module")
def detector_name():
    register_model("parts-test", "Parts test", PartsTestConfig, PartsTestDetector,
                   task="change_detection", paper={}, tiny={})
    yield "parts-test"
    MODEL_ZOO.pop("parts-test")  # other tests iterate the zoo


def test_config_base_defaults_and_round_trip(tmp_path):
    config = PartsTestConfig(num_channels=3, loss="ce+dice")
    assert config.band_names == ["B04", "B03", "B02"]
    assert config.id2label == {0: "no-change", 1: "change"}
    config.save_pretrained(tmp_path)
    again = PartsTestConfig.from_pretrained(tmp_path)
    assert (again.num_channels, again.loss, again.band_names) == (3, "ce+dice", ["B04", "B03", "B02"])
    with pytest.raises(ValueError, match="band_names has 2 names"):
        EuroMineConfig(num_channels=3, band_names=["B02", "B03"])
    with pytest.raises(ValueError, match="config.loss"):
        PartsTestConfig(loss="focal")


def test_binary_logits_cross_entropy_is_binary_cross_entropy():
    score = torch.randn(2, 1, 5, 5)
    labels = torch.randint(0, 2, (2, 5, 5))
    ce = F.cross_entropy(binary_logits(score), labels)
    bce = F.binary_cross_entropy_with_logits(score[:, 0], labels.float())
    assert torch.allclose(ce, bce, atol=1e-6)
    assert torch.equal(binary_logits(score).argmax(1), (score[:, 0] > 0).long())


def test_change_detector_contract_and_auto_round_trip(tmp_path, detector_name):
    from euromine_hf.models import build_model

    model = build_model(detector_name, "tiny")
    assert model.main_input_name == "pixel_values_t1"
    t1, t2 = torch.randn(2, 10, 64, 64), torch.randn(2, 10, 64, 64)
    labels = torch.randint(0, 2, (2, 64, 64))
    model.train()
    with_semantic = model(t1, t2, labels=labels, labels_t1=labels).loss
    without = model(t1, t2, labels=labels).loss
    assert with_semantic > without  # the auxiliary term counts only when its labels are given
    model.eval()
    out = model(t1, t2)
    assert out.logits.shape == (2, 2, 64, 64) and out.loss is None
    model.save_pretrained(tmp_path)
    loaded = AutoModelForChangeDetection.from_pretrained(tmp_path).eval()
    assert type(loaded) is PartsTestDetector
    assert torch.equal(loaded(t1, t2).logits, out.logits)
    with pytest.raises(ValueError, match="same shape"):
        model(t1, t2[:, :, :32])
    with pytest.raises(ValueError, match="pixel_values_t2 must be"):
        model(t1, t2[:, :3])


@pytest.mark.parametrize("output_stride", [32, 16, 8])
def test_resnet_encoder_declares_what_it_returns(output_stride):
    encoder = ResNetEncoder(resnet_backbone_config(10, "resnet18", stem=True, hidden_sizes=[8, 8, 16, 16]),
                            output_stride=output_stride)
    features = encoder(torch.randn(1, 10, 64, 64))
    encoder.check_features(features, (64, 64))
    assert encoder.reductions[-1] == output_stride


def test_fusions():
    a, b = torch.randn(2, 6, 8, 8), torch.randn(2, 6, 8, 8)
    assert ConcatFusion(6)(a, b).shape[1] == 12
    assert torch.equal(AbsDiffFusion(6)(a, b), AbsDiffFusion(6)(b, a))
    attention = AttentionFusion(6)
    assert attention(a, b).shape == a.shape and attention.out_channels == 6
    assert torch.count_nonzero(attention(a, a)) == 0  # no difference, no change evidence
    assert early_fusion(a, b).shape[1] == 12
    with pytest.raises(ValueError, match="unknown fusion"):
        make_fusion("sum", 6)
