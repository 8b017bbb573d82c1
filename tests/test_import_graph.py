"""The packages' import graph points one way: the model below everything, ``utils``' subpackages
never importing each other in both directions, and inference never importing the exporter.

Every import counts, at module level or inside a function (the lazy ones too), read from the
source with ``ast``; the format table's writers and runtimes, named by module path and loaded
on first use, are not imports.
"""

import ast
import itertools
import os

from tests.conftest import ROOT


def _imports(path):
    """Absolute module names imported by the file at ``path``."""
    tree = ast.parse(open(path, encoding="utf8").read(), path)
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _package_files(package):
    folder = os.path.join(ROOT, *package.split("."))
    for root, _, names in os.walk(folder):
        for name in names:
            if name.endswith(".py"):
                yield os.path.join(root, name)


def _imported_by(package):
    return set().union(*(_imports(path) for path in _package_files(package)))


def _subpackages():
    folder = os.path.join(ROOT, "utils")
    return sorted(
        name
        for name in os.listdir(folder)
        if os.path.isfile(os.path.join(folder, name, "__init__.py"))
    )


def _reaches(names, package):
    return sorted(n for n in names if n == package or n.startswith(package + "."))


def test_the_graph_is_read_from_real_imports():
    # The reader finds what is known to be there, so the checks below can fail.
    assert _reaches(_imported_by("utils.inference"), "utils.formats")
    assert _reaches(_imported_by("utils.export"), "utils.formats")
    assert _reaches(_imported_by("utils.training"), "utils.inference")
    assert {"data", "evaluation", "export", "formats", "inference", "training"} <= set(
        _subpackages()
    )


def test_inference_never_imports_the_exporter():
    assert _reaches(_imported_by("utils.inference"), "utils.export") == []


def test_no_two_subpackages_of_utils_import_each_other():
    graph = {name: _imported_by(f"utils.{name}") for name in _subpackages()}
    both_ways = [
        (a, b)
        for a, b in itertools.combinations(graph, 2)
        if _reaches(graph[a], f"utils.{b}") and _reaches(graph[b], f"utils.{a}")
    ]
    assert both_ways == []


def test_the_format_table_and_the_model_import_nothing_above_them():
    assert _reaches(_imported_by("utils.formats"), "utils.inference") == []
    assert _reaches(_imported_by("utils.formats"), "utils.export") == []
    assert _reaches(_imported_by("nets"), "utils") == []
