"""`python -m leverplus`: the same CLI as the `leverplus` command."""

from leverplus.cli import main

main()
