from leveraudit.cli import main

main()
