"""Topology of representations: persistent homology helpers, witness complexes and relative living
times (Khrulkov & Oseledets 2018), Zhou et al.'s 2021 topological scores, and Representation
Topology Divergence (Barannikov et al. 2022). Persistent homology comes from gudhi, Wasserstein
barycenters from POT.
"""
# persistent homology, RLT and the Geometry Score, Zhou et al.'s scores (notebook 10)
from course_lib.topology.persistence import (betti_curve, betti_numbers, persistence_by_reduction,  # noqa: E402
                                             rips_barcodes, rips_filtration)
from course_lib.topology.rlt import geometry_score, mean_rlt, relative_living_times, rlt, rlts  # noqa: E402
from course_lib.topology.rtd import cross_barcode, rtd, rtd_loss, torch_cross_barcode
from course_lib.topology.zhou import (RandomConvEmbedding, cocluster_score, histogram_wasserstein,  # noqa: E402
                                      rlt_barycenter, topological_scores)
