"""The repository's files and which first-party module imports or reads which file, from the source (`ast`).

Used twice: a check's cache key covers what its files import, and --changed-since picks every test that
reaches a changed file. Both must err towards "more": an edge too many costs seconds, a missing edge lets a
broken change through. So besides `import` statements, a module depends on

- the package `__init__` files Python runs on the way to a module,
- every module named in a string that resolves to one (`importlib.import_module("cicd.audit.cli")`,
  `mock.patch("cicd.x.f")`),
- every module of a package it imports when it discovers modules at run time (`pkgutil.iter_modules`),
- a conftest.py's importers: every test module below it,
- every file under a folder it names in a string, for files read as data (DAG folder, Lambda and Spark
  assets, dbt project, YAML/SQL/JSON); see `readers_of`.

A file that does not parse depends on everything: its imports are unknown.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import subprocess
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath

# Where Python finds our modules: the repository root, and the DAG folder that MWAA (and the DAG tests)
# put on sys.path so that `import platform_dags` works.
SOURCE_ROOTS = ("", "dags")
# Packages only ever imported, never read as files: a folder name inside them is not evidence of a reader.
IMPORT_ONLY = ("cicd/", "config/", "stacks/", "constructs/")
# Bare words that name a whole top folder but never data read from it: "tests" is an app or session name
# (`local_session(app_name="tests")`) far more often than a read of the whole suite; fixtures are named deeper.
NOT_A_DATA_FOLDER = frozenset({"tests"})
GLOBS = ("glob", "rglob")
NOT_SOURCE = {".git", ".venv", ".venv-checkov", "node_modules", ".make", "build", "cdk.out", "__pycache__"}


def linked_folder(root: Path, path: str) -> bool:
    """An untracked symlink to a folder (a `.venv` or `node_modules` linked in from another checkout).

    git lists it as a file: `.gitignore`'s `.venv/` matches folders only, and a symlink is not one to git.
    """
    candidate = root / path
    return candidate.is_symlink() and candidate.is_dir()


def untracked_files(root: Path) -> list[str] | None:
    """Untracked, not ignored files (None outside a git checkout), toolchain folders linked in left out."""
    proc = subprocess.run(
        ["git", "ls-files", "--others", "--exclude-standard", "-z"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        return None
    return [f for f in proc.stdout.split("\0") if f and not linked_folder(root, f)]


def repo_files(root: Path) -> list[str]:
    """Tracked and untracked (not ignored) files, as in the working tree; gitignored output never counts."""
    proc = subprocess.run(
        ["git", "ls-files", "--cached", "-z"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    untracked = untracked_files(root)
    if proc.returncode == 0 and untracked is not None:
        return sorted({f for f in proc.stdout.split("\0") if f} | set(untracked))
    found = []  # not a git checkout (a test's scratch folder): everything but the known output folders
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in NOT_SOURCE and not d.startswith(".venv"))
        rel = Path(folder).relative_to(root)
        found += [(rel / name).as_posix() for name in files]
    return sorted(found)


def file_digest(path: Path) -> str:
    """Content hash of a working-tree file; a deleted file hashes to a marker so deleting it changes keys."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return "deleted"
    except IsADirectoryError:  # a submodule or a symlinked folder: its name is all git tracks
        return "directory"


@dataclass
class SourceFile:
    path: str
    imports: set[str] = field(default_factory=set)  # repository paths of the modules it imports
    strings: set[str] = field(default_factory=set)  # string constants that may name a file or folder
    names: set[str] = field(default_factory=set)  # every dotted name it imports, resolved or not
    parsed: bool = True


