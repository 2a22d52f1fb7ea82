"""LinkNet (Chaurasia & Culurciello, "LinkNet: Exploiting Encoder Representations for Efficient
Semantic Segmentation", VCIP 2017).

As in the paper's Fig. 1–3 and Table 1:
- initial block: 7×7 conv, stride 2 (+BN+ReLU), 3×3 max-pool stride 2;
- encoder: the four residual stages of ResNet-18 (64, 128, 256, 512 channels, two basic blocks
  each), every one downsampling by 2 (Fig. 2 marks "/2" on each encoder block, so the deepest map
  is at stride 64); taken from transformers' ``ResNetModel`` (``downsample_in_first_stage``);
- decoder block ``i`` (m→n): 1×1 conv m→m/4, 3×3 full (transposed) conv ×2, 1×1 conv m/4→n, each
  with BN+ReLU; its output is *added* to encoder block ``i-1``'s output ("the link"), which feeds
  decoder block ``i-1``; Table 1: (64→64), (128→64), (256→128), (512→256);
- final block: 3×3 full-conv 64→32 ×2, 3×3 conv 32→32, 2×2 full-conv 32→classes ×2.
Transposed convolutions are given the size of the map they must match, so any input size works.

Sizes: the paper's Table 1 network is what the EuroMineNet benchmark's code ran (11.56 M parameters
at 10 bands, 2 classes), so ``paper`` is both.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch
from torch import nn
from transformers import ResNetConfig

from euromine_hf.models.configuration import IGNORE_INDEX, EuroMineConfig, nested_backbone_config
from euromine_hf.models.modeling import EuroMineSegmentationModel
from euromine_hf.models.encoders.resnet import ResNetEncoder, resnet_variant_fields
from euromine_hf.models.layers import init_classifier
from euromine_hf.models.registry import register_model


class LinkNetConfig(EuroMineConfig):
    """Configuration of :class:`LinkNetForSemanticSegmentation`.

    Args:
        num_channels: input bands (10 for EuroMineNet, 3 for RGB).
        band_names: one name per input channel (defaults to the published Sentinel-2 order).
        ignore_index: label value excluded from the loss.
        backbone_config: the encoder's transformers ``ResNetConfig`` (ResNet-18: 7×7 stem of
            ``embedding_size`` 64, basic blocks, ``hidden_sizes`` 64/128/256/512, ``depths``
            2/2/2/2), or a dict of its fields to change. ``num_channels``, ``out_features`` (the
            stem and every stage) and ``downsample_in_first_stage`` (Fig. 2: every encoder block
            halves the size) follow the model.
        final_channels: width of the final block (32).
    """

    model_type = "euromine-linknet"
    backbone_config_keys = ("backbone_config",)
    removed_fields = {
        "stem_channels": "give it as backbone_config.embedding_size",
        "encoder_widths": "give them as backbone_config.hidden_sizes",
        "encoder_depths": "give them as backbone_config.depths",
    }

    def __init__(
        self,
        num_channels: int = 10,
        band_names: Sequence[str] | None = None,
        ignore_index: int = IGNORE_INDEX,
        backbone_config: ResNetConfig | Mapping[str, Any] | None = None,
        final_channels: int = 32,
        **kwargs: Any,
    ) -> None:
        self.backbone_config = nested_backbone_config(
            backbone_config, ResNetConfig, resnet_variant_fields("resnet18"),
            field="LinkNetConfig.backbone_config", num_channels=int(num_channels),
            fixed=lambda fields: {
                "out_features": ["stem"] + [f"stage{i}" for i in range(1, len(fields["depths"]) + 1)],
                "downsample_in_first_stage": True,
            },
        )
        if len(self.backbone_config.hidden_sizes) != len(self.backbone_config.depths):
            raise ValueError(
                f"LinkNetConfig.backbone_config: hidden_sizes ({len(self.backbone_config.hidden_sizes)}) and "
                f"depths ({len(self.backbone_config.depths)}) must have one entry per encoder block"
            )
        self.final_channels = int(final_channels)
        super().__init__(num_channels=num_channels, band_names=band_names, ignore_index=ignore_index, **kwargs)


class ConvBNReLUBlock(nn.Module):
    """conv or full-conv → BN → ReLU; full-convs take the output size they must produce."""

    def __init__(self, conv: nn.Module) -> None:
        super().__init__()
        self.conv = conv
        self.norm = nn.BatchNorm2d(conv.out_channels)
        self.act = nn.ReLU(inplace=True)

    def forward(self, hidden: torch.Tensor, output_size: Sequence[int] | None = None) -> torch.Tensor:
        hidden = self.conv(hidden, output_size=list(output_size)) if output_size is not None else self.conv(hidden)
        return self.act(self.norm(hidden))


class LinkNetDecoderBlock(nn.Module):
    """Fig. 3: 1×1 conv m→m/4, 3×3 full-conv ×2, 1×1 conv m/4→n (BN+ReLU after each)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        mid = max(in_channels // 4, 1)
        self.reduce = ConvBNReLUBlock(nn.Conv2d(in_channels, mid, 1, bias=False))
        self.upsample = ConvBNReLUBlock(nn.ConvTranspose2d(mid, mid, 3, stride=2, padding=1, bias=False))
        self.expand = ConvBNReLUBlock(nn.Conv2d(mid, out_channels, 1, bias=False))

    def forward(self, hidden: torch.Tensor, output_size: Sequence[int]) -> torch.Tensor:
        return self.expand(self.upsample(self.reduce(hidden), output_size=output_size))


class LinkNetForSemanticSegmentation(EuroMineSegmentationModel):
    """LinkNet: ResNet-18 encoder, additive encoder–decoder links, logits at input resolution."""

    config_class = LinkNetConfig

    def __init__(self, config: LinkNetConfig) -> None:
        super().__init__(config)
        self.encoder = ResNetEncoder(config.backbone_config)
        stem_channels, *widths = self.encoder.channels
        # decoder block i maps encoder block i's width to encoder block i-1's (block 1 → stem width)
        targets = [stem_channels, *widths[:-1]]
        self.decoder_blocks = nn.ModuleList(LinkNetDecoderBlock(m, n) for m, n in zip(widths, targets))
        final = config.final_channels
        self.final_upsample = ConvBNReLUBlock(
            nn.ConvTranspose2d(targets[0], final, 3, stride=2, padding=1, bias=False)
        )
        self.final_conv = ConvBNReLUBlock(nn.Conv2d(final, final, 3, padding=1, bias=False))
        self.classifier = nn.ConvTranspose2d(final, config.num_labels, kernel_size=2, stride=2)
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if module is getattr(self, "classifier", None):
            init_classifier(module)

    def encode(self, pixel_values: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(initial-block output, encoder block outputs)."""
        initial, *blocks = self.encoder(pixel_values)
        return initial, blocks

    def decode(self, initial: torch.Tensor, blocks: list[torch.Tensor]) -> list[torch.Tensor]:
        """Decoder block outputs, deepest first; the last one is at the initial block's size."""
        # The map each decoder block must reproduce: the encoder block before it (or the initial block).
        previous = [initial, *blocks[:-1]]
        outputs = []
        hidden = blocks[-1]
        for index in reversed(range(len(blocks))):
            hidden = self.decoder_blocks[index](hidden, output_size=previous[index].shape[-2:])
            if index > 0:
                hidden = hidden + blocks[index - 1]
            outputs.append(hidden)
        return outputs

    def segment(self, pixel_values: torch.Tensor) -> torch.Tensor:
        initial, blocks = self.encode(pixel_values)
        hidden = self.decode(initial, blocks)[-1]
        height, width = pixel_values.shape[-2:]
        stem = (-(-height // 2), -(-width // 2))  # the 7×7 stride-2 convolution's output size
        hidden = self.final_upsample(hidden, output_size=stem)
        hidden = self.final_conv(hidden)
        logits = self.classifier(hidden, output_size=[2 * stem[0], 2 * stem[1]])
        return logits[..., :height, :width]  # odd inputs: the stride-2 stem rounded up


register_model(
    "linknet",
    "LinkNet",
    LinkNetConfig,
    LinkNetForSemanticSegmentation,
    task="segmentation",
    paper={},
    tiny={
        "backbone_config": {"embedding_size": 8, "hidden_sizes": [8, 16, 24, 32], "depths": [1, 1, 1, 1]},
        "final_channels": 8,
    },
)

__all__ = ["LinkNetConfig", "LinkNetForSemanticSegmentation"]
