"""The classifier being explained and edited: build, load and save checkpoints; train, predict, evaluate."""
