"""The training step as a CUDA graph (course_lib.training.graphed).

Without a GPU: the step does no host work that capture forbids (run on the meta device with host-to-device
copies and host reads refused), a step count held in a device tensor trains exactly as Python ints do,
and the choice is checked before any work. With a GPU (the tests named cuda): a graphed run matches the
eager run to float32 rounding, draws the same random numbers, and resumes exactly."""
import contextlib

import numpy as np
import pytest
import torch

from course_lib.data.torch_sampler import GridBatchSampler
from course_lib.models import conv_vae
from course_lib.objectives import OBJECTIVES, make_objective
from course_lib.objectives.annealed_vae import capacity
from course_lib.training import CHECKPOINT, TrainConfig, train, train_packed
from course_lib.training.graphed import GraphedStep, fresh_copy, graph_available, set_capturable
from course_lib.training.loop import make_step_function

cuda_only = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def test_capacity_of_a_device_step_is_the_closed_form():
    steps = [0, 1, 250, 999, 1000, 1001, 5000]
    from_tensor = capacity(torch.tensor(steps), 25.0, 1000)
    expected = [min(25.0, 25.0 * t / 1000) for t in steps]
    assert from_tensor.tolist() == pytest.approx(expected, abs=1e-6)
    assert [capacity(t, 25.0, 1000) for t in steps] == expected


class MetaSampler:
    """Batches made on the meta device (shapes only), as the sampler makes them on the GPU."""
    generator = None

    def sample(self, batch_size):
        return torch.rand(batch_size, 1, 64, 64, device="meta")


@contextlib.contextmanager
def no_host_work(monkeypatch):
    """Refuse what a captured CUDA graph cannot hold: copies from host memory to the device and tensors built
    from Python numbers on the device (reading a meta tensor's value, `.item()`, already fails)."""
    original_to, original_as_tensor, original_tensor = torch.Tensor.to, torch.as_tensor, torch.tensor

    def to(self, *args, **kwargs):
        moved = original_to(self, *args, **kwargs)
        if self.device.type == "cpu" and moved.device.type != "cpu":
            raise AssertionError(f"a host-to-device copy inside the step: {tuple(self.shape)} to {moved.device}")
        return moved

    def building(original):
        def build(data, *args, **kwargs):
            made = original(data, *args, **kwargs)
            if not isinstance(data, torch.Tensor) and made.device.type != "cpu":
                raise AssertionError(f"a tensor built from host data inside the step: {data!r}")
            return made
        return build

    monkeypatch.setattr(torch.Tensor, "to", to)
    monkeypatch.setattr(torch, "as_tensor", building(original_as_tensor))
    monkeypatch.setattr(torch, "tensor", building(original_tensor))
    yield


@pytest.mark.parametrize("method", list(OBJECTIVES))
def test_every_capturable_objective_steps_without_host_work(method, monkeypatch):
    torch.manual_seed(0)
    model, objective = conv_vae(10, 1).to("meta"), make_objective(method, 10).to("meta")
    objective.attach(model, MetaSampler())
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)  # capturable Adam is torch's part: not on meta
    step_function = make_step_function(model, objective, optimizer, MetaSampler(), 8)
    step = torch.zeros((), dtype=torch.int64, device="meta")
    with no_host_work(monkeypatch):
        names, values = step_function(step)
    assert objective.capturable and "total" in names and values.device.type == "meta"


def test_an_eager_annealed_step_builds_its_capacity_on_the_device(monkeypatch):
    """C(t) of a Python step (an eager step) is a fill on the device, not a copy that syncs the GPU every step."""
    model, objective = conv_vae(10, 1).to("meta"), make_objective("annealed_vae", 10).to("meta")
    step_function = make_step_function(model, objective, torch.optim.Adam(model.parameters()), MetaSampler(), 8)
    with no_host_work(monkeypatch):
        names, values = step_function(7)
    assert "capacity" in names


def test_the_host_work_check_catches_a_host_copy(monkeypatch):
    """The check above can fail: the FactorVAE labels as they were built before (on the host, then copied)."""
    z = torch.zeros(4, 3, device="meta")
    with no_host_work(monkeypatch), pytest.raises(AssertionError, match="host-to-device"):
        torch.cat([torch.zeros(len(z)), torch.ones(len(z))]).long().to(z.device)
    with no_host_work(monkeypatch), pytest.raises(AssertionError, match="host data"):
        torch.as_tensor(2.5, device="meta")


