"""Ground-truth datasets: the protocol and procedural dSprites (with its variants)."""
from course_lib.data.dsprites import VARIANTS, DSprites, default_data_dir, ensure_grid_cache, load_official_npz
from course_lib.data.factor_grid import FactorGrid
from course_lib.data.ground_truth import GroundTruthData, check_factors

__all__ = ["VARIANTS", "DSprites", "FactorGrid", "GroundTruthData", "check_factors", "default_data_dir", "ensure_grid_cache",
           "load_official_npz"]
