"""human -> NN (HNI 3.2): a checked plan changes the network itself.

`pipeline.apply_plan_to_network` runs the stages in order over one context: resolve -> rebuild I-SCGs
(and synthesize defined classes) -> retrain the GRN -> distil -> evaluate -> record the run. A stage whose
training diverges ends the apply with a failed run on record (`failed_run`) and HEAD where it was.
"""
