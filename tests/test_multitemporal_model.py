"""The multitemporal contract, for every ``zoo_names("multitemporal")`` entry, and U-TAE-Series' own design.

A series (B, T, C, H, W) with its years → yearly mine logits (B, T, 2, H, W) and the change logits
of year pairs (B, P, 2, H, W) with the loss of Eq. 6 + Eq. 7; any T ≥ 2; a missing year changes
nothing else; safetensors + Auto class round trip. The bright-square check (yearly masks and change
maps learned in train and eval mode) runs for this task in ``tests/test_model_learning.py``; the
remote-code route in ``tests/test_models_by_name.py``.
"""

from __future__ import annotations

import itertools
import json
import warnings

import numpy as np
import pytest
import torch
from transformers import AutoConfig, AutoImageProcessor, AutoModel
from transformers.utils import logging as hf_logging

from euromine_hf.bands import YEARS
from euromine_hf.models import MODEL_ZOO, AutoModelForMultitemporalSegmentation, build_model, zoo_names
from euromine_hf.models.configuration import IGNORE_INDEX, TASKS
from euromine_hf.models.image_processing import EuroMineImageProcessor
from euromine_hf.models.layers import count_parameters
from euromine_hf.models.loading import load_model
from euromine_hf.models.modeling import soft_dice_loss
from euromine_hf.models.losses import multitemporal_cross_entropy, pair_change_labels
from euromine_hf.models.multitemporal.temporal import mix_years
from euromine_hf.models.multitemporal.utae_series import UTAESeriesConfig, consistent_change_logits
from euromine_hf.models.registry import ModelSpec
from euromine_hf.testing.learning import SERIES_PRESENCE, bright_square_series

hf_logging.set_verbosity_error()
hf_logging.disable_progress_bar()
warnings.filterwarnings("ignore", category=UserWarning)

SIZE = 32
MULTITEMPORAL = zoo_names("multitemporal")


@pytest.fixture(params=MULTITEMPORAL)
def spec(request: pytest.FixtureRequest) -> ModelSpec:
    return MODEL_ZOO[request.param]


def _model(spec: ModelSpec, seed: int = 0, **overrides) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_model(spec.name, "tiny", **overrides)


def _series(batch: int, years: int, seed: int = 0, size: int = SIZE, channels: int = 10) -> torch.Tensor:
    return torch.randn(batch, years, channels, size, size, generator=torch.Generator().manual_seed(seed))


def test_the_task_is_registered() -> None:
    assert TASKS == ("segmentation", "change_detection", "multitemporal")
    assert MULTITEMPORAL == ["utae-series"]
    for name in MULTITEMPORAL:
        assert {"paper", "tiny"} <= set(MODEL_ZOO[name].presets)
        assert MODEL_ZOO[name].config_class.model_type.startswith("euromine-")
        assert MODEL_ZOO[name].config_class.task == "multitemporal"


def test_ten_published_years_by_default(spec: ModelSpec) -> None:
    model = _model(spec)
    labels = torch.randint(0, 2, (2, 10, SIZE, SIZE))
    output = model(_series(2, 10), labels=labels)
    assert output.logits.shape == (2, 10, 2, SIZE, SIZE)
    assert output.change_logits.shape == (2, 45, 2, SIZE, SIZE)
    assert output.pairs.tolist() == [list(pair) for pair in itertools.combinations(range(10), 2)]
    assert torch.isfinite(output.loss)
    output.loss.backward()
    first = next(p for p in model.parameters() if p.ndim == 4)
    assert first.grad is not None and first.grad.abs().sum() > 0


def test_two_years_and_odd_sizes(spec: ModelSpec) -> None:
    model = _model(spec).eval()
    output = model(_series(1, 2, size=45), years=torch.tensor([[2015, 2024]]))
    assert output.logits.shape == (1, 2, 2, 45, 45)
    assert output.change_logits.shape == (1, 1, 2, 45, 45) and output.pairs.tolist() == [[0, 1]]
    with pytest.raises(ValueError, match="years="):
        model(_series(1, 2))  # two years but no years: not the published ten


