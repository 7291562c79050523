"""The shape of the package, read from the source (every import, at the top of a module,
under ``TYPE_CHECKING`` or inside a function):

- the packages of ``registry/`` depend on each other one way only: no cycle between
  them (accounts <- records <- readiness <- evidence, surfaces on top);
- no import inside a function hides a dependency, except the application's wiring and
  the command line's lazy imports (``LAZY``);
- no module imports another module's private name (``_name``);
- the surfaces' views (``web/``, ``api/``) call services and never query storage
  themselves.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import registry

ROOT = Path(registry.__file__).parent

# The packages from the top down (docs/architecture.md, "Dependencies"): each imports
# only from its own layer or those below. Top-level modules not named here are below all.
LAYERS = [
    # What builds the app and runs it: the command line (its commands added to the app
    # it builds) and the server (gunicorn's workers build theirs).
    {"cli", "server"},
    {"registry"},  # create_app: wires the surfaces below, knows nothing of the above
    # The surfaces, and what sees the whole schema: models.py gathers every model (for
    # Alembic, and for dbcopy.py, which copies every table for `registry db copy`).
    # exporting.py: an export's two transactions, which every surface commits alike.
    # jobs: background work, which the surfaces ask for and whose tasks run exports
    # (exporting.py) and the schedule; never imports a surface.
    {"web", "api", "models", "dbcopy", "exporting", "jobs", "operations"},
    {"extensions"},
    {"notifications"},  # reminders, e-mail, webhooks: read records, readiness, accounts
    {"evidence"},
    {"demo"},
    # Frameworks applied to systems (coverage, OSCAL) and spreadsheet import: above the
    # scorecard they read and the records they write.
    {"applicability", "sheets"},
    {"readiness"},
    {"records"},
    {"frameworks"},  # the catalogues: data, read by the kinds and the criteria
    {"documents"},  # evidence documents: the blob store, receiving, collecting
    {"accounts"},
    {"witness"},  # a witness of other logs: the ledger's pure modules and files.py only
    {"ledger"},
]
# Modules whose functions may import from the registry, and why.
LAZY = {
    # create_app wires the surfaces together; importing any registry module runs this
    # package's __init__, so it must not load the app's packages when it is imported.
    "registry": "create_app's wiring",
    "registry.web": "init_web: the blueprints, registered by create_app",
    "registry.api": "init_api: the blueprints, registered by create_app",
    # Each command loads what it runs (see cli.py's docstring): start-up time.
    "registry.cli": "the commands' lazy imports",
}
# Imports that still cross the dependency direction, each with the change that removes it.
KNOWN: dict[tuple[str, str], str] = {}
# The one module of a surface that touches storage: the API's transaction boundary and
# its Idempotency-Key store (its own table, api/models.py).
STORAGE_OF_SURFACES = {"registry.api.writes", "registry.api.models"}
# What querying storage looks like: a session's (or connection's) methods.
QUERYING = {"execute", "scalar", "scalars", "query", "connection", "get_bind"}


@dataclass(frozen=True)
class Import:
    importer: str
    target: str  # the module imported (``from m import name``: m.name when a module)
    names: tuple[str, ...]  # the names imported from it (empty for ``import m``)
    line: int
    in_function: bool


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = ["registry", *path.relative_to(ROOT).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imports(module: str, tree: ast.Module) -> Iterator[Import]:
    def visit(node: ast.AST, in_function: bool) -> Iterator[Import]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                if child.module.split(".")[0] == "registry":
                    for alias in child.names:
                        sub = f"{child.module}.{alias.name}"
                        target = sub if sub in MODULES else child.module
                        names = () if target == sub else (alias.name,)
                        yield Import(module, target, names, child.lineno, in_function)
            elif isinstance(child, ast.Import):
                for alias in child.names:
                    if alias.name.split(".")[0] == "registry":
                        yield Import(module, alias.name, (), child.lineno, in_function)
            inner = in_function or isinstance(
                child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
            )
            yield from visit(child, inner)

    yield from visit(tree, False)


TREES = {name: ast.parse(path.read_text(), str(path)) for name, path in MODULES.items()}
IMPORTS = [i for name, tree in TREES.items() for i in _imports(name, tree)]


def package(module: str) -> str:
    """The unit of the dependency graph: ``registry.records.reads`` -> ``records``; a
    top-level module (``registry.db``) is its own; ``registry`` is the app factory."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "registry"


def package_cycles(imports: list[Import]) -> list[list[str]]:
    """The cycles between packages: strongly connected groups of more than one."""
    graph: dict[str, set[str]] = {}
    for i in imports:
        a, b = package(i.importer), package(i.target)
        if a != b:
            graph.setdefault(a, set()).add(b)
            graph.setdefault(b, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def connect(v: str) -> None:  # Tarjan's algorithm
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return groups


def _counted(i: Import) -> bool:
    """Whether an import counts in the dependency graph: not a known exception."""
    return (i.importer, i.target) not in KNOWN


def test_the_packages_depend_on_each_other_one_way() -> None:
    assert package_cycles([i for i in IMPORTS if _counted(i)]) == []


def layer(unit: str) -> int:
    return next((n for n, units in enumerate(LAYERS) if unit in units), len(LAYERS))


def test_every_import_goes_down_the_layers() -> None:
    upward = [
        f"{i.importer}:{i.line} imports {i.target}"
        for i in IMPORTS
        if _counted(i) and layer(package(i.target)) < layer(package(i.importer))
    ]
    assert upward == []


def test_the_check_finds_a_cycle() -> None:
    """The check above sees a cycle that goes through an import inside a function."""
    made_up = [
        Import("registry.records.reads", "registry.accounts.actor", (), 1, False),
        Import("registry.accounts.permissions", "registry.records.models", (), 9, True),
    ]
    assert package_cycles(made_up) == [["accounts", "records"]]


def test_known_exceptions_still_exist() -> None:
    """A known exception that is gone is taken off the list."""
    present = {(i.importer, i.target) for i in IMPORTS}
    assert set(KNOWN) <= present


def test_no_import_inside_a_function_hides_a_dependency() -> None:
    hidden = [
        f"{i.importer}:{i.line} imports {i.target}"
        for i in IMPORTS
        if i.in_function and i.importer not in LAZY and (i.importer, i.target) not in KNOWN
    ]
    assert hidden == []


def test_no_private_name_crosses_modules() -> None:
    crossing = [
        f"{i.importer}:{i.line} imports {name} from {i.target}"
        for i in IMPORTS
        for name in i.names
        if name.startswith("_") and i.target != i.importer
    ]
    for name, tree in TREES.items():
        aliases = {}  # names bound to other registry modules in this module
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                for alias in node.names:
                    if f"{node.module}.{alias.name}" in MODULES:
                        aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname and alias.name in MODULES:
                        aliases[alias.asname] = alias.name
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in aliases
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
            ):
                crossing.append(f"{name}:{node.lineno} uses {aliases[node.value.id]}.{node.attr}")
    assert crossing == []


