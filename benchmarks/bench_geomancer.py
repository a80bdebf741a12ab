"""GeoManCER speed and accuracy: seconds and mean angle error on S² x S² and S² x S² x S².

    python benchmarks/bench_geomancer.py [--sizes 5000 20000] [--reference path/to/geomancer.py [--reference-max N]]

Targets (issue 6): the public reference code takes about 27 s (S² x S²) and 64 s (S² x S² x S²) at
5,000 points on the team's 2-core machine; the kit should be >= 5x faster at equal or lower error,
and run the 20,000-point cases in a few minutes. `--reference` times that code too (its module's
`fit(data, manifold_dim)`, which needs `absl`) on the same samples, for a same-day comparison.
Errors are the paper's: per point the largest principal angle between paired subspaces, averaged
over factors (radians; π/2 when the number of subspaces is wrong), then averaged over points.
Run with OMP_NUM_THREADS=1 for figures comparable with the ones in the README.
"""
import argparse
import importlib.util
import time

from course_lib.analysis.geomancer import geomancer, subspace_angle_error
from course_lib.data.manifolds import sphere_product


def load_reference(path):
    spec = importlib.util.spec_from_file_location("reference_geomancer", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[5000, 20_000])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reference", default=None, help="the public geomancer.py, to time it on the same data")
    parser.add_argument("--reference-max", type=int, default=5000, help="run the reference only up to this many points")
    args = parser.parse_args()
    reference = load_reference(args.reference) if args.reference else None

    warm = sphere_product(300, (2, 2), random_state=0)  # imports (scikit-learn, ARPACK) outside the clock
    geomancer(warm.points, 4, progress=False)

    print(f"{'manifold':<14}{'points':>8}{'seconds':>10}{'mean error (rad)':>18}{'factors':>9}"
          f"{'true split found':>18}   step seconds")
    for dims in ((2, 2), (2, 2, 2)):
        name = " x ".join("S²" for _ in dims)
        for n in args.sizes:
            sample = sphere_product(n, dims, random_state=args.seed)
            start = time.perf_counter()
            result = geomancer(sample.points, sample.manifold_dim, random_state=args.seed, progress=False)
            seconds = time.perf_counter() - start
            error = subspace_angle_error(result, sample).mean()
            steps = " ".join(f"{k} {v:.1f}" for k, v in result.timings.items())
            print(f"{name:<14}{n:>8,}{seconds:>10.1f}{error:>18.4f}{result.num_factors:>9}"
                  f"{result.fraction_with(dims):>18.1%}   {steps}", flush=True)
            if reference is not None and n <= args.reference_max:
                start = time.perf_counter()
                try:
                    found, _ = reference.fit(sample.points, sample.manifold_dim)
                    seconds = time.perf_counter() - start
                    print(f"{'  reference':<14}{n:>8,}{seconds:>10.1f}"
                          f"{subspace_angle_error(found, sample).mean():>18.4f}", flush=True)
                except Exception as error:  # the reference divides 0 by 0 on some inputs
                    print(f"{'  reference':<14}{n:>8,}   failed after {time.perf_counter() - start:.1f} s: "
                          f"{type(error).__name__}: {error}", flush=True)


if __name__ == "__main__":
    main()