class ImportGraph:
    """Python files of the repository and their first-party dependencies (repository paths)."""

    def __init__(self, root: Path, files: Iterable[str], *, scan_cache: Path | None = None) -> None:
        self.root = root
        self.files = sorted(files)
        self.sources: dict[str, SourceFile] = {}
        present = set(self.files)
        cache = ScanCache(scan_cache) if scan_cache is not None else None
        for path in self.files:
            if path.endswith(".py"):
                scan = cache.scan(root, path) if cache else None
                self.sources[path] = _parse(root, path, present, scan)
        if cache is not None:
            cache.save(set(self.sources))
        self._add_conftests()
        self._named: tuple[dict[str, set[str]], dict[tuple[str, str], set[str]]] | None = None
        self._importers: dict[str, set[str]] = defaultdict(set)
        for source in self.sources.values():
            for target in source.imports:
                self._importers[target].add(source.path)

    def _add_conftests(self) -> None:
        """pytest runs every conftest.py above a test module first: the module imports what they import."""
        conftests = [p for p in self.sources if PurePosixPath(p).name == "conftest.py"]
        for path, source in self.sources.items():
            for conftest in conftests:
                folder = str(PurePosixPath(conftest).parent)
                if path != conftest and (folder == "." or path.startswith(folder + "/")):
                    source.imports.add(conftest)

    def dependencies(self, paths: Iterable[str]) -> set[str]:
        """The given files and every first-party file they import, transitively."""
        seen: set[str] = set()
        todo = list(paths)
        while todo:
            path = todo.pop()
            if path in seen:
                continue
            seen.add(path)
            source = self.sources.get(path)
            if source is not None:
                todo += source.imports
        return seen

    def importers(self, paths: Iterable[str]) -> set[str]:
        """The given files and every file that imports one of them, transitively (plus unparsable files)."""
        seen: set[str] = set()
        todo = list(paths)
        if todo:
            todo += [p for p, s in self.sources.items() if not s.parsed]
        while todo:
            path = todo.pop()
            if path in seen:
                continue
            seen.add(path)
            todo += self._importers.get(path, ())
        return seen

    def importers_by_name(self, path: str) -> set[str]:
        """Files that import the module at `path` by name: the only trace left of a deleted module."""
        stem = path.removesuffix(".py").removesuffix("/__init__")
        modules = set()
        for base in SOURCE_ROOTS:
            if not base or stem.startswith(f"{base}/"):
                modules.add(stem.removeprefix(f"{base}/" if base else "").replace("/", "."))
        return {
            s.path
            for s in self.sources.values()
            if any(name == m or name.startswith(f"{m}.") for name in s.names for m in modules)
        }

    def readers_of(self, path: str) -> set[str]:
        """Python files that name `path`, or a folder above it, in a string: they may read it as data.

        A string matches when it is the path, a folder above it, the file's name, or two or more consecutive
        parts of the path ("models/staging" matches dbt_project/models/staging/x.sql). For files of the
        import-only packages (cicd, config, stacks, constructs) only the path, or its end from a folder on
        ("gate/runner.py"), counts: naming "stacks" does not read stacks/x.py. A lone folder name counts
        only for modules in the same top folder, which build paths from __file__ (SPEC_FOLDER = "pipelines").
        """
        parts = PurePosixPath(path).parts
        whole = "/".join(parts)
        folders = {"/".join(parts[:n]) for n in range(1, len(parts) + 1)}
        names = {whole} if whole.startswith(IMPORT_ONLY) else folders - NOT_A_DATA_FOLDER
        # A lone folder name ("staging", "models") is too common to mean this folder; two parts or the file
        # name are specific enough.
        suffixes = {"/".join(parts[i:n]) for n in range(2, len(parts) + 1) for i in range(n - 1)}
        suffixes.add(parts[-1])
        if whole.startswith(IMPORT_ONLY):
            suffixes = {s for s in suffixes if s.endswith(parts[-1]) and "/" in s}
        nearby = set() if whole.startswith(IMPORT_ONLY) else set(parts[1:-1])
        found = set()
        for source in self.sources.values():
            if source.path == path:
                continue
            near = PurePosixPath(source.path).parts[0] == parts[0]
            if any(t in names or t in suffixes or (near and t in nearby) for t in source.strings):
                found.add(source.path)
        return found

    def named_files(self, path: str) -> set[str]:
        """The repository files this Python file names in a string, by the same rule as `readers_of` (inverted).

        What a test module reads as data: its key covers these files' content besides the code it imports.
        """
        if self._named is None:
            self._named = self._index_names()
        source = self.sources.get(path)
        if source is None:
            return set()
        exact, near = self._named
        top = PurePosixPath(path).parts[0]
        found: set[str] = set()
        for text in source.strings:
            found |= exact.get(text, set())
            found |= near.get((top, text), set())
        found.discard(path)
        return found

    def _index_names(self) -> tuple[dict[str, set[str]], dict[tuple[str, str], set[str]]]:
        """For each file, the strings that name it (`readers_of`'s rule): exact ones, and folder names that count
        only for modules in the same top folder."""
        exact: dict[str, set[str]] = defaultdict(set)
        near: dict[tuple[str, str], set[str]] = defaultdict(set)
        for path in self.files:
            parts = PurePosixPath(path).parts
            whole = "/".join(parts)
            import_only = whole.startswith(IMPORT_ONLY)
            names = {whole} if import_only else {"/".join(parts[:n]) for n in range(1, len(parts) + 1)}
            names -= NOT_A_DATA_FOLDER
            suffixes = {"/".join(parts[i:n]) for n in range(2, len(parts) + 1) for i in range(n - 1)}
            suffixes.add(parts[-1])
            if import_only:
                suffixes = {s for s in suffixes if s.endswith(parts[-1]) and "/" in s}
            for text in names | suffixes:
                exact[text].add(path)
            if not import_only:
                for folder in parts[1:-1]:
                    near[(parts[0], folder)].add(path)
        return exact, near


