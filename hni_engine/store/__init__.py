"""The workspace on disk: hni.toml and what each stage recorded of it, the paths of every file, runs and
HEAD, the content-addressed cache, the data's hashes, the writer lock, the checks made before any work,
and `hni doctor`'s repairs of what an interrupted command left (every write is staged, so a crash never
leaves a half-written file or folder in place)."""
