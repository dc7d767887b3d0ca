"""collect: bring submissions into submitted/<student>/<assignment>/, from a folder or nbgrader's exchange."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

from grading.course import IGNORED, STUDENT_ID, Course, GradingError, notebooks_in

def collect(course: Course, assignment: str, args) -> int:
    if args.exchange:
        code, log = course.nbgrader("collect", assignment, "--update")
        if code != 0:  # nbgrader says why only in CRITICAL lines, which are not echoed
            why = "; ".join(ln.split("] ", 1)[-1] for ln in log.splitlines() if "| CRITICAL]" in ln)
            raise GradingError(
                f"nbgrader collect could not read the exchange ({why or 'see the log above'}). "
                f"Set c.Exchange.root in {course.root / 'nbgrader_config.py'} to the exchange folder your students "
                f"submit to, and release the assignment there first (`nbgrader release_assignment {assignment}`); "
                "or collect a folder of submissions with --from FOLDER.")
        students = re.findall(rf"Collecting submission: (\S+) {re.escape(assignment)}$", log, re.M)
        print(f"Collected {len(students)} new submission(s) of {assignment} from the exchange into "
              f"submitted/<student>/{assignment}/" + (": " + ", ".join(sorted(students)) if students else "."))
        return 0
    if not args.source:
        raise GradingError("Say where the submissions are: --from FOLDER (one sub-folder per student), "
                           "or --exchange for nbgrader's exchange. For an LMS zip download use `nbgrader zip_collect`.")
    source = Path(args.source).expanduser()
    if not source.is_dir():
        raise GradingError(f"--from {source}: no such folder.")
    expected = f"{assignment}.ipynb"
    copied, problems = 0, []
    for folder in sorted(p for p in source.iterdir() if p.is_dir() and p.name not in IGNORED):
        student = folder.name
        if not STUDENT_ID.match(student):
            problems.append(f"{student!r}: not usable as a student id (letters, digits, _ . @ + - only); skipped")
            continue
        inner = folder / assignment if (folder / assignment).is_dir() else folder
        notebooks = notebooks_in(inner)
        rename = None
        if not (inner / expected).is_file():
            if len(notebooks) != 1:
                problems.append(f"{student}: expected {expected}, found {[p.name for p in notebooks] or 'no notebook'}; skipped")
                continue
            rename = notebooks[0].name
        target = course.submitted() / student / assignment
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(inner, target, ignore=shutil.ignore_patterns(*IGNORED))
        if rename:
            (target / rename).rename(target / expected)
            problems.append(f"{student}: notebook {rename!r} renamed to {expected}")
        if not any(target.glob(course.lab(assignment).checkpoints)):
            problems.append(f"{student}: no {course.lab(assignment).checkpoints} submitted; "
                            "the training tests will get no credit")
        copied += 1
    print(f"Collected {copied} submission(s) into {course.submitted().relative_to(course.root)}/<student>/{assignment}/.")
    for p in problems:
        print("  note: " + p)
    return 0
