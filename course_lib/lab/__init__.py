"""What the notebooks need beyond the algorithms: figures (viz, geometry_plots), the notebook companions
(geomancer_lab, metric_comparison) and the lecture configurations that the zoo serves (lecture_models).
"""
