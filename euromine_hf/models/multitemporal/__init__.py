"""Multitemporal models: a patch's whole yearly series in, a mask per year and change maps per pair out."""

from euromine_hf.models.multitemporal.utae_series import (
    MultitemporalSegmenterOutput,
    UTAESeriesConfig,
    UTAESeriesForMultitemporalSegmentation,
)

__all__ = ["MultitemporalSegmenterOutput", "UTAESeriesConfig", "UTAESeriesForMultitemporalSegmentation"]
