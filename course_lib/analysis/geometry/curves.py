"""Curves in latent space measured in image space: length, energy and geodesics.

    L = sum_i ||f(z_{i+1}) - f(z_i)||,     E = (n - 1)/2 sum_i ||f(z_{i+1}) - f(z_i)||^2

`geodesic` minimises E over the interior points with fixed ends, from the straight line, by L-BFGS or Adam
(Shao, Kumar & Fletcher 2018, Algorithm 1, minimise the same discrete energy by gradient steps). A
minimiser of E is a constant-speed geodesic, and L^2 <= 2E with equality exactly at constant speed.
"""
from __future__ import annotations

import dataclasses
import time

import numpy as np
import torch
from tqdm.auto import tqdm

from course_lib.checks import check_choice, check_int, check_number
from course_lib.analysis.geometry.decoders import as_codes, check_decoder, decode_flat, flat_outputs

METHODS = ("lbfgs", "adam")


def straight_line(z0, z1, n_points: int) -> np.ndarray:
    """(n_points, d) evenly spaced points from z0 to z1 (or (B, n_points, d) for batches (B, d))."""
    n_points = check_int("n_points", n_points, 2)
    z0, z1 = np.asarray(z0, np.float64), np.asarray(z1, np.float64)
    if z0.shape != z1.shape or z0.ndim not in (1, 2):
        raise ValueError(f"z0 {z0.shape} and z1 {z1.shape} must both be (d,) or both (B, d)")
    t = np.linspace(0.0, 1.0, n_points)[:, None]
    line = z0[..., None, :] * (1 - t) + z1[..., None, :] * t
    line[..., 0, :], line[..., -1, :] = z0, z1  # exact ends
    return line


def _path_images(decoder, path: torch.Tensor, chunk_size: int) -> torch.Tensor:
    batch, n, d = path.shape
    return decode_flat(decoder, path.reshape(-1, d), chunk_size).reshape(batch, n, -1)


def _as_path(decoder, path) -> tuple[torch.Tensor, bool]:
    tensor = as_codes(decoder, path, "path", ndim=(2, 3))
    single = tensor.ndim == 2
    if tensor.shape[-2] < 2:
        raise ValueError(f"path has shape {tuple(tensor.shape)}; a curve needs at least 2 points")
    return (tensor[None] if single else tensor), single


def step_lengths(decoder, path, chunk_size: int = 1024) -> np.ndarray:
    """The image distances ||f(z_{i+1}) - f(z_i)|| of each step of a path (n, d) -> (n - 1,), or of
    paths (B, n, d) -> (B, n - 1): flat for a constant-speed curve such as a converged geodesic."""
    tensor, single = _as_path(check_decoder(decoder), path)
    steps = _path_images(decoder, tensor, chunk_size).diff(dim=1).to(torch.float64).norm(dim=-1).cpu().numpy()
    return steps[0] if single else steps


def curve_length(decoder, path, chunk_size: int = 1024) -> np.ndarray | float:
    """Length of the decoded polygon sum_i ||f(z_{i+1}) - f(z_i)|| of a path (n, d), or (B,) lengths of
    paths (B, n, d)."""
    length = step_lengths(decoder, path, chunk_size).sum(-1)
    return float(length) if length.ndim == 0 else length


def curve_energy(decoder, path, chunk_size: int = 1024) -> np.ndarray | float:
    """Discrete energy (n - 1)/2 sum_i ||f(z_{i+1}) - f(z_i)||^2 of a path with n points (time step
    1 / (n - 1)); (B,) energies for paths (B, n, d). L^2 <= 2 E, with equality at constant speed."""
    tensor, single = _as_path(check_decoder(decoder), path)
    n = tensor.shape[1]
    squared = _path_images(decoder, tensor, chunk_size).diff(dim=1).to(torch.float64).pow(2).sum(-1)
    energy = (0.5 * (n - 1) * squared.sum(1)).cpu().numpy()
    return float(energy[0]) if single else energy


