"""Run every benchmark in turn: python -m bench [name ...]"""
import importlib
import sys

ALL = ["train", "app", "latent_map", "projection", "traversals", "collapse", "estimators", "estimators_relaxed", "load",
       "disentanglement", "gaps", "posteriors", "browser_decode"]


def main(names: list[str]) -> int:
    for name in names or ALL:
        try:
            mod = importlib.import_module(f"bench.{name}")
        except ModuleNotFoundError as e:
            print(f"== bench.{name}: not available ({e})")
            continue
        print(f"\n== bench.{name}", flush=True)
        mod.main([])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
