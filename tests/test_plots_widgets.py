"""helpers.plots and helpers.widgets: figures have what they promise; widgets generate, and store readably."""
import base64
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import ipywidgets  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from helpers.models import CharRNN  # noqa: E402
from helpers.plots import plot_grad_norms, plot_histories, smooth  # noqa: E402
from helpers.text import CharVocab  # noqa: E402
from helpers.train import History  # noqa: E402
from helpers.widgets import LABEL_STYLE, RUN_NOTE, gate_explorer, interactive_plot, sampler  # noqa: E402


def fake_history(scale):
    steps = list(range(1, 41))
    return History(steps=steps, train_loss=[scale * 3 / s ** 0.5 for s in steps], grad_norm=[1.0] * 40,
                   seconds=[0.1 * s for s in steps], tokens=[100 * s for s in steps], val_steps=[10, 20, 30, 40],
                   val_loss=[scale * v for v in (1.2, 1.0, 0.9, 0.85)], val_bpc=[1.0] * 4)


def test_plot_histories_train_solid_validation_dashed_same_colour():
    ax = plot_histories({"GRU": fake_history(1.0), "RNN": fake_history(1.5)})
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert set(lines) == {"GRU train", "GRU validation", "RNN train", "RNN validation"}
    assert lines["GRU train"].get_linestyle() == "-" and lines["GRU validation"].get_linestyle() == "--"
    assert lines["GRU train"].get_color() == lines["GRU validation"].get_color() != lines["RNN train"].get_color()
    assert list(lines["RNN validation"].get_xdata()) == [10, 20, 30, 40]
    assert ax.get_title() and "nats" in ax.get_ylabel() and ax.get_xlabel() == "training step"
    plt.close("all")


def test_plot_histories_other_metrics_and_history_plot():
    ax = plot_histories({"GRU": fake_history(1.0)}, metric="val_bpc")
    assert [line.get_label() for line in ax.get_lines()] == ["GRU validation"] and "bits" in ax.get_ylabel()
    ax = fake_history(1.0).plot(label="mine")
    assert {line.get_label() for line in ax.get_lines()} == {"mine train", "mine validation"}
    with pytest.raises(ValueError, match="metric"):
        plot_histories({"a": fake_history(1.0)}, metric="perplexity")
    with pytest.raises(ValueError, match="dict"):
        plot_histories([fake_history(1.0)])
    plt.close("all")


def test_smooth():
    assert smooth([1.0, 1.0, 1.0]) == [1.0, 1.0, 1.0]
    assert smooth([0.0, 2.0], weight=0.5) == [0.0, 1.0]


def test_plot_grad_norms():
    norms = {"tanh RNN": [0.9 ** t for t in range(30)], "LSTM": torch.ones(30)}
    ax = plot_grad_norms(norms)
    assert ax.get_yscale() == "log" and [line.get_label() for line in ax.get_lines()] == ["tanh RNN", "LSTM"]
    assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel()
    assert plot_grad_norms(norms, log=False).get_yscale() == "linear"
    with pytest.raises(ValueError):
        plot_grad_norms({})
    plt.close("all")


def output_text(box):
    return "".join(o.get("text", "") for o in box.output.outputs)


def test_sampler_widget_generates_on_click():
    vocab = CharVocab.from_text("hello world")
    torch.manual_seed(0)
    model = CharRNN(len(vocab), embed_dim=4, hidden_size=8)
    box = sampler(model, vocab, prime="he")
    assert isinstance(box, ipywidgets.VBox)
    box.length.value, box.temperature.value, box.seed.value = 20, 0.5, "3"
    box.button.click()
    text = output_text(box)
    assert "temperature=0.50" in text and "seed=3" in text
    generated = text.splitlines()[1]
    assert generated.startswith("he") and len(generated) == 22
    box.button.click()
    assert output_text(box) == text  # same seed, same text; the old output was replaced
    box.prime.value = "hz"
    box.button.click()
    assert "Cannot sample" in output_text(box) and "'z'" in output_text(box)
    box.prime.value, box.seed.value = "he", "x1"
    box.button.click()
    assert "seed must be a whole number" in output_text(box)


# --- what a stored notebook shows where a widget was -----------------------------------------

def test_panels_store_a_note_and_a_static_view_instead_of_a_repr():
    vocab = CharVocab.from_text("hello world")
    box = sampler(CharRNN(len(vocab), embed_dim=4, hidden_size=8), vocab, prime="he")
    bundle = box._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle  # still live where a kernel runs
    assert bundle["text/plain"] == f"Text sampler. {RUN_NOTE}"
    assert RUN_NOTE in bundle["text/html"] and "temperature 0.80" in bundle["text/html"]
    assert "children=" not in bundle["text/html"] + bundle["text/plain"]

    explorer = gate_explorer("gru")
    bundle = explorer._repr_mimebundle_()
    png = base64.b64decode(bundle["image/png"])
    assert png.startswith(b"\x89PNG") and bundle["image/png"] in bundle["text/html"]
    assert bundle["text/plain"] == f"GRU gate explorer. {RUN_NOTE}"
    assert not plt.get_fignums(), "the panel's figure must not also show below the cell"


def test_interactive_plot_redraws_and_refuses_a_draw_that_shows_itself():
    def line(slope=1.0):
        _, ax = plt.subplots()
        ax.plot([0, 1], [0, slope])

    slope = ipywidgets.FloatSlider(value=1.0, description="slope")
    panel = interactive_plot(line, "A line", slope=slope)
    first = panel._repr_mimebundle_()["image/png"]
    figure = panel.children[1]
    shown = figure.outputs[0]["data"]["image/png"]
    slope.value = -2.0
    assert figure.outputs[0]["data"]["image/png"] != shown and len(figure.outputs) == 1
    assert panel._repr_mimebundle_()["image/png"] == first  # the stored view is the first state
    assert slope.style.description_width == LABEL_STYLE["description_width"]
    with pytest.raises(ValueError, match="plt.show"):
        interactive_plot(lambda slope: plt.show(), "nothing", slope=ipywidgets.FloatSlider())
    assert not plt.get_fignums()


def test_sampler_labels_are_wide_enough():
    vocab = CharVocab.from_text("ab")
    box = sampler(CharRNN(len(vocab), embed_dim=2, hidden_size=2), vocab, prime="a")
    for control in (box.prime, box.temperature, box.length, box.top_k, box.seed):
        assert control.style.description_width == LABEL_STYLE["description_width"]


def test_no_stored_lecture_output_is_a_bare_widget_repr():
    """A lecture opened without running shows text or a picture where a widget was, never `VBox(children=...`."""
    import nbformat

    bare = []
    for notebook in sorted((Path(__file__).resolve().parent.parent / "lectures").glob("*.ipynb")):
        for number, cell in enumerate(nbformat.read(notebook, as_version=4).cells):
            for output in cell.get("outputs", []):
                data = output.get("data", {})
                plain = str(data.get("text/plain", ""))
                if ("application/vnd.jupyter.widget-view+json" in data and re.match(r"^\w+\(children=", plain)
                        and not {"text/html", "image/png"} & set(data)):  # progress bars are train.py's
                    bare.append(f"{notebook.name} cell {number}: {str(data.get('text/plain', ''))[:60]}")
    assert not bare, ("stored widgets with only a Python repr to show; display a helpers.widgets panel "
                      "(sampler, gate_explorer, interactive_plot or Panel) and rerun the notebook:\n" + "\n".join(bare))