def _resolve(module: str, present: set[str]) -> list[str]:
    """Repository files Python runs to import `module`: its package __init__ files and the module itself."""
    parts = module.split(".")
    for base in SOURCE_ROOTS:
        prefix = f"{base}/" if base else ""
        leaf = [f"{prefix}{'/'.join(parts)}.py", f"{prefix}{'/'.join(parts)}/__init__.py"]
        hits = [p for p in leaf if p in present]
        if hits:
            inits = [f"{prefix}{'/'.join(parts[:n])}/__init__.py" for n in range(1, len(parts))]
            return hits + [p for p in inits if p in present]
    return []


PATH_JOINS = ("joinpath", "path", "join")


def _joined_paths(tree: ast.AST) -> tuple[set[str], set[int]]:
    """Paths built from several string constants, joined: `root / "pipeline_assets" / "spark" / "jobs.py"` and
    `root.joinpath("dbt_project", "models")` name one file or folder, not every file under pipeline_assets/.

    Returns the joined paths and the ids of the constant nodes they consumed.
    """
    joined: set[str] = set()
    consumed: set[int] = set()

    def take(operands: list[ast.expr]) -> None:
        run: list[ast.Constant] = []
        for operand in [*operands, None]:
            if isinstance(operand, ast.Constant) and isinstance(operand.value, str) and "\n" not in operand.value:
                run.append(operand)
                continue
            if len(run) >= 2:
                joined.add("/".join(str(c.value).strip("/") for c in run))
                consumed.update(id(c) for c in run)
            run = []

    def flatten(node: ast.expr) -> list[ast.expr]:
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            return [*flatten(node.left), *flatten(node.right)]
        return [node]

    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div) and id(node) not in consumed:
            operands = flatten(node)
            take(operands)
            # Inner BinOps of the chain were flattened here: do not take their shorter runs again.
            stack: list[ast.expr] = [node]
            while stack:
                inner = stack.pop()
                if isinstance(inner, ast.BinOp) and isinstance(inner.op, ast.Div):
                    consumed.add(id(inner))
                    stack += [inner.left, inner.right]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in PATH_JOINS:
            take(list(node.args))
    return joined, consumed


def _package_modules(init: str, present: set[str]) -> list[str]:
    folder = str(PurePosixPath(init).parent)
    return [p for p in present if p.endswith(".py") and str(PurePosixPath(p).parent) == folder]


@dataclass
class Scan:
    """What the source of one file says, before its names are resolved against the repository's files."""

    names: list[str] = field(default_factory=list)
    strings: list[str] = field(default_factory=list)
    discovers: bool = False  # pkgutil.iter_modules: loads the modules of packages it imports
    globs_siblings: bool = False  # Path(__file__).parent.glob("*.py"): loads the modules beside it
    parsed: bool = True


