"""``python -m dunpai.cli …`` is ``dunpai …``."""

from dunpai.cli.main import main

main()
