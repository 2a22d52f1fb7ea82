"""Which Hub checkpoint each zoo model's paper run started from: the one table (no torch).

The EuroMineNet paper: "for the flexible models with backbones, we utilized pretrained weights from
the Huggingface hub for training initialization"; the authors' training code loads six segmentation
checkpoints by name (``../shared/DESIGN.md``), and the change-detection framework builds BIT, CGNet,
HCGMNet, A2Net, TinyCD, TFI-GR and AFCF3D with ImageNet backbones (``pretrained=True``: torchvision
or timm weights). For the backbones the authors wrote by hand or took from torchvision, the entry
names the Hub checkpoint holding the same ImageNet network in a layout this package maps, and says
why that one. :func:`euromine_hf.models.registry.register_model` copies an entry into the model's
``ModelSpec.pretrained``; ``train.py --size paper`` starts from it (``models/pretrained.py``).

``part`` lists the model's parameter-name prefixes that the checkpoint must fill entirely (copied,
or adapted to the bands): a parameter there that the checkpoint leaves untouched is an error, not a
log line (empty only for ``--pretrained`` weights given for a model without an entry: nothing to check against). ``new_in_model`` names parameters inside the part that the pretrained network does not
have (added by the paper model, so initialised fresh by design). ``revision`` is pinned where the
repository's ``main`` holds only a pickled ``pytorch_model.bin`` (never unpickled here): the Hub's
safetensors conversion lives on a pull-request ref.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Key layouts the loader maps: a transformers model (loaded by its own class, so its key renames
#: apply), timm's ``vgg16_bn`` (``features.N``), or a 2-D ResNet inflated into AFCF3D's 3-D trunk.
LAYOUTS = ("transformers", "timm-vgg", "resnet-to-3d")


@dataclass(frozen=True)
class PretrainedCheckpoint:
    """One Hub checkpoint a zoo model starts from (see the module docstring for the fields)."""

    repo_id: str
    reason: str
    part: tuple[str, ...]
    revision: str | None = None  # None: the repository's main branch
    layout: str = "transformers"
    new_in_model: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise ValueError(f"{self.repo_id}: layout must be one of {LAYOUTS}; got {self.layout!r}")

    @property
    def label(self) -> str:
        """``repo_id`` or ``repo_id@revision``, as reports and tables show it."""
        return self.repo_id if self.revision is None else f"{self.repo_id}@{self.revision}"

    def to_dict(self) -> dict[str, object]:
        return {"repo_id": self.repo_id, "revision": self.revision, "reason": self.reason, "layout": self.layout,
                "part": list(self.part), "new_in_model": list(self.new_in_model)}


_RESNET101 = "microsoft/resnet-101"
_RESNET18 = "microsoft/resnet-18"
_VGG16_BN = "timm/vgg16_bn.tv_in1k"
_WHY_RESNET101 = ("ImageNet-1k ResNet-101 (v1.5, torchvision's block layout) as transformers' ResNet: the "
                  "hand-written trunk is transformers' ResNetBackbone, so the keys map one to one")
_WHY_RESNET18 = ("ImageNet-1k ResNet-18 in transformers' layout, the network the framework's "
                 "torchvision resnet18(pretrained=True) loads")
_WHY_VGG = ("torchvision's own ImageNet VGG16-BN weights (the framework's vgg16_bn(pretrained=True)), "
            "republished by timm as safetensors; features.N map to the VGG stages in order")

#: zoo name → the checkpoint(s) its paper run started from.
PAPER_CHECKPOINTS: dict[str, tuple[PretrainedCheckpoint, ...]] = {
    "segformer": (PretrainedCheckpoint(
        "nvidia/segformer-b5-finetuned-ade-640-640", revision="refs/pr/3", part=("encoder.", "decode_head."),
        reason="loaded by the authors' training code (MiT-B5 + all-MLP head, ADE20K); refs/pr/3 is the "
               "Hub's safetensors conversion (main holds only pytorch_model.bin)",
        new_in_model=("decode_head.classifier.",)),),
    "upernet-convnext": (PretrainedCheckpoint(
        "openmmlab/upernet-convnext-base", part=("encoder.", "decode_head.", "auxiliary_head."),
        reason="loaded by the authors' training code (ConvNeXt-B UperNet, ADE20K)",
        new_in_model=("decode_head.classifier.", "auxiliary_head.classifier.")),),
    "upernet-swin": (PretrainedCheckpoint(
        "openmmlab/upernet-swin-base", part=("encoder.", "decode_head.", "auxiliary_head."),
        reason="loaded by the authors' training code (Swin-B UperNet, ADE20K)",
        new_in_model=("decode_head.classifier.", "auxiliary_head.classifier.")),),
    "mask2former": (PretrainedCheckpoint(
        "facebook/mask2former-swin-base-ade-semantic", part=("mask2former.model.",),
        reason="loaded by the authors' training code (Swin-B Mask2Former, ADE20K semantic)"),),
    "deeplabv3-mobilevitv2": (PretrainedCheckpoint(
        "apple/mobilevitv2-1.0-voc-deeplabv3", revision="refs/pr/2", part=("deeplabv3.",),
        reason="loaded by the authors' training code (MobileViTV2-1.0 DeepLabV3, PASCAL VOC); refs/pr/2 "
               "is the Hub's safetensors conversion (main holds only pytorch_model.bin)",
        new_in_model=("deeplabv3.segmentation_head.classifier.",)),),
    "deeplabv3plus-mobilenetv2": (PretrainedCheckpoint(
        "google/deeplabv3_mobilenet_v2_1.0_513", revision="refs/pr/1", part=("encoder.",),
        reason="loaded by the authors' training code (its MobileNetV2 trunk; the DeepLabV3 head there is "
               "not DeepLabV3+'s); refs/pr/1 is the Hub's safetensors conversion"),),
    "deeplabv3plus-resnet101": (PretrainedCheckpoint(_RESNET101, part=("encoder.",), reason=_WHY_RESNET101),),
    "pspnet": (PretrainedCheckpoint(_RESNET101, part=("encoder.",), reason=_WHY_RESNET101),),
    "bit": (PretrainedCheckpoint(_RESNET18, part=("encoder.",), reason=_WHY_RESNET18),),
    "tfi-gr": (PretrainedCheckpoint(_RESNET18, part=("siamese.encoder.",), reason=_WHY_RESNET18),),
    "afcf3d": (PretrainedCheckpoint(
        _RESNET18, part=("encoder.",), layout="resnet-to-3d",
        reason=_WHY_RESNET18 + "; each k×k kernel becomes the spatial kernel of a decomposed 3-D convolution",
        new_in_model=(".mixing.",)),),
    "cgnet": (PretrainedCheckpoint(_VGG16_BN, part=("backbone.siamese.encoder.",), layout="timm-vgg", reason=_WHY_VGG),),
    "hcgmnet": (PretrainedCheckpoint(_VGG16_BN, part=("backbone.siamese.encoder.",), layout="timm-vgg", reason=_WHY_VGG),),
    "a2net": (PretrainedCheckpoint(
        "google/mobilenet_v2_1.0_224", part=("backbone.encoder.",),
        reason="ImageNet-1k MobileNetV2 1.0 in transformers' layout, the network the framework's "
               "torchvision mobilenet_v2(pretrained=True) loads"),),
    "tinycd": (PretrainedCheckpoint(
        "google/efficientnet-b4", revision="refs/pr/1", part=("siamese.encoder.",),
        reason="ImageNet-1k EfficientNet-B4 in transformers' layout (the reference loads torchvision's B4; "
               "same network, the stages TinyCD keeps); refs/pr/1 is the Hub's safetensors conversion"),),
}

#: zoo name → why the paper run started from random weights (every zoo model is in one of the two tables).
TRAINED_FROM_SCRATCH: dict[str, str] = {
    **{name: "hand-written by the authors and trained from scratch" for name in ("unet", "linknet", "sqnet")},
    **{name: "the change-detection framework builds it without pretrained weights"
       for name in ("fc-ef", "fc-siam-conc", "fc-siam-diff", "snunet", "changeformer", "dminet", "icifnet",
                    "dtcdscn", "fcn-pp", "resunet", "hanet", "mspsnet", "rdpnet")},
    "utae-series": "this project's model, beyond the paper: no Hub checkpoint has its architecture (U-TAE's own "
                   "PASTIS weights are not on the Hub, and its temporal part and decoder differ)",
}


def checkpoint_label(name: str) -> str:
    """The "pretrained checkpoint" cell of a model's row in BENCHMARKS.md and the fidelity table:
    ``repo`` / ``repo@revision`` (several joined by " + "), or ``none (from scratch)``."""
    entries = PAPER_CHECKPOINTS.get(name, ())
    return " + ".join(f"`{entry.label}`" for entry in entries) if entries else "none (from scratch)"
