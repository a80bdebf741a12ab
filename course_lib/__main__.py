import sys

from course_lib.kit.cli import main

sys.exit(main())
