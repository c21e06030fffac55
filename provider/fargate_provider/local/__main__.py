import sys

from fargate_provider.local.cli import main

sys.exit(main())
