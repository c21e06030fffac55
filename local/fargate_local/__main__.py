import sys

from fargate_local.cli import main

sys.exit(main())
