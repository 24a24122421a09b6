"""Concept graphs (HNI 3.1, VRX 3.2): c-SCGs from the pools, I-SCGs by one-to-one concept matching, and
the Graph Reasoning Network trained on them, the edge-drop test of its edge weights, and the library's
entries and concept cards; `extract` runs discovery and this stage end to end."""
