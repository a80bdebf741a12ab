"""A lint for the GPU path: the kit's code must run unchanged with `--device cuda`.

Two rules, checked on the notebooks, the `course_lib` modules and the benchmarks:

* `.numpy()` only on a tensor visibly on the CPU (a CUDA tensor raises `TypeError: can't convert
  cuda:0 device type tensor to numpy`). Walking down the receiver's method calls, indexing and
  attributes we must meet `.cpu()` before any `.to(...)` or `.cuda()`; or reach `torch.cat` /
  `torch.stack` of items that pass the same test: a list written out, a comprehension, or a list
  name every item of which (`name = [...]`, `name.append(item)`) passes it.
* `torch.load(...)` only with `weights_only=True` (no unpickling of arbitrary objects).
* A tensor made from host data (`torch.as_tensor`, `torch.tensor`, `torch.from_numpy`) and handed straight to a
  network (`.encoder(...)`, `.decoder(...)`, `.encode_mean(...)`) names its device: the network may be on the GPU.
"""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted([*ROOT.glob("notebooks/*.py"), *ROOT.glob("course_lib/**/*.py"), *ROOT.glob("benchmarks/*.py")])


def list_items(tree: ast.AST) -> dict[str, list[ast.expr]]:
    """For each name: the items put into it by `name = [...]` and `name.append(item)`."""
    items = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            if isinstance(node.value, ast.List):
                items.setdefault(node.targets[0].id, []).extend(node.value.elts)
            elif isinstance(node.value, ast.ListComp):
                items.setdefault(node.targets[0].id, []).append(node.value.elt)
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "append"
              and isinstance(node.func.value, ast.Name)):
            items.setdefault(node.func.value.id, []).extend(node.args)
    return items


def on_cpu(node: ast.expr, items: dict) -> bool:
    """Whether the tensor `node` is visibly on the CPU (see the module's docstring)."""
    while True:
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            method, receiver = node.func.attr, node.func.value
            if isinstance(receiver, ast.Name) and receiver.id == "torch":
                return method in ("cat", "stack") and bool(node.args) and all_on_cpu(node.args[0], items)
            if method in ("to", "cuda"):
                return False
            if method == "cpu":
                return True
            node = receiver
        elif isinstance(node, (ast.Subscript, ast.Attribute)):
            node = node.value
        else:
            return False


def all_on_cpu(sequence: ast.expr, items: dict) -> bool:
    if isinstance(sequence, (ast.List, ast.Tuple)):
        return all(on_cpu(item, items) for item in sequence.elts)
    if isinstance(sequence, (ast.ListComp, ast.GeneratorExp)):
        return on_cpu(sequence.elt, items)
    if isinstance(sequence, ast.Name):
        return bool(items.get(sequence.id)) and all(on_cpu(item, items) for item in items[sequence.id])
    return False


def is_method_call(node: ast.AST, name: str) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == name


NETWORK_CALLS = ("encoder", "decoder", "encode_mean")
HOST_TENSORS = ("as_tensor", "tensor", "from_numpy")


def host_tensor_without_device(node: ast.expr) -> bool:
    """`torch.as_tensor(x)`, `torch.tensor(x)` or `torch.from_numpy(x)` without a `device=`: a tensor on the CPU."""
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in HOST_TENSORS
            and isinstance(node.func.value, ast.Name) and node.func.value.id == "torch"
            and not any(k.arg == "device" for k in node.keywords))


def violations(source: str) -> list[str]:
    """'line N: <code>' for each `.numpy()` not visibly on the CPU and each unsafe `torch.load`."""
    tree = ast.parse(source)
    items = list_items(tree)
    found = []
    for node in ast.walk(tree):
        if is_method_call(node, "numpy") and not on_cpu(node.func.value, items):
            found.append((node.lineno, f"{ast.get_source_segment(source, node)}: move it with .cpu() first"))
        elif (is_method_call(node, "load") and isinstance(node.func.value, ast.Name) and node.func.value.id == "torch"
              and not any(k.arg == "weights_only" and getattr(k.value, "value", None) is True for k in node.keywords)):
            found.append((node.lineno, f"{ast.get_source_segment(source, node)}: pass weights_only=True"))
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in NETWORK_CALLS
              and any(host_tensor_without_device(arg) for arg in node.args)):
            found.append((node.lineno, f"{ast.get_source_segment(source, node)}: give the tensor the network's device"))
    return [f"line {line}: {message}" for line, message in sorted(found)]


def test_the_lint_covers_the_notebooks_and_the_library():
    names = {p.relative_to(ROOT).as_posix() for p in SOURCES}
    assert {"notebooks/12_latent_geometry.py", "course_lib/analysis/geometry/curvature.py",
            "course_lib/topology/zhou.py"} <= names


def test_no_numpy_of_a_tensor_that_may_be_on_the_gpu_and_no_unsafe_torch_load():
    found = {p.relative_to(ROOT).as_posix(): violations(p.read_text()) for p in SOURCES}
    assert {name: lines for name, lines in found.items() if lines} == {}


OLD_NOTEBOOK_12 = """\
for label, f in (("logits", models[name].decoder), ("mean image σ(logits)", decoders[name])):
    J0, J1 = jacobian(f, z), jacobian(f, z + nudge)
    change = ((J1 - J0).flatten(1).norm(dim=1) / J0.flatten(1).norm(dim=1)).numpy()
"""


@pytest.mark.parametrize("code", [
    OLD_NOTEBOOK_12,
    "z.detach().numpy()",
    "model.encoder(x)[0].numpy()",
    "z.cpu().to(device).numpy()",
    "torch.cat([a.cpu(), b]).numpy()",
    "parts = []\nfor x in batches:\n    parts.append(model(x))\ntorch.cat(parts).numpy()",
    "torch.cat(unknown).numpy()",
    "torch.load(path)",
    "torch.load(path, map_location='cpu', weights_only=False)",
    "logits = models[name].decoder(torch.as_tensor(z_pair))",  # notebook 12's Exercise 2, before
    "model.encoder(torch.from_numpy(images))",
])
def test_the_lint_flags_code_that_fails_on_a_gpu(code):
    assert len(violations(code)) == 1


@pytest.mark.parametrize("code", [
    "change = ((J1 - J0).flatten(1).norm(dim=1) / J0.flatten(1).norm(dim=1)).cpu().numpy()",
    "z.detach().cpu().double().numpy()[0]",
    "z.to(torch.float64).cpu().numpy()",
    "torch.cat([a.cpu(), b[0].cpu()]).numpy()",
    "torch.stack([t.cpu() for t in ts]).contiguous().numpy()",
    "parts = []\nfor x in batches:\n    parts.append(model(x).cpu())\ntorch.cat(parts).numpy()",
    "torch.load(path, map_location='cpu', weights_only=True)",
    "np.load(path)",
    "logits = models[name].decoder(torch.as_tensor(z_pair, device=DEVICE))",
    "model.decoder(torch.as_tensor(z).to(device))",
])
def test_the_lint_accepts_code_that_moves_tensors_to_the_cpu(code):
    assert violations(code) == []


def test_the_lint_names_the_line_and_the_fix():
    assert violations(OLD_NOTEBOOK_12) == [
        "line 3: ((J1 - J0).flatten(1).norm(dim=1) / J0.flatten(1).norm(dim=1)).numpy(): move it with .cpu() first"]
