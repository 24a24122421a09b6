"""Where the per-image work runs: in this process (`local`, the default) or as Ray tasks (`ray`).

backend.py chooses and connects the backend (hni.toml's `[compute]`, or `--backend`); shards.py runs a
function over shards of work on it, with a progress bar, and turns a failed task into a clear error.
Ray is optional (`pip install 'hni[scale]'`): nothing here imports it until the `ray` backend is used.
"""
