from leveraudit.cli import run

run()
