"""TopDis (Balabin, Voronkova, Trofimov, Burnaev, Barannikov, "Disentanglement Learning via Topology",
ICML 2024): a VAE objective plus a topological term that asks every latent move to change the
decoded images in a way that leaves the topology of the image cloud intact.

On a second batch with codes z (sampled, z ~ q(z|x), as the authors' dSprites runs):

1. choose a latent i with probability proportional to the norm of the decoder's first-layer
   weights that read it, ||W[:, i]|| (an unused latent is rarely chosen);
2. shift it in a Gaussian-preserving way, with m, s the batch mean and standard deviation of z_i:

       z_i -> Φ⁻¹(Φ((z_i - m) / s) ± C) · s + m,        C = 1/8, the sign drawn at random,

   dropping the rows whose Φ(...) ± C leaves (0, 1). If (z_i - m)/s ~ N(0, 1), Φ of it is uniform
   and the shift is a translation of the uniform by C: the shifted values keep the N(0, 1) density
   on their range (the map is measure-preserving), so the decoder sees codes as typical as before;
3. decode both clouds, X = sigmoid(decoder(z)) and X' = sigmoid(decoder(z')), flattened;
4. L_TD = RTD between X and X': ½ Σ over both directions of the total length of the 50 longest
   H1 bars of the min- and of the max-mode cross-barcodes (course_lib.topology.rtd.rtd_loss).

The loss is  L_base + γ · L_TD, with L_TD switched on after `delay` steps, and **gradient
orthogonalisation**: when the topological gradient g_TD = ∇(γ L_TD) points against the
reconstruction gradient g_rec (over all model parameters), it loses that component,

       g_TD -> g_TD - <g_TD, g_rec> / ||g_rec||² · g_rec     if <g_TD, g_rec> < 0,

so the topological term never pays for itself with worse reconstructions. With the scalar
c = min(0, <g_TD, g_rec>) / ||g_rec||² the step's gradient is g_base + g_TD - c g_rec. The objective
computes g_rec, g_TD and the rest of g_base once each (torch.autograd.grad) and returns as `total`
a stand-in with the value L_base + γ L_TD (what is logged) and exactly that gradient, so the training
loop's single `total.backward()` needs no change and no part of the graph is differentiated twice.

Interface (course_lib.objectives.base): TopDis needs the model's decoder and a second batch, which
`objective(x, out, step)` does not carry. The training loop calls `attach(model, sampler)` once
before training (course_lib.training.train); the second batch is `sampler.sample(len(x))`, and its
codes, the latent and the sign are drawn from the sampler's generator, the run's one source of
randomness, so all of it is seeded and checkpointed with the run. Without a sampler (a model attached
by hand) the current batch's codes are used and the latent and sign come from torch's global
generator. The base objective (β-VAE, β-TCVAE or FactorVAE) is a submodule: FactorVAE's
discriminator and its optimiser are trained as in FactorVAE.

Differences from the authors' code: RTD here runs on the CPU with gudhi (theirs needs ripser++ on
CUDA); the quantile normalisation is differentiated; deaths are read from the true filtration
values (their code reads the second cloud's distances, a device of RTD autoencoders).
"""
from __future__ import annotations

import torch
from torch import nn

from course_lib.checks import check_bool, check_choice, check_int, check_number
from course_lib.models import reparameterise
from course_lib.objectives.base import Objective
from course_lib.objectives.beta_tcvae import BetaTCVAE
from course_lib.objectives.beta_vae import BetaVAE
from course_lib.objectives.factor_vae import FactorVAE
from course_lib.topology.rtd import rtd_loss

BASES = ("beta_vae", "beta_tcvae", "factor_vae")
SHIFT = 1 / 8  # Balabin et al.'s C
DELAY = 30_000  # the authors switch the term on after 10 % of training (1e5 of 1e6 steps): 10 % of the study's 3e5
NUM_BARS = 50  # bars per cross-barcode in the loss
MIN_POINTS = 4  # fewer kept rows than this cannot form a loop: the term is 0 for that step


