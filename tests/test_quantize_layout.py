"""The training side's shape: one training loop, small modules and functions (cycles: test_import_cycles)."""
import ast
import pathlib

REPO = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = REPO / "quantize"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def _trees():
    return {str(p.relative_to(REPO)): ast.parse(p.read_text()) for p in sorted(PACKAGE.rglob("*.py"))}


def test_one_training_loop():
    """Every model in quantize/ trains through quantize.train.fit.fit: one Keras ``.fit`` call."""
    calls = [f"{path}:{node.lineno}" for path, tree in _trees().items() for node in ast.walk(tree)
             if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "fit"]
    assert len(calls) == 1 and calls[0].startswith("quantize/train/fit.py:"), calls


def _code_lines(node) -> int:
    """Lines of a function from its signature to its end, its docstring left out."""
    body = node.body
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
            and isinstance(body[0].value.value, str):
        return node.end_lineno - node.lineno + 1 - (body[0].end_lineno - body[0].lineno + 1)
    return node.end_lineno - node.lineno + 1


def test_modules_and_functions_stay_small():
    long_modules = {p: n for p in _trees() if (n := len((REPO / p).read_text().splitlines())) > MAX_MODULE_LINES}
    long_functions = {f"{path}:{node.name}": _code_lines(node)
                      for path, tree in _trees().items() for node in ast.walk(tree)
                      if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and _code_lines(node) > MAX_FUNCTION_LINES}
    assert long_modules == {} and long_functions == {}
