"""A simulator process: ``python -m fleet.demo CONFIG.json`` (see :mod:`fleet.demo.peer`)."""

import sys

from fleet.demo.peer import main

if __name__ == "__main__":
    main(sys.argv)
