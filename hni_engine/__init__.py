"""hni's engine: the numerics behind the edit language, one subpackage per stage of the data's path.

NN -> human (`hni extract`), HNI Fig. 2 top::

    data/       images (ImageFolder) and the built-in synthetic scenarios
    network/    the classifier: build, load and save checkpoints; train and evaluate it
    discovery/  Grad-CAM -> segments -> patch features -> concepts (k-means) -> importance by deletion
    graphs/     c-SCGs and I-SCGs (concept matching) -> the GRN that mimics the network

human -> NN (`hni apply`), HNI Fig. 2 bottom::

    edit/       transforms -> rebuilt I-SCGs -> retrained GRN -> partial distillation -> evaluation

around them::

    present/    what people read: `show`, explanations, pictures, the HTML report
    store/      the workspace on disk: hni.toml, runs and HEAD, the cache, staged writes
    oracle/     edit scripts written from the synthetic generator's ground truth (demos, benchmarks)
    cli/        the `hni` command line

Imports point one way: cli -> oracle -> present -> edit -> graphs -> discovery -> network -> store ->
data (tests/test_layering.py holds this).
"""
