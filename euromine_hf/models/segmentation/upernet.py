"""UperNet (Xiao et al., ECCV 2018) on a ConvNeXt-B or a Swin-B backbone.

Assembled from the shared encoders (:class:`~euromine_hf.models.encoders.convnext.ConvNextEncoder`
or :class:`~euromine_hf.models.encoders.swin.SwinEncoder`, transformers' ``ConvNextBackbone`` /
``SwinBackbone`` built with ``num_channels`` from our config) and transformers' own heads,
``UperNetHead`` (PPM + FPN fusion) and ``UperNetFCNHead``. Keys ``encoder.backbone.…``,
``decode_head.…``, ``auxiliary_head.…`` match the ``openmmlab/upernet-convnext-base`` and
``openmmlab/upernet-swin-base`` checkpoints (``backbone.…``) by suffix.

Swin window: 12. ``openmmlab/upernet-swin-base``, the checkpoint the authors' training code loads,
is transformers' conversion of mmsegmentation's ``upernet_swin_base_patch4_window12`` (ImageNet-22k
384 pre-training; the conversion script sets ``window_size = 12`` for Swin-B): with window 7 its
relative-position tables (23² rows per head) would not fit the model's (13²), and the pretrained
start (``paper_checkpoints.py``) would refuse them.

Auxiliary head: kept, as in the UperNet recipe both backbones were published with (mmsegmentation's
``upernet_convnext``/``upernet_swin``): an FCN head on stage 3 whose cross-entropy is added with
weight 0.4 during training.  It only runs when ``labels`` are given, so inference and the returned
``logits`` are the main head's alone; the loss is ``CE(main) + auxiliary_loss_weight · CE(aux)``,
both at input resolution with ``ignore_index`` left out.  Set ``use_auxiliary_head=False`` to
drop it.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch
from torch import nn
from transformers import ConvNextConfig, SwinConfig, UperNetConfig
from transformers.models.upernet.modeling_upernet import UperNetFCNHead, UperNetHead

from euromine_hf.models.configuration import IGNORE_INDEX, EuroMineConfig, nested_backbone_config
from euromine_hf.models.encoders._transformers import stage_names
from euromine_hf.models.encoders.convnext import ConvNextEncoder
from euromine_hf.models.encoders.swin import SwinEncoder
from euromine_hf.models.modeling import Auxiliary, EuroMineSegmentationModel
from euromine_hf.models.registry import register_model

#: transformers config fields of the "-B" backbones of the ConvNeXt (Liu et al., 2022) and Swin
#: (Liu et al., 2021) papers, with the stochastic-depth rates of their UperNet/ADE20K recipes.
UPERNET_BACKBONES: dict[str, tuple[type[ConvNextConfig] | type[SwinConfig], dict[str, Any]]] = {
    "convnext": (ConvNextConfig, {"hidden_sizes": [128, 256, 512, 1024], "depths": [3, 3, 27, 3], "drop_path_rate": 0.4}),
    "swin": (SwinConfig, {"embed_dim": 128, "depths": [2, 2, 18, 2], "num_heads": [4, 8, 16, 32], "window_size": 12, "drop_path_rate": 0.3}),
}


class EuroMineUperNetConfig(EuroMineConfig):
    """Configuration of :class:`EuroMineUperNetForSegmentation`.

    Args:
        backbone: ``"convnext"`` (ConvNeXt) or ``"swin"`` (Swin Transformer).
        backbone_config: the backbone's transformers config (``ConvNextConfig`` / ``SwinConfig``),
            or a dict of its fields changed from the "-B" model (ConvNeXt-B: widths 128–1024,
            depths [3,3,27,3], stochastic depth 0.4; Swin-B: embed_dim 128, depths [2,2,18,2],
            heads [4,8,16,32], window 12, stochastic depth 0.3). ``num_channels`` and
            ``out_features`` (all four stages) follow the model.
        hidden_size: channels of the UperNet head (512).
        pool_scales: pyramid-pooling bins of the PPM on the last stage (1, 2, 3, 6).
        use_auxiliary_head: add the FCN auxiliary head on stage 3 during training.
        auxiliary_loss_weight: weight of the auxiliary cross-entropy (0.4).
        auxiliary_channels: channels of the auxiliary FCN head (256).
        num_channels, band_names, ignore_index: input bands and the label value the loss ignores.
    """

    model_type = "euromine-upernet"
    backbone_config_keys = ("backbone_config",)
    removed_fields = {
        name: "give it inside backbone_config (the backbone's transformers config)"
        for name in ("embed_dim", "depths", "num_heads", "window_size", "drop_path_rate", "layer_scale_init_value")
    }

    def __init__(
        self,
        backbone: str = "convnext",
        backbone_config: ConvNextConfig | SwinConfig | Mapping[str, Any] | None = None,
        hidden_size: int = 512,
        pool_scales: Sequence[int] = (1, 2, 3, 6),
        use_auxiliary_head: bool = True,
        auxiliary_loss_weight: float = 0.4,
        auxiliary_channels: int = 256,
        num_channels: int = 10,
        band_names: Sequence[str] | None = None,
        ignore_index: int = IGNORE_INDEX,
        **kwargs: Any,
    ) -> None:
        backbone = str(backbone).lower()
        if backbone not in UPERNET_BACKBONES:
            raise ValueError(
                f"EuroMineUperNetConfig.backbone={backbone!r}: expected one of {', '.join(UPERNET_BACKBONES)}"
            )
        config_class, defaults = UPERNET_BACKBONES[backbone]
        self.backbone = backbone
        self.backbone_config = nested_backbone_config(
            backbone_config, config_class, defaults,
            field="EuroMineUperNetConfig.backbone_config", num_channels=int(num_channels),
            fixed=lambda fields: {"out_features": stage_names(len(fields["depths"]))},
        )
        if len(self.backbone_config.depths) != 4:
            raise ValueError(
                f"EuroMineUperNetConfig.backbone_config.depths: expected 4 stages, got {self.backbone_config.depths}"
            )
        self.hidden_size = int(hidden_size)
        self.pool_scales = [int(s) for s in pool_scales]
        self.use_auxiliary_head = bool(use_auxiliary_head)
        self.auxiliary_loss_weight = float(auxiliary_loss_weight)
        self.auxiliary_channels = int(auxiliary_channels)
        super().__init__(num_channels=num_channels, band_names=band_names, ignore_index=ignore_index, **kwargs)

    def to_upernet_config(self) -> UperNetConfig:
        return UperNetConfig(
            backbone_config=self.backbone_config,
            hidden_size=self.hidden_size,
            pool_scales=list(self.pool_scales),
            use_auxiliary_head=self.use_auxiliary_head,
            auxiliary_loss_weight=self.auxiliary_loss_weight,
            auxiliary_channels=self.auxiliary_channels,
            loss_ignore_index=self.ignore_index,
            num_labels=self.num_labels,
            id2label=dict(self.id2label),
            label2id=dict(self.label2id),
        )


class EuroMineUperNetForSegmentation(EuroMineSegmentationModel):
    """UperNet on ``num_channels`` bands: ``pixel_values`` (B,C,H,W) → logits (B,2,H,W)."""

    config_class = EuroMineUperNetConfig
    config: EuroMineUperNetConfig

    def __init__(self, config: EuroMineUperNetConfig) -> None:
        super().__init__(config)
        inner = config.to_upernet_config()
        backbone_config = inner.backbone_config
        encoder_class = ConvNextEncoder if config.backbone == "convnext" else SwinEncoder
        self.encoder = encoder_class(backbone_config)
        self.decode_head = UperNetHead(inner, in_channels=self.encoder.channels)
        self.auxiliary_head = UperNetFCNHead(inner, in_channels=self.encoder.channels) if config.use_auxiliary_head else None
        self._encoder_modules = {id(module) for module in self.encoder.modules()}
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        # transformers' UperNet initialisation of its heads: N(0, 0.02) convolutions, unit norms.
        if isinstance(module, nn.Conv2d) and id(module) not in getattr(self, "_encoder_modules", ()):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
            return
        super()._init_weights(module)

    def segment(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.decode_head(self.encoder(pixel_values))

    def segment_with_auxiliary(self, pixel_values: torch.Tensor) -> tuple[torch.Tensor, list[Auxiliary]]:
        features = self.encoder(pixel_values)
        logits = self.decode_head(features)
        if self.auxiliary_head is None or self.config.auxiliary_loss_weight <= 0:
            return logits, []
        return logits, [Auxiliary(self.config.auxiliary_loss_weight, self.auxiliary_head(features))]


_TINY_HEAD = {"hidden_size": 16, "auxiliary_channels": 8}

register_model(
    "upernet-convnext",
    "UperNet (ConvNext-B5)",
    EuroMineUperNetConfig,
    EuroMineUperNetForSegmentation,
    task="segmentation",
    paper={"backbone": "convnext"},
    tiny={
        "backbone": "convnext",
        "backbone_config": {"hidden_sizes": [8, 16, 32, 64], "depths": [1, 1, 1, 1], "drop_path_rate": 0.0},
        **_TINY_HEAD,
    },
)
register_model(
    "upernet-swin",
    "UperNet (SwinT-B)",
    EuroMineUperNetConfig,
    EuroMineUperNetForSegmentation,
    task="segmentation",
    paper={"backbone": "swin"},
    tiny={
        "backbone": "swin",
        "backbone_config": {
            "embed_dim": 8, "depths": [1, 1, 1, 1], "num_heads": [1, 1, 2, 2], "window_size": 4, "drop_path_rate": 0.0,
        },
        **_TINY_HEAD,
    },
)
