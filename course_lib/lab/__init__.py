"""What the notebooks need beyond the algorithms: every figure (viz for any notebook; analysis_plots,
topology_plots, geometry_plots, study_plots by topic), the notebook companions (geomancer_lab,
metric_comparison, transfer_lab), the first cell of every notebook (setup) and the "What to notice" lists
that notebooks print from their runs (notice).
"""