def test_topdis_says_it_cannot_be_captured_and_no_graph_without_cuda():
    topdis = make_objective("topdis", 10, delay=0)
    assert not topdis.capturable and all(make_objective(m, 10).capturable for m in OBJECTIVES)
    assert not graph_available("cpu", make_objective("beta_vae", 10))
    assert not graph_available("cuda", topdis)


@pytest.mark.parametrize("method", ["annealed_vae", "factor_vae"])
def test_a_device_step_counter_trains_exactly_as_python_steps(method, dsprites):
    """What a replay does to the step, on the CPU: a tensor incremented in place before each step. The
    runs must agree bit for bit (AnnealedVAE's C(t) reads the step; FactorVAE has a second optimiser)."""
    config = TrainConfig(method=method, hyperparameters={"annealing_steps": 4} if method == "annealed_vae" else {},
                         architecture="mlp", num_latent=3, batch_size=8)
    runs = []
    for counter in (None, torch.zeros((), dtype=torch.int64)):
        torch.manual_seed(0)
        model, objective = config.build("cpu")
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        sampler = GridBatchSampler(dsprites, "cpu", seed=0)
        objective.attach(model, sampler)
        step_function = make_step_function(model, objective, optimizer, sampler, config.batch_size)
        logged = []
        for step in range(1, 7):
            if counter is not None:
                counter += 1
            logged.append(step_function(step if counter is None else counter)[1])
        runs.append((torch.stack(logged), [p.detach().clone() for p in model.parameters()]))
    (log_int, params_int), (log_tensor, params_tensor) = runs
    assert torch.equal(log_int, log_tensor)
    assert all(torch.equal(a, b) for a, b in zip(params_int, params_tensor))


def test_set_capturable_flips_the_flag_and_moves_step_counts():
    parameter = torch.nn.Parameter(torch.ones(3))
    optimizer = torch.optim.Adam([parameter], lr=0.1)
    parameter.grad = torch.ones(3)
    optimizer.step()
    set_capturable([optimizer], True)
    step = optimizer.state[parameter]["step"]
    assert optimizer.param_groups[0]["capturable"] and step.dtype == torch.float32 and step.item() == 1.0
    set_capturable([optimizer], False)
    optimizer.step()  # a non-capturable Adam on the CPU steps again
    assert not optimizer.param_groups[0]["capturable"] and optimizer.state[parameter]["step"].item() == 2.0
    # Adam's closed form after two steps of gradient 1: each step moves by lr exactly (m_hat / sqrt(v_hat) = 1)
    assert parameter.detach().tolist() == pytest.approx([0.8] * 3, abs=1e-6)


def test_fresh_copy_clones_every_tensor_and_keeps_the_structure():
    names, values = ["a", "b"], torch.arange(3.0)
    result = fresh_copy([(names, values)])
    assert result[0][0] == names and torch.equal(result[0][1], values)
    values += 1
    assert result[0][1].tolist() == [0.0, 1.0, 2.0]


@pytest.mark.parametrize("choice, device, message", [("sometimes", "cpu", "cuda_graph='sometimes' is not allowed"),
                                                     ("on", "cpu", "cuda_graph='on' is not allowed here")])
def test_the_cuda_graph_choice_is_checked_before_anything_is_written(choice, device, message, dsprites, tmp_path):
    config = TrainConfig(steps=2, batch_size=8, architecture="mlp", num_latent=2)
    with pytest.raises(ValueError, match=message):
        train(config, tmp_path / "run", device=device, dataset=dsprites, progress=False, cuda_graph=choice)
    with pytest.raises(ValueError, match=message):
        train_packed([config], [tmp_path / "pack"], device=device, dataset=dsprites, progress=False,
                     cuda_graph=choice)
    assert not any((tmp_path / name / file).exists() for name in ("run", "pack") for file in (CHECKPOINT, ".lock"))


# ------------------------------------------------------------------------------------------ on a GPU
GRAPHABLE = [("beta_vae", {}), ("annealed_vae", {"annealing_steps": 10}), ("factor_vae", {}), ("beta_tcvae", {}),
             ("beta_tcvae", {"estimator": "mss", "dataset_size": 737_280}), ("dip_vae_ii", {})]


