"""Inference cost of one site-series for the multitemporal zoo models, beside what they replace.

    python bench/series_cost.py               # Markdown rows: params, GFLOPs per series

One series is one 160-px patch over the 10 published years: a multitemporal model gives the 10
yearly masks and the 45 pair change maps in one forward pass; the paper's route needs a segmenter
on 10 images and a detector on 45 pairs. FLOPs from ``torch.utils.flop_counter.FlopCounterMode``
(1 multiply-add = 2 FLOPs, element-wise ops not counted, as ``bench/models.py``), eval mode.
"""

from __future__ import annotations

import argparse
import warnings


def series_flops(name: str, size: str, pairs: bool = True, years: int = 10, image_size: int = 160,
                 overrides: dict | None = None) -> float:
    """Forward FLOPs of one series (``pairs=False``: yearly masks only, no change map); ``overrides``
    change the preset's config (a width variant)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from euromine_hf.models import build_model

    model = build_model(name, size, **(overrides or {})).eval()
    series = torch.zeros(1, years, model.config.num_channels, image_size, image_size)
    extra = {} if pairs else {"pairs": torch.zeros(0, 2, dtype=torch.long)}
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(series, years=torch.arange(2015, 2015 + years)[None], **extra)
    return float(counter.get_total_flops())


def single_flops(name: str, size: str, image_size: int = 160) -> float:
    """Forward FLOPs of a segmenter on one image or a detector on one pair."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from euromine_hf.models import build_model, get_spec

    model = build_model(name, size).eval()
    image = torch.zeros(1, model.config.num_channels, image_size, image_size)
    inputs = {"pixel_values": image} if get_spec(name).task == "segmentation" else {
        "pixel_values_t1": image, "pixel_values_t2": image}
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(**inputs)
    return float(counter.get_total_flops())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", default="paper", choices=["paper", "tiny"])
    parser.add_argument("--segmenter", default="unet", help="the segmenter run on the 10 years (default unet)")
    parser.add_argument("--detector", default="fc-ef", help="the detector run on the 45 pairs (default fc-ef)")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    from euromine_hf.models import build_model, zoo_names
    from euromine_hf.models.layers import count_parameters

    replaced = 10 * single_flops(args.segmenter, args.size) + 45 * single_flops(args.detector, args.size)
    print(f"| model | size | params | GFLOPs (10 masks + 45 change maps) | GFLOPs (10 masks) | "
          f"{args.segmenter} ×10 + {args.detector} ×45 (GFLOPs) |")
    print("|---|---|---:|---:|---:|---:|")
    for name in zoo_names("multitemporal"):
        params = count_parameters(build_model(name, args.size))
        print(f"| {name} | {args.size} | {params:,} | {series_flops(name, args.size) / 1e9:.1f} | "
              f"{series_flops(name, args.size, pairs=False) / 1e9:.1f} | {replaced / 1e9:.1f} |")


if __name__ == "__main__":
    main()
