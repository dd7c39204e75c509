"""The contract's house style, checked on every file of the project."""
import ast
import os
import subprocess
import sys

import pytest

from conftest import REPO

# mutants/ is mutmut's scratch copy of the sources (bin/mutate).
SKIP_DIRS = {".git", ".venv", "venv", "tests", "bench", "__pycache__",
             ".pytest_cache", ".hypothesis", "mutants"}


def project_files():
    found = []
    for root, dirs, files in os.walk(REPO):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
        found += [os.path.join(root, f) for f in sorted(files)
                  if f.endswith(".py")]
    return found


FILES = project_files()


def ids(path):
    return os.path.relpath(path, REPO)


@pytest.mark.parametrize("path", FILES, ids=ids)
def test_shebang_mode_newline(path):
    content = open(path, "rb").read()
    if not content:
        return                       # empty package markers
    assert content.split(b"\n", 1)[0] == b"#!/usr/bin/env python3"
    assert content.endswith(b"\n")
    assert os.access(path, os.X_OK)


@pytest.mark.parametrize("path", FILES, ids=ids)
def test_docstrings_are_sentences_and_functions_annotated(path):
    tree = ast.parse(open(path).read())
    if not tree.body:
        return
    nodes = [tree] + [n for n in ast.walk(tree) if isinstance(
        n, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))]
    for node in nodes:
        doc = ast.get_docstring(node)
        name = getattr(node, "name", "module")
        assert doc and len(doc.split()) >= 3, "{}: {}".format(path, name)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            assert node.returns is not None or name == "__init__", \
                "{}: {} has no return annotation".format(path, name)


def test_pycodestyle_is_clean():
    result = subprocess.run([sys.executable, "-m", "pycodestyle",
                             "--exclude=.venv,.git,mutants", str(REPO)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
