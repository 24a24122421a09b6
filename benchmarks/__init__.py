"""The benchmarks: quality and speed against the targets of the design notes, summarised in BENCHMARKS.md.

Each one is a module run from the repository root as ``.venv/bin/python -m benchmarks.NAME`` (``--help``
lists its options); each writes JSON with the machine, the commit and the seeds to ``benchmarks/results/``.
``make bench`` runs the fast one (P5); ``make bench-all`` runs every one in its default mode, in sequence.

- ``p5_dsl_speed`` -- **P5**: ``hni check`` + ``hni plan`` of a generated 1,000-statement script on a
  100-class library, in process and as commands (target < 1 s). A few seconds.
- ``check_speed`` -- ``hni check`` of a 100,000-line script with an error on every line, and of half of it:
  the cost must grow in proportion to the script and its errors (target < 5 s). A minute at most.
- ``p4_grn_throughput`` -- **P4**: GRN training throughput, the torch-geometric layer against a dense
  batched reference of the same math (target >= 0.5x). About a minute.
- ``p1_p2_features`` -- **P1** (speed half): ``pool`` against ``crop`` patch features on the same images
  and segments (target: pool >= 30x faster); **P2**: all I-SCG work per image against SLIC at three
  resolutions plus one plain forward pass (target <= 1.5x). On a trained workspace, or one it makes
  (spurious ``--quick``, seed 0).
- ``nn_to_human`` -- NN -> human: **GRN fidelity** per scenario and seed (target >= 0.90), whether
  extraction reveals the spurious scenario's injected context object (in the c-SCG's top 4), what the
  c-SCG nodes show, and **M1**, the peak memory of ``hni extract`` (target <= 4 GB). Runs ``hni init``,
  ``hni train`` and ``hni extract`` for 3 scenarios x 3 seeds; hours at default size.
- ``library_checks`` -- the extracted libraries pass the language: on each workspace of ``nn_to_human``,
  ``hni check`` with an empty script exits 0 and ``hni plan`` with the scenario's example script exits 2
  ("changes"). Seconds per workspace.
- ``human_to_nn`` -- Human -> NN, the paper's three experiments: **spurious** (edited classes' gain,
  unedited classes' change, and the no-edit, random-edit and extra-data controls), **posebias** (gain,
  with the same controls), **zeroshot** (new classes' accuracy, seen classes' drop); the ``rebuild``
  metrics of each apply give **P3**. Reuses ``nn_to_human``'s workspaces; hours at default size.

- ``fault_cases`` -- robustness: runs every test of ``tests/faults`` (hostile input, forged plans, a second
  writer, kills at random points, diverging training), the slow kill test included, and counts the cases
  handled cleanly (target: all). About ten minutes.

P6 (``hni demo`` wall time) is measured with ``/usr/bin/time -v hni demo``, not by a module here.
"""
