"""The robustness table's summary at the end of the run: cases, passed, and per command counts
(collected from the test reports, so it also works with pytest-xdist)."""
import collections

_RESULTS = []


def pytest_runtest_logreport(report):
    if report.when != "call":
        return
    for name, value in report.user_properties:
        if name == "robustness":
            command, case, passed = value
            _RESULTS.append((command, case, bool(passed) and report.passed))


def pytest_terminal_summary(terminalreporter):
    if not _RESULTS:
        return
    per_command = collections.defaultdict(lambda: [0, 0])
    for command, _, passed in _RESULTS:
        per_command[command][0] += 1
        per_command[command][1] += passed
    write = terminalreporter.write_line
    write(f"robustness table: {len(_RESULTS)} cases, {sum(p for _, _, p in _RESULTS)} passed")
    for command, (count, passed) in sorted(per_command.items()):
        write(f"  {command:<24} {passed}/{count} passed")
