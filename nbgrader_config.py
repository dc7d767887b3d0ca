"""nbgrader configuration for rnn-course: sources in solutions/, releases in assignments/."""
import os

c = get_config()  # noqa: F821 - injected by nbgrader

c.CourseDirectory.course_id = "rnn-course"
c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "assignments"

# Every notebook runs on the plain python3 kernel of the course environment.
c.ClearMetadataPreprocessor.enabled = True
c.ExecutePreprocessor.kernel_name = "python3"
