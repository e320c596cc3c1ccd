"""`make bench`: every benchmark, one table each. `python -m bench --quick` runs smaller sizes."""

import sys

from bench import backfill, crm_speed, ingest, pipeline, reconcile


def main() -> None:
    quick = "--quick" in sys.argv
    print("# Benchmarks (ratios against baselines measured in this run)")
    print(ingest.run(singles=500 if quick else 2000, batches=32 if quick else 160))
    print(pipeline.end_to_end(events=100 if quick else 300))
    print(pipeline.coalescing(learners=10 if quick else 20))
    print(crm_speed.run(events=60 if quick else 150))
    print(backfill.run(learners=10 if quick else 200, stop_midway=True))
    print(reconcile.run(learners=500 if quick else 10_000))


if __name__ == "__main__":
    main()
