"""Latent Riemannian geometry of a decoder: pullback metric, geodesics, curvature, class distances.

A decoder f : R^d -> R^D (latent code -> image) turns the latent space into a Riemannian manifold:
the length of a latent curve z(t) is the length of the image curve f(z(t)). Locally,

    ||f(z + dz) - f(z)||^2 ~ dz^T G(z) dz,     G(z) = J(z)^T J(z),     J(z) = df/dz  (D x d),

so G, the **pullback metric**, measures how far the image moves per latent step in each direction
(Arvanitidis, Hansen & Hauberg 2018; Shao, Kumar & Fletcher 2018). One module per part, all
names re-exported here:

  local      `jacobian` (torch.func forward mode, batched over points *and* latent directions:
             no Python loop over either), `pullback_metric` (G = J^T J, float64, symmetric PSD),
             `magnification_factor` (1/2 log det G, the log volume change), `rank_statistics`
             (singular values and numerical rank of J), `tangent_basis` and `principal_angles`
             (how the decoder's tangent space turns: tangent alignment, Shukla et al. 2019)
  curves     `curve_length` sum_i ||f(z_{i+1}) - f(z_i)||, `curve_energy`
             (n - 1)/2 sum_i ||f(z_{i+1}) - f(z_i)||^2, `straight_line`, and `geodesic`: minimise the
             energy over the interior points with fixed ends, from the straight line, by L-BFGS or
             Adam, until the scale-free gradient ||grad E|| ||z1 - z0|| / E falls below `gtol`
             (Shao et al. 2018, Algorithm 1, is the same discrete energy minimised by gradient steps).
             A minimiser of the energy is a constant-speed geodesic, and L^2 <= 2 E with equality
             exactly for constant speed (Cauchy-Schwarz), so minimising E also minimises L.
  curvature  `traversal_geometry`: along each latent traversal, the image speed ||J e_k||, the turn
             of the traversal direction and of the whole tangent space; the linear-to-geodesic
             length ratio `GeodesicResult.ratio` (1 = flat along that segment; Shao et al. 2018 found
             it close to 1 for their models, Shukla et al. 2019 larger for disentangled models); and
             curvature itself at a code: `second_derivative` (gamma'' of f(z + t v), nested forward mode),
             `second_fundamental_form` II(v, v) (the part of gamma'' normal to span J) and `normal_curvature`
             (`CurvatureResult`: kappa_n = ||II(v, v)|| / ||J v||^2, the line's kappa and geodesic kappa_g,
             kappa^2 = kappa_n^2 + kappa_g^2; do Carmo 1976)
  distances  `graph_distances` (Riemannian distances between many codes by shortest paths on a
             neighbour graph whose edges are decoded straight segments; Chen et al. 2018 use such
             graphs to initialise geodesics) and `separability` (nearest-neighbour margin, 1-NN
             accuracy and silhouette of any distance matrix: scale-free, so Euclidean and
             Riemannian distances can be compared)
  decoders   `mean_decoder` (a kit model as the map the geometry uses, see below); `stacked_decoder`
             and `RBFStd`: for x = mu(z) + sigma(z) * eps the expected metric
             E[G] = J_mu^T J_mu + J_sigma^T J_sigma (`local.expected_metric`; Arvanitidis et al. 2018,
             Theorem 1) is the pullback metric of z -> (mu(z), sigma(z)); `RBFStd` is their
             inverse-RBF variance head, small near the data and large away from it; and
             `mlp_decoder`, one small MLP with ReLU or ELU (same weights for a given seed), for
             the ReLU-vs-ELU demonstration: a ReLU net is piecewise linear, so its Jacobian is
             piecewise constant (zero curvature almost everywhere, a metric that jumps) and loses
             rank wherever a layer's active units are fewer than d; ELU is smooth with a positive
             derivative, so a generic ELU net has a smooth, full-rank Jacobian.

**Which data-space point.** The kit's models decode to Bernoulli *logits*; geometry here is that of
the **Bernoulli mean** sigmoid(logits), the image `representation.decode` returns (`mean_decoder`
wraps a model so). The mean lives in [0, 1]^D, where Euclidean distance is the pixel distance one
sees; logits are unbounded, and a pixel the decoder is certain about can move its logit a lot without
any visible change, so a logit metric is dominated by invisible saturation. (The information-geometric
alternative, the Fisher metric of the Bernoulli, J_p^T diag(1 / (p (1 - p))) J_p, is not used here.)

Decoders are callables from codes (N, d) to outputs (N, ...) in torch (flattened to (N, D) inside);
an nn.Module's first parameter sets the device and dtype, a plain function runs in float64 on the
CPU unless given a tensor. Results are NumPy arrays (or torch tensors where the name says so).

References: G. Arvanitidis, L. K. Hansen, S. Hauberg, *Latent Space Oddity: on the Curvature of Deep
Generative Models*, ICLR 2018. H. Shao, A. Kumar, P. T. Fletcher, *The Riemannian Geometry of Deep
Generative Models*, CVPR Workshops 2018. A. Shukla, S. Uppal, S. Bhagat, S. Anand, P. Turaga,
*Geometry of Deep Generative Models for Disentangled Representations*, ICVGIP 2018 (arXiv 1902.06964).
N. Chen, F. Ferroni, A. Klushyn, A. Paraschos, J. Bayer, P. van der Smagt, *Fast Approximate Geodesics
for Deep Generative Models*, ICANN 2019. D.-A. Clevert, T. Unterthiner, S. Hochreiter, *Fast and Accurate Deep
Network Learning by Exponential Linear Units (ELUs)*, ICLR 2016. M. P. do Carmo, *Differential Geometry of
Curves and Surfaces*, Prentice-Hall 1976 (Section 3-2: second fundamental form, normal curvature, Meusnier).
"""
from course_lib.analysis.geometry.decoders import (ACTIVATIONS, BernoulliMean, RBFStd, mean_decoder, mlp_decoder,
                                                  stacked_decoder)
from course_lib.analysis.geometry.local import (expected_metric, jacobian, magnification_factor, metric_from_jacobian,
                                               principal_angles, pullback_metric, rank_statistics, singular_values,
                                               tangent_basis)
from course_lib.analysis.geometry.curves import (METHODS, GeodesicResult, curve_energy, curve_length, geodesic,
                                                step_lengths, straight_line)
from course_lib.analysis.geometry.curvature import (CurvatureResult, TraversalGeometry, normal_curvature,
                                                   second_derivative, second_fundamental_form, traversal_curvature,
                                                   traversal_geometry)
from course_lib.analysis.geometry.distances import graph_distances, graph_path, latent_plane, separability

__all__ = ["ACTIVATIONS", "BernoulliMean", "curve_energy", "CurvatureResult", "curve_length", "expected_metric",
           "geodesic", "GeodesicResult", "graph_distances", "graph_path", "jacobian", "latent_plane",
           "magnification_factor", "mean_decoder", "METHODS", "metric_from_jacobian", "mlp_decoder", "normal_curvature",
           "principal_angles", "pullback_metric", "rank_statistics", "RBFStd", "second_derivative",
           "second_fundamental_form", "separability", "singular_values", "stacked_decoder", "step_lengths",
           "straight_line", "tangent_basis", "traversal_curvature", "traversal_geometry", "TraversalGeometry"]
