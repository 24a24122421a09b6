"""The classifier being explained and edited: build, load and save checkpoints; train, predict, evaluate;
and the guard that stops any training (the network's, the GRN's, distillation) whose loss goes wrong."""
