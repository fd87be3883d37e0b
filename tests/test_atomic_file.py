"""write_atomically: the destination is either untouched or complete, never half-written."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from ortdiffusion.atomic_file import (
    check_output_folder,
    move_folder_into_place,
    staging_folder,
    write_atomically,
)


def test_complete_write_replaces_the_file_with_the_asked_mode(tmp_path):
    target = tmp_path / "sub" / "out.bin"
    assert write_atomically(target, lambda tmp: tmp.write_bytes(b"new"), mode=0o644) == target
    assert target.read_bytes() == b"new" and stat.S_IMODE(target.stat().st_mode) == 0o644
    write_atomically(target, lambda tmp: tmp.write_bytes(b"newer"))
    assert target.read_bytes() == b"newer" and stat.S_IMODE(target.stat().st_mode) == 0o600
    assert os.listdir(target.parent) == ["out.bin"]


@pytest.mark.parametrize("error", [OSError("disk full"), KeyboardInterrupt()])
def test_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, error):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")

    def half_write(tmp):
        tmp.write_bytes(b"ha")
        raise error

    with pytest.raises(type(error)):
        write_atomically(target, half_write)
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["out.bin"]


def test_staged_folder_replaces_an_existing_one_only_with_overwrite(tmp_path):
    output = tmp_path / "out"
    output.mkdir()
    (output / "old.txt").write_text("old")
    with pytest.raises(FileExistsError, match="overwrite"):
        check_output_folder(output, overwrite=False)
    with pytest.raises(ValueError, match="must name a folder"):
        check_output_folder(Path("."), overwrite=True)  # pathlib drops a trailing "/.", so the bare one
    staging = staging_folder(output)
    assert staging.parent == tmp_path and staging.name.startswith(".out.partial-")
    (staging / "new.txt").write_text("new")
    with pytest.raises(FileExistsError):
        move_folder_into_place(staging, output, overwrite=False)
    assert (output / "old.txt").is_file() and staging.is_dir()  # nothing moved
    move_folder_into_place(staging, output, overwrite=True)
    assert os.listdir(output) == ["new.txt"] and os.listdir(tmp_path) == ["out"]  # the old folder is gone
