"""Every command the docs tell people to run exists: each `cicd ...` line is checked against the real argparse
tree (sub-commands and options), each `make <target>` against the Makefile, each `python -m <module>` against
the modules. A renamed option or a dropped target fails here, not in a reader's terminal.

Read: fenced and indented code blocks and `inline code` of every Markdown file, the hook of
.pre-commit-config.yaml, and the backticked commands in the messages of the code (fix texts).
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from cicd.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
MARKDOWN = sorted(
    p for p in ROOT.rglob("*.md") if not {"node_modules", "build", "fixtures"} & set(p.relative_to(ROOT).parts)
)
MARKDOWN = [p for p in MARKDOWN if not p.relative_to(ROOT).parts[0].startswith(".")]
CODE_FOLDERS = ("cicd", "config", "dags", "pipeline_assets", "stacks", "constructs")
# How a line can start the command; what follows is checked.
CICD = re.compile(r"^(?:\.venv/bin/)?(?:cicd|python -m cicd)(?=\s|$)")
MODULE = re.compile(r"^(?:\.venv/bin/)?python -m (?P<module>[\w.]+)")
MAKE = re.compile(r"^make\s+(?P<targets>[\w -]+?)(?:\s+[A-Z_]+=|\s*$|\s*#|\s*[;&|)])")
PLACEHOLDER = re.compile(r"^(?:\.\.\.|…|<.*>|\[.*\]|[A-Z][A-Z_]+)$")  # ..., <bucket>, [x], COMMAND


@dataclass(frozen=True)
class Documented:
    where: str  # file:line
    text: str


def _code_lines(path: Path) -> list[Documented]:
    """Command-looking lines in code blocks, and inline code spans, with line continuations joined."""
    found: list[Documented] = []
    lines = path.read_text().splitlines()
    in_fence = False
    pending: tuple[int, str] | None = None
    for number, line in enumerate(lines, start=1):
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
            continue
        block = in_fence or (line.startswith("    ") and not line.lstrip().startswith(("-", "*", "|")))
        if block:
            text = line.strip()
            if pending:
                start, before = pending
                text, number = f"{before} {text}", start
            if text.endswith("\\"):
                pending = (number, text[:-1].strip())
                continue
            pending = None
            found.append(Documented(f"{path.relative_to(ROOT)}:{number}", text))
        found += [Documented(f"{path.relative_to(ROOT)}:{number}", span) for span in re.findall(r"`([^`]+)`", line)]
    return found


def _code_messages() -> list[Documented]:
    found = []
    for folder in CODE_FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            for number, line in enumerate(path.read_text().splitlines(), start=1):
                for span in re.findall(r"`([^`]+)`", line):
                    found.append(Documented(f"{path.relative_to(ROOT)}:{number}", span))
    return found


def _pre_commit_hooks() -> list[Documented]:
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    return [
        Documented(f".pre-commit-config.yaml ({hook['id']})", hook["entry"])
        for repo in config["repos"]
        for hook in repo["hooks"]
        if hook.get("language") == "system"
    ]


def documented() -> list[Documented]:
    every = [d for path in MARKDOWN for d in _code_lines(path)] + _code_messages() + _pre_commit_hooks()
    return [d for d in every if CICD.match(d.text) or MODULE.match(d.text) or MAKE.match(d.text)]


def _words(command: str) -> list[str]:
    command = command.split(" #", 1)[0]  # a trailing comment
    command = re.sub(r"\[([^\]]*)\]", r" \1 ", command)  # [--json] documents an option that exists too
    try:
        return shlex.split(command, posix=True)
    except ValueError:  # an unbalanced quote in prose: words as written
        return command.split()


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _options(parsers: list[argparse.ArgumentParser]) -> set[str]:
    return {option for parser in parsers for action in parser._actions for option in action.option_strings}


def _takes_value(option: str, parsers: list[argparse.ArgumentParser]) -> bool:
    """Whether `option` given alone (no `=value`) consumes the next word, as `cicd --root DIR` does."""
    for parser in reversed(parsers):
        for action in parser._actions:
            if option in action.option_strings:
                return action.nargs != 0
    return False


def check_cicd(command: str, root: argparse.ArgumentParser) -> str | None:
    """Why `command` would not parse as documented (None when it would)."""
    words = _words(CICD.sub("", command, count=1))
    parsers, path = [root], ["cicd"]
    alternatives: list[str] = []
    value_expected = False
    for word in words:
        if word in ("|", "||", "&&", ";") and not alternatives:
            break  # a shell pipeline or a list: the rest is another command
        if value_expected:
            value_expected = False
            continue
        if PLACEHOLDER.match(word) or word.startswith(("$", "<")):
            continue
        if word.startswith("-"):
            option = word.split("=", 1)[0]
            if option.startswith("--") and option not in _options(parsers):
                known = ", ".join(sorted(o for o in _options(parsers[-1:]) if o.startswith("--")))
                return f"{option} is not an option of `{' '.join(path)}` (it takes: {known})"
            value_expected = "=" not in word and _takes_value(option, parsers)
            continue
        commands = _subcommands(parsers[-1])
        if not commands:
            continue  # a value or a positional argument
        names = [name for name in word.split("|") if name] if "|" in word else [word]
        unknown = [name for name in names if name not in commands]
        if unknown:
            return f"`{' '.join(path)}` has no command {unknown[0]!r} (it has: {', '.join(commands)})"
        parsers.append(commands[names[-1]])
        path.append(names[-1])
    return None


def make_targets() -> set[str]:
    return set(re.findall(r"^([a-zA-Z][\w-]*):", (ROOT / "Makefile").read_text(), re.MULTILINE))


def check_make(command: str, targets: set[str]) -> str | None:
    match = MAKE.match(command)
    assert match
    missing = [t for t in match["targets"].split() if t not in targets]
    return f"the Makefile has no target {missing[0]!r}" if missing else None


def check_module(command: str) -> str | None:
    module = MODULE.match(command)["module"]  # type: ignore[index]
    if module == "cicd" or module.startswith(("pip", "py_compile", "sqlfluff", "dbt")):
        return None
    try:
        spec = importlib.util.find_spec(module)
    except ModuleNotFoundError:
        spec = None
    if spec is None:
        return f"there is no module {module}"
    runnable = spec.submodule_search_locations is None or importlib.util.find_spec(f"{module}.__main__")
    return None if runnable else f"{module} is a package without __main__"


def problems(lines: list[Documented]) -> list[str]:
    root, targets = build_parser(), make_targets()
    found = []
    for line in lines:
        if CICD.match(line.text):
            why = check_cicd(line.text, root)
        elif MAKE.match(line.text):
            why = check_make(line.text, targets)
        else:
            why = check_module(line.text)
        if why:
            found.append(f"{line.where}: `{line.text}`: {why}")
    return found


def test_every_documented_command_exists():
    lines = documented()
    assert len(lines) > 80, "the docs name far more commands than this; the extraction broke"
    found = problems(lines)
    assert not found, "documented commands that do not exist:\n" + "\n".join(found)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("cicd streaming bench --bacth-mb 200", "--bacth-mb is not an option of `cicd streaming bench`"),
        ("cicd dags create orders", "`cicd dags` has no command 'create'"),
        (".venv/bin/python -m cicd audit report --format-json", "--format-json is not an option"),
        ("cicd release statuses --env prod", "`cicd release` has no command 'statuses'"),
        ("cicd streaming redeploy | rollback | restart", None),  # a table's list of sub-commands: shell-split
        ("cicd --root /tmp/other readiness --json", None),  # a global option's value is not a command
        ("cicd --root /tmp/other readines", "`cicd` has no command 'readines'"),
        ("make validate-all", "the Makefile has no target 'validate-all'"),
        ("python -m cicd.no_such_module --x", "there is no module cicd.no_such_module"),
    ],
)
def test_the_checker_catches_what_it_is_for(text, why):
    found = problems([Documented("doc.md:1", text)])
    if why is None:
        assert found == []
    else:
        assert len(found) == 1 and why in found[0], found


def test_sub_command_lists_written_with_bars_are_each_checked():
    assert check_cicd("cicd schemas check|baseline", build_parser()) is None
    assert "has no command 'baselines'" in (check_cicd("cicd schemas check|baselines", build_parser()) or "")


def test_the_pre_commit_hook_says_what_it_runs_on():
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    [gate] = [hook for repo in config["repos"] for hook in repo["hooks"] if hook["id"] == "gate-fast"]
    assert gate["pass_filenames"] is False and "staged" not in gate["name"]  # it checks the whole tree
