"""Files written atomically get the mode a plain open() would give them, not mkstemp's private 0600."""

import os
import stat

from hni_dsl.fileio import atomic_write_text


def test_new_file_gets_the_umask_mode_and_an_existing_file_keeps_its_own(tmp_path):
    mask = os.umask(0o022)
    try:
        target = tmp_path / "plan.json"
        atomic_write_text(target, "{}")
        assert stat.S_IMODE(target.stat().st_mode) == 0o644
        target.chmod(0o600)
        atomic_write_text(target, "{}\n")
        assert stat.S_IMODE(target.stat().st_mode) == 0o600
    finally:
        os.umask(mask)


def test_a_device_or_pipe_is_refused_not_read(tmp_path):
    """`hni check /dev/zero` would read for ever: only regular files are read."""
    import os

    import pytest

    from hni_dsl.fileio import InputFileError, read_text

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    for path in ("/dev/zero", str(fifo)):
        with pytest.raises(InputFileError, match="not a regular file"):
            read_text(path, "script")
