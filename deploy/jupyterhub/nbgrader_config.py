# nbgrader's configuration for everyone in the class image (deploy/jupyterhub): the course
# and the exchange, a Docker volume mounted into every container. The instructor's course
# folder has its own nbgrader_config.py, which reads the same NBGRADER_EXCHANGE_ROOT.
import os

c = get_config()  # noqa: F821 - provided by nbgrader
c.CourseDirectory.course_id = os.environ.get("NBGRADER_COURSE_ID", "kafka-iabd")
c.Exchange.root = os.environ.get("NBGRADER_EXCHANGE_ROOT", "/srv/nbgrader/exchange")
