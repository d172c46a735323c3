from wavenet.cli import main

main()