def test_missing_year_changes_nothing_else(spec: ModelSpec) -> None:
    """T = 3 with the middle year missing in sample 0: new pixels there leave every other output equal,
    in train mode (batch statistics) and eval mode; its own outputs are zero and its pairs unscored."""
    model = _model(spec)
    series, years = _series(2, 3), torch.tensor([[2016, 2019, 2023]] * 2)
    year_mask = torch.tensor([[True, False, True], [True, True, True]])
    labels = torch.randint(0, 2, (2, 3, SIZE, SIZE))
    other = series.clone()
    other[0, 1] = 100 * torch.randn(10, SIZE, SIZE)
    other_labels = labels.clone()
    other_labels[0, 1] = 1 - labels[0, 1]
    for mode in ("train", "eval"):
        model.train(mode == "train")
        with torch.no_grad():
            a = model(series, years=years, year_mask=year_mask, labels=labels)
            b = model(other, years=years, year_mask=year_mask, labels=other_labels)
        assert torch.equal(a.logits, b.logits), mode
        assert torch.equal(a.change_logits, b.change_logits), mode
        assert torch.equal(a.loss, b.loss), mode
        assert a.pairs.tolist() == [[0, 1], [0, 2], [1, 2]]  # year 1 is present in sample 1
        assert not a.logits[0, 1].any() and a.logits[1, 1].any()
        assert not a.change_logits[0, 0].any() and not a.change_logits[0, 2].any() and a.change_logits[0, 1].any()


def test_a_missing_year_is_never_attended_to(spec: ModelSpec) -> None:
    """Masking year 1 out gives the outputs of the series without it: no year reads it, not even
    through its date encoding (train mode too: it is in no normalisation statistics)."""
    model = _model(spec)
    series, years = _series(2, 3), torch.tensor([2016, 2019, 2023])
    keep = [0, 2]
    for mode in ("train", "eval"):
        model.train(mode == "train")
        with torch.no_grad():
            masked = model(series, years=years, year_mask=torch.tensor([[True, False, True]] * 2))
            dropped = model(series[:, keep], years=years[keep])
        torch.testing.assert_close(masked.logits[:, keep], dropped.logits)
        torch.testing.assert_close(masked.change_logits, dropped.change_logits)


def test_a_year_missing_everywhere_has_no_pairs(spec: ModelSpec) -> None:
    model = _model(spec).eval()
    output = model(_series(2, 3), years=torch.tensor([2016, 2019, 2023]), year_mask=torch.tensor([[True, False, True]] * 2))
    assert output.pairs.tolist() == [[0, 2]] and output.change_logits.shape[1] == 1


def test_a_subset_of_pairs_gives_the_same_maps(spec: ModelSpec) -> None:
    model = _model(spec).eval()
    series, years = _series(2, 4), torch.tensor([2015, 2016, 2020, 2024])
    with torch.no_grad():
        every = model(series, years=years)
        subset = model(series, years=years, pairs=torch.tensor([[0, 3], [2, 3]]))
    assert subset.change_logits.shape == (2, 2, 2, SIZE, SIZE)
    index = {tuple(p): i for i, p in enumerate(every.pairs.tolist())}
    for k, pair in enumerate([(0, 3), (2, 3)]):
        torch.testing.assert_close(subset.change_logits[:, k], every.change_logits[:, index[pair]])
    torch.testing.assert_close(subset.logits, every.logits)


def test_pair_mask_computes_only_the_asked_pairs(spec: ModelSpec) -> None:
    """Training draws a few pairs per series: the change head runs on those rows only (B·k, not B × the
    union of the draws), their maps equal the full answer, the rest are zero and out of the loss."""
    model = _model(spec).eval()
    series, years = _series(2, 4), torch.tensor([2015, 2016, 2020, 2024])
    labels = torch.randint(0, 2, (2, 4, SIZE, SIZE), generator=torch.Generator().manual_seed(3))
    pairs = torch.tensor([[0, 1], [0, 3], [2, 3]])
    asked = torch.tensor([[True, False, True], [False, True, False]])
    rows = []
    hook = model.change_head.register_forward_hook(lambda module, args, out: rows.append(out.shape[0]))
    with torch.no_grad():
        every = model(series, years=years, pairs=pairs, labels=labels)
        masked = model(series, years=years, pairs=pairs, pair_mask=asked, labels=labels)
    hook.remove()
    assert rows == [6, 3]
    for b, p in itertools.product(range(2), range(3)):
        want = every.change_logits[b, p] if asked[b, p] else torch.zeros_like(every.change_logits[b, p])
        torch.testing.assert_close(masked.change_logits[b, p], want)
    change = pair_change_labels(labels, pairs)
    change = torch.where(asked[:, :, None, None], change, torch.full_like(change, IGNORE_INDEX))
    eq7 = multitemporal_cross_entropy(masked.change_logits, change)
    torch.testing.assert_close(masked.loss, multitemporal_cross_entropy(masked.logits, labels) + eq7)
    with pytest.raises(ValueError, match="pair_mask must be"):
        model(series, years=years, pairs=pairs, pair_mask=asked[:, :2])


