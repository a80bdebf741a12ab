"""Nothing a user has is lost by training: --overwrite clears only a run's files, a killed run resumes with
a consistent log, one run folder has one writer, and a damaged checkpoint or zoo file is refused by name."""
import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from course_lib.io import directory_lock
from course_lib.kit import cli
from course_lib.kit.runs import train_or_load
from course_lib.kit.zoo import MANIFEST, add_run
from course_lib.training import CHECKPOINT, CONFIG, LOG, TrainConfig, load_checkpoint, load_run, train

TINY = dict(architecture="mlp", num_latent=3, batch_size=8)
CHECKOUT = Path(__file__).resolve().parents[1]


def tiny(**changes):
    return TrainConfig("beta_vae", **{**TINY, "steps": 6, "checkpoint_every": 3, **changes})


def cli_train(out, *flags):
    return cli.main(["train", "--method", "beta_vae", "--steps", "1", "--architecture", "mlp", "--num-latent", "2",
                     "--batch-size", "4", "--device", "cpu", "--out", out, *flags])


def test_overwrite_of_the_current_folder_named_empty_refuses_and_deletes_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "thesis.tex").write_text("years of work")
    for out in ("", ".", str(tmp_path)):
        assert cli_train(out, "--overwrite") == 2
    errors = capsys.readouterr().err
    assert "--out='' is not allowed" in errors and errors.count("never clears the root, home, current") == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["thesis.tex"]  # not even a lock file was made


@pytest.mark.parametrize("folder", ["home", "checkout", "root"])
def test_overwrite_refuses_the_home_checkout_and_root_folders(folder, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    target = {"home": tmp_path, "checkout": CHECKOUT, "root": Path("/")}[folder]
    with pytest.raises(ValueError, match="never clears the root, home, current or checkout folder"):
        train(tiny(), target, device="cpu", overwrite=True, progress=False)
    assert not (target / CONFIG).exists() and not (target / ".lock").exists()


def test_overwrite_clears_a_run_folder_and_refuses_one_holding_anything_else(dsprites, tmp_path):
    first = train(tiny(), tmp_path / "run", device="cpu", dataset=dsprites, progress=False)
    (first.directory / "metrics.csv").write_text("metric,score\n")  # evaluate's file: part of the run
    (first.directory / ".checkpoint.pt.abc.tmp").write_bytes(b"")  # an interrupted write: part of the run
    second = train(tiny(seed=1), first.directory, device="cpu", dataset=dsprites, overwrite=True, progress=False)
    assert sorted(p.name for p in second.directory.iterdir()) == [".lock", CHECKPOINT, CONFIG, LOG, "summary.json"]

    (second.directory / "notes.md").write_text("mine")
    with pytest.raises(ValueError, match=r"holds files that a run does not write \(notes.md\)"):
        train(tiny(seed=2), second.directory, device="cpu", dataset=dsprites, overwrite=True, progress=False)
    assert (second.directory / "notes.md").read_text() == "mine"
    assert load_run(second.directory, device="cpu").config.seed == 1  # the run itself is untouched too


KILLER = """
import os, signal, sys
import course_lib.training.loop as training
when = sys.argv[1]
if when == "before_checkpoint":  # after the first log write, before the first checkpoint
    training.save_checkpoint = lambda *args, **kwargs: os.kill(os.getpid(), signal.SIGKILL)
else:  # in the middle of writing the second checkpoint: its temporary file exists
    original = training.torch.save
    calls = []
    def save(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGKILL)
        return original(*args, **kwargs)
    training.torch.save = save
from course_lib.kit import cli
sys.exit(cli.main(sys.argv[2:]))
"""


@pytest.mark.parametrize("when", ["before_checkpoint", "inside_checkpoint"])
def test_a_run_killed_with_sigkill_resumes_with_each_step_logged_once(when, dsprites, tmp_path):
    flags = ["train", "--method", "beta_vae", "--steps", "30", "--checkpoint-every", "10", "--architecture", "mlp",
             "--num-latent", "3", "--batch-size", "8", "--device", "cpu"]
    killed = subprocess.run([sys.executable, "-c", KILLER, when, *flags, "--out", str(tmp_path / "killed")],
                            capture_output=True, text=True, cwd=CHECKOUT, timeout=300)
    assert killed.returncode == -9, killed.stderr
    logged = (tmp_path / "killed" / LOG).read_text().splitlines()
    assert len(logged) == 1 + (10 if when == "before_checkpoint" else 20)
    if when == "inside_checkpoint":
        assert list((tmp_path / "killed").glob(".checkpoint.pt.*.tmp"))  # what the kill left behind

    assert cli.main([*flags, "--out", str(tmp_path / "killed"), "--resume"]) == 0
    assert cli.main([*flags, "--out", str(tmp_path / "alone")]) == 0
    rows = (tmp_path / "killed" / LOG).read_text().splitlines()
    assert [int(row.split(",")[0]) for row in rows[1:]] == list(range(1, 31))
    assert rows == (tmp_path / "alone" / LOG).read_text().splitlines()
    assert not list((tmp_path / "killed").glob(".*.tmp"))
    killed_run, alone = load_run(tmp_path / "killed", "cpu"), load_run(tmp_path / "alone", "cpu")
    for a, b in zip(killed_run.model.state_dict().values(), alone.model.state_dict().values()):
        assert torch.equal(a, b)


def test_a_log_row_cut_by_a_kill_is_dropped_on_resume(dsprites, tmp_path):
    config = tiny(steps=9)
    train(tiny(steps=3), tmp_path / "short", device="cpu", dataset=dsprites, progress=False)
    run_dir = tmp_path / "short"
    saved = json.loads((run_dir / CONFIG).read_text())
    (run_dir / CONFIG).write_text(json.dumps({**saved, "config": {**saved["config"], "steps": 9}}))
    with open(run_dir / LOG, "a") as handle:
        handle.write("4,1.5,2.5\r\n5,0.")  # rows after the checkpoint, the last one cut
    train(config, run_dir, device="cpu", dataset=dsprites, resume=True, progress=False)
    steps = [int(row.split(",")[0]) for row in (run_dir / LOG).read_text().splitlines()[1:]]
    assert steps == list(range(1, 10))


def test_a_second_writer_of_a_run_folder_is_refused(dsprites, tmp_path, capsys):
    run_dir = tmp_path / tiny().slug()
    with directory_lock(run_dir, "run folder"):
        with pytest.raises(ValueError, match="in use: another process is writing this run folder"):
            train(tiny(), run_dir, device="cpu", dataset=dsprites, progress=False)
        assert cli_train(str(run_dir), "--resume") == 2
        with pytest.raises(ValueError, match="in use"):  # not mistaken for a broken run and overwritten
            train_or_load(tiny(), tmp_path, device="cpu", dataset=dsprites, progress=False)
    assert "in use" in capsys.readouterr().err
    assert [p.name for p in run_dir.iterdir()] == [".lock"]
    train(tiny(), run_dir, device="cpu", dataset=dsprites, progress=False)  # free again afterwards


def flip_bytes_inside_a_tensor(path: Path, tensor: torch.Tensor) -> None:
    data = bytearray(path.read_bytes())
    start = bytes(data).find(tensor.numpy().tobytes()[:64])
    assert start > 0
    data[start + 8:start + 24] = bytes(b ^ 0xFF for b in data[start + 8:start + 24])
    path.write_bytes(bytes(data))


def test_a_checkpoint_with_flipped_bytes_in_a_weight_is_refused_by_name(dsprites, tmp_path):
    run = train(tiny(), tmp_path, device="cpu", dataset=dsprites, progress=False)
    weight = next(iter(run.model.state_dict().values()))
    flip_bytes_inside_a_tensor(tmp_path / CHECKPOINT, weight)
    with pytest.raises(ValueError, match=rf"{CHECKPOINT}.*fails its CRC-32 check"):
        load_checkpoint(tmp_path / CHECKPOINT, tiny())
    with pytest.raises(ValueError, match="CRC-32"):
        load_run(tmp_path, device="cpu")


def test_checkpoints_load_to_the_cpu_whatever_the_device(dsprites, tmp_path, monkeypatch):
    """The generators' states must reach torch.set_rng_state as CPU byte tensors (CUDA runs broke here)."""
    train(tiny(), tmp_path, device="cpu", dataset=dsprites, progress=False)
    state = load_checkpoint(tmp_path / CHECKPOINT, tiny())
    for name, value in [("torch_cpu", state["rng"]["torch_cpu"]), ("sampler", state["rng"]["sampler"]["generator"])]:
        assert value.device.type == "cpu" and value.dtype == torch.uint8, name
    seen = []
    original_load = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **k: seen.append(k.get("map_location")) or original_load(*a, **k))
    monkeypatch.setattr("course_lib.training.loop.get_device", lambda device: torch.device("meta"))
    loaded = load_run(tmp_path, device="cuda")  # the meta device stands in for a GPU: available everywhere
    assert seen == ["cpu"] and next(loaded.model.parameters()).device.type == "meta"


