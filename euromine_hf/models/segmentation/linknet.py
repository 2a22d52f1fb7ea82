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

from typing import Any, Sequence

import torch
from torch import nn

from euromine_hf.models.configuration import IGNORE_INDEX, EuroMineConfig
from euromine_hf.models.modeling import EuroMineSegmentationModel
from euromine_hf.models.encoders.resnet import ResNetEncoder, resnet_backbone_config
from euromine_hf.models.layers import as_int_list, init_classifier
from euromine_hf.models.registry import register_model


class LinkNetConfig(EuroMineConfig):
    """Configuration of :class:`LinkNetForSemanticSegmentation`.

    Args:
        num_channels: input bands (10 for EuroMineNet, 3 for RGB).
        band_names: one name per input channel (defaults to the published Sentinel-2 order).
        ignore_index: label value excluded from the loss.
        stem_channels: output channels of the initial 7×7 conv (64).
        encoder_widths: output channels of the four encoder blocks (64, 128, 256, 512: ResNet-18).
        encoder_depths: residual (basic) blocks per encoder stage (2, 2, 2, 2: ResNet-18).
        final_channels: width of the final block (32).
    """

    model_type = "euromine-linknet"

    def __init__(
        self,
        num_channels: int = 10,
        band_names: Sequence[str] | None = None,
        ignore_index: int = IGNORE_INDEX,
        stem_channels: int = 64,
        encoder_widths: Sequence[int] = (64, 128, 256, 512),
        encoder_depths: Sequence[int] = (2, 2, 2, 2),
        final_channels: int = 32,
        **kwargs: Any,
    ) -> None:
        self.stem_channels = int(stem_channels)
        self.encoder_widths = as_int_list(encoder_widths, "encoder_widths")
        self.encoder_depths = as_int_list(encoder_depths, "encoder_depths")
        if len(self.encoder_widths) != len(self.encoder_depths):
            raise ValueError(
                f"LinkNetConfig: encoder_widths ({len(self.encoder_widths)}) and encoder_depths "
                f"({len(self.encoder_depths)}) must have one entry per encoder block"
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
        self.encoder = ResNetEncoder(
            resnet_backbone_config(
                config.num_channels,
                "resnet18",
                stages=range(1, len(config.encoder_widths) + 1),
                stem=True,
                embedding_size=config.stem_channels,
                hidden_sizes=config.encoder_widths,
                depths=config.encoder_depths,
                downsample_in_first_stage=True,  # Fig. 2: every encoder block halves the size
            )
        )
        widths = config.encoder_widths
        # decoder block i maps encoder block i's width to encoder block i-1's (block 1 → stem width)
        targets = [config.stem_channels, *widths[:-1]]
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
        "stem_channels": 8,
        "encoder_widths": [8, 16, 24, 32],
        "encoder_depths": [1, 1, 1, 1],
        "final_channels": 8,
    },
)

__all__ = ["LinkNetConfig", "LinkNetForSemanticSegmentation"]