def _parse(root: Path, path: str, present: set[str], scan: Scan | None = None) -> SourceFile:
    if scan is None:
        try:
            scan = _scan((root / path).read_bytes(), path)
        except OSError:
            scan = Scan(parsed=False)
    return _link(path, scan, present)


def _scan(data: bytes, path: str) -> Scan:
    scan = Scan()
    try:
        tree = ast.parse(data, filename=path)
    except (SyntaxError, ValueError):
        scan.parsed = False
        return scan
    package = list(PurePosixPath(path).parent.parts)
    if PurePosixPath(path).parent == PurePosixPath("."):
        package = []
    for base in SOURCE_ROOTS:  # `from . import x` in dags/platform_dags/ means platform_dags.x
        if base and package[:1] == [base]:
            package = package[1:]
    names: list[str] = []
    joined, consumed = _joined_paths(tree)
    strings = set(joined)
    for node in ast.walk(tree):
        if id(node) in consumed:
            continue  # a part of a path built from several strings: the joined path stands for it
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            anchor = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*anchor, *(node.module.split(".") if node.module else [])])
            if module:
                names.append(module)
            names += [f"{module}.{alias.name}" if module else alias.name for alias in node.names]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and len(node.value) < 200:
            text = node.value.strip().strip("/").removeprefix("./")
            if text and " " not in text and "\n" not in text:
                strings.add(text)
                if "." in text:  # a dotted module name (import_module, mock.patch); a bare word is data
                    names.append(text)
        elif isinstance(node, ast.Attribute) and node.attr == "iter_modules":
            scan.discovers = True
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in GLOBS:
            pattern = node.args[0] if node.args else None
            if isinstance(pattern, ast.Constant) and str(pattern.value).endswith(".py"):
                scan.globs_siblings = True
    scan.names = list(dict.fromkeys(names))
    scan.strings = sorted(strings)
    return scan


def _link(path: str, scan: Scan, present: set[str]) -> SourceFile:
    """The file's first-party imports: its scanned names resolved against the files that exist now."""
    source = SourceFile(path, strings=set(scan.strings), names=set(scan.names), parsed=scan.parsed)
    if not scan.parsed:
        return source
    for name in scan.names:
        if name.replace(".", "").replace("_", "").isalnum():
            hits = _resolve(name, present)
            source.imports.update(hits)
            # Discovery loads the modules of a package the file names itself (`import cicd.gate.checks`), not of
            # every package above a module it imports (cicd/gate/ for cicd.gate.model).
            if scan.discovers and hits and hits[0].endswith("__init__.py"):
                source.imports.update(_package_modules(hits[0], present))
    if scan.globs_siblings:
        source.imports.update(_package_modules(path, present))
    source.imports.discard(path)
    return source


class ScanCache:
    """Scans of unchanged files from the last run (build/gate/import-scan.json): parsing ~400 files with `ast`
    is most of a changed-only run's set-up. Keyed by each file's content hash and this module's own code."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.version = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()
        self.entries: dict[str, dict[str, object]] = {}
        self.changed = False
        try:
            data = json.loads(path.read_text())
            if data.get("version") == self.version:
                self.entries = data["files"]
        except (OSError, ValueError, KeyError, TypeError):
            pass

    def scan(self, root: Path, path: str) -> Scan:
        try:
            data = (root / path).read_bytes()
        except OSError:
            return Scan(parsed=False)
        digest = hashlib.sha256(data).hexdigest()
        entry = self.entries.get(path)
        if entry is not None and entry.get("digest") == digest:
            return Scan(**{k: v for k, v in entry.items() if k != "digest"})  # type: ignore[arg-type]
        scan = _scan(data, path)
        self.entries[path] = {"digest": digest, **asdict(scan)}
        self.changed = True
        return scan

    def save(self, keep: set[str]) -> None:
        if not self.changed:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(f".{os.getpid()}.tmp")
        entries = {k: v for k, v in self.entries.items() if k in keep}
        partial.write_text(json.dumps({"version": self.version, "files": entries}))
        partial.replace(self.path)
