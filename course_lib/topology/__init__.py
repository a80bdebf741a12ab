"""Topology of representations: persistent homology helpers, witness complexes and relative living
times (Khrulkov & Oseledets 2018), Zhou et al.'s 2021 topological scores, and Representation
Topology Divergence (Barannikov et al. 2022). Persistent homology comes from gudhi, Wasserstein
barycenters from POT.
"""
