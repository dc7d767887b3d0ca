"""The instructors' grading cycle: release, collect, autograde, feedback, export.

    python -m grading release   sherlock_rnn_vs_gru
    python -m grading collect   sherlock_rnn_vs_gru --from ~/Downloads/submissions
    python -m grading autograde sherlock_rnn_vs_gru        # sandboxed; --no-sandbox to opt out
    python -m grading feedback  sherlock_rnn_vs_gru
    python -m grading export    sherlock_rnn_vs_gru        # -> grades.csv
    python -m grading publish   --to ../rnn-course-students # the student edition: no solutions
    python -m grading grade     sherlock_rnn_vs_gru        # autograde, then feedback and export
                                                          # unless parts still need grading by hand

Each step runs the real ``nbgrader`` command on the course directory and then
checks what it did, student by student, so that one broken submission never
hides behind a long log. Every command takes ``--course-dir`` (default: this
repository) and ``--db`` (default: ``gradebook.db`` in the course directory).
"""
from __future__ import annotations

import argparse
import sys

from grading.autograde import add_arguments, autograde
from grading.collect import collect
from grading.course import DEFAULT_COURSE_DIR, Course, GradingError
from grading.exchange import AFTER_STEP
from grading.export import export, manual_parts_pending
from grading.feedback import feedback
from grading.publish import publish
from grading.release import release
from grading.summary import FORMGRADER

def grade(course: Course, assignment: str, args) -> int:
    """autograde; then feedback and export, unless written parts still wait for a human grader.

    Students must never receive feedback or grades in which the hand-graded points read 0.
    """
    status = autograde(course, assignment, args)
    pending = manual_parts_pending(course, assignment)
    if pending:
        print(f"\nNot generating feedback or grades yet: {len(pending)} submission(s) have written parts to "
              "grade by hand (" + ", ".join(pending[:10]) + (", ..." if len(pending) > 10 else "") + "). "
              f"Grade them in Formgrader ({FORMGRADER}), then run "
              f"`make feedback export` (python -m grading feedback {assignment}; ... export {assignment}).")
        return status
    done = feedback(course, assignment, args)
    done = export(course, assignment, args) or done
    return status or done


STEPS = {"release": release, "collect": collect, "autograde": autograde, "feedback": feedback, "export": export,
         "grade": grade, "publish": publish}
EVERY_LAB = {"release", "autograde", "feedback", "grade"}  # steps that take `all`: each lab in turn
# collect takes `all` from the exchange (each released lab); a --from folder holds one lab's hand-ins


def labs(course: Course, step: str) -> list[str]:
    """The labs `all` means: every source in solutions/ (release), every released lab (collect from the exchange),
    else every released lab with submissions."""
    sources = sorted(p.parent.name for p in course.root.glob("solutions/*/*.ipynb"))
    if step == "release":
        return list(dict.fromkeys(sources))
    if step == "collect":
        return [lab for lab in dict.fromkeys(sources) if course.release(lab).is_dir()]
    return [lab for lab in dict.fromkeys(sources) if list(course.submitted().glob(f"*/{lab}"))]


def run(course: Course, step: str, assignment: str, args) -> int:
    status = STEPS[step](course, assignment, args)
    if args.exchange and step in AFTER_STEP and not status:  # grading.exchange: the hub's exchange
        status = AFTER_STEP[step](course, assignment)
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grading", description=__doc__.split("\n\n")[0])
    parser.add_argument("step", choices=STEPS)
    parser.add_argument("assignment", nargs="?", help="e.g. sherlock_rnn_vs_gru, or `all` (release, autograde, "
                        "feedback, grade, collect --exchange: each lab in turn; export always writes every lab)")
    parser.add_argument("--course-dir", default=str(DEFAULT_COURSE_DIR), help="course root (default: this repository)")
    parser.add_argument("--db", default=None, help="gradebook URL (default: sqlite:///<course-dir>/gradebook.db)")
    parser.add_argument("--from", dest="source", help="collect: folder with one sub-folder per student")
    parser.add_argument("--exchange", action="store_true", help="collect: from nbgrader's exchange, as the submitters' "
                        "own accounts; release, feedback: also hand the release or the feedback out through it")
    parser.add_argument("--student", action="append", help="autograde: only this student (repeatable)")
    parser.add_argument("--force", action="store_true", help="autograde: grade again what was graded before")
    parser.add_argument("--timeout", type=int, default=None, help="autograde: per-cell time limit in seconds")
    parser.add_argument("--no-sandbox", action="store_true",
                        help="autograde: run student code WITHOUT isolation (trusted submissions only)")
    parser.add_argument("--to", help="export: CSV path (default: <course-dir>/grades.csv); "
                                     "publish: the folder for the student edition")
    add_arguments(parser)
    args = parser.parse_args(argv)
    if args.step not in ("publish", "export") and not args.assignment:
        parser.error(f"{args.step} needs the assignment, e.g. python -m grading {args.step} sherlock_rnn_vs_gru")
    try:
        course = Course.from_args(args)
        if args.assignment != "all":
            return run(course, args.step, args.assignment, args)
        if args.step not in EVERY_LAB | {"export"} and not (args.step == "collect" and args.exchange):
            raise GradingError(f"{args.step} works on one lab at a time: name it, e.g. {args.step} sherlock_rnn_vs_gru"
                               + (" (collect --exchange takes all)" if args.step == "collect" else ""))
        if args.step == "export":
            return run(course, "export", None, args)
        todo = labs(course, args.step)
        if not todo:
            raise GradingError(f"`all` found no lab to {args.step} (sources in solutions/<lab>/, submissions in "
                               "submitted/<student>/<lab>/).")
        statuses = []
        for lab in todo:
            print(f"\n=== {args.step} {lab} ===", flush=True)
            statuses.append(run(course, args.step, lab, args))
        return max(statuses)
    except GradingError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
