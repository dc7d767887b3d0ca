"""The instructors' grading tool for rnn-course (not for students: `pip install rnn-course[grading]`).

One module per step, run as ``python -m grading <step> <assignment>``: release, collect,
autograde, feedback, export (see grading/__main__.py). ``sandbox`` and ``sandbox_kernel``
run every student's kernel inside bubblewrap. Teaching code (``helpers``) never imports this
package; grading uses helpers only through ``helpers.data`` (to fetch a lab's data sets).
"""
