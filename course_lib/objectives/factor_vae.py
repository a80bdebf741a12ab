"""FactorVAE (Kim & Mnih 2018): -ELBO + gamma TC, the TC estimated by a density-ratio discriminator.

A discriminator D is trained to tell codes z ~ q(z) from codes with every dimension shuffled
across the batch (`permute_dims`, samples of prod_j q(z_j)). At its optimum
D(z) / (1 - D(z)) = q(z) / prod_j q(z_j), so TC = E_q(z)[log q(z) / prod_j q(z_j)] ~ E[logit_0(z) - logit_1(z)].
D: 6 hidden layers of 1000 leaky-ReLU units, 2 logits; its own Adam(1e-4, betas 0.5, 0.9). As in
disentanglement_lib, D is trained on the same batch's codes (Kim & Mnih draw a second batch).
"""
import torch
import torch.nn.functional as F
from torch import nn

from course_lib.objectives.base import Objective, check_non_negative
from course_lib.objectives.terms import permute_dims


def discriminator(num_latent: int, hidden: int = 1000, depth: int = 6) -> nn.Sequential:
    layers, width = [], num_latent
    for _ in range(depth):
        layers += [nn.Linear(width, hidden), nn.LeakyReLU(0.2)]
        width = hidden
    return nn.Sequential(*layers, nn.Linear(width, 2))


class FactorVAE(Objective):
    name = "factor_vae"

    def __init__(self, num_latent: int = 10, gamma: float = 10.0, lr: float = 1e-4, betas=(0.5, 0.9)):
        super().__init__()
        self.gamma = check_non_negative("gamma", gamma)
        self.discriminator = discriminator(num_latent)
        self.optimizers["discriminator"] = torch.optim.Adam(self.discriminator.parameters(), lr=lr, betas=betas)

    def hyperparameters(self):
        return {"gamma": self.gamma}

    def regulariser(self, x, out, step, terms):
        logits = self.discriminator(out["z"])
        tc = (logits[:, 0] - logits[:, 1]).mean()
        return {"total_correlation": tc, "total": terms["reconstruction"] + terms["kl"] + self.gamma * tc}

    def auxiliary_step(self, out):
        z = out["z"].detach()
        logits = self.discriminator(torch.cat([z, permute_dims(z)]))
        labels = torch.cat([torch.zeros(len(z)), torch.ones(len(z))]).long().to(z.device)
        loss = F.cross_entropy(logits, labels)  # the mean of the two halves' losses
        optimizer = self.optimizers["discriminator"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        accuracy = (logits.argmax(1) == labels).float().mean()
        return {"discriminator_loss": loss.detach(), "discriminator_accuracy": accuracy}
