"""Training end to end on tiny synthetic data: loss goes down, checkpoints load, resume, failures,
config errors, eval CLI, DistributedDataParallel on 2 CPU processes, and the shipped model."""

import dataclasses
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from r2etl_core.cli import main as cli
from r2etl_core.errors import InputError
from r2etl_core.io.modelfile import DEFAULT_MODEL_PATH, load_model, read_meta
from r2etl_core.train.config_file import config_from_dict, load_config, packaged_configs
from r2etl_core.train.datasets.splits import shared_nmnist_split
from r2etl_core.train.ema import WeightAverage
from r2etl_core.train.run import train
from r2etl_core.train.trainer import Callback
from scripts.synthetic_sets import write_mnist_npz, write_nmnist_folder

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"




@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    events = write_nmnist_folder(root / "nmnist", per_class=5, num_classes=10)
    images = write_mnist_npz(root / "mnist.npz", n=60)
    return events, images


def tiny_config(tiny_data, out: Path, **run):
    events, images = tiny_data
    return config_from_dict({
        "data": {"events_dir": str(events), "images_path": str(images), "time_steps": 4,
                 "augment_flip": False, "augment_shift": 1, "cache_dir": str(out.parent / "cache")},
        "model": {"width": 0.0625},
        "optim": {"batch_size": 8, "lr": 5e-3, "steps": 24, "scheduler": "none"},
        "run": {"out_dir": str(out), "eval_every": 12, "progress": False, **run},
    })


def losses(out: Path) -> list[float]:
    return [json.loads(line)["loss"] for line in (out / "steps.jsonl").read_text().splitlines()]


def test_tiny_training_learns_and_writes_loadable_checkpoints(tiny_data, tmp_path, capsys):
    out = tmp_path / "run"
    trainer, best = train(tiny_config(tiny_data, out))
    curve = losses(out)
    assert len(curve) == 24 and np.mean(curve[-4:]) < np.mean(curve[:4]) - 0.3
    model, meta = load_model(best)
    assert meta.slicing.mode == "time" and meta.slicing.slice_us == 30_000
    assert (meta.slicing.sensor_width, meta.config.time_steps, meta.config.input_size) == (34, 4, 34)
    assert meta.class_names == tuple(str(i) for i in range(10))
    assert meta.training["mode"] == "r2etl" and meta.training["holdout"][0] == "0/00001.bin"
    assert len(meta.training["holdout"]) == 10 and meta.metrics["val_accuracy"] == trainer.state.best_accuracy
    assert {"curves.png", "confusion.png", "metrics.csv", "last.safetensors"} <= {p.name for p in out.iterdir()}
    # r2etl eval on the held-out ids recorded in the model reproduces the recorded accuracy
    code = cli.main(["eval", "--data", f"nmnist:{tiny_data[0]}", "--model", str(best), "--split", "val", "--json"])
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0 and result["n"] == 10 and result["accuracy"] == pytest.approx(meta.metrics["val_accuracy"])


def test_events_only_mode_never_reads_images(tiny_data, tmp_path):
    cfg = tiny_config(tiny_data, tmp_path / "evt")
    cfg = dataclasses.replace(cfg, loss=dataclasses.replace(cfg.loss, mode="events-only"),
                              data=dataclasses.replace(cfg.data, images_path=str(tmp_path / "absent.npz")),
                              optim=dataclasses.replace(cfg.optim, steps=4))
    trainer, best = train(cfg)
    assert "tet_img" not in json.loads((tmp_path / "evt" / "steps.jsonl").read_text().splitlines()[0])
    assert read_meta(best).training["mode"] == "events-only"


def test_resume_continues_from_last(tiny_data, tmp_path):
    out = tmp_path / "res"
    cfg = tiny_config(tiny_data, out)
    train(dataclasses.replace(cfg, optim=dataclasses.replace(cfg.optim, steps=12)))
    trainer, _ = train(dataclasses.replace(cfg, run=dataclasses.replace(cfg.run, resume=True)))
    assert trainer.state.step == 24 and [h["step"] for h in trainer.state.history] == [12, 24]
    assert len(losses(out)) == 24


