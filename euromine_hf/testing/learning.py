"""The bright-square check: can a model fit one trivially separable batch? (issue 15, item 3)

A model that cannot fit one easy batch makes every table built from it meaningless, and the failure
is silent: the loss still falls, by pushing the background down. The batch: N(0, 0.5²) noise in
every normalised band with a bright square (+3 in every band) as the target; a change detector sees
the square in date 2 only and must report it as change; a multitemporal model sees a series in
which the square is present in some years only (:data:`SERIES_PRESENCE`) and must map it in those
years and report it as change in every pair of years that differ (its IoU is the lower of the
yearly-mask IoU and the change-map IoU). Adam, lr 1e-3, the same batch every step.
IoU is checked in train mode *and* in eval mode, because BatchNorm running statistics that do not
track training (a small momentum, statistics that mix the two dates) fail only the latter.
Used by ``tests/test_model_learning.py`` and ``bench/learning.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch

#: IoU both modes must reach, and the step budget (issue 15).
THRESHOLD = 0.8
MAX_STEPS = 200
#: Years of the series batch with the square, per sample: it appears in one, disappears in the other,
#: so each year holds one image with the square and one without (balanced statistics per year).
SERIES_PRESENCE = ((0, 0, 1, 1), (1, 1, 0, 0))


@dataclass
class FitResult:
    """Where a :func:`fit_bright_square` run ended; ``reached`` is the first checked step at which
    both modes reached the threshold, ``None`` if none did."""

    model: str
    size: str
    reached: int | None = None
    step: int = 0
    loss: float = float("nan")
    train_iou: float = 0.0
    eval_iou: float = 0.0
    train_probability: float = 0.0
    eval_probability: float = 0.0
    history: list[tuple[int, float, float]] = field(default_factory=list)


def bright_square_batch(
    channels: int, change: bool, size: int = 64, batch: int = 2, seed: int = 0, balanced_dates: bool = False
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Model inputs (with ``labels``) and the (B, H, W) target: a centred square of half the side.

    ``balanced_dates`` (change only; no effect without dates): every second sample has its square in date 1 instead (a
    disappearance, still the target), so each date's half of the batch holds as many images with
    the square as without. Detectors that normalise each date by its own BatchNorm statistics in
    training (the framework's per-date passes) then see dates with the same statistics, and the
    running statistics used in eval mode fit both, as they do for two real scenes; with the square
    in date 2 only, date 1's statistics (noise) and date 2's (a quarter bright) differ so much that
    running statistics mixing them fit neither.
    """
    generator = torch.Generator().manual_seed(seed)
    labels = torch.zeros(batch, size, size, dtype=torch.long)
    start, stop = size // 4, size // 4 + size // 2
    labels[:, start:stop, start:stop] = 1
    square = labels[:, None].float() * 3.0
    image = torch.randn(batch, channels, size, size, generator=generator) * 0.5 + square
    if not change:
        return {"pixel_values": image, "labels": labels}, labels
    before = torch.randn(batch, channels, size, size, generator=generator) * 0.5
    if balanced_dates:
        swap = (torch.arange(batch) % 2 == 1).view(-1, 1, 1, 1)
        before, image = torch.where(swap, image, before), torch.where(swap, before, image)
    return {"pixel_values_t1": before, "pixel_values_t2": image, "labels": labels}, labels


def bright_square_series(channels: int, size: int = 64, seed: int = 0) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """A multitemporal model's inputs (``pixel_values`` (B, T, C, H, W), ``years``, ``labels``) and its
    (B, T, H, W) target: the centred square in the years :data:`SERIES_PRESENCE` marks."""
    generator = torch.Generator().manual_seed(seed)
    presence = torch.tensor(SERIES_PRESENCE, dtype=torch.long)
    batch, years = presence.shape
    square = torch.zeros(size, size, dtype=torch.long)
    start, stop = size // 4, size // 4 + size // 2
    square[start:stop, start:stop] = 1
    labels = presence[:, :, None, None] * square
    images = torch.randn(batch, years, channels, size, size, generator=generator) * 0.5 + labels[:, :, None].float() * 3.0
    series_years = torch.arange(2015, 2015 + years).expand(batch, years)
    return {"pixel_values": images, "years": series_years, "labels": labels}, labels


