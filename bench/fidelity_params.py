"""Parameter counts of every zoo model's ``paper`` preset at 3 and 10 bands, against the published sizes.

    python bench/fidelity_params.py          # the Markdown table that docs/fidelity.md holds

Models are built on the meta device (no memory, no initialisation), so the whole zoo takes seconds.
Published sizes come in two units, and each is compared at the band count it was counted with:
the change-detection framework publishes its detectors in units of 2^20 with 3-band inputs
(``ModelSpec.published_params``); the benchmark's training code reports its hand-written segmenters
in millions (1e6) with 10 bands and 2 classes (DESIGN.md). The transformers segmenters have no
published count (their size is the Hub checkpoint's architecture). ``tests/test_fidelity_table.py``
checks that docs/fidelity.md carries exactly these numbers.
"""

from __future__ import annotations

from typing import Any

#: Millions (1e6) of parameters the benchmark's training code reports for its hand-written
#: segmenters at 10 bands and 2 classes (DESIGN.md, "Facts from the benchmark's published code").
SEGMENTER_PUBLISHED_M: dict[str, float] = {
    "unet": 17.27,
    "linknet": 11.56,
    "pspnet": 65.70,
    "sqnet": 16.24,
    "deeplabv3plus-resnet101": 59.36,
}


def count(name: str, num_channels: int) -> int:
    """Parameters of ``name``'s ``paper`` preset with ``num_channels`` input bands."""
    import torch

    from euromine_hf.models import build_model

    with torch.device("meta"):
        model = build_model(name, "paper", num_channels=num_channels)
    return sum(p.numel() for p in model.parameters())


def rows() -> list[dict[str, Any]]:
    """One row per zoo model (segmenters first, zoo order): counts, published size and difference."""
    from euromine_hf.models import MODEL_ZOO, zoo_names

    table = []
    for task in ("segmentation", "change_detection"):
        for name in zoo_names(task):
            three, ten = count(name, 3), count(name, 10)
            spec = MODEL_ZOO[name]
            if task == "change_detection":
                published, unit, ours = spec.published_params, "2^20, 3 bands", three / 2**20
            else:
                published, unit, ours = SEGMENTER_PUBLISHED_M.get(name), "M, 10 bands", ten / 1e6
            difference = None if published is None else 100.0 * (ours - published) / published
            table.append({
                "name": name, "task": task, "params_3": three, "params_10": ten,
                "published": published, "unit": unit, "difference_pct": difference,
            })
    return table


def markdown(table: list[dict[str, Any]]) -> str:
    """The parameter table of docs/fidelity.md."""
    lines = [
        "| model | 3 bands (M) | 3 bands (2^20) | 10 bands (M) | published | difference |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in table:
        published = "–" if row["published"] is None else f"{row['published']:.2f} ({row['unit']})"
        difference = "–" if row["difference_pct"] is None else f"{row['difference_pct']:+.1f} %"
        lines.append(
            f"| {row['name']} | {row['params_3'] / 1e6:.2f} | {row['params_3'] / 2**20:.2f} | "
            f"{row['params_10'] / 1e6:.2f} | {published} | {difference} |"
        )
    return "\n".join(lines)


def main() -> None:
    import warnings

    from transformers.utils import logging as hf_logging

    warnings.filterwarnings("ignore")
    hf_logging.set_verbosity_error()
    print(markdown(rows()))


if __name__ == "__main__":
    main()
