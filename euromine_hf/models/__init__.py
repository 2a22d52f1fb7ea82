"""EuroMineNet models: one architecture per file, all registered with the transformers Auto classes.

Importing this package imports every architecture module; each registers its zoo entries
(see :mod:`euromine_hf.models.registry`).
"""

from __future__ import annotations

import importlib

from euromine_hf.models.band_adaptation import adapt_rgb_weight, load_rgb_checkpoint
from euromine_hf.models.configuration import EuroMineChangeDetectionConfig, EuroMineConfig
from euromine_hf.models.image_processing import EuroMineImageProcessor
from euromine_hf.models.modeling import (
    EuroMineChangeDetectionModel,
    EuroMinePreTrainedModel,
    EuroMineSegmentationModel,
)
from euromine_hf.models.registry import (
    MODEL_ZOO,
    AutoModelForChangeDetection,
    AutoModelForMultitemporalSegmentation,
    build_model,
    get_spec,
    zoo_names,
)

#: Segmenter modules under ``segmentation/``, one architecture per file.
ARCHITECTURES = (
    "segformer",
    "upernet",
    "mask2former",
    "deeplabv3_mobilevit",
    "deeplabv3plus",
    "unet",
    "linknet",
    "pspnet",
    "sqnet",
)

for _name in ARCHITECTURES:
    importlib.import_module(f"{__name__}.segmentation.{_name}")
importlib.import_module(f"{__name__}.change_detection")
importlib.import_module(f"{__name__}.multitemporal")

__all__ = [
    "AutoModelForChangeDetection",
    "AutoModelForMultitemporalSegmentation",
    "EuroMineChangeDetectionConfig",
    "EuroMineChangeDetectionModel",
    "EuroMineConfig",
    "EuroMineImageProcessor",
    "EuroMinePreTrainedModel",
    "MODEL_ZOO",
    "EuroMineSegmentationModel",
    "adapt_rgb_weight",
    "build_model",
    "get_spec",
    "load_rgb_checkpoint",
    "zoo_names",
]
