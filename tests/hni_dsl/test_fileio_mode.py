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
