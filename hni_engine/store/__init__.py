"""The workspace on disk: hni.toml, the paths of every file, runs and HEAD, the content-addressed cache
and the staged writes that keep a crash from leaving a half-written file or folder behind."""
