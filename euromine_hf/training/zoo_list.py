"""The model zoo's names by task, written out so ``train --help`` lists them without importing torch.

The zoo itself is :data:`euromine_hf.models.registry.MODEL_ZOO` (filled as the architecture modules
import, which needs torch); ``tests/test_startup.py`` fails when this list and the zoo differ, and
prints the literal to paste here.
"""

ZOO_NAMES: dict[str, tuple[str, ...]] = {
    "segmentation": (
        "segformer", "upernet-convnext", "upernet-swin", "mask2former", "deeplabv3-mobilevitv2",
        "deeplabv3plus-resnet101", "deeplabv3plus-mobilenetv2", "unet", "linknet", "pspnet", "sqnet",
    ),
    "change_detection": (
        "fc-ef", "fc-siam-conc", "fc-siam-diff", "snunet", "tinycd", "bit", "changeformer", "cgnet", "hcgmnet",
        "a2net", "dminet", "tfi-gr", "icifnet", "afcf3d", "dtcdscn", "fcn-pp", "resunet", "hanet", "mspsnet", "rdpnet",
    ),
    "multitemporal": ("utae-series",),
}
