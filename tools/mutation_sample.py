"""A seeded random sample of mutants of the core modules, each run against its tests.

One AST mutation at a time: a comparison flipped (``==``/``!=``, ``<``/``>=``, ``is``/``is
not``, ``in``/``not in``), a boundary moved (``<``/``<=``, ``>``/``>=``), ``and``/``or``
swapped, an arithmetic operator swapped (``+``/``-``, ``*``/``/``, ``//``/``*``, ...), a
constant changed (numbers, strings, booleans), a statement deleted (replaced by ``pass``),
a condition negated (``if``/``while``/``assert``/conditional expression, ``not`` dropped).

Every mutant is written into a copy of the tree (a temporary directory; the checkout is
never changed), then that module's tests and the tests of the modules importing it run
(``pytest -x -q --no-cov -p no:cacheprovider -p no:randomly``) with a per-mutant timeout.
A mutant is *killed* when they fail, *survived* when they pass, *timeout* when they run
past the limit, and *incompetent* when the mutated module does not compile (not counted).

    nice -n 10 .venv/bin/python tools/mutation_sample.py --count 300 --seed 18
    nice -n 10 .venv/bin/python tools/mutation_sample.py --list --seed 18 --count 300
    nice -n 10 .venv/bin/python tools/mutation_sample.py --only 12,40 --seed 18 --count 300

The same ``--seed`` and ``--count`` over the same source give the same mutants and ids.
Results go to stdout and, with ``--json FILE``, to a JSON file (one object per mutant).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "plivo_numlink"

#: The core modules (paths under the package) and the test areas that are theirs.
MODULES: dict[str, list[str]] = {
    "_transport.py": ["tests/transport", "tests/session"],
    "_journal_store.py": ["tests/journal", "tests/bulk/test_bulk_journal.py"],
    "_report.py": ["tests/report"],
    "_protocol.py": ["tests/protocol"],
    "callbacks/_signatures.py": ["tests/callbacks"],
    "_config.py": ["tests/session"],
    "_pacing.py": ["tests/pacing"],
    "_storage/_limiter.py": ["tests/storage/test_storage_limiter.py"],
    "_bulk/_ambiguity.py": ["tests/bulk"],
    "_retry.py": ["tests/retry"],
    "_numbers.py": ["tests/numbers", "tests/input"],
}

#: Where the tests of an importing module live: the first matching prefix wins.
AREAS: list[tuple[str, list[str]]] = [
    ("_bulk/", ["tests/bulk"]),
    ("_storage/", ["tests/storage"]),
    ("callbacks/", ["tests/callbacks"]),
    ("cli/", ["tests/cli"]),
    ("testing/", ["tests/testing"]),
    ("_journal", ["tests/journal"]),
    ("_session", ["tests/session"]),
    ("_endpoints", ["tests/session"]),
    ("_transport", ["tests/transport", "tests/session"]),
    ("_protocol", ["tests/protocol"]),
    ("_report", ["tests/report"]),
    ("_retry", ["tests/retry"]),
    ("_pacing", ["tests/pacing"]),
    ("_input", ["tests/input"]),
    ("_numbers", ["tests/numbers"]),
    ("_models", ["tests/models"]),
    ("_config", ["tests/session"]),
]

FLIP_COMPARE: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.Lt: ast.GtE,
    ast.GtE: ast.Lt,
    ast.Gt: ast.LtE,
    ast.LtE: ast.Gt,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
}
BOUNDARY: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
}
ARITHMETIC: dict[type[ast.operator], type[ast.operator]] = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.Div,
    ast.Div: ast.Mult,
    ast.FloorDiv: ast.Mult,
    ast.Mod: ast.FloorDiv,
    ast.Pow: ast.Mult,
    ast.BitOr: ast.BitAnd,
    ast.BitAnd: ast.BitOr,
    ast.LShift: ast.RShift,
    ast.RShift: ast.LShift,
}


@dataclass
class Mutant:
    id: int
    module: str
    line: int
    kind: str
    before: str
    after: str
    start: tuple[int, int]
    end: tuple[int, int]
    replacement: str
    status: str = ""
    seconds: float = 0.0
    detail: str = ""


def _skipped_nodes(tree: ast.Module) -> set[int]:
    """Node ids not to mutate: docstrings, annotations, f-strings, ``__all__``."""
    skip: set[int] = set()

    def skip_all(node: ast.AST | None) -> None:
        if node is not None:
            skip.update(id(n) for n in ast.walk(node))

    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(body, list)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            skip_all(body[0])
        if isinstance(node, ast.AnnAssign):
            skip_all(node.annotation)
        if isinstance(node, ast.arg):
            skip_all(node.annotation)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            skip_all(node.returns)
        if isinstance(node, ast.JoinedStr):  # source offsets inside f-strings are unreliable
            skip_all(node)
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            skip_all(node)
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            skip_all(node)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip_all(node)
    return skip


def _constant_change(value: object) -> object | None:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value * 2 if value else 1.0
    if isinstance(value, str):
        return value + "XX" if value else "XX"
    if isinstance(value, bytes):
        return value + b"XX"
    return None


def _replace(node: ast.AST, **changes: object) -> ast.AST:
    copy = ast.parse(ast.unparse(node), mode="eval").body
    for name, value in changes.items():
        setattr(copy, name, value)
    return copy


def _sites(module: str, source: str) -> Iterator[tuple[str, ast.AST, str]]:
    """(kind, node whose source span is replaced, replacement text) for every mutation."""
    tree = ast.parse(source)
    skip = _skipped_nodes(tree)
    for node in ast.walk(tree):
        if id(node) in skip or not hasattr(node, "lineno"):
            continue
        if isinstance(node, ast.Compare):
            for index, op in enumerate(node.ops):
                for kind, table in (("flip", FLIP_COMPARE), ("boundary", BOUNDARY)):
                    new = table.get(type(op))
                    if new is None:
                        continue
                    ops = list(node.ops)
                    ops[index] = new()
                    mutated = ast.Compare(node.left, ops, node.comparators)
                    yield kind, node, f"({ast.unparse(mutated)})"
        elif isinstance(node, ast.BoolOp):
            other = ast.Or() if isinstance(node.op, ast.And) else ast.And()
            yield "and/or", node, f"({ast.unparse(ast.BoolOp(other, node.values))})"
        elif isinstance(node, ast.BinOp):
            new_op = ARITHMETIC.get(type(node.op))
            if new_op is not None:
                mutated_op = ast.BinOp(node.left, new_op(), node.right)
                yield "arithmetic", node, f"({ast.unparse(mutated_op)})"
        elif isinstance(node, ast.Constant):
            changed = _constant_change(node.value)
            if changed is not None:
                yield "constant", node, repr(changed)
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            yield "negate", node, f"({ast.unparse(node.operand)})"
        if isinstance(node, (ast.If, ast.While, ast.IfExp, ast.Assert)):
            yield "negate", node.test, f"(not ({ast.unparse(node.test)}))"
        if isinstance(node, (ast.Expr, ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Raise)):
            if isinstance(node, ast.AnnAssign) and node.value is None:
                continue
            yield "delete", node, "pass"
        elif isinstance(node, ast.Return) and node.value is not None:
            yield "delete", node, "return None"


def _apply(source: str, start: tuple[int, int], end: tuple[int, int], text: str) -> str:
    lines = source.splitlines(keepends=True)
    (line0, col0), (line1, col1) = start, end
    head = lines[line0 - 1].encode()[:col0].decode()
    tail = lines[line1 - 1].encode()[col1:].decode()
    return "".join([*lines[: line0 - 1], head + text + tail, *lines[line1:]])


def all_mutants(root: Path) -> list[Mutant]:
    mutants: list[Mutant] = []
    for module in MODULES:
        path = root / PACKAGE / module
        if not path.exists():
            continue
        source = path.read_text()
        seen: set[str] = set()
        for kind, node, text in _sites(module, source):
            start = (node.lineno, node.col_offset)
            end = (node.end_lineno or node.lineno, node.end_col_offset or 0)
            mutated = _apply(source, start, end, text)
            if mutated == source or mutated in seen:
                continue
            try:
                compile(mutated, str(path), "exec")
            except SyntaxError:
                continue
            seen.add(mutated)
            before = ast.get_source_segment(source, node) or ""
            mutants.append(
                Mutant(0, module, node.lineno, kind, _short(before), _short(text), start, end, text)
            )
    return mutants


def _short(text: str, limit: int = 70) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def sample(root: Path, count: int, seed: int) -> list[Mutant]:
    mutants = all_mutants(root)
    chosen = random.Random(seed).sample(mutants, min(count, len(mutants)))
    chosen.sort(key=lambda m: (m.module, m.line, m.kind, m.after))
    for index, mutant in enumerate(chosen, 1):
        mutant.id = index
    return chosen


def importers(root: Path, module: str) -> list[str]:
    """The package's modules (paths under the package) that import ``module`` directly."""
    dotted = module.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
    target = f"{PACKAGE}.{dotted}"
    found = []
    for path in sorted((root / PACKAGE).rglob("*.py")):
        relative = path.relative_to(root / PACKAGE).as_posix()
        if relative == module:
            continue
        package = f"{PACKAGE}." + relative.removesuffix(".py").replace("/", ".")
        if not relative.endswith("__init__.py"):
            package = package.rsplit(".", 1)[0]
        else:
            package = package.removesuffix(".__init__")
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")
                    parts = parts[: len(parts) - node.level + 1]
                    base = ".".join([*parts, base] if base else parts)
                names = [base] + [f"{base}.{alias.name}" for alias in node.names]
                if target in names:
                    found.append(relative)
                    break
            elif isinstance(node, ast.Import) and any(a.name == target for a in node.names):
                found.append(relative)
                break
    return found


