#!/usr/bin/env python
"""What the RGB → 10-band first-layer adaptation preserves on EuroMineNet-like inputs.

For a first layer w (one output channel, per-band weights; a 1×1 view of a conv filter) the
activation variance on normalised inputs x is wᵀΣw with Σ the inter-band covariance of x. The
adaptation (RGB filters on B04/B03/B02, their mean on the other bands, all ×3/C) keeps the RGB
model's activation scale only if the bands co-vary; this prints the measured inter-band
correlations and the ratio std(adapted on 10 bands) / std(original on RGB) for two filter families:
random filters (independent RGB weights) and luminance-like filters (the three weights close, as
many ImageNet first-layer filters are).

    python bench/band_adaptation.py [ARCHIVE] [--samples 200000]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch


def band_covariance(archive: str | None, samples: int, seed: int = 0) -> np.ndarray:
    from euromine_hf.bands import BANDS, MEAN, STD
    from euromine_hf.data.archive import read_site_year, scan_archive
    from euromine_hf.data.synthetic import default_archive

    sites = scan_archive(archive or default_archive())
    rng = np.random.default_rng(seed)
    per_site = max(1, samples // len(sites))
    rows = []
    for site in sites:
        image, _ = read_site_year(site, site.years[len(site.years) // 2])
        flat = image.reshape(len(BANDS), -1).T.astype(np.float64)
        rows.append(flat[rng.integers(0, len(flat), size=min(per_site, len(flat)))])
    x = (np.concatenate(rows) - MEAN.astype(np.float64)) / STD.astype(np.float64)
    return np.cov(x, rowvar=False)


def main() -> None:
    from euromine_hf.bands import BANDS, RGB_BANDS
    from euromine_hf.models.band_adaptation import adapt_rgb_weight

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("archive", nargs="?", default=None, help="archive folder (default: the synthetic default)")
    parser.add_argument("--samples", type=int, default=200_000)
    parser.add_argument("--filters", type=int, default=4096)
    args = parser.parse_args()

    cov = band_covariance(args.archive, args.samples)
    std = np.sqrt(np.diag(cov))
    corr = cov / np.outer(std, std)
    off = corr[~np.eye(len(BANDS), dtype=bool)]
    print(f"inter-band correlation of normalised inputs: mean {off.mean():.2f}, min {off.min():.2f} "
          f"({BANDS[np.unravel_index(np.argmin(corr), corr.shape)[0]]}-{BANDS[np.unravel_index(np.argmin(corr), corr.shape)[1]]}), "
          f"max {off.max():.2f}")
    rgb_index = [BANDS.index(b) for b in RGB_BANDS]
    sigma = torch.tensor(cov)
    sigma_rgb = sigma[rgb_index][:, rgb_index]
    generator = torch.Generator().manual_seed(0)
    families = {
        "random RGB weights": torch.randn(args.filters, 3, generator=generator, dtype=torch.float64),
        "luminance-like (RGB weights within ±10 %)": torch.randn(args.filters, 1, generator=generator, dtype=torch.float64)
        * (1 + 0.1 * torch.randn(args.filters, 3, generator=generator, dtype=torch.float64)),
    }
    print("| filters | median std ratio (adapted 10-band / original RGB) | 10th–90th percentile |")
    print("|---|---:|---:|")
    for name, weights in families.items():
        adapted = adapt_rgb_weight(weights, BANDS)
        var_rgb = torch.einsum("oi,ij,oj->o", weights, sigma_rgb, weights)
        var_ten = torch.einsum("oi,ij,oj->o", adapted, sigma, adapted)
        ratio = (var_ten / var_rgb).sqrt().numpy()
        p10, p50, p90 = np.percentile(ratio, [10, 50, 90])
        print(f"| {name} | {p50:.2f} | {p10:.2f}–{p90:.2f} |")


if __name__ == "__main__":
    main()
