"""Visual concept extraction (HNI 3.1, VRX 3.1), per image then per class.

gradcam (where the network looks) -> segmentation (multi-resolution SLIC) -> features (patch features,
`crop` or `pool`) -> analysis (the cached per-image pass) -> concepts (k-means, ACE's frequency rule,
TCAV beside) -> importance (deletion: erase a concept's patches, measure the logit drop, rank the pool
by it) -> stability (discovery again with another seed) and errors (the network's accuracy on images
with and without each concept).
"""