def test_targets(root: Path, module: str) -> list[str]:
    targets = list(MODULES[module])
    for importer in importers(root, module):
        for prefix, areas in AREAS:
            if importer.startswith(prefix):
                targets.extend(a for a in areas if a not in targets)
                break
    return [t for t in targets if (root / t).exists()]


def run_tests(copy: Path, targets: list[str], timeout: float) -> tuple[str, float, str]:
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-x",
        "-q",
        "--no-cov",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:randomly",
        *targets,
    ]
    env = {**os.environ, "PYTHONPATH": str(copy), "PYTHONDONTWRITEBYTECODE": "1"}
    started = time.monotonic()
    process = subprocess.Popen(
        command,
        cwd=copy,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        out, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        return "timeout", time.monotonic() - started, ""
    elapsed = time.monotonic() - started
    text = out.decode(errors="replace").strip().splitlines()
    last = text[-1] if text else ""
    if process.returncode == 0:
        return "survived", elapsed, last
    failed = next((line for line in text if line.startswith(("FAILED", "ERROR"))), last)
    return "killed", elapsed, failed


def copy_tree(destination: Path) -> Path:
    """The checkout's files as they are now (tracked and untracked, not ignored)."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        if name.startswith("."):  # virtual environments, caches, CI files: not the code
            continue
        source = ROOT / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return destination


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--timeout", type=float, default=0.0, help="seconds per mutant")
    parser.add_argument("--only", default="", help="comma-separated mutant ids to run")
    parser.add_argument("--list", action="store_true", help="list the sample, run nothing")
    parser.add_argument("--json", type=Path, help="write every result to this file")
    args = parser.parse_args()

    mutants = sample(ROOT, args.count, args.seed)
    if args.only:
        wanted = {int(part) for part in args.only.split(",")}
        mutants = [m for m in mutants if m.id in wanted]
    if args.list:
        for m in sorted(mutants, key=lambda m: m.id):
            print(f"#{m.id} {m.module}:{m.line} {m.kind}: {m.before!r} -> {m.after!r}")
        return 0

    # Run in a seeded random order: a run stopped early is still a random sample.
    random.Random(args.seed + 1).shuffle(mutants)
    results: list[Mutant] = []
    with tempfile.TemporaryDirectory(prefix="mutants-") as tmp:
        copy = copy_tree(Path(tmp) / "tree")
        baselines: dict[str, float] = {}
        for m in mutants:
            targets = test_targets(copy, m.module)
            path = copy / PACKAGE / m.module
            original = path.read_text()
            if m.module not in baselines:
                status, seconds, detail = run_tests(copy, targets, 3600)
                if status != "survived":
                    print(f"baseline of {m.module} is not green: {detail}", file=sys.stderr)
                    return 2
                baselines[m.module] = seconds
                print(f"baseline {m.module}: {seconds:.0f} s over {' '.join(targets)}")
            limit = args.timeout or max(120.0, 3 * baselines[m.module])
            path.write_text(_apply(original, m.start, m.end, m.replacement))
            try:
                m.status, m.seconds, m.detail = run_tests(copy, targets, limit)
            finally:
                path.write_text(original)
            results.append(m)
            print(
                f"#{m.id} {m.status:8} {m.seconds:5.0f}s {m.module}:{m.line} {m.kind}:"
                f" {m.before!r} -> {m.after!r}",
                flush=True,
            )
            if args.json:
                rows = [asdict(r) for r in results]
                args.json.write_text(json.dumps(rows, indent=1) + "\n")

    counted = [m for m in results if m.status in ("killed", "survived", "timeout")]
    killed = sum(m.status in ("killed", "timeout") for m in counted)
    print(
        f"\n{len(counted)} mutants: {killed} killed (timeouts included), "
        f"{len(counted) - killed} survived: {100 * killed / max(1, len(counted)):.1f}%"
    )
    for m in counted:
        if m.status == "survived":
            print(f"  survived #{m.id} {m.module}:{m.line} {m.kind}: {m.before!r} -> {m.after!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
