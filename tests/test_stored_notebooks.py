"""The notebooks' stored outputs (what GitHub shows, what a learner reads before running anything) are a faithful
record of a run: every cell that draws a plot holds the image, and no output gives away the machine that made it.

Both tests read the stored .ipynb files only; nothing is executed. The stored outputs are made by
`python bench/course_time.py --store` (or `python -m ftlab course --store`), whose kernels keep their plots
(ftlab.tools.course_runner).
"""
import ast
import re

import nbformat
import pytest

from ftlab.tools.course_runner import course_notebooks

BOOKS = course_notebooks()

# A call that draws: ftlab.course.plots' functions, pyplot's, or a figure object used in the cell. pyplot calls that only
# configure or close are not drawing.
DRAWS = re.compile(r"\bplots\.\w+\s*\(|\bplt\.(?!close\b|ioff\b|ion\b|rc\b|rcParams\b|style\b|switch_backend\b|"
                   r"get_backend\b)\w+\s*\(|\bfig\b")
# An absolute path: Windows (C:\ or C:/), or POSIX with at least two components starting where a path can start
# (not inside a word, a relative path, a URL's // or a fraction); plus any installed-package folder.
ABSOLUTE = re.compile(r"(?<![\w.~/+\-])/(?:[\w.@+-]+/)+[\w.@+-]*|\b[A-Za-z]:[\\/][\w.-]+|\b(?:site|dist)-packages\b|"
                      r"file://")
BASE64 = re.compile(r"data:[\w/+.-]+;base64,[A-Za-z0-9+/=]+")


def _code(source: str) -> str:
    """A cell's source without its `# …` comments (a commented-out call draws nothing)."""
    return "\n".join(line.split("#", 1)[0] for line in source.splitlines())


def _texts(output) -> list[str]:
    """Every piece of text an output shows: stream text, text/* data, an error's value and traceback."""
    texts = [output.get("text", ""), output.get("evalue", ""), *output.get("traceback", [])]
    for mime, value in output.get("data", {}).items():
        if mime.startswith("text/"):
            texts.append(value if isinstance(value, str) else "".join(value))
    return [t for t in texts if t]


def test_the_patterns_tell_plots_and_paths_apart():
    """The detectors themselves, on examples of what must and must not count."""
    drawing = ["plots.loss_curves(curves)", "fig, ax = plt.subplots()", "plt.plot([1, 2])", "fig"]
    not_drawing = ["plt.close('all')", "# plots.loss_curves(x)", "from ftlab import plots", "figures = 3",
                   "plt.rcParams['figure.dpi'] = 100"]
    assert all(DRAWS.search(_code(s)) for s in drawing)
    assert not any(DRAWS.search(_code(s)) for s in not_drawing)
    absolute = ["/work/main/runs/01-sft/runcard.json", "see /home/ana/x.txt", "'/tmp/abc/def'", "C:\\Users\\ana",
                "/root/.cache/x", ".venv/lib/python3.11/site-packages/trl/x.py:3: Warning", "(/Users/ana/ftlab/x)"]
    relative = ["runs/01-sft-seed0/runcard.json", "tokens/s", "train/val/test", "1/2 of the rows",
                "https://huggingface.co/papers/2305.11206", "bench/results/seeds_01-sft_tiny_fp32.json",
                "12.5 GiB/s", "loss (bf16/fp32)", "<img src='data:image/png;base64,iVBOR+/abc/def=='/>"]
    assert all(ABSOLUTE.search(BASE64.sub("", s)) for s in absolute), [s for s in absolute if not ABSOLUTE.search(s)]
    found = {s: ABSOLUTE.search(BASE64.sub("", s)) for s in relative}
    assert not any(found.values()), {s: m.group(0) for s, m in found.items() if m}


@pytest.mark.parametrize("path", BOOKS, ids=[b.stem for b in BOOKS])
def test_every_cell_that_draws_holds_its_image(path):
    nb = nbformat.read(path, as_version=4)
    missing = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or not (call := DRAWS.search(_code(cell.source))):
            continue
        if not any("image/png" in out.get("data", {}) for out in cell.outputs):
            kinds = [out.output_type for out in cell.outputs] or "no outputs"
            missing.append(f"notebooks/{path.name} cell {index}: draws ({call.group(0).rstrip('( ')}) but holds no "
                           f"image output ({kinds})")
    assert not missing, "\n".join(missing)


@pytest.mark.parametrize("path", BOOKS, ids=[b.stem for b in BOOKS])
def test_no_output_shows_an_absolute_path_of_the_machine_that_made_it(path):
    nb = nbformat.read(path, as_version=4)
    found = []
    for index, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            for text in _texts(out):
                text = BASE64.sub("", text)
                for match in ABSOLUTE.finditer(text):
                    line = text[text.rfind("\n", 0, match.start()) + 1:].split("\n", 1)[0]
                    found.append(f"notebooks/{path.name} cell {index} ({out.output_type}): {match.group(0)!r} "
                                 f"in {line.strip()[:160]!r}")
    assert not found, f"{len(found)} absolute path(s):\n" + "\n".join(found[:40])


@pytest.mark.parametrize("path", BOOKS, ids=[b.stem for b in BOOKS])
def test_no_output_holds_a_model_loading_bar(path):
    """transformers' "Loading weights" bar is stored with its widget state lost: GitHub shows it stuck at 0 %.
    ftlab turns it off while it loads and prints one line instead (ftlab.core.progress)."""
    nb = nbformat.read(path, as_version=4)
    found = [f"notebooks/{path.name} cell {index}" for index, cell in enumerate(nb.cells)
             for out in cell.get("outputs", []) if any("Loading weights" in text for text in _texts(out))]
    assert not found, f"{len(found)} stored loading bar(s): " + ", ".join(found[:20])


# The library objects each notebook teaches, as a learner would write them: they must be called in a code cell that
# ran (its stored output is there), not only named in prose.
TAUGHT = {
    "01": ("SFTConfig(", "SFTTrainer(", "trainer.train()"),
    "02": ("Dataset.from_list(", ".filter(", "MinHash("),
    "03": ("interleave_datasets(", "def ewc_penalty("),
    "04": ("estimate_training_usage(", "calculate_maximum_sizes("),
    "05": ("LoraConfig(", "IA3Config(", "PrefixTuningConfig(", "PromptTuningConfig(", "BitsAndBytesConfig(",
           "get_peft_model(", ".print_trainable_parameters()"),
    "06": ("sql.execute(", "sql.execution_match("),
    "07": ("DPOConfig(", "LoraConfig(", "DPOTrainer(", "trainer.train()"),
    "10": (".apply_chat_template(",),
}


@pytest.mark.parametrize("book", BOOKS, ids=lambda p: p.stem)
def test_the_library_objects_taught_are_called_in_cells_that_ran(book):
    cells = [c for c in nbformat.read(book, as_version=4).cells if c.cell_type == "code"]
    for call in TAUGHT.get(book.name[:2], ()):
        ran = [c for c in cells if call in _code(c.source) and c.get("execution_count")]
        assert ran, f"{book.name}: no executed code cell calls {call!r}"


@pytest.mark.parametrize("book", BOOKS, ids=lambda p: p.stem)
def test_every_assert_a_learner_can_hit_says_what_was_expected(book):
    bare = []
    for cell in nbformat.read(book, as_version=4).cells:
        if cell.cell_type == "code":
            bare += [ast.get_source_segment(cell.source, node) for node in ast.walk(ast.parse(cell.source))
                     if isinstance(node, ast.Assert) and node.msg is None]
    assert not bare, f"{book.name}: asserts without a message: {bare}"
