"""The kit's machinery: the runs cache and the pretrained zoo (runs, zoo), the configurations
the lecture notebooks train and the zoo serves (lecture_models), the CLI's hyperparameter flags
(flags), sweeps on Dask (sweep), notebook 13's study run and shipped (study), the model report (report), the notebook
runner (runner), the student build (student), the site check (site_check) and the CLI (cli). Nothing
below imports it; notebooks and the CLI do.
"""
