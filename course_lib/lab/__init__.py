"""What the notebooks need beyond the algorithms: figures (viz, geometry_plots), the notebook companions
(geomancer_lab, metric_comparison), the lecture configurations that the zoo serves (lecture_models)
and the "What to notice" lists that notebooks print from their runs (notice).
"""
