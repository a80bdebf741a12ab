"""Analyses: the papers' algorithms applied to representations and models.

impossibility (Locatello et al.'s Theorem 1), geomancer (Pfau et al.), geometry/ (the pullback metric,
geodesics, curvature: Arvanitidis et al., Shukla et al.), rate_distortion, tc_analysis (Chen et al.'s
estimators, TC of mean and sampled codes), factor_matching (which factor each latent encodes),
sweep_results (Locatello et al.'s key results from a sweep's results table), transfer (Locatello et al.'s
transfer of configurations across seeds, data sets and metrics). They use the layers below (models,
representation, metrics, objectives, training); their figures live in course_lib.lab.
"""
