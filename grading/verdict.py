"""What a graded notebook shows: each test cell's verdict from the judge, and the written parts as handed in.

A test cell ends up with two outputs. First, the student's visible tests as the notebook ran them,
as plain text: they teach, but count for nothing (an error there is not an error output). Then
the grader's verdict, one line per hidden check. nbgrader scores the cell from that verdict alone:
all checks passed leaves no error (full points), some passed gives an ``execute_result`` with the
points earned (nbgrader's partial credit), none passed ends in an error output.

A cell graded by hand whose re-run failed (a fast-mode hand-in has no full-mode model to sample
from) also shows the outputs the student handed in, labelled as such, so the grader has the
student's own work to grade.
"""
from __future__ import annotations

import nbformat

from grading.inert import make_inert, strip_control

VISIBLE_LIMIT = 4000  # characters of the visible tests' output kept in the verdict
RECORD_KEY = "rnn_course_grading"  # notebook metadata: the judge's results (kept by nbgrader_config.py)


def _meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def is_test(cell) -> bool:
    m = _meta(cell)
    return cell.get("cell_type") == "code" and bool(m.get("grade")) and not m.get("solution")


def is_manual_code(cell) -> bool:
    m = _meta(cell)
    return cell.get("cell_type") == "code" and bool(m.get("grade")) and bool(m.get("solution"))


def _as_text(output) -> str:
    kind = output.get("output_type")
    if kind == "stream":
        return output.get("text", "")
    if kind == "error":
        return f"{output.get('ename', 'Error')}: {output.get('evalue', '')}\n"
    data = output.get("data", {})
    if "text/plain" in data:
        text = data["text/plain"]
        return ("".join(text) if isinstance(text, list) else text) + "\n"
    return "[a picture or other rich output]\n" if data else ""


def visible_tests(outputs) -> nbformat.NotebookNode:
    """The visible tests' outputs as one stdout stream (errors as text: they are not the grade)."""
    text = strip_control("".join(_as_text(o) for o in outputs)).strip()
    if len(text) > VISIBLE_LIMIT:
        text = text[:VISIBLE_LIMIT] + "\n[...]"
    head = "Your visible tests, as your notebook ran them (they teach; they do not count towards the grade):"
    return nbformat.v4.new_output("stream", name="stdout", text=f"{head}\n{text or '(no output)'}\n\n")


def verdict(results: list[dict], points: float) -> list[nbformat.NotebookNode]:
    """The grader's verdict on one test cell: its lines, then nothing, partial credit or an error."""
    earned = min(points, sum(r["earned"] for r in results))
    lines = []
    for r in results:
        if r["flags"]:
            lines.append(f"FLAGGED for review - {r['name']}: {'; '.join(r['flags'])}")
        elif r["earned"] >= r["points"]:
            lines.append(f"passed - {r['name']}")
        else:
            lines.append(f"failed - {r['name']}: {r['message']}")
    if not results:
        lines.append("failed - no hidden check is defined for this cell in the lab's checks.py, so none could pass")
    head = f"Hidden checks, on inputs drawn for this submission: {earned:g} of {points:g} points"
    out = [nbformat.v4.new_output("stream", name="stdout", text=head + "\n" + "\n".join(lines) + "\n")]
    if earned >= points:
        return out
    if earned > 0:
        return out + [nbformat.v4.new_output("execute_result", data={"text/plain": f"{earned:g}"}, execution_count=None)]
    first = next((ln for ln in lines if not ln.startswith("passed")), lines[0])
    return out + [nbformat.v4.new_output("error", ename="HiddenChecksFailed", evalue=first,
                                         traceback=[f"HiddenChecksFailed: {earned:g} of {points:g} points", *lines])]


def handed_in(submitted_cell) -> list[nbformat.NotebookNode]:
    """The outputs a student handed in for a cell, inert, under a line that says where they come from."""
    outputs = [o for o in submitted_cell.get("outputs", []) if o.get("output_type") != "error"]
    if not outputs:
        return []
    shell = nbformat.v4.new_code_cell(outputs=outputs)
    nb = make_inert(nbformat.v4.new_notebook(cells=[shell]))
    note = nbformat.v4.new_output("stream", name="stdout",
                                  text="\n[grading: the re-run above could not reproduce this cell; below are the "
                                       "outputs the student handed in, as they were saved in the notebook]\n")
    return [note, *nb.cells[0].outputs]


def record(nb, results: list[dict], submitted=None, notes: list[str] = ()) -> None:
    """Write the verdict into every test cell, and the handed-in outputs into failed hand-graded cells."""
    by_cell: dict[str, list[dict]] = {}
    for r in results:
        by_cell.setdefault(r["cell"], []).append(r)
    handed = {_meta(c).get("grade_id"): c for c in (submitted.cells if submitted is not None else [])
              if _meta(c).get("grade_id")}
    for cell in nb.cells:
        gid = _meta(cell).get("grade_id")
        if is_test(cell):
            cell.outputs = [visible_tests(cell.get("outputs", [])), *verdict(by_cell.get(gid, []),
                                                                            float(_meta(cell).get("points", 0)))]
        elif is_manual_code(cell) and gid in handed:
            reran = cell.get("outputs", [])
            if not reran or any(o.get("output_type") == "error" for o in reran):
                cell.outputs = list(reran) + handed_in(handed[gid])
    nb.metadata[RECORD_KEY] = {"checks": results, "notes": list(notes)}


def flags(nb) -> dict[str, list[str]]:
    """grade_id -> the flag reasons the judge recorded in this notebook."""
    out: dict[str, list[str]] = {}
    for r in nb.metadata.get(RECORD_KEY, {}).get("checks", []):
        if r.get("flags"):
            out.setdefault(r["cell"], []).extend(r["flags"])
    return out
