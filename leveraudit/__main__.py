from leveraudit.launch import run

run()
