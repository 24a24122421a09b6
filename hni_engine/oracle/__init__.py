"""ORACLE: edit scripts written from the synthetic generator's ground truth (`data/metadata.jsonl`).

No method a user runs may read it. The demos and benchmarks use it to show what a correct edit does;
everything that does is named as an oracle where it shows.
"""
