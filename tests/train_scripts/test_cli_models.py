"""Every registered model trains from its ``train_<family>.py`` command line.

Parametrised over ``zoo.list_models()``: a new model without a training script
or without a tiny configuration here fails ``test_every_model_has_a_tiny_cli_run``.
Each run is one epoch of one step on tiny synthetic images, in process and
eager (``--run-eagerly``: tracing the graph would take most of the time); the
multi-output test below runs traced, with validation.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import zoo
from train_scripts import cli
from zoo.settings import read_settings

_BACKBONED = {
    "backbone": "orig_unet",
    "encoder_filters": 4,
    "decoder_filters": [8, 8, 4, 4, 4],
    "centre_filters": 8,
}
_UNET_ORIGINAL_PATCH = zoo.unet.nearest_valid_input_size(44, 3)

#: model -> (patch size, model kwargs); builder defaults otherwise (so
#: unet3_plus keeps its deep supervision, branch2_unet its branch_channel=1).
TINY: dict[str, tuple[str, dict]] = {
    "attention_unet": ("32", {"filters": [4, 8, 16, 32]}),
    "backboned_unet": ("32", _BACKBONED),
    "branch2_unet": ("32", _BACKBONED),
    "fine_grained_unet": ("32", _BACKBONED),
    "residual_unet": ("32", {"filters": [4, 8, 16, 32]}),
    "sa_unet": ("32", {"filters": 4}),
    "unet25d": ("16,16,3", {"filters": 2}),
    "unet3_plus": ("32", {"filters": [4, 8, 16, 32], "skip_filters": 4}),
    "unet3d": ("16", {"filters": 4, "depth": 3}),
    "unet_original": (str(_UNET_ORIGINAL_PATCH), {"filters": [4, 8, 16]}),
    "unet_padding": ("32", {"depth": 2, "filters": 4}),
    "unet_plus_plus": ("32", {"filters": [4, 8, 16, 32], "dropout": 0.0}),
    "vnet": ("32", {"filters": 4, "depth": 3, "kernel_size": 3}),
    "vnet3d": ("16", {"filters": 4, "depth": 3}),
    "vnet3d_depthwise": ("16", {"filters": 4, "depth": 3}),
    "vnet_3d": ("16", {"filters": 4, "depth": 3, "kernel_size": 3}),
}


FAST = ["--run-eagerly", "--val-fraction", "0"]


def _run(model: str, out, *extra: str, kwargs: dict | None = None) -> int:
    patch, tiny = TINY[model]
    family = cli.family_of(model)
    image_size = max(int(p) for p in patch.split(","))
    argv = [
        "--model", model, "--model-kwargs", json.dumps({**tiny, **(kwargs or {})}),
        "--patch-size", patch, "--epochs", "1", "--steps-per-epoch", "1",
        "--batch-size", "2", "--n-images", "3", "--image-size", str(image_size),
        "--val-patches", "2", "--no-final-eval", "--verbose", "0",
        "--out", str(out), *extra,
    ]  # fmt: skip
    return cli.main(argv, family=family)


@pytest.mark.parametrize("model", zoo.list_models())
def test_every_model_has_a_tiny_cli_run(model, tmp_path):
    assert model in TINY, f"add a tiny configuration of {model} to TINY"
    assert _run(model, tmp_path, *FAST) == 0
    record = json.loads((tmp_path / "run.json").read_text())
    history = {k: v for k, v in record["best"]["logs"].items() if k.endswith("loss")}
    assert history and all(np.isfinite(v) for v in history.values())
    settings = read_settings(tmp_path / "best.h5")
    assert settings["model"] == model
    patch = [int(p) for p in TINY[model][0].split(",")]
    assert settings["tile_size"] == (patch * 3)[: len(settings["axes"]) - 1]


@pytest.mark.slow
def test_multi_output_targets_and_monitor(tmp_path):
    """UNet 3+ with CGM: 4 deep-supervision maps + the has-foreground label."""
    assert _run("unet3_plus", tmp_path, kwargs={"cgm": True}) == 0
    record = json.loads((tmp_path / "run.json").read_text())
    logs = record["best"]["logs"]
    for i in range(4):
        assert f"unet3_plus_out{i}_loss" in logs
    assert "unet3_plus_cls_loss" in logs
    assert record["monitor"]["name"] == "val_unet3_plus_out0_dice"
    assert read_settings(tmp_path / "best.h5")["output"] == "unet3_plus_out0"


def test_branch2_picks_a_branch_channel_that_fits(tmp_path, capsys):
    assert _run("branch2_unet", tmp_path, *FAST) == 0
    assert "using branch_channel=0" in capsys.readouterr().err
    assert read_settings(tmp_path / "best.h5")["model_kwargs"]["branch_channel"] == 0


def test_unet_plus_plus_deep_supervision_scores_the_last_column(tmp_path):
    kwargs = {"deep_supervision": True}
    assert _run("unet_plus_plus", tmp_path, *FAST, kwargs=kwargs) == 0
    record = json.loads((tmp_path / "run.json").read_text())
    logs = record["best"]["logs"]
    assert {f"unet_plus_plus_out{j}_loss" for j in (1, 2, 3)} <= set(logs)
    assert record["monitor"]["name"] == "unet_plus_plus_out3_dice"
    assert read_settings(tmp_path / "best.h5")["output"] == "unet_plus_plus_out3"