def _series_scores(output: Any, labels: torch.Tensor) -> tuple[float, float]:
    """The lower (IoU, probability) of the yearly masks and the pair change maps."""
    from euromine_hf.models.losses import pair_change_labels

    masks = square_scores(output.logits.flatten(0, 1), labels.flatten(0, 1))
    change = pair_change_labels(labels, output.pairs)
    changes = square_scores(output.change_logits.flatten(0, 1), change.flatten(0, 1))
    return min(masks[0], changes[0]), min(masks[1], changes[1])


def square_scores(logits: torch.Tensor, labels: torch.Tensor) -> tuple[float, float]:
    """(IoU of the predicted positives with the square, mean positive probability on the square)."""
    logits = logits.detach()
    predicted, target = logits.argmax(1) == 1, labels == 1
    union = (predicted | target).sum().item()
    iou = (predicted & target).sum().item() / union if union else 1.0
    return iou, logits.float().softmax(1)[:, 1][target].mean().item()


def fit_bright_square(
    name: str,
    size: str = "tiny",
    steps: int = MAX_STEPS,
    every: int = 10,
    seed: int = 0,
    stop_early: bool = True,
    device: str | torch.device = "cpu",
    log: Callable[[FitResult], None] | None = None,
    image_size: int = 64,
    balanced_dates: bool = False,
    **overrides: Any,
) -> FitResult:
    """Build zoo model ``name`` at ``size`` (seeded) and fit the bright-square batch with Adam 1e-3,
    checking both modes every ``every`` steps; stop at the first check where both reach
    :data:`THRESHOLD` unless ``stop_early`` is off. ``image_size`` and ``balanced_dates`` select the
    batch (:func:`bright_square_batch`); ``overrides`` go to the model's config."""
    from euromine_hf.models import build_model, get_spec

    torch.manual_seed(seed)
    model = build_model(name, size, **overrides).to(device)
    task = get_spec(name).task
    if task == "multitemporal":
        inputs, labels = bright_square_series(model.config.num_channels, size=image_size, seed=seed)
        scores: Callable[[Any, torch.Tensor], tuple[float, float]] = _series_scores
    else:
        inputs, labels = bright_square_batch(
            model.config.num_channels, task == "change_detection", size=image_size, seed=seed, balanced_dates=balanced_dates
        )
        scores = lambda output, target: square_scores(output.logits, target)  # noqa: E731
    inputs = {key: value.to(device) for key, value in inputs.items()}
    labels = labels.to(device)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    result = FitResult(name, size)
    images = {key: value for key, value in inputs.items() if key != "labels"}
    for step in range(1, steps + 1):
        model.train()
        output = model(**inputs)
        optimizer.zero_grad(set_to_none=True)
        output.loss.backward()
        optimizer.step()
        if step % every and step != steps:
            continue
        # train mode: the forward pass this step optimised (a second train-mode pass would feed
        # BatchNorm's running statistics one extra batch); eval mode: after the step
        result.step, result.loss = step, output.loss.item()
        result.train_iou, result.train_probability = scores(output, labels)
        model.eval()
        with torch.no_grad():
            result.eval_iou, result.eval_probability = scores(model(**images), labels)
        result.history.append((step, result.train_iou, result.eval_iou))
        if log is not None:
            log(result)
        if result.reached is None and min(result.train_iou, result.eval_iou) >= THRESHOLD:
            result.reached = step
            if stop_early:
                break
    return result


__all__ = ["MAX_STEPS", "SERIES_PRESENCE", "THRESHOLD", "FitResult", "bright_square_batch", "bright_square_series",
           "fit_bright_square", "square_scores"]