class Crash(Callback):
    def on_step_end(self, trainer, parts):
        if trainer.state.step == 3:
            raise RuntimeError("simulated crash")


def test_failed_run_does_not_overwrite_the_last_good_checkpoint(tiny_data, tmp_path, monkeypatch):
    out = tmp_path / "fail"
    cfg = tiny_config(tiny_data, out)
    train(dataclasses.replace(cfg, optim=dataclasses.replace(cfg.optim, steps=12)))
    before = {n: (out / n).read_bytes() for n in ("last.safetensors", "best.safetensors")}
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(cfg, extra_callbacks=[Crash()])

    def disk_full(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("r2etl_core.io.modelfile.save_file", disk_full)
    with pytest.raises(OSError, match="disk full"):
        train(cfg)
    assert {n: (out / n).read_bytes() for n in before} == before
    load_model(out / "last.safetensors")
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_config_errors_name_the_key(tmp_path):
    with pytest.raises(InputError, match="unknown config key 'optim.lrr'"):
        config_from_dict({"optim": {"lrr": 1e-3}})
    with pytest.raises(InputError, match="unknown config section 'optimizer'"):
        config_from_dict({"optimizer": {}})
    with pytest.raises(InputError, match="optim.steps: must be a whole number, got 'many'"):
        config_from_dict({"optim": {"steps": "many"}})
    with pytest.raises(InputError, match="loss.mode: must be one of r2etl, .*got 'fancy'"):
        load_config(None, ["loss.mode=\"fancy\""])
    bad = tmp_path / "bad.toml"
    bad.write_text("[data]\nevents_folder = 'x'\n")
    assert cli.main(["train", "--config", str(bad)]) == 2


def test_packaged_configs_hold_the_recipes():
    assert set(packaged_configs()) >= {"shared-nmnist", "shared-nmnist-ema", "shared-nmnist-wide",
                                      "shared-nmnist-live", "nmnist", "cifar10dvs", "ncaltech101"}
    assert load_config("shared-nmnist-ema").optim.ema_decay == 0.999
    wide, ema = load_config("shared-nmnist-wide"), load_config("shared-nmnist-ema")
    assert (wide.model.width, wide.optim.steps, wide.optim.ema_decay) == (0.25, 2000, 0.999)
    assert (wide.data, wide.loss, wide.optim.lr) == (ema.data, ema.loss, ema.optim.lr)  # only width and length differ
    shared = load_config("shared-nmnist", ["optim.lr=3e-4"])
    d = shared.data
    assert (d.frame_mode, d.slice_us, d.time_origin, d.time_steps, d.input_size) == ("time", 30_000, "zero", 10, 34)
    assert shared.optim.lr == 3e-4 and shared.loss.mode == "r2etl"
    recipes = (("nmnist", 1e-4, 80, 10), ("cifar10dvs", 2e-4, 150, 30), ("ncaltech101", 2e-4, 150, 50))
    for name, lr, epochs, step in recipes:
        c = load_config(name)
        assert (c.optim.batch_size, c.data.time_steps, c.data.input_size, c.model.width) == (32, 10, 48, 1.0)
        assert (c.optim.lr, c.optim.epochs, c.optim.lr_step, c.optim.lr_gamma) == (lr, epochs, step, 0.5)


def _ddp_worker(rank: int, cfg, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE="2", RANK=str(rank))
    torch.set_num_threads(1)
    from safetensors.torch import save_file

    trainer, _ = train(cfg)
    save_file({k: v.contiguous() for k, v in trainer.model.state_dict().items()}, f"{out}/rank{rank}.safetensors")
    save_file({"n": torch.tensor([len(trainer.loader.sampler)])}, f"{out}/sampler{rank}.safetensors")
    torch.distributed.destroy_process_group()


@pytest.mark.slow
def test_distributed_data_parallel_on_two_cpu_processes(tiny_data, tmp_path, free_port):
    from safetensors.torch import load_file

    cfg = tiny_config(tiny_data, tmp_path / "ddp")
    cfg = dataclasses.replace(cfg, optim=dataclasses.replace(cfg.optim, steps=3, batch_size=4),
                              run=dataclasses.replace(cfg.run, eval_every=3))
    torch.multiprocessing.spawn(_ddp_worker, args=(cfg, free_port, str(tmp_path)), nprocs=2, join=True)
    a, b = load_file(tmp_path / "rank0.safetensors"), load_file(tmp_path / "rank1.safetensors")
    params = [k for k in a if "running" not in k and "num_batches" not in k]
    assert all(torch.equal(a[k], b[k]) for k in params)  # gradients were all-reduced
    n0, n1 = (int(load_file(tmp_path / f"sampler{r}.safetensors")["n"]) for r in (0, 1))
    assert n0 == n1 and n0 + n1 <= 60  # each rank reads its half of the pairs
    assert (tmp_path / "ddp" / "best.safetensors").exists()


@pytest.mark.shared
@pytest.mark.skipif(not (SHARED / "nmnist" / "Train").is_dir(), reason="needs ../shared/data beside the checkout")
@pytest.mark.skipif(not DEFAULT_MODEL_PATH.exists(), reason="the shipped model file is not in this checkout")
def test_shipped_model_on_a_few_shared_validation_samples(tmp_path, capsys):
    root = SHARED / "nmnist" / "Train"
    meta = read_meta(DEFAULT_MODEL_PATH)
    assert meta.slicing.mode == "time" and meta.slicing.slice_us == 30_000
    assert (meta.slicing.sensor_width, meta.slicing.sensor_height, meta.config.time_steps) == (34, 34, 10)
    assert meta.class_names == tuple(str(i) for i in range(10))
    assert set(meta.training["holdout"]) == set(shared_nmnist_split(root).val)
    picked = tmp_path / "few"
    for rel in sorted(meta.training["holdout"])[::5]:  # ~40 held-out samples, all classes
        (picked / rel).parent.mkdir(parents=True, exist_ok=True)
        (picked / rel).write_bytes((root / rel).read_bytes())
    assert cli.main(["eval", "--data", f"nmnist:{picked}", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["n"] == len(list(picked.rglob("*.bin"))) and result["accuracy"] >= 0.85


def test_random_offsets_and_folds_train_and_hold_out_the_fold(tiny_data, tmp_path):
    cfg = tiny_config(tiny_data, tmp_path / "run")
    cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, augment_offset=0.5, val_fold=2),
                              optim=dataclasses.replace(cfg.optim, steps=4))
    trainer, best = train(cfg)
    assert trainer.offset_sub == 3
    assert tuple(trainer.val.frames.shape[1:3]) == (4, 2)  # validation keeps the model's slicing
    assert trainer.loader.dataset.frames.shape[1] == 12  # training frames are 3x finer
    holdout = read_meta(best).training["holdout"]
    files = sorted(p.relative_to(tiny_data[0]).as_posix() for p in Path(tiny_data[0]).rglob("*.bin"))
    by_class: dict[str, list[str]] = {}
    for f in files:
        by_class.setdefault(f.split("/")[0], []).append(f)
    assert set(holdout) == {names[2] for names in by_class.values()}  # sorted index % 5 == 2


def test_random_offsets_refuse_count_slicing(tiny_data, tmp_path):
    with pytest.raises(InputError, match="data.augment_offset"):
        config_from_dict({"data": {"augment_offset": 0.5, "frame_mode": "count"},
                          "run": {"out_dir": str(tmp_path / "x")}})
    with pytest.raises(InputError, match="data.val_fold"):
        config_from_dict({"data": {"val_fold": 5}, "run": {"out_dir": str(tmp_path / "x")}})


LIVE_MODEL = DEFAULT_MODEL_PATH.with_name("nmnist-r2etl-live.safetensors")


@pytest.mark.skipif(not LIVE_MODEL.exists(), reason="the live model file is not in this checkout")
def test_live_model_was_trained_by_its_packaged_recipe():
    """The packaged config `shared-nmnist-live` is exactly what made the bundled live model
    (apart from where it wrote, how often it evaluated and the progress bar, which do not change
    training)."""
    meta = read_meta(LIVE_MODEL)
    recorded = config_from_dict(meta.training["config"]).to_dict()  # keys added since: their defaults
    packaged = load_config("shared-nmnist-live").to_dict()
    for d in (recorded, packaged):
        for key in ("out_dir", "eval_every", "progress"):
            d["run"].pop(key)
    assert recorded == packaged
    assert meta.metrics["step"] == meta.training["steps"] == 3000  # the last checkpoint, not a chosen one
    assert packaged["data"]["augment_noise_hz"] > 0 and packaged["data"]["augment_offset"] > 0


def test_weight_average_follows_its_ramped_decay():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    ema = WeightAverage(net, decay=0.9)
    start = {k: v.clone() for k, v in net.state_dict().items()}
    expected = {k: v.clone() for k, v in start.items() if v.dtype.is_floating_point}
    for n in range(3):
        with torch.no_grad():
            for p in net.parameters():
                p.add_(torch.randn_like(p))
        net.train()(torch.randn(8, 3))  # moves the BatchNorm statistics and its counter
        d = min(0.9, (1 + n) / (10 + n))
        for k in expected:
            expected[k] = d * expected[k] + (1 - d) * net.state_dict()[k]
        ema.update(net)
    avg = ema.model.state_dict()
    for k, v in expected.items():
        torch.testing.assert_close(avg[k], v)
        assert not torch.equal(avg[k], net.state_dict()[k])  # an average, not a copy
    assert int(avg["1.num_batches_tracked"]) == 3 and not ema.model.training
    assert all(not p.requires_grad for p in ema.model.parameters())
    with pytest.raises(ValueError):
        WeightAverage(net, decay=1.0)


def test_weight_average_run_ships_the_average_and_resumes_exactly(tiny_data, tmp_path):
    from safetensors.torch import load_file

    def cfg_for(out, steps, resume=False, ema=0.9):
        cfg = tiny_config(tiny_data, out, eval_every=6, resume=resume)
        return dataclasses.replace(cfg, optim=dataclasses.replace(cfg.optim, steps=steps, ema_decay=ema))

    straight, _ = train(cfg_for(tmp_path / "a", 12))
    train(cfg_for(tmp_path / "b", 6))
    resumed, _ = train(cfg_for(tmp_path / "b", 12, resume=True))
    last_a, last_b = (load_file(str(tmp_path / r / "last.safetensors")) for r in "ab")
    assert last_a.keys() == last_b.keys()
    for k in last_a:
        torch.testing.assert_close(last_a[k], last_b[k], rtol=0, atol=0)
    # the model file holds the average; the trained weights live in the training state
    shipped = load_model(tmp_path / "a" / "last.safetensors")[0].state_dict()
    for k, v in straight.model.state_dict().items():
        if v.dtype.is_floating_point and v.numel() > 1:
            assert torch.equal(shipped[k], straight.ema.model.state_dict()[k].cpu())
    assert any(not torch.equal(shipped[k], v) for k, v in straight.model.state_dict().items()
               if v.dtype.is_floating_point)
    assert resumed.ema.updates == straight.ema.updates == 12
    metrics = read_meta(tmp_path / "a" / "last.safetensors").metrics
    assert metrics["weights"] == "ema 0.9" and 0 <= metrics["val_accuracy_raw"] <= 1
    rows = (tmp_path / "a" / "metrics.csv").read_text().splitlines()
    header = rows[0].split(",")
    assert "val_accuracy_raw" in header and all(r.split(",")[header.index("val_accuracy_raw")] for r in rows[1:])
    with pytest.raises(InputError, match="weight average"):
        train(cfg_for(tmp_path / "b", 18, resume=True, ema=0.0))
    with pytest.raises(InputError, match="optim.ema_decay"):
        config_from_dict({"optim": {"ema_decay": 0.2}})
