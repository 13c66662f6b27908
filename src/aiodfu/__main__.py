"""``python -m aiodfu`` is the ``aiodfu`` command."""

from aiodfu.cli import main

main()
