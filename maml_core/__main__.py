import logging
import os
import sys

from .cli import main

code = main()
# Tearing down torch's modules at interpreter exit takes about a second and frees nothing a finished command needs.
logging.shutdown()
sys.stdout.flush()
sys.stderr.flush()
os._exit(code)
