"""U-TAE-Series: one network reading a patch's whole yearly series, giving a mine mask per year
and the change map of any year pair (this project's model beyond the EuroMineNet paper, issue 17).

A pairwise detector sees two images and a segmenter one; neither uses the other years of the
series, which is what short-interval change needs (a one-year change is small against the noise of
one image pair). This model reads all years at once and still answers per year and per pair.

Pipeline (B series of T years, N = the present years of the batch):

1. **Shared per-date encoder** (U-TAE, Garnot & Landrieu, ICCV 2021): :class:`UTAEEncoder`, run on
   the N present images only; a missing year never enters any layer.
2. **Temporal attention per pixel at the lowest resolution** (TSViT, Tarasiou et al., CVPR 2023:
   time first, then space, with full self-attention along time in which each date attends to all
   dates; U-TAE: attention only at the lowest resolution, where it is cheap, and a sinusoidal
   encoding of the date): the year's sinusoidal encoding is added and a pre-norm Transformer
   layer attends along time, keys masked to the present years. Unlike U-TAE's L-TAE (one learned
   master query per head) and TSViT (only its per-class tokens leave the temporal Transformer),
   both of which collapse the dates, every year keeps its own token and output: the model must
   answer per year. Sinusoids rather than TSViT's learned day-of-year embedding, so a year outside
   training still has an encoding.
3. **Skips with temporal context** (U-TAE's reuse of attention masks): the per-head weights are
   upsampled to each skip's resolution and mix the years' skip maps per channel group (one head per
   group), added to the year's own skip. The full-resolution skip is left per year: mixing it costs
   T²·H·W per head and it carries the year's own boundaries.
4. **Shared per-date decoder** (U-TAE's up blocks: 4×4 transposed conv, 1×1 skip conv, two 3×3
   units with a residual) → features ``f_t`` at input resolution → **mask head** → logits
   (B, T, 2, H, W). Time is never collapsed before the heads.
5. **Change head on the two dates' features**, consistent with the masks by construction: with
   ``p_t`` the mine probability, ``q = p_i(1−p_j) + p_j(1−p_i)`` is the probability that the two
   masks differ; the change logit is ``logit(q) + s·tanh(h([|f_i − f_j|, f_i ⊙ f_j]))``, a learned
   residual bounded by ``s = change_residual_scale``. Where both masks are confident
   (``|logit q| > s``: for s = 3, both probabilities beyond ~0.977 or below ~0.023) the change map
   *is* the XOR of the two masks; where they are not, the residual head decides from the features
   (a faint change the masks miss). Eq. 7's gradient reaches the masks through ``q``.

Loss: the paper's Eq. 6 (mean over years of the per-year cross-entropy) weighted by
``mask_loss_weight`` plus Eq. 7 (mean over the series' pairs of the pair cross-entropy on
``|G_j − G_i|``) weighted by ``change_loss_weight``; a missing year's labels and every pair that
involves it are ignored. ``change_loss="dice"`` (or ``"ce+dice"``) puts soft Dice in Eq. 7's place,
as the detectors' ``loss`` option does: on the embedded default the cross-entropy term taught the
residual to suppress change (validation change OF1 below the XOR of the model's own masks).

Presets: ``paper`` has U-TAE's published widths (encoder 64, 64, 64, 128; decoder 32, 32, 64, 128;
16 heads; GroupNorm encoder, BatchNorm decoder); ``tiny`` is sized to the tiny baselines it is
compared with (docs/fidelity.md, "Beyond the paper").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from transformers.utils import ModelOutput

from euromine_hf.bands import YEARS
from euromine_hf.models.configuration import IGNORE_INDEX, EuroMineConfig
from euromine_hf.models.encoders.utae import NORMS, ConvNormReLU, UTAEEncoder
from euromine_hf.models.layers import as_int_list
from euromine_hf.models.losses import multitemporal_cross_entropy, pair_change_labels
from euromine_hf.models.modeling import EuroMinePreTrainedModel, soft_dice_loss
from euromine_hf.models.multitemporal.temporal import TemporalSelfAttention, mix_years, year_encoding
from euromine_hf.models.registry import register_model


#: the pair term's losses (as the detectors' ``loss``)
CHANGE_LOSSES = ("ce", "ce+dice", "dice")


class UTAESeriesConfig(EuroMineConfig):
    """Configuration of :class:`UTAESeriesForMultitemporalSegmentation`.

    Args:
        num_channels, band_names, ignore_index: as every EuroMineNet config.
        encoder_widths: channels per encoder level, full resolution first (U-TAE: 64, 64, 64, 128).
        decoder_widths: channels per decoder level (U-TAE: 32, 32, 64, 128); the last equals the
            last encoder width (the temporal attention's width).
        encoder_norm: ``"group"`` (U-TAE's) or ``"batch"``.
        num_heads: temporal attention heads; also the channel groups the skips are mixed in, so
            every encoder width below full resolution must be divisible by it.
        temporal_layers: Transformer layers along time at the lowest resolution.
        change_residual_scale: bound ``s`` of the change head's residual (see the module docstring).
        mask_loss_weight, change_loss_weight: weights of Eq. 6 and Eq. 7 in the loss.
        change_loss: the pair term: ``"ce"`` (Eq. 7 as published: cross-entropy), ``"dice"`` (soft
            Dice of the change probability over the batch's pairs) or ``"ce+dice"``; the detectors'
            ``loss`` options. Changed pixels are a few percent of a pair, and with cross-entropy the
            bounded residual learned to suppress change (see docs/fidelity.md, "Beyond the paper").
        years: the years a ``forward`` without ``years`` means (the published 2015–2024).
    """

    model_type = "euromine-utae-series"
    task = "multitemporal"

    def __init__(
        self,
        num_channels: int = 10,
        band_names: Sequence[str] | None = None,
        ignore_index: int = IGNORE_INDEX,
        encoder_widths: Sequence[int] = (64, 64, 64, 128),
        decoder_widths: Sequence[int] = (32, 32, 64, 128),
        encoder_norm: str = "group",
        num_heads: int = 16,
        temporal_layers: int = 1,
        change_residual_scale: float = 3.0,
        mask_loss_weight: float = 1.0,
        change_loss_weight: float = 1.0,
        change_loss: str = "ce",
        years: Sequence[int] | None = None,
        **kwargs: Any,
    ) -> None:
        self.encoder_widths = as_int_list(encoder_widths, "encoder_widths")
        self.decoder_widths = as_int_list(decoder_widths, "decoder_widths")
        if len(self.encoder_widths) < 2 or len(self.decoder_widths) != len(self.encoder_widths):
            raise ValueError(
                f"UTAESeriesConfig: encoder_widths and decoder_widths need the same number (>= 2) of levels; "
                f"got {self.encoder_widths} and {self.decoder_widths}"
            )
        if self.decoder_widths[-1] != self.encoder_widths[-1]:
            raise ValueError(
                f"UTAESeriesConfig: decoder_widths[-1] ({self.decoder_widths[-1]}) must equal encoder_widths[-1] "
                f"({self.encoder_widths[-1]}), the width the temporal attention works at"
            )
        if encoder_norm not in NORMS:
            raise ValueError(f"UTAESeriesConfig.encoder_norm must be one of {NORMS}; got {encoder_norm!r}")
        self.encoder_norm = encoder_norm
        self.num_heads = int(num_heads)
        mixed = self.encoder_widths[1:]
        if self.num_heads < 1 or any(width % self.num_heads for width in mixed):
            raise ValueError(
                f"UTAESeriesConfig.num_heads={num_heads} must divide every encoder width below full resolution {mixed}"
            )
        self.temporal_layers = int(temporal_layers)
        if self.temporal_layers < 1:
            raise ValueError(f"UTAESeriesConfig.temporal_layers must be >= 1; got {temporal_layers}")
        self.change_residual_scale = float(change_residual_scale)
        if self.change_residual_scale < 0:
            raise ValueError(f"UTAESeriesConfig.change_residual_scale must be >= 0; got {change_residual_scale}")
        self.mask_loss_weight = float(mask_loss_weight)
        self.change_loss_weight = float(change_loss_weight)
        if change_loss not in CHANGE_LOSSES:
            raise ValueError(f"UTAESeriesConfig.change_loss must be one of {CHANGE_LOSSES}; got {change_loss!r}")
        self.change_loss = change_loss
        self.years = [int(y) for y in (YEARS if years is None else years)]
        super().__init__(num_channels=num_channels, band_names=band_names, ignore_index=ignore_index, **kwargs)


@dataclass
class MultitemporalSegmenterOutput(ModelOutput):
    """``logits`` (B, T, 2, H, W): each year's mine logits (zeros for a missing year);
    ``change_logits`` (B, P, 2, H, W): change / no change of each pair (zeros where a sample lacks
    either year); ``pairs`` (P, 2): the year positions of each pair; ``loss`` with labels."""

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    change_logits: torch.Tensor | None = None
    pairs: torch.Tensor | None = None


class UTAESeriesUpBlock(nn.Module):
    """×2 transposed conv of the deeper map, 1×1 conv of the skip, concat, ``a = unit``, ``a + unit(a)``."""

    def __init__(self, in_channels: int, skip_channels: int, out_channels: int) -> None:
        super().__init__()
        self.up = nn.Sequential(
            nn.ConvTranspose2d(in_channels, out_channels, kernel_size=4, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )
        self.skip = ConvNormReLU(skip_channels, skip_channels, "batch", kernel_size=1, padding=0)
        self.conv1 = ConvNormReLU(out_channels + skip_channels, out_channels, "batch")
        self.conv2 = ConvNormReLU(out_channels, out_channels, "batch")

    def forward(self, hidden: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        hidden = self.up(hidden)
        pad_h, pad_w = skip.shape[-2] - hidden.shape[-2], skip.shape[-1] - hidden.shape[-1]
        if pad_h or pad_w:  # odd sizes: the strided conv floored
            hidden = F.pad(hidden, [pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2])
        hidden = self.conv1(torch.cat([hidden, self.skip(skip)], dim=1))
        return hidden + self.conv2(hidden)


def consistent_change_logits(mask_i: torch.Tensor, mask_j: torch.Tensor, residual: torch.Tensor,
                             eps: float = 1e-6) -> torch.Tensor:
    """Change logits ``[0, logit(q) + residual]`` (…, 2, H, W) from two years' mask logits (…, 2, H, W).

    ``q`` is the probability that the masks differ; ``residual`` (…, 1, H, W) is the change head's
    bounded output. argmax equals ``mask_i XOR mask_j`` wherever ``|logit q|`` exceeds ``|residual|``.
    """
    p_i = mask_i.float().softmax(dim=-3)[..., 1:2, :, :]
    p_j = mask_j.float().softmax(dim=-3)[..., 1:2, :, :]
    q = (p_i * (1 - p_j) + p_j * (1 - p_i)).clamp(eps, 1 - eps)
    score = torch.log(q) - torch.log1p(-q) + residual.float()
    return torch.cat([torch.zeros_like(score), score], dim=-3)


class UTAESeriesForMultitemporalSegmentation(EuroMinePreTrainedModel):
    """A series (B, T, C, H, W) → yearly mine logits (B, T, 2, H, W) and pair change logits (B, P, 2, H, W)."""

    config_class = UTAESeriesConfig
    main_input_name = "pixel_values"
    _no_split_modules = ("UTAESeriesUpBlock",)

    def __init__(self, config: UTAESeriesConfig) -> None:
        super().__init__(config)
        enc, dec = config.encoder_widths, config.decoder_widths
        self.encoder = UTAEEncoder(config.num_channels, enc, config.encoder_norm)
        self.temporal = nn.ModuleList(
            TemporalSelfAttention(enc[-1], config.num_heads) for _ in range(config.temporal_layers)
        )
        self.up_blocks = nn.ModuleList(
            UTAESeriesUpBlock(dec[level + 1], enc[level], dec[level]) for level in reversed(range(len(enc) - 1))
        )
        width = dec[0]
        self.mask_head = nn.Sequential(ConvNormReLU(width, width, "batch"), nn.Conv2d(width, config.num_labels, 1))
        self.change_head = nn.Sequential(ConvNormReLU(2 * width, width, "batch"), nn.Conv2d(width, 1, 1))
        self.post_init()

    # ---- inputs -------------------------------------------------------------------------------
    def _check_inputs(
        self, pixel_values: torch.Tensor, years: torch.Tensor | None, year_mask: torch.Tensor | None,
        pairs: torch.Tensor | None, labels: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(years (B,T) long, year_mask (B,T) bool, pairs (P,2) long)``, each checked against the series."""
        if pixel_values.ndim != 5 or pixel_values.shape[2] != self.config.num_channels:
            raise ValueError(
                f"pixel_values must be (batch, years, {self.config.num_channels}, height, width); "
                f"got shape {tuple(pixel_values.shape)}"
            )
        b, t = pixel_values.shape[:2]
        device = pixel_values.device
        if years is None:
            if t != len(self.config.years):
                raise ValueError(
                    f"years: a series of {t} years needs years= (batch, {t}); without it the model reads "
                    f"the {len(self.config.years)} years {self.config.years[0]}–{self.config.years[-1]}"
                )
            years = torch.tensor(self.config.years, device=device).expand(b, t)
        years = torch.as_tensor(years, device=device)
        if years.ndim == 1:
            years = years.expand(b, -1)
        if tuple(years.shape) != (b, t) or years.is_floating_point():
            raise ValueError(f"years must be integers of shape (batch, years) = ({b}, {t}); got {tuple(years.shape)}")
        if year_mask is None:
            year_mask = torch.ones(b, t, dtype=torch.bool, device=device)
        year_mask = torch.as_tensor(year_mask, device=device)
        if tuple(year_mask.shape) != (b, t):
            raise ValueError(f"year_mask must be (batch, years) = ({b}, {t}); got {tuple(year_mask.shape)}")
        year_mask = year_mask.bool()
        if not bool(year_mask.any(dim=1).all()):
            raise ValueError("year_mask: every series needs at least one present year")
        if pairs is None:
            positions = torch.nonzero(year_mask.any(dim=0)).flatten().tolist()
            pairs = torch.tensor([(i, j) for n, i in enumerate(positions) for j in positions[n + 1:]],
                                 dtype=torch.long, device=device).reshape(-1, 2)
        pairs = torch.as_tensor(pairs, device=device)
        if pairs.ndim != 2 or pairs.shape[1] != 2 or pairs.is_floating_point():
            raise ValueError(f"pairs must be integer year positions of shape (pairs, 2); got {tuple(pairs.shape)}")
        pairs = pairs.long()
        if pairs.numel() and (int(pairs.min()) < 0 or int(pairs.max()) >= t or bool((pairs[:, 0] == pairs[:, 1]).any())):
            raise ValueError(f"pairs must hold two different year positions in [0, {t}); got {pairs.tolist()}")
        if labels is not None and tuple(labels.shape) != (b, t, *pixel_values.shape[-2:]):
            raise ValueError(
                f"labels must be (batch, years, height, width) = {(b, t, *pixel_values.shape[-2:])}; got {tuple(labels.shape)}"
            )
        return years.long(), year_mask, pairs

    # ---- network ------------------------------------------------------------------------------
    def _scatter(self, present: torch.Tensor, year_mask: torch.Tensor) -> torch.Tensor:
        """(N, …) maps of the present years → (B, T, …), zeros for missing years."""
        full = present.new_zeros((*year_mask.shape, *present.shape[1:]))
        return full.index_put((*torch.nonzero(year_mask, as_tuple=True),), present)

    def _features(self, pixel_values: torch.Tensor, years: torch.Tensor, year_mask: torch.Tensor) -> torch.Tensor:
        """Decoder features of the present years, (N, decoder_widths[0], H, W), in ``year_mask`` order."""
        b, t = year_mask.shape
        *skips, deepest = self.encoder(pixel_values[year_mask])
        c, h, w = deepest.shape[1:]
        series = self._scatter(deepest, year_mask)  # (B, T, C, h, w)
        offsets = (years - self.config.years[0]).to(series.device)
        series = series + year_encoding(offsets, c)[..., None, None].to(series.dtype)
        tokens = series.permute(0, 3, 4, 1, 2).reshape(b * h * w, t, c)
        keys = year_mask[:, None, None, :].expand(b, h, w, t).reshape(b * h * w, t)
        for layer in self.temporal:
            tokens, weights = layer(tokens, keys)
        hidden = tokens.reshape(b, h, w, t, c).permute(0, 3, 4, 1, 2)[year_mask]
        weights = weights.reshape(b, h, w, -1, t, t).permute(0, 3, 4, 5, 1, 2)  # (B, heads, T, T, h, w)
        for level, block in zip(reversed(range(len(skips))), self.up_blocks):
            skip = skips[level]
            if level > 0:  # the full-resolution skip stays the year's own
                skip = skip + mix_years(self._scatter(skip, year_mask), weights)[year_mask]
            hidden = block(hidden, skip)
        return hidden

    def _pair_loss(self, change_logits: torch.Tensor, change_labels: torch.Tensor) -> torch.Tensor:
        """Eq. 7's term over the computed pairs (B,P,2,H,W): cross-entropy (mean of the pair losses),
        soft Dice over all their pixels, or both, as ``config.change_loss`` says."""
        terms = self.config.change_loss.split("+")
        ignore = self.config.ignore_index
        loss = change_logits.new_zeros((), dtype=torch.float32)
        if "ce" in terms:
            loss = loss + multitemporal_cross_entropy(change_logits, change_labels, ignore)
        if "dice" in terms:
            loss = loss + soft_dice_loss(change_logits.flatten(0, 1), change_labels.flatten(0, 1), ignore)
        return loss

    def forward(
        self,
        pixel_values: torch.Tensor,
        years: torch.Tensor | None = None,
        year_mask: torch.Tensor | None = None,
        pairs: torch.Tensor | None = None,
        pair_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> MultitemporalSegmenterOutput:
        """``pixel_values`` (B, T, C, H, W) normalised; ``years`` (B, T) (default: the config's years,
        for T = 10); ``year_mask`` (B, T) (False: missing, never attended to, outputs zero and not
        scored); ``pairs`` (P, 2) year positions (default: every i < j present in some series);
        ``pair_mask`` (B, P) the pairs each series asks for (default: every pair of two present years;
        a pair not asked for is not computed, its change logits are zero and its loss is ignored:
        training that draws a few pairs per series pays for those, not for their union);
        ``labels`` (B, T, H, W) yearly masks (``ignore_index`` where unknown)."""
        years, year_mask, pairs = self._check_inputs(pixel_values, years, year_mask, pairs, labels)
        features = self._features(pixel_values, years, year_mask)
        logits = self._scatter(self.mask_head(features), year_mask)  # (B, T, 2, H, W)
        b = year_mask.shape[0]
        both = year_mask[:, pairs[:, 0]] & year_mask[:, pairs[:, 1]]  # (B, P)
        if pair_mask is not None:
            pair_mask = torch.as_tensor(pair_mask, device=both.device)
            if tuple(pair_mask.shape) != tuple(both.shape):
                raise ValueError(f"pair_mask must be (batch, pairs) = {tuple(both.shape)}; got {tuple(pair_mask.shape)}")
            both = both & pair_mask.bool()
        change_logits = logits.new_zeros((b, len(pairs), 2, *logits.shape[-2:]))
        if bool(both.any()):
            sample, pair = torch.nonzero(both, as_tuple=True)
            dense = self._scatter(features, year_mask)
            f_i, f_j = dense[sample, pairs[pair, 0]], dense[sample, pairs[pair, 1]]
            residual = self.change_head(torch.cat([(f_i - f_j).abs(), f_i * f_j], dim=1))
            residual = self.config.change_residual_scale * torch.tanh(residual)
            change = consistent_change_logits(logits[sample, pairs[pair, 0]], logits[sample, pairs[pair, 1]], residual)
            change_logits = change_logits.index_put((sample, pair), change.to(change_logits.dtype))
        loss = None
        if labels is not None:
            labels = torch.where(year_mask[:, :, None, None], labels.long(), torch.full_like(labels.long(), self.config.ignore_index))
            loss = self.config.mask_loss_weight * multitemporal_cross_entropy(logits, labels, self.config.ignore_index)
            if len(pairs):
                change_labels = pair_change_labels(labels, pairs, self.config.ignore_index)
                change_labels = torch.where(both[:, :, None, None], change_labels,
                                            torch.full_like(change_labels, self.config.ignore_index))
                loss = loss + self.config.change_loss_weight * self._pair_loss(change_logits, change_labels)
        return MultitemporalSegmenterOutput(loss=loss, logits=logits, change_logits=change_logits, pairs=pairs)


register_model(
    "utae-series",
    "U-TAE-Series (this project)",
    UTAESeriesConfig,
    UTAESeriesForMultitemporalSegmentation,
    task="multitemporal",
    paper={"encoder_widths": [64, 64, 64, 128], "decoder_widths": [32, 32, 64, 128], "num_heads": 16},
    tiny={"encoder_widths": [8, 8, 12, 24], "decoder_widths": [8, 8, 12, 24], "num_heads": 4},
)

__all__ = ["MultitemporalSegmenterOutput", "UTAESeriesConfig", "UTAESeriesForMultitemporalSegmentation",
           "consistent_change_logits"]
