"""The house: a fast CLI, spec citations that resolve to the spec in the repo, the shipped example, and a
demo that says plainly when the weights are random."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from peclip.cli import COMMANDS, main

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "docs" / "spec.md"
EXAMPLE = ROOT / "examples" / "single_face.mp4"


def test_help_of_every_command_loads_no_heavy_library():
    # `peclip --help` and `peclip COMMAND --help` must not wait for torch, OpenCV or PyAV to load
    code = ("import sys, contextlib, io\n"
            "from peclip.cli import COMMANDS, build_parser\n"
            "for argv in [['--help']] + [[c, '--help'] for c in COMMANDS]:\n"
            "    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
            "        build_parser().parse_args(argv)\n"
            "print(sorted(m for m in ('torch', 'open_clip', 'cv2', 'av', 'matplotlib') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_version_is_printed(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert re.fullmatch(r"peclip \S+\n", capsys.readouterr().out)


def _cited_sections() -> set[str]:
    """Every section of docs/spec.md cited in the code, recipes and tests: '2.2', '10 A7', '3' ..."""
    cited = set()
    pattern = re.compile(r"docs/spec\.md((?:[ ,;]+(?:\d+(?:\.\d+)?(?:-\d+(?:\.\d+)?)?|A\d+))+)")
    for path in [*ROOT.joinpath("src").rglob("*.py"), *ROOT.joinpath("src").rglob("*.yaml"),
                 *ROOT.joinpath("benchmarks").rglob("*.py")]:
        for match in pattern.finditer(path.read_text(encoding="utf-8")):
            cited.update(t for t in re.split(r"[ ,;]+", match.group(1)) if t)
    return cited


def test_every_spec_citation_resolves_to_a_section_of_the_spec_in_the_repo():
    headings = [line for line in SPEC.read_text(encoding="utf-8").splitlines() if line.startswith("#")]
    numbers = {m.group(1) for h in headings if (m := re.match(r"#+ (\d+(?:\.\d+)?)\.? ", h))}
    items = {m.group(1) for h in headings if (m := re.match(r"#+ (A\d+) ", h))}
    cited = _cited_sections()
    assert len(cited) > 20  # the code does cite the spec
    for token in cited:
        for part in token.split("-"):  # ranges such as 2.4-2.5
            assert part in numbers or part in items, f"docs/spec.md {part} is cited but the spec has no such section"


def test_no_citation_points_outside_the_repo():
    for path in ROOT.joinpath("src").rglob("*"):
        if path.suffix in (".py", ".yaml"):
            text = path.read_text(encoding="utf-8")
            assert not re.search(r"(?<!docs/)\bSPEC\.md", text), f"{path} cites docs/spec.md, which is not in the repo"
            for doc in re.findall(r"\bdocs/[\w/-]+\.md", text):
                assert (ROOT / doc).is_file(), f"{path} cites {doc}, which does not exist"


def test_the_readme_first_command_uses_the_shipped_example():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "peclip predict examples/single_face.mp4 --model test-peclip-vit-b16" in readme
    assert EXAMPLE.is_file() and EXAMPLE.stat().st_size < 300_000
    assert "MIT" in (ROOT / "examples" / "README.md").read_text(encoding="utf-8")


def test_the_demo_says_plainly_that_random_weights_mean_nothing(tmp_path, capsys):
    assert main(["predict", str(EXAMPLE), "--model", "test-peclip-vit-b16", "-o", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "random weights: these probabilities mean nothing" in out
    data = json.loads((tmp_path / "single_face.json").read_text())
    assert data["warning"] == "random weights: these probabilities mean nothing"
    assert data["settings"]["random_weights"] is True
    assert (tmp_path / "single_face.png").is_file() and (tmp_path / "single_face.csv").is_file()


def test_a_model_loaded_from_a_checkpoint_is_not_called_random(tmp_path):
    import peclip

    model = peclip.create_model("test-clip-vit-b16")
    assert model.random_weights
    peclip.save(model, tmp_path / "ckpt")
    assert not peclip.load(tmp_path / "ckpt").random_weights


def test_every_command_module_is_thin(tmp_path):
    # commands parse and call the library; long functions belong in the library
    import ast

    for name in COMMANDS:
        path = ROOT / "src" / "peclip" / "commands" / f"{COMMANDS[name]}.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef) and node.name == "run":
                assert node.end_lineno - node.lineno < 40, f"{path}: run() has {node.end_lineno - node.lineno} lines"