def cdf_shift(values: torch.Tensor, shift: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Shift a batch of one latent's values by `shift` (signed) in the CDF of its standardised values.

    Returns (shifted values of the kept rows, boolean mask of the kept rows): u = (v - m) / s with the
    batch mean m and standard deviation s, kept where 0 < Φ(u) + shift < 1, shifted to
    Φ⁻¹(Φ(u) + shift) · s + m. Differentiable in `values` (m and s included)."""
    mean, std = values.mean(), values.std()
    probability = torch.special.ndtr((values - mean) / std)
    moved = probability + shift
    keep = (moved > 0) & (moved < 1)
    return torch.special.ndtri(moved[keep]) * std + mean, keep


def shift_latent(z: torch.Tensor, index: int, shift: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(z of the kept rows, the same rows with latent `index` CDF-shifted by `shift`)."""
    moved, keep = cdf_shift(z[:, index], shift)
    original = z[keep]
    shifted = torch.cat([original[:, :index], moved[:, None], original[:, index + 1:]], dim=1)
    return original, shifted


def first_decoder_layer(decoder: nn.Module) -> nn.Linear:
    """The decoder's first linear layer (it reads the code)."""
    for module in decoder.modules():
        if isinstance(module, nn.Linear):
            return module
    raise ValueError(f"decoder {type(decoder).__name__} has no linear layer to read latent importances from")


def latent_probabilities(decoder: nn.Module) -> torch.Tensor:
    """P(latent i) ∝ ||W[:, i]||, the norm of the first decoder layer's weights that read latent i (CPU)."""
    norms = first_decoder_layer(decoder).weight.detach().norm(dim=0).double().cpu()
    return norms / norms.sum() if norms.sum() > 0 else torch.full_like(norms, 1 / len(norms))


def _dot(first, second) -> torch.Tensor:
    """<first, second> over two lists of gradients (None = zero)."""
    products = [(a * b).sum() for a, b in zip(first, second) if a is not None and b is not None]
    return torch.stack(products).sum() if products else torch.zeros(())


def projection_coefficient(g_topological, g_reconstruction) -> torch.Tensor:
    """c = min(0, <g_t, g_r>) / ||g_r||² over lists of gradients (None = zero): g_t - c g_r is g_t
    without its component against g_r, and g_t itself when they do not conflict."""
    squared = _dot(g_reconstruction, g_reconstruction)
    if not squared > 0:
        return torch.zeros_like(squared)
    return torch.clamp(_dot(g_topological, g_reconstruction), max=0.0) / squared


def gradient_cosine(first, second) -> torch.Tensor:
    """The cosine of the angle between two lists of gradients (0 when either is zero)."""
    norms = _dot(first, first).sqrt() * _dot(second, second).sqrt()
    return _dot(first, second) / norms if norms > 0 else torch.zeros_like(norms)


@torch.no_grad()
def shift_rtd_per_latent(model, observations, shift: float = SHIFT, num_bars: int = NUM_BARS) -> torch.Tensor:
    """For each latent, the TopDis loss of shifting it by ±`shift` (mean of both signs) on the posterior
    means of `observations` (N, C, H, W): how much a move along that latent changes the topology of
    the decoded cloud. Evaluation only (no gradient, no sampling). Shape (D,), on the CPU."""
    device = next(model.parameters()).device
    z = model.encoder(torch.as_tensor(observations, dtype=torch.float32, device=device))[0]
    decoded = lambda codes: torch.sigmoid(model.decoder(codes)).flatten(1).double()
    images = decoded(z)  # the unshifted cloud, decoded once
    scores = torch.zeros(z.shape[1], dtype=torch.float64)
    for index in range(z.shape[1]):
        for sign in (1.0, -1.0):
            moved, keep = cdf_shift(z[:, index], sign * shift)
            shifted = z[keep].clone()
            shifted[:, index] = moved
            if len(moved) >= MIN_POINTS:
                loss = rtd_loss(images[keep], decoded(shifted), modes=("min", "max"), num_bars=num_bars)
                scores[index] += 0.5 * loss.item()
    return scores


class TopDis(Objective):
    """A base objective (β-VAE, β-TCVAE or FactorVAE) + γ · the TopDis term, switched on after `delay` steps.

    `beta` is the base's β (β-VAE, β-TCVAE; the base's default when None), `factor_gamma` FactorVAE's
    TC weight; `gamma` weights the topological term (Balabin et al. use 5-6). The term needs a decoder
    that already draws sprites: from an untrained one all images are nearly the same grey, the
    quantile normalisation blows their tiny differences up, and the topological gradient is some 50
    times the reconstruction's, which stalls training. Hence `delay` (default 10 % of the study's
    300,000 steps, as the authors' 10 %); set it for shorter runs."""

    name = "topdis"
    capturable = False  # persistent homology runs on the CPU (gudhi) every step: trained eagerly
    # the terms it logs while the topological term is off (before `delay`, or with gamma = 0): latent -1 = none
    INACTIVE = {"topdis": 0.0, "topdis_latent": -1.0, "topdis_shift": 0.0, "topdis_points": 0.0,
                "topdis_cosine": 0.0, "topdis_projection": 0.0}

    def __init__(self, num_latent: int = 10, base: str = "beta_vae", gamma: float = 5.0, delay: int = DELAY,
                 beta: float | None = None, factor_gamma: float | None = None, shift: float = SHIFT,
                 num_bars: int = NUM_BARS, orthogonalize: bool = True):
        super().__init__()
        check_choice("base", base, BASES)
        if beta is not None and base == "factor_vae":
            raise ValueError(f"beta={beta!r} is not allowed with base='factor_vae'; use factor_gamma")
        if factor_gamma is not None and base != "factor_vae":
            raise ValueError(f"factor_gamma={factor_gamma!r} is not allowed with base={base!r}; use beta")
        self.gamma = check_number("gamma", gamma, 0)
        self.delay = check_int("delay", delay, 0)
        self.num_bars = check_int("num_bars", num_bars, 1)
        self.base, self.shift = base, check_number("shift", shift, 0, 1, low_open=True, high_open=True)
        self.orthogonalize = check_bool("orthogonalize", orthogonalize)
        if base == "factor_vae":
            self.base_objective = FactorVAE(num_latent, **({} if factor_gamma is None else {"gamma": factor_gamma}))
        else:
            cls = BetaVAE if base == "beta_vae" else BetaTCVAE
            self.base_objective = cls(**({} if beta is None else {"beta": beta}))
        # FactorVAE's discriminator optimiser, checkpointed by the loop
        self.optimizers = self.base_objective.optimizers

    def hyperparameters(self):
        base = self.base_objective.hyperparameters()
        if self.base == "factor_vae":  # FactorVAE's own gamma is this objective's factor_gamma
            base = {"factor_gamma": base.pop("gamma"), **base}
        return {"base": self.base, **base, "gamma": self.gamma, "delay": self.delay, "shift": self.shift,
                "num_bars": self.num_bars, "orthogonalize": self.orthogonalize}

    def attach(self, model: nn.Module, sampler=None) -> None:
        """The model (for its decoder and parameters) and the sampler (the second batch, the generator),
        for this objective and its base (FactorVAE's permutation draws from the generator too)."""
        super().attach(model, sampler)
        self.base_objective.attach(model, sampler)

    def forward(self, x, out, step: int) -> dict[str, torch.Tensor]:
        terms = self.base_objective(x, out, step)
        zero = terms["total"].detach() * 0
        extra = {name: zero + value for name, value in self.INACTIVE.items()}
        if step > self.delay and self.gamma > 0:
            topological, info = self.topological_loss(x, out)
            extra.update({name: zero + value for name, value in info.items()}, topdis=topological.detach())
            weighted = self.gamma * topological
            if self.orthogonalize and weighted.requires_grad:
                terms["total"], projection, cosine = self._orthogonalised_total(x, out, step, terms, weighted)
                extra.update(topdis_projection=zero + projection, topdis_cosine=zero + cosine)
            else:
                terms["total"] = terms["total"] + weighted
        terms.update(extra)
        return terms

    def _model(self) -> nn.Module:
        model = self._attached[0]
        if model is None:
            raise RuntimeError("TopDis needs the model: call objective.attach(model, sampler) first "
                               "(course_lib.training.train does)")
        return model

    def topological_loss(self, x, out) -> tuple[torch.Tensor, dict]:
        """L_TD on a second batch (or this batch's codes without a sampler), and what was drawn."""
        model, sampler, generator = self._model(), self._attached[1], self.generator
        if sampler is not None:
            z = reparameterise(*model.encoder(sampler.sample(len(x))), generator)
        else:
            z = out["z"]
        where = generator.device if generator is not None else "cpu"  # a CUDA generator draws on the GPU
        probabilities = latent_probabilities(model.decoder).to(where)
        index = int(torch.multinomial(probabilities, 1, generator=generator))
        sign = 1.0 if torch.randint(2, (1,), generator=generator, device=where).item() else -1.0
        original, shifted = shift_latent(z, index, sign * self.shift)
        info = {"topdis_latent": float(index), "topdis_shift": sign * self.shift, "topdis_points": float(len(original))}
        if len(original) < MIN_POINTS:
            return z.sum() * 0, info
        images = torch.sigmoid(model.decoder(torch.cat([original, shifted]))).flatten(1)
        cloud, moved = images.chunk(2)
        return rtd_loss(cloud, moved, modes=("min", "max"), num_bars=self.num_bars), info

    def _orthogonalised_total(self, x, out, step, terms, weighted):
        """(a stand-in total whose gradient is the orthogonalised one, c, cosine(g_TD, g_rec) before it).

        Each gradient is computed once: g_rec (the reconstruction, through encoder and decoder), g_TD
        (the topological term) and g_rest (the base's other terms, which only reach the encoder). The
        returned total has the value L_base + γ L_TD and the gradient g_rest + (1 - c) g_rec + g_TD,
        through a term linear in the parameters, so the loop's `total.backward()` costs nothing more."""
        params = [p for p in self._model().parameters() if p.requires_grad]
        reconstruction = terms["reconstruction"]
        g_rec = torch.autograd.grad(reconstruction, params, retain_graph=True, allow_unused=True)
        g_top = torch.autograd.grad(weighted, params, retain_graph=True, allow_unused=True)
        fixed = {**terms, "reconstruction": reconstruction.detach()}
        rest = self.base_objective.regulariser(x, out, step, fixed)["total"] - fixed["reconstruction"]
        g_rest = torch.autograd.grad(rest, params, retain_graph=True, allow_unused=True)
        c = projection_coefficient(g_top, g_rec)
        linear = terms["total"].new_zeros(())
        for p, *grads in zip(params, g_rest, g_rec, g_top):
            weights = (1.0, 1.0 - c, 1.0)
            parts = [w * g for w, g in zip(weights, grads) if g is not None]
            if parts:
                linear = linear + (p * torch.stack(parts).sum(0).detach()).sum()
        total = (terms["total"] + weighted).detach() + linear - linear.detach()
        return total, c.detach(), gradient_cosine(g_top, g_rec).detach()

    def auxiliary_step(self, out):
        return self.base_objective.auxiliary_step(out)