def _views() -> Iterator[str]:
    for name in MODULES:
        if package(name) in ("web", "api") and name not in STORAGE_OF_SURFACES:
            yield name


def storage_uses(name: str, tree: ast.Module) -> list[str]:
    """Where a view module imports SQL (a ``Session`` for annotations at most), or calls
    a session's or connection's method that reads or writes rows, or loads a model by
    id (``session.get(Model, id)``)."""
    found = []
    models = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in ("sqlalchemy", "psycopg"):
                    found.append(f"{name}:{node.lineno} imports {alias.name}")
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module.split(".")[0] in ("sqlalchemy", "psycopg") and (
                node.module != "sqlalchemy.orm" or [a.name for a in node.names] != ["Session"]
            ):
                found.append(f"{name}:{node.lineno} imports from {node.module}")
            if node.module.endswith(".models"):
                models |= {alias.asname or alias.name for alias in node.names}
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        method = node.func.attr
        if method in QUERYING:
            found.append(f"{name}:{node.lineno} calls .{method}()")
        elif (
            method == "get"
            and node.args
            and isinstance(node.args[0], ast.Name)
            and node.args[0].id in models
        ):
            found.append(f"{name}:{node.lineno} loads a {node.args[0].id} by id")
    return found


def test_views_call_services_and_never_query_storage() -> None:
    """A view parses, checks permission, calls a service and renders; committing or
    rolling back the request's one transaction is the surface's."""
    assert [use for name in _views() for use in storage_uses(name, TREES[name])] == []


def test_the_view_check_sees_a_query() -> None:
    source = (
        "import sqlalchemy as sa\n"
        "from sqlalchemy.orm import Session\n"
        "from registry.accounts.models import User\n"
        "def view(session: Session):\n"
        "    session.get(User, 1)\n"
        "    request.args.get('q', '')\n"
        "    session.commit()\n"
        "    return session.scalars(sa.select(User))\n"
    )
    assert storage_uses("view", ast.parse(source)) == [
        "view:1 imports sqlalchemy",
        "view:5 loads a User by id",
        "view:8 calls .scalars()",
    ]


# The packages whose functions are services: the request or command that calls them
# owns the transaction (docs/architecture.md, "The write path").
SERVICES = {"evidence", "demo", "readiness", "records", "accounts", "witness", "ledger", "jobs"}
# Modules of those packages that run work of their own, outside any request or command,
# and so own its transactions, each with why.
RUNNERS = {
    "registry.jobs.tasks": "the job queue's tasks: each job is a transaction boundary, like "
    "a request or a command",
    "registry.readiness.projector": "stores what a read evaluated of the readiness "
    "projection, the due list or the search index, in a short transaction beside the "
    "read's own",
}


# Functions that carry out, at the driver, the commit or rollback the boundary itself
# asked for (they run in SQLAlchemy's commit and rollback listeners), each with why.
BOUNDARY_LISTENERS = {
    ("registry.ledger.append", "_end_own_begin"): "ends the transaction whose BEGIN the "
    "ledger sent in its pipeline, when the request's or command's commit or rollback "
    "(or the pool's reset) ends it, and takes the driver out of autocommit",
}


def transaction_ends(name: str, tree: ast.Module) -> list[str]:
    """Where a module commits or rolls back a transaction (but in BOUNDARY_LISTENERS)."""
    found = []
    for function in [tree, *ast.walk(tree)]:
        if function is not tree and not isinstance(
            function, ast.FunctionDef | ast.AsyncFunctionDef
        ):
            continue
        if function is not tree and (name, function.name) in BOUNDARY_LISTENERS:
            continue
        for node in _own_nodes(function):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("commit", "rollback")
            ):
                found.append(f"{name}:{node.lineno} calls .{node.func.attr}()")
    return found


def _own_nodes(scope: ast.AST) -> Iterator[ast.AST]:
    """The nodes of ``scope`` (a module or a function) outside the functions it holds."""
    for child in ast.iter_child_nodes(scope):
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        yield child
        yield from _own_nodes(child)


def test_services_never_commit() -> None:
    """Services flush, never commit or roll back: one transaction boundary per request,
    command or job, at the surface or the job's task (an export's two:
    ``registry/exporting.py``)."""
    ends = [
        end
        for name, tree in TREES.items()
        if package(name) in SERVICES and name not in RUNNERS
        for end in transaction_ends(name, tree)
    ]
    assert ends == []