@dataclasses.dataclass
class GeodesicResult:
    """Geodesics between B pairs of codes (or one pair, then without the batch axis).

    path (B, n, d); length, energy, linear_length, linear_energy (B,); energy_history: the total energy
    after every accepted step, starting with the straight line's; gradient_history: the largest
    scale-free gradient ||grad E_b|| ||z1_b - z0_b|| / E_b after every step; converged: it fell below
    gtol; ratio = linear_length / length (>= 1; 1 when the straight line is already a geodesic)."""

    path: np.ndarray
    length: np.ndarray
    energy: np.ndarray
    linear_length: np.ndarray
    linear_energy: np.ndarray
    energy_history: list
    gradient_history: list
    converged: bool
    steps: int
    evaluations: int
    seconds: float
    method: str
    message: str

    @property
    def ratio(self):
        return self.linear_length / self.length


class _PathEnergy:
    """Energy and gradient of B discrete curves with fixed ends, for the optimisers of `geodesic`."""

    def __init__(self, decoder, z0: torch.Tensor, z1: torch.Tensor, n_points: int, pair_chunk: int):
        self.flat, self.n, self.pair_chunk = flat_outputs(decoder), n_points, pair_chunk
        self.z0, self.z1 = z0, z1
        ends = decode_flat(decoder, torch.cat([z0, z1]))
        self.start, self.end = ends[:len(z0), None], ends[len(z0):, None]  # (B, 1, D)
        self.scale = (z1 - z0).to(torch.float64).norm(dim=1)  # (B,)
        self.evaluations = 0

    def __call__(self, interior: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-curve energies (B,) float64 and the gradient (B, n - 2, d) in the codes' dtype."""
        batch, m, d = interior.shape
        energies, gradients = [], []
        with torch.enable_grad():
            for s in range(0, batch, self.pair_chunk):
                x = interior[s:s + self.pair_chunk].detach().requires_grad_(True)
                images = self.flat(x.reshape(-1, d)).reshape(len(x), m, -1)
                full = torch.cat([self.start[s:s + len(x)], images, self.end[s:s + len(x)]], dim=1)
                energy = 0.5 * (self.n - 1) * full.diff(dim=1).pow(2).sum((1, 2))
                (gradient,) = torch.autograd.grad(energy.sum(), x)
                energies.append(energy.detach().to(torch.float64))
                gradients.append(gradient)
        self.evaluations += 1
        return torch.cat(energies), torch.cat(gradients)

    def relative_gradient(self, energies: torch.Tensor, gradient: torch.Tensor) -> float:
        """max over curves of ||grad E_b|| ||z1_b - z0_b|| / E_b (0 for a curve of zero energy)."""
        norms = gradient.to(torch.float64).flatten(1).norm(dim=1) * self.scale
        ratio = torch.where(energies > 0, norms / energies.clamp_min(torch.finfo(torch.float64).tiny),
                            torch.zeros_like(norms))
        return float(ratio.max()) if len(ratio) else 0.0


def geodesic(decoder, z0, z1, n_points: int = 16, method: str = "lbfgs", max_steps: int = 500,
             gtol: float = 0.05, lr: float | None = None, init=None, pair_chunk: int = 64,
             progress: bool = False) -> GeodesicResult:
    """Discrete geodesics from z0 to z1 (each (d,) or (B, d)) by minimising the curve energy.

    The n_points - 2 interior points move, the ends stay; the start is the straight line (or `init`,
    paths (n, d) / (B, n, d) whose ends are replaced by z0 and z1). B curves are optimised together
    (their energies add and do not interact). Stopping rule: the scale-free gradient
    ||grad E_b|| ||z1_b - z0_b|| / E_b of every curve <= `gtol` (converged), or `max_steps`.

    method "lbfgs": SciPy's L-BFGS-B on the interior written in sine modes (`_sine_basis`: a
    preconditioner that makes the flat-space problem well conditioned); its line search only accepts steps
    that decrease the energy (sufficient decrease), so the energy never increases. method "adam":
    torch Adam with step size `lr` (default: 1/20 of the longest latent segment length
    ||z1 - z0|| / (n - 1)); a step that would raise the energy is rejected and `lr` halved, so the
    energy never increases either. Energies are float64; the decoder runs in its own dtype.

    Choosing gtol: on smooth float64 decoders any small value is reached (the tests use 1e-5 to
    1e-7). The kit's decoders are ReLU nets in float32, whose energy has kinks; measured on lecture
    models with 16 points, gtol = 0.1 is reached after about 150 L-BFGS steps with the energy within
    about 0.5 % of where it ends, 0.05 (the default) after about 250 steps within about 0.2 %, and
    below about 0.01 float32 rounding stops the line search first (`converged` False, `message` says
    why; the path is still the best one found)."""
    decoder = check_decoder(decoder)
    n_points = check_int("n_points", n_points, 3)
    max_steps = check_int("max_steps", max_steps, 0)
    gtol = check_number("gtol", gtol, 0, low_open=True)
    pair_chunk = check_int("pair_chunk", pair_chunk, 1)
    check_choice("method", method, METHODS)
    a, b = as_codes(decoder, z0, "z0", (1, 2)), as_codes(decoder, z1, "z1", (1, 2))
    if a.shape != b.shape:
        raise ValueError(f"z0 {tuple(a.shape)} and z1 {tuple(b.shape)} must have the same shape, (d,) or (B, d)")
    single = a.ndim == 1
    a, b = (a[None], b[None]) if single else (a, b)
    line = torch.as_tensor(straight_line(a.cpu().double().numpy(), b.cpu().double().numpy(), n_points))
    line = line.to(device=a.device, dtype=a.dtype)
    if init is None:
        start = line
    else:
        start = as_codes(decoder, init, "init", (2, 3))
        given = tuple(start.shape)
        start = start[None] if start.ndim == 2 else start
        if start.shape != line.shape:
            raise ValueError(f"init has shape {given}; expected {tuple(line.shape[1:] if single else line.shape)}"
                             " (n_points codes per pair)")
        start = start.clone()
        start[:, 0], start[:, -1] = a, b
    if lr is not None:
        lr = check_number("lr", lr, 0, low_open=True)

    clock = time.perf_counter()
    problem = _PathEnergy(decoder, a, b, n_points, pair_chunk)
    interior = start[:, 1:-1].clone()
    energies, gradient = problem(interior)
    history, gradients = [float(energies.sum())], [problem.relative_gradient(energies, gradient)]
    bar = tqdm(total=max_steps, desc=f"geodesic ({method})", disable=not progress)
    if gradients[0] <= gtol or max_steps == 0:
        steps, message = 0, "the start already satisfies the gradient rule" if gradients[0] <= gtol else "max_steps = 0"
    elif method == "lbfgs":
        interior, steps, message = _run_lbfgs(problem, interior, max_steps, gtol, history, gradients, bar)
    else:
        if lr is None:
            lr = float((b - a).to(torch.float64).norm(dim=1).max()) / (n_points - 1) / 20 or 1e-3
        interior, steps, message = _run_adam(problem, interior, energies, gradient, max_steps, gtol, lr,
                                             history, gradients, bar)
    bar.close()
    path = torch.cat([a[:, None], interior.detach(), b[:, None]], dim=1)
    length, energy = curve_length(decoder, path), curve_energy(decoder, path)
    linear_length, linear_energy = curve_length(decoder, line), curve_energy(decoder, line)
    path = path.cpu().double().numpy()
    if single:
        path, length, energy = path[0], length[0], energy[0]
        linear_length, linear_energy = linear_length[0], linear_energy[0]
    return GeodesicResult(path, length, energy, linear_length, linear_energy, history, gradients,
                          gradients[-1] <= gtol, steps, problem.evaluations, time.perf_counter() - clock, method,
                          message)


def _run_lbfgs(problem: _PathEnergy, interior: torch.Tensor, max_steps, gtol, history, gradients, bar):
    """SciPy's L-BFGS-B, with NumPy's BLAS on one thread: its steps alternate with torch's, and the two
    thread pools spin-waiting against each other made a lecture geodesic 3-5x slower on an idle 2-core
    CPU (and about 10x on a shared one) for vectors of a few hundred numbers that gain nothing from threads."""
    from scipy.optimize import minimize
    from threadpoolctl import threadpool_limits

    shape, device, dtype = interior.shape, interior.device, interior.dtype
    basis = _sine_basis(shape[1])  # x = start + W c: the curve's deviation in sine modes, mode k scaled 1/k
    start = interior.to(torch.float64).cpu().numpy()
    cache = {}

    def to_path(c):
        return start + np.einsum("ik,bkd->bid", basis, c.reshape(shape))

    def fun(c):
        energies, gradient = problem(torch.as_tensor(to_path(c), device=device, dtype=dtype))
        cache.clear()
        cache[c.tobytes()] = (energies, gradient)
        gradient_c = np.einsum("ik,bid->bkd", basis, gradient.to(torch.float64).cpu().numpy())
        return float(energies.sum()), gradient_c.ravel()

    def callback(intermediate_result):
        x = intermediate_result.x
        if x.tobytes() not in cache:
            fun(x)
        energies, gradient = cache[x.tobytes()]
        history.append(float(energies.sum()))
        gradients.append(problem.relative_gradient(energies, gradient))
        bar.update()
        if gradients[-1] <= gtol:
            raise StopIteration

    with threadpool_limits(limits=1, user_api="blas"):
        result = minimize(fun, np.zeros(start.size), jac=True, method="L-BFGS-B", callback=callback,
                          options={"maxiter": max_steps, "maxcor": 20, "ftol": 0.0, "gtol": 0.0, "maxls": 40})
    return torch.as_tensor(to_path(result.x), device=device, dtype=dtype), int(result.nit), str(result.message)


def _sine_basis(m: int) -> np.ndarray:
    """(m, m) W = S diag(1 / k): S the orthonormal DST-I basis of the m interior points (sin(pi i k / (m + 1))).

    For a flat metric the energy's Hessian in the interior points is a multiple of the second-difference
    matrix, whose eigenvectors are these sine modes with eigenvalues growing like k^2; in the variables
    c of x = start + W c it is close to a multiple of the identity, which L-BFGS needs far fewer steps for."""
    i = np.arange(1, m + 1)
    return np.sin(np.pi * np.outer(i, i) / (m + 1)) * np.sqrt(2 / (m + 1)) / i[None, :]


def _run_adam(problem: _PathEnergy, interior, energies, gradient, max_steps, gtol, lr, history, gradients, bar):
    x = interior.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([x], lr=lr)
    message, steps, rejected = "max_steps reached", 0, 0
    for steps in range(1, max_steps + 1):
        previous = x.detach().clone()
        x.grad = gradient.clone()
        optimizer.step()
        new_energies, new_gradient = problem(x.detach())
        if float(new_energies.sum()) > history[-1]:  # reject: go back, smaller steps
            rejected += 1
            with torch.no_grad():
                x.copy_(previous)
            for group in optimizer.param_groups:
                group["lr"] *= 0.5
            if optimizer.param_groups[0]["lr"] < lr * 1e-6:
                message = "step size underflow after rejected steps"
                break
            continue
        energies, gradient = new_energies, new_gradient
        history.append(float(energies.sum()))
        gradients.append(problem.relative_gradient(energies, gradient))
        bar.update()
        if gradients[-1] <= gtol:
            message = "gradient rule satisfied"
            break
    return x.detach(), steps, f"{message} ({rejected} rejected steps)"