@cuda_only
@pytest.mark.parametrize("method, hyperparameters", GRAPHABLE)
def test_cuda_graphed_run_matches_the_eager_run(method, hyperparameters, dsprites, tmp_path):
    config = TrainConfig(method=method, hyperparameters=hyperparameters, steps=20, batch_size=16, checkpoint_every=5)
    runs = {choice: train(config, tmp_path / choice, device="cuda", dataset=dsprites, progress=False,
                          cuda_graph=choice) for choice in ("off", "on")}
    eager, graphed = runs["off"], runs["on"]
    for a, b in zip(eager.model.state_dict().values(), graphed.model.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)  # float32 rounding of Adam's bias corrections
    np.testing.assert_allclose(eager.log.to_numpy(), graphed.log.to_numpy(), rtol=1e-3, atol=1e-4)
    states = [torch.load(run.directory / CHECKPOINT, weights_only=True)["rng"]["sampler"] for run in (eager, graphed)]
    assert torch.equal(states[0]["generator"], states[1]["generator"])  # each replay advanced it as eager steps do
    if method == "annealed_vae":
        steps = graphed.log["step"].to_numpy()
        np.testing.assert_allclose(graphed.log["capacity"], np.minimum(25.0, 25.0 * steps / 10), rtol=1e-6)


class Killed(Exception):
    pass


@cuda_only
def test_cuda_graphed_killed_run_resumes_exactly(dsprites, tmp_path, monkeypatch):
    config = TrainConfig(method="factor_vae", steps=20, batch_size=16, checkpoint_every=5)
    alone = train(config, tmp_path / "alone", device="cuda", dataset=dsprites, progress=False, cuda_graph="on")
    original, calls = GraphedStep.__call__, {"n": 0}

    def dies_at_step_13(self, step):
        calls["n"] += 1
        if calls["n"] == 13:
            raise Killed
        return original(self, step)

    monkeypatch.setattr(GraphedStep, "__call__", dies_at_step_13)
    with pytest.raises(Killed):
        train(config, tmp_path / "killed", device="cuda", dataset=dsprites, progress=False, cuda_graph="on")
    monkeypatch.setattr(GraphedStep, "__call__", original)
    resumed = train(config, tmp_path / "killed", device="cuda", dataset=dsprites, resume=True, progress=False,
                    cuda_graph="on")
    for a, b in zip(alone.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.equal(a, b)


@cuda_only
def test_cuda_graphed_pack_matches_the_eager_pack(dsprites, tmp_path):
    configs = [TrainConfig(method=m, steps=12, batch_size=16, checkpoint_every=4, seed=s)
               for m, s in (("beta_vae", 0), ("factor_vae", 1), ("annealed_vae", 2))]
    packs = {choice: train_packed(configs, [tmp_path / choice / str(k) for k in range(3)], device="cuda",
                                  dataset=dsprites, progress=False, cuda_graph=choice) for choice in ("off", "on")}
    for eager, graphed in zip(packs["off"], packs["on"]):
        for a, b in zip(eager.model.state_dict().values(), graphed.model.state_dict().values()):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_a_run_on_another_gpu_than_the_current_one_is_captured_on_its_own_gpu(monkeypatch):
    """torch.cuda.graph() captures on the current device's stream: a run on cuda:1 must make cuda:1 current, or the
    capture records nothing and every replay does nothing (faked here: no GPU needed)."""
    current, seen = ["cuda:0"], []

    @contextlib.contextmanager
    def on_device(device):
        current.append(str(device))
        yield
        current.pop()

    @contextlib.contextmanager
    def capturing(graph):
        seen.append(("capture", current[-1]))
        yield

    class FakeStream:
        def wait_stream(self, other):
            pass

    class FakeGraph:
        def register_generator_state(self, generator):
            pass

        def replay(self):
            seen.append(("replay", current[-1]))

    original_full = torch.full
    monkeypatch.setattr(torch.cuda, "device", on_device)
    monkeypatch.setattr(torch.cuda, "graph", capturing)
    monkeypatch.setattr(torch.cuda, "CUDAGraph", FakeGraph)
    monkeypatch.setattr(torch.cuda, "Stream", lambda device: FakeStream())
    monkeypatch.setattr(torch.cuda, "current_stream", lambda device: FakeStream())
    monkeypatch.setattr(torch.cuda, "stream", lambda stream: contextlib.nullcontext())
    monkeypatch.setattr(torch, "full", lambda size, value, **kwargs: original_full(size, value, dtype=kwargs["dtype"]))
    step = GraphedStep(lambda t: seen.append(("step", current[-1])) or torch.zeros(1), [], [], "cuda:1")
    for t in range(1, 6):
        step(t)
    warm_up, captured = [("step", "cuda:1")] * 3, [("capture", "cuda:1"), ("step", "cuda:1")]
    assert seen == warm_up + captured + [("replay", "cuda:1")] * 2
