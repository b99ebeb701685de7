"""constructs/ must stay a namespace folder joined to the `constructs` library (see README)."""

import importlib
import pkgutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_constructs_folder_has_no_init_file():
    assert not (ROOT / "constructs" / "__init__.py").exists(), (
        "constructs/__init__.py shadows the `constructs` library and breaks every aws-cdk-lib import; delete it"
    )


def test_library_still_resolves_and_our_folder_joins_it():
    library = importlib.import_module("constructs")
    assert hasattr(library, "Construct"), "`import constructs` no longer gives the library"
    assert str(ROOT / "constructs") in [str(p) for p in library.__path__]


def test_no_module_name_collides_with_the_library():
    library = importlib.import_module("constructs")
    library_dir = next(p for p in library.__path__ if "site-packages" in str(p))
    # Not dir(library): importing constructs.<ours> adds our module names to the package namespace.
    library_names = {m.name for m in pkgutil.iter_modules([library_dir])} | set(library.__all__)
    ours = {p.stem for p in (ROOT / "constructs").glob("*.py")} | {
        p.name for p in (ROOT / "constructs").iterdir() if p.is_dir() and p.name != "__pycache__"
    }
    assert not ours & library_names, f"rename these modules, the library owns the names: {ours & library_names}"
