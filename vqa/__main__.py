"""`python -m vqa ...`: the same as the `vqa` command (see `vqa.cli`)."""

from vqa.cli import main

main()
