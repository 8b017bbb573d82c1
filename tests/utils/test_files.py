"""The one atomic writer: all or nothing, no temporary file left, ordinary permissions."""

import os
import stat

import pytest

from utils import files


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_failed_write_keeps_the_old_file_and_leaves_nothing_behind(tmp_path):
    target = tmp_path / "state.json"
    files.write_json(target, {"epoch": 1})
    with pytest.raises(RuntimeError), files.atomic_path(target) as tmp:
        with open(tmp, "w") as f:
            f.write('{"epoch": ')  # half written when the failure strikes
        raise RuntimeError("killed")
    assert target.read_text() == '{\n "epoch": 1\n}\n'
    assert sorted(os.listdir(tmp_path)) == ["state.json"]


def test_new_files_get_the_umask_mode_and_replaced_files_keep_theirs(tmp_path):
    umask = os.umask(0o022)
    try:
        files.write_text(tmp_path / "new.txt", "x")
        assert _mode(tmp_path / "new.txt") == 0o644
        kept = tmp_path / "kept.txt"
        kept.write_text("old")
        os.chmod(kept, 0o600)
        files.write_text(kept, "new")
        assert _mode(kept) == 0o600 and kept.read_text() == "new"
    finally:
        os.umask(umask)


def test_the_temporary_file_keeps_the_extension_writers_choose_formats_by(tmp_path):
    with files.atomic_path(tmp_path / "plot.png") as tmp:
        assert tmp.endswith(".png") and os.path.dirname(tmp) == str(tmp_path)
        open(tmp, "wb").close()
    assert (tmp_path / "plot.png").exists()
