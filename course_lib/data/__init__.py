"""Ground-truth datasets: the protocol, procedural dSprites (with its variants) and correlated-factor wrappers."""
from course_lib.data.correlated import CorrelatedFactors
from course_lib.data.dsprites import VARIANTS, DSprites, default_data_dir, ensure_grid_cache, load_official_npz
from course_lib.data.factor_grid import FactorGrid
from course_lib.data.ground_truth import GroundTruthData, check_factors

__all__ = ["VARIANTS", "CorrelatedFactors", "DSprites", "FactorGrid", "GroundTruthData", "check_factors",
           "default_data_dir", "ensure_grid_cache", "load_official_npz"]
