"""Every numeric flag of every script at 0, -1, NaN, infinity and 10**12.

The flags are read from each script's parser, so a new flag is swept without editing this file.
Each value goes through the script's own parsing and checks in this process (the checks run
before anything slow, so a subprocess per value would only add start-up time): it must be
refused with one ``error:`` line naming the flag, or accepted; nothing else may be raised.
NaN, infinity and -1 are never valid. Scripts whose checks live in ``run`` are run through
``main`` with a dataset that does not exist, so an accepted value ends at "not found".
"""

import contextlib
import importlib
import io
import math

import pytest

SCRIPTS = {  # script: flags that make it stop after its checks
    "predict": [],
    "get_map": ["--data", "{missing}"],
    "train": ["--data", "{missing}"],
    "export": ["--out", "{tmp}"],
    "kmeans_for_anchors": ["--data", "{missing}"],
    "summary": [],
    "voc_annotation": ["--data", "{missing}"],
    "track_eval": ["--det", "{missing}", "--gt", "{missing}"],
    "check_dataset": ["--data", "{missing}"],
    "convert_dataset": ["--data", "{missing}", "--to", "yolo", "--out", "{tmp}/converted"],
    "serve": [],
    "benchmark": ["--data", "{missing}"],
}
VALUES = ("0", "-1", "nan", "inf", "1e12", "1000000000000")
NEVER_VALID = ("-1", "nan", "inf")


def numeric_flags(parser):
    return [
        max(action.option_strings, key=len)
        for action in parser._actions
        if action.option_strings and action.type in (int, float)
    ]


def outcome(module, parser, argv):
    """'refused: <error line>' or 'accepted'."""
    from nets.errors import UserError

    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            args = parser.parse_args(argv)
            if hasattr(module, "check_args"):
                module.check_args(args)
            elif module.main(argv) != 0:
                raise SystemExit(2)
    except SystemExit:
        lines = [line for line in err.getvalue().splitlines() if line.startswith("error:")]
        assert len(lines) == 1, err.getvalue()
        return "refused: " + lines[0]
    except UserError as exc:
        return "refused: error: " + str(exc)
    return "accepted"


@pytest.fixture(autouse=True)
def default_pixel_limit():
    """--max-pixels sets a process-wide limit: put the default back."""
    yield
    from utils.data.images import set_max_pixels
    from utils.options import default

    set_max_pixels(default("max_pixels"))


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_every_numeric_flag_at_extreme_values(script, tmp_path, record_property):
    module = importlib.import_module(script)
    parser = module.build_parser()
    base = [
        a.format(missing=str(tmp_path / "missing"), tmp=str(tmp_path / "out"))
        for a in SCRIPTS[script]
    ]
    results = {}
    for flag in numeric_flags(parser):
        for value in VALUES:
            results[flag, value] = outcome(module, parser, base + [flag, value])
    record_property("robustness", [script + ".py", "numeric flags at 0, -1, nan, inf, 1e12", True])
    assert results, f"{script} has no numeric flag"
    for (flag, value), result in results.items():
        if value in NEVER_VALID:
            assert result.startswith("refused"), (flag, value, result)
        if result.startswith("refused") and "not found" not in result:
            assert flag.lstrip("-") in result, (flag, value, result)  # names the flag
    # Values that pass end at the missing dataset, when the script has one.
    if SCRIPTS[script] and not hasattr(module, "check_args"):
        passed = [r for r in results.values() if "not found" in r]
        assert passed, results


def test_check_range_refuses_non_finite_values():
    from utils.cli import UsageError, check_range

    for value in (math.nan, math.inf, -math.inf):
        with pytest.raises(UsageError, match="--lr"):
            check_range(value, "--lr", 0.0, low_open=True)
    assert check_range(1e12, "--lr", 0.0, low_open=True) == 1e12
