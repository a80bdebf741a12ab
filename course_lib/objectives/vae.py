"""The VAE (Kingma & Welling 2014): minimise -ELBO = E_q[-log p(x|z)] + KL(q(z|x) || p(z))."""
from course_lib.objectives.base import Objective


class VAE(Objective):
    name = "vae"
