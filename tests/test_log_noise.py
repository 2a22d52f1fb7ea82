"""Training's console output says what matters once (issue 20, item 11): no progress bar per saved
checkpoint, INFO from the main process only, DDP told whether the model leaves parameters unused, each
demo option logged once, and the synthetic default named when no ``--data_dir`` is given.

The two-process launch itself (one INFO line in all, no per-rank DDP warning) is checked by the
slow ``tests/test_ddp.py::test_readme_ddp_command_forms_one_cpu_process_group``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from euromine_hf.models import build_model
from euromine_hf.training.arguments import DataArguments, parse_arguments
from euromine_hf.training.demo import change_demo_argv, demo_argv
from euromine_hf.training.trainer import EuroMineTrainer, parameters_without_gradient

from test_training import make_dataset, training_args


def test_saving_a_model_writes_no_shard_progress_bar(tmp_path, capfd):
    from transformers.utils import logging as hf_logging

    hf_logging.enable_progress_bar()  # as a user's session has it (another test may have turned it off)
    build_model("unet", size="tiny").save_pretrained(tmp_path / "m")
    assert "Writing model shards" not in capfd.readouterr().err
    assert (tmp_path / "m" / "model.safetensors").is_file()
    assert hf_logging.is_progress_bar_enabled()  # only silenced while saving


def test_demo_options_are_named_once():
    argv = demo_argv(["--output_dir", "elsewhere", "--seed=5"])
    assert argv.count("--output_dir") == 1 and argv.count("--seed") == 0 and "--seed=5" in argv
    model, data, train, run = parse_arguments(argv)
    assert train.output_dir == "elsewhere" and train.seed == 5 and model.model == "segformer" and run.demo
    assert demo_argv([]).count("--output_dir") == 1
    detector = change_demo_argv("out", "fc-ef", ["--seed", "3", "--data_dir", "a"])
    assert detector.count("--seed") == 1 and detector[detector.index("--seed") + 1] == "3"
    assert detector[detector.index("--output_dir") + 1] == str(Path("out") / "change_detection")


def test_no_data_dir_says_it_trains_on_the_synthetic_default(tmp_path, monkeypatch, caplog):
    import euromine_hf.data.synthetic as synthetic
    from euromine_hf.training.results import resolve_data_dir

    monkeypatch.setattr(synthetic, "default_archive", lambda: tmp_path / "synthetic-v9-seed0")
    with caplog.at_level(logging.INFO, logger="euromine_hf"):
        assert resolve_data_dir(DataArguments()) == (tmp_path / "synthetic-v9-seed0", "synthetic")
    assert f"no --data_dir: training on the embedded synthetic archive at {tmp_path / 'synthetic-v9-seed0'}" in caplog.text
    assert "not EuroMineNet" in caplog.text


class _Stop(Exception):
    pass


@pytest.mark.parametrize("rank", [0, 1])
def test_info_lines_come_from_the_main_process_only(tmp_path, monkeypatch, caplog, rank):
    import euromine_hf.training.run as run
    from euromine_hf.training.training_arguments import EuroMineTrainingArguments

    monkeypatch.setattr(EuroMineTrainingArguments, "process_index", property(lambda self: rank))
    monkeypatch.setattr(EuroMineTrainingArguments, "world_size", property(lambda self: 2))

    def stop(*args):
        logging.getLogger("euromine_hf.training.run").info("a step of rank %d", rank)
        raise _Stop

    monkeypatch.setattr(run, "run_training", stop)
    from euromine_hf.training.main import _main

    try:
        with caplog.at_level(logging.INFO), pytest.raises(_Stop):
            _main(["--demo", "--output_dir", str(tmp_path / "demo")])
    finally:
        logging.getLogger("euromine_hf").setLevel(logging.NOTSET)  # _main sets it for the process
    infos = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO and r.name.startswith("euromine_hf")]
    if rank == 0:
        assert any(m.startswith("demo: ") for m in infos) and "2 processes in one process group" in " ".join(infos)
        assert "a step of rank 0" in infos
    else:
        assert infos == []


def test_probe_finds_the_parameters_a_training_step_leaves_unused():
    swin = build_model("upernet-swin", size="tiny")
    before = {k: v.clone() for k, v in swin.state_dict().items()}
    torch.manual_seed(3)
    expected_next = torch.rand(3)
    torch.manual_seed(3)
    assert parameters_without_gradient(swin) == ["encoder.backbone.swin.layernorm.weight", "encoder.backbone.swin.layernorm.bias"]
    assert torch.equal(torch.rand(3), expected_next)  # the run's random stream is untouched
    assert all(torch.equal(before[k], v) for k, v in swin.state_dict().items())  # weights and BN statistics too
    assert all(p.grad is None for p in swin.parameters())
    assert parameters_without_gradient(build_model("unet", size="tiny")) == []
    # DTCDSCN as the framework trains it (change map only): its semantic branches get no gradient
    unused = parameters_without_gradient(build_model("dtcdscn", size="tiny"))
    assert unused and all(name.startswith("semantic_decoder.") for name in unused)
    # with the paper's dual task (auxiliary_losses) every parameter is used: its date labels are given
    assert parameters_without_gradient(build_model("dtcdscn", size="tiny", auxiliary_losses=True)) == []


@pytest.mark.parametrize("world_size", [1, 2])
def test_trainer_sets_ddp_find_unused_parameters_from_the_model(tmp_path, monkeypatch, world_size):
    from euromine_hf.training.training_arguments import EuroMineTrainingArguments

    def trainer(model, **kw):
        args = training_args(tmp_path, **kw)
        monkeypatch.setattr(EuroMineTrainingArguments, "world_size", property(lambda self: world_size))
        try:
            return EuroMineTrainer(model=model, args=args, train_dataset=make_dataset(n_sites=1))
        finally:
            monkeypatch.undo()

    unet, swin = trainer(build_model("unet", size="tiny")), trainer(build_model("upernet-swin", size="tiny"))
    if world_size == 1:  # no DDP: nothing probed, transformers' default left alone
        assert unet.args.ddp_find_unused_parameters is None and swin.args.ddp_find_unused_parameters is None
    else:
        assert unet.args.ddp_find_unused_parameters is False and swin.args.ddp_find_unused_parameters is True
    explicit = trainer(build_model("unet", size="tiny"), ddp_find_unused_parameters=True)
    assert explicit.args.ddp_find_unused_parameters is True  # the user's choice stands
