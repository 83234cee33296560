"""`python -m mock_server ...` is `crm-mock ...`."""
import sys

from mock_server.serve.cli import main

sys.exit(main())