@pytest.fixture
def zoo_with_one_run(dsprites, tmp_path, monkeypatch):
    config = tiny(steps=3)
    trained = train(config, tmp_path / "trained", device="cpu", dataset=dsprites, progress=False)
    entry = add_run(trained.directory, root=tmp_path / "zoo")
    monkeypatch.setenv("COURSE_PRETRAINED_DIR", str(tmp_path / "zoo"))
    return config, tmp_path / "zoo" / entry["slug"]


@pytest.mark.parametrize("name", ["model.pt", "rng.pt", "config.json", "log.csv.gz"])
def test_a_damaged_zoo_file_is_refused_by_name_and_leaves_nothing_behind(name, zoo_with_one_run, dsprites, tmp_path):
    config, folder = zoo_with_one_run
    path = folder / name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01  # one flipped bit
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=rf"{path}.*damaged.*COURSE_PRETRAINED=0"):
        train_or_load(config, tmp_path / "runs", device="cpu", dataset=dsprites, progress=False)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("*.*"))


def test_a_damaged_manifest_is_reported_and_models_are_trained_instead(zoo_with_one_run, dsprites, tmp_path, capsys):
    config, folder = zoo_with_one_run
    manifest = folder.parent / MANIFEST
    manifest.write_text(manifest.read_text().replace('"steps": 3', '"steps": 4'))  # valid JSON, wrong content
    run = train_or_load(config, tmp_path / "runs", device="cpu", dataset=dsprites, progress=False)
    out = capsys.readouterr().out
    assert f"the pretrained zoo is not used: {manifest} is damaged" in out and "loaded from" not in out
    assert run.step == 3 and len(run.log) == 3  # trained here
    other = train_or_load(tiny(seed=5, steps=3), tmp_path / "runs", device="cpu", dataset=dsprites, progress=False)
    assert other.step == 3


def test_the_shipped_zoo_files_match_their_recorded_sums():
    from course_lib.kit.zoo import check_entry, read_manifest

    shipped = read_manifest()
    assert shipped
    for entry in shipped.values():
        folder = check_entry(entry)
        assert json.loads((folder / "config.json").read_text())["config"]["steps"] == entry["steps"]
        assert gzip.decompress((folder / "log.csv.gz").read_bytes()).startswith(b"step,")
    assert os.path.getsize(Path(folder).parent / "manifest.json.sha256") == 64 + 2 + len(MANIFEST) + 1
