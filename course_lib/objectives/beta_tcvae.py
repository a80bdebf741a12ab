"""beta-TCVAE (Chen, Li, Grosse, Duvenaud 2018): the KL term's decomposition and a weight on its TC part.

E_p(x)[KL(q(z|x) || p(z))] = I_q(x; z)                       index-code mutual information
                           + KL(q(z) || prod_j q(z_j))        total correlation (TC)
                           + sum_j KL(q(z_j) || p(z_j))       dimension-wise KL

q(z) = 1/N sum_n q(z|x_n) is a mixture over the whole dataset (N images); it is estimated from a
minibatch of B codes z_i ~ q(z|x_i) with importance weights w_ij:  log q(z_i) ~ log sum_j w_ij q(z_i|x_j),
and likewise per dimension for q(z_ij).

* Minibatch weighted sampling (MWS): w_ij = 1/B, since E_batch[1/B sum_j q(z|x_j)] = q(z). (Chen et
  al. print 1/(NB), which shifts every log-density by -log N and the TC estimate by (D - 1) log N;
  constants do not change gradients, but they do change the logged values; disentanglement_lib's leaves out
  the log B as well, so its logged TC is this one minus (D - 1) log B.) Exact when the batch is the whole
  dataset. For B << N its q(z_i) is biased upwards, the code's own posterior getting weight 1/B instead of
  1/N, and so is each q(z_id): the TC, log q(z) - sum_d log q(z_d), is biased either way, down by up to
  (D - 1) log(N / B) when each latent alone identifies the image.
* Minibatch stratified sampling (MSS): z_i's own posterior gets its true weight 1/N; with M = B - 1
  the others share the remaining (N - 1)/N: one of them (x_{i+1}, cyclically) (N - M)/(NM), the other
  M - 1 each 1/M. (Widely copied code writes these weights along the wrong diagonals.)

The objective, as in disentanglement_lib: -ELBO + (beta - 1) TC, with the KL analytic, so beta
weights the TC while MI and dimension-wise KL keep weight 1.
"""
import math

import torch

from course_lib.checks import check_choice, check_int, check_number
from course_lib.distributions import gaussian_log_density
from course_lib.objectives.base import Objective

ESTIMATORS = ("mws", "mss")


def log_importance_weights(batch_size: int, dataset_size: int, estimator: str = "mws", device=None):
    """(B, B) matrix of log w_ij (row i estimates q at z_i) for the MWS or MSS estimator."""
    check_choice("estimator", estimator, ESTIMATORS)
    if batch_size < 2 or dataset_size < batch_size:
        raise ValueError(f"need 2 <= batch_size <= dataset_size; "
                         f"got batch_size={batch_size}, dataset_size={dataset_size}")
    if estimator == "mws":
        return torch.full((batch_size, batch_size), -math.log(batch_size), device=device)
    n, m = dataset_size, batch_size - 1
    weights = torch.full((batch_size, batch_size), 1.0 / m, device=device)
    weights.diagonal().fill_(1.0 / n)  # fills of views: nothing copied from the host (a CUDA graph holds no copy)
    weights.diagonal(1).fill_((n - m) / (n * m))  # w[i, i + 1] ...
    weights[-1, 0].fill_((n - m) / (n * m))  # ... and w[B - 1, 0]: w[i, (i + 1) mod B]
    return weights.log()


def kl_decomposition(z, mean, log_var, dataset_size: int, estimator: str = "mws") -> dict[str, torch.Tensor]:
    """Batch estimates of the index-code MI, the TC and the dimension-wise KL (they sum to E[log q(z|x) - log p(z)])."""
    log_q_z_given_x = gaussian_log_density(z, mean, log_var).sum(1)
    log_p_z = gaussian_log_density(z, torch.zeros_like(z), torch.zeros_like(z)).sum(1)
    pairwise = gaussian_log_density(z[:, None, :], mean[None, :, :], log_var[None, :, :])  # log q(z_id | x_j)
    log_w = log_importance_weights(len(z), dataset_size, estimator, device=z.device)
    log_q_z = torch.logsumexp(log_w + pairwise.sum(2), dim=1)
    log_prod_q_zj = torch.logsumexp(log_w[:, :, None] + pairwise, dim=1).sum(1)
    return {"mutual_information": (log_q_z_given_x - log_q_z).mean(),
            "total_correlation": (log_q_z - log_prod_q_zj).mean(),
            "dimensionwise_kl": (log_prod_q_zj - log_p_z).mean()}


class BetaTCVAE(Objective):
    name = "beta_tcvae"

    def __init__(self, beta: float = 6.0, dataset_size: int = 737_280, estimator: str = "mws"):
        super().__init__()
        self.beta = check_number("beta", beta, 0)
        self.estimator = check_choice("estimator", estimator, ESTIMATORS)
        self.dataset_size = check_int("dataset_size", dataset_size, 2)

    def hyperparameters(self):
        return {"beta": self.beta, "dataset_size": self.dataset_size, "estimator": self.estimator}

    def regulariser(self, x, out, step, terms):
        parts = kl_decomposition(out["z"], out["mean"], out["log_var"], self.dataset_size, self.estimator)
        total = terms["reconstruction"] + terms["kl"] + (self.beta - 1.0) * parts["total_correlation"]
        return {**parts, "total": total}