def test_save_load_and_auto_classes(spec: ModelSpec, tmp_path) -> None:
    model = _model(spec).eval()
    model.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["model_type"] == spec.config_class.model_type
    assert (tmp_path / "model.safetensors").exists()
    series, years = _series(1, 3), torch.tensor([[2015, 2017, 2024]])
    with torch.no_grad():
        want = model(series, years=years)
        for loader in (AutoModelForMultitemporalSegmentation, AutoModel, type(model)):
            got = loader.from_pretrained(tmp_path).eval()(series, years=years)
            torch.testing.assert_close(got.logits, want.logits)
            torch.testing.assert_close(got.change_logits, want.change_logits)
        loaded = load_model(tmp_path, task="multitemporal")
        torch.testing.assert_close(loaded(series, years=years).logits, want.logits)
    assert isinstance(AutoConfig.from_pretrained(tmp_path), spec.config_class)
    processor = AutoImageProcessor.from_pretrained(tmp_path)
    assert isinstance(processor, EuroMineImageProcessor) and processor.task == "multitemporal"
    with pytest.raises(ValueError, match="expected a segmentation model, found a multitemporal"):
        load_model(tmp_path, task="segmentation")


def test_bad_inputs_name_the_argument(spec: ModelSpec) -> None:
    model = _model(spec).eval()
    series = _series(1, 3)
    years = torch.tensor([[2015, 2016, 2017]])
    cases = [
        (dict(pixel_values=series[:, 0]), "pixel_values must be"),
        (dict(pixel_values=series[:, :, :3]), "pixel_values must be"),
        (dict(pixel_values=series, years=years[:, :2]), "years must be"),
        (dict(pixel_values=series, years=years, year_mask=torch.zeros(1, 3, dtype=torch.bool)), "at least one present"),
        (dict(pixel_values=series, years=years, pairs=torch.tensor([[0, 3]])), "pairs must hold"),
        (dict(pixel_values=series, years=years, pairs=torch.tensor([[1, 1]])), "pairs must hold"),
        (dict(pixel_values=series, years=years, pairs=torch.tensor([0, 1])), "pairs must be"),
        (dict(pixel_values=series, years=years, labels=torch.zeros(1, 2, SIZE, SIZE)), "labels must be"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ValueError, match=message):
            model(**kwargs)


# ---- U-TAE-Series' design --------------------------------------------------------------------


def test_loss_is_eq6_plus_eq7_with_the_configs_weights() -> None:
    spec = MODEL_ZOO["utae-series"]
    model = _model(spec, mask_loss_weight=0.5, change_loss_weight=2.0).eval()
    series, years = _series(2, 3), torch.tensor([2015, 2018, 2024])
    year_mask = torch.tensor([[True, True, False], [True, True, True]])
    labels = torch.randint(0, 2, (2, 3, SIZE, SIZE))
    labels[0, 0, :4] = IGNORE_INDEX
    with torch.no_grad():
        output = model(series, years=years, year_mask=year_mask, labels=labels)
    masked = labels.clone()
    masked[0, 2] = IGNORE_INDEX  # the missing year's labels are never read
    eq6 = multitemporal_cross_entropy(output.logits, masked)
    eq7 = multitemporal_cross_entropy(output.change_logits, pair_change_labels(masked, output.pairs))
    torch.testing.assert_close(output.loss, 0.5 * eq6 + 2.0 * eq7)


def test_change_loss_dice_replaces_eq7s_cross_entropy() -> None:
    spec = MODEL_ZOO["utae-series"]
    series, years = _series(2, 3), torch.tensor([2015, 2018, 2024])
    labels = torch.randint(0, 2, (2, 3, SIZE, SIZE), generator=torch.Generator().manual_seed(1))
    outputs = {}
    for loss in ("ce", "dice", "ce+dice"):
        model = _model(spec, change_loss=loss).eval()
        with torch.no_grad():
            outputs[loss] = model(series, years=years, labels=labels)
    out = outputs["ce"]
    change = pair_change_labels(labels, out.pairs)
    eq6 = multitemporal_cross_entropy(out.logits, labels)
    ce = multitemporal_cross_entropy(out.change_logits, change)
    dice = soft_dice_loss(out.change_logits.flatten(0, 1), change.flatten(0, 1), IGNORE_INDEX)
    torch.testing.assert_close(outputs["ce"].loss, eq6 + ce)
    torch.testing.assert_close(outputs["dice"].loss, eq6 + dice)
    torch.testing.assert_close(outputs["ce+dice"].loss, eq6 + ce + dice)
    with pytest.raises(ValueError, match="change_loss must be one of"):
        UTAESeriesConfig(change_loss="focal")


def test_pair_change_labels_ignore_either_year() -> None:
    labels = torch.tensor([[[[0, 1, 1, IGNORE_INDEX]], [[1, 1, 0, 0]]]])  # (1, 2, 1, 4)
    change = pair_change_labels(labels, torch.tensor([[0, 1]]))
    assert change.tolist() == [[[[1, 0, 1, IGNORE_INDEX]]]]


def test_eq6_lives_with_the_models_and_training_uses_it() -> None:
    from euromine_hf.models import losses
    from euromine_hf.training import losses as training_losses

    assert training_losses.multitemporal_cross_entropy is losses.multitemporal_cross_entropy


def test_change_agrees_with_confident_masks_by_construction() -> None:
    """Wherever both years' mine probabilities are beyond 0.977 / below 0.023, the change map is
    their XOR whatever the change head's residual (bounded by s = 3)."""
    generator = torch.Generator().manual_seed(0)
    sign_i = torch.randint(0, 2, (4, 1, 8, 8), generator=generator) * 2 - 1
    sign_j = torch.randint(0, 2, (4, 1, 8, 8), generator=generator) * 2 - 1
    margin = 3.8 + torch.rand(4, 1, 8, 8, generator=generator) * 5  # |logit p| ≥ 3.8: p ≥ 0.978
    mask_i = torch.cat([torch.zeros(4, 1, 8, 8), sign_i * margin], dim=1)
    mask_j = torch.cat([torch.zeros(4, 1, 8, 8), sign_j * margin.flip(0)], dim=1)
    residual = 3.0 * torch.tanh(10 * torch.randn(4, 1, 8, 8, generator=generator))
    change = consistent_change_logits(mask_i, mask_j, residual).argmax(1)
    assert torch.equal(change, (mask_i.argmax(1) != mask_j.argmax(1)).long())
    # where the masks are unsure, the residual decides
    unsure = torch.zeros(1, 2, 1, 1)
    assert consistent_change_logits(unsure, unsure, torch.full((1, 1, 1, 1), 0.5)).argmax(1).item() == 1
    assert consistent_change_logits(unsure, unsure, torch.full((1, 1, 1, 1), -0.5)).argmax(1).item() == 0


def test_change_is_symmetric_in_the_two_years() -> None:
    model = _model(MODEL_ZOO["utae-series"]).eval()
    series, years = _series(1, 3), torch.tensor([2015, 2019, 2024])
    with torch.no_grad():
        output = model(series, years=years, pairs=torch.tensor([[0, 2], [2, 0]]))
    torch.testing.assert_close(output.change_logits[:, 0], output.change_logits[:, 1])


def test_every_year_attends_to_the_others() -> None:
    """Time is not collapsed and not ignored: a change in one year's pixels moves another year's mask."""
    model = _model(MODEL_ZOO["utae-series"]).eval()
    series, years = _series(1, 3), torch.tensor([2015, 2019, 2024])
    other = series.clone()
    other[0, 2] += 3.0
    with torch.no_grad():
        a, b = model(series, years=years).logits, model(other, years=years).logits
    assert not torch.equal(a[0, 0], b[0, 0])


def test_mix_years_is_the_attention_weighted_sum_per_group() -> None:
    skip = torch.randn(1, 2, 4, 3, 3)
    weights = torch.zeros(1, 2, 2, 2, 3, 3)
    weights[:, 0, :, 0] = 1.0  # head 0 (channels 0-1): every year reads year 0
    weights[:, 1, :, 1] = 1.0  # head 1 (channels 2-3): every year reads year 1
    mixed = mix_years(skip, weights)
    for year in range(2):
        torch.testing.assert_close(mixed[0, year, :2], skip[0, 0, :2])
        torch.testing.assert_close(mixed[0, year, 2:], skip[0, 1, 2:])
    # weights from a coarser grid are upsampled to the skip's
    assert mix_years(torch.randn(1, 2, 4, 8, 8), torch.full((1, 2, 2, 2, 2, 2), 0.5)).shape == (1, 2, 4, 8, 8)


def test_config_is_checked() -> None:
    with pytest.raises(ValueError, match="decoder_widths\\[-1\\]"):
        UTAESeriesConfig(encoder_widths=[8, 16], decoder_widths=[8, 8])
    with pytest.raises(ValueError, match="same number"):
        UTAESeriesConfig(encoder_widths=[8, 16, 32], decoder_widths=[8, 32])
    with pytest.raises(ValueError, match="num_heads"):
        UTAESeriesConfig(encoder_widths=[8, 12, 24], decoder_widths=[8, 12, 24], num_heads=8)
    with pytest.raises(ValueError, match="encoder_norm"):
        UTAESeriesConfig(encoder_norm="layer")
    assert UTAESeriesConfig().years == list(YEARS)


def test_presets() -> None:
    """paper: U-TAE's published widths; tiny: within ±20 % of the tiny detectors it is compared with
    (FC-EF, ChangeFormer, SNUNet; the tiny baselines span 15 k–105 k, so no one size fits all)."""
    paper = MODEL_ZOO["utae-series"].make_config("paper")
    assert (paper.encoder_widths, paper.decoder_widths, paper.num_heads) == ([64, 64, 64, 128], [32, 32, 64, 128], 16)
    tiny = count_parameters(build_model("utae-series", "tiny"))
    for baseline in ("fc-ef", "changeformer", "snunet"):
        assert abs(tiny / count_parameters(build_model(baseline, "tiny")) - 1) <= 0.2, baseline


def test_image_processor_normalises_each_year() -> None:
    processor = EuroMineImageProcessor(task="multitemporal")
    raw = np.random.default_rng(0).integers(0, 6000, size=(3, 10, 8, 8)).astype(np.uint16)
    out = processor(raw, years=[2015, 2020, 2024], return_tensors="pt")
    assert out["pixel_values"].shape == (1, 3, 10, 8, 8) and out["years"].tolist() == [[2015, 2020, 2024]]
    single = EuroMineImageProcessor()(raw, return_tensors="pt")["pixel_values"]
    torch.testing.assert_close(out["pixel_values"][0], single)
    listed = processor(list(raw))["pixel_values"]
    np.testing.assert_allclose(listed, out["pixel_values"].numpy())
    assert processor(np.stack([raw, raw]))["pixel_values"].shape == (2, 3, 10, 8, 8)
    with pytest.raises(ValueError, match="years must be integers"):
        processor(raw, years=[2015, 2020])
    with pytest.raises(ValueError, match="series"):
        processor(raw[0])
    with pytest.raises(ValueError, match="multitemporal models only"):
        EuroMineImageProcessor()(raw, years=[2015, 2020, 2024])
    maps = processor.post_process_semantic_segmentation(torch.randn(2, 3, 2, 8, 8), target_sizes=[(16, 16)] * 2)
    assert [m.shape for m in maps] == [(3, 16, 16)] * 2


def test_the_learning_series_batch() -> None:
    """The bright square in the years SERIES_PRESENCE marks: appearing in one sample, disappearing in the other."""
    inputs, labels = bright_square_series(10, seed=3)
    assert inputs["pixel_values"].shape == (2, 4, 10, 64, 64) and inputs["years"].tolist()[0] == [2015, 2016, 2017, 2018]
    assert labels.flatten(2).amax(2).tolist() == [list(p) for p in SERIES_PRESENCE]
    square = labels[:, :, None].expand(-1, -1, 10, -1, -1) == 1
    assert inputs["pixel_values"][square].mean().item() == pytest.approx(3.0, abs=0.05)
